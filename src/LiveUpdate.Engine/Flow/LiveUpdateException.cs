using System;

namespace LiveUpdate.Engine.Flow;

/// <summary>
/// The engine's error kinds. The names are those of PowerShell's ErrorCategory so the cmdlets map them one to one,
/// yet the engine needs no reference to PowerShell.
/// </summary>
public enum ErrorKind
{
    NotSpecified,
    ObjectNotFound,
    InvalidArgument,
    InvalidData,
    InvalidOperation,
    ResourceUnavailable,
    ResourceBusy,
    ResourceExists,
    NotInstalled,
    PermissionDenied,
    OperationStopped,
    LimitsExceeded,
    DeviceError,
    NotEnabled,
}

/// <summary>An error with a stable id, a kind and the object it is about.</summary>
public class LiveUpdateException : Exception
{
    public LiveUpdateException(string errorId, ErrorKind kind, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    /// <summary>A stable identifier that scripts and tests can rely on, e.g. <c>DiskInUse</c>.</summary>
    public string ErrorId { get; }
    public ErrorKind Kind { get; }
    public object? Target { get; }
}
