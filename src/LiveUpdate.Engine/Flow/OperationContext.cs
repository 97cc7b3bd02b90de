using System;
using System.Threading;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LiveUpdate.Engine.Flow;

/// <summary>Progress of a long operation, in the engine's words; the cmdlets turn it into progress records.</summary>
public sealed record ProgressInfo(string Activity, string Status, int PercentComplete, TimeSpan? Remaining, bool Completed = false);

/// <summary>
/// What a caller hands to every engine step: where to log, how to ask for confirmation (the cmdlet's
/// ShouldProcess), where to report progress, and how to cancel.
/// </summary>
public sealed class OperationContext
{
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>Asked once per state change with (target, action); false means "do not change anything".</summary>
    public Func<string, string, bool> ShouldProcess { get; init; } = static (_, _) => true;

    public Action<ProgressInfo>? Progress { get; init; }

    public CancellationToken Cancellation { get; init; }

    public static OperationContext None { get; } = new();

    internal void Report(string activity, string status, int percent, TimeSpan? remaining = null, bool completed = false)
        => Progress?.Invoke(new ProgressInfo(activity, status, Math.Max(0, Math.Min(100, percent)), remaining, completed));
}
