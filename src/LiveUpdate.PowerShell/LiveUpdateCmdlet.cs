using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using System.Threading;
using LiveUpdate.Engine.Backends;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using LiveUpdate.PowerShell.Logging;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.PowerShell;

/// <summary>The connected system of a runspace (the session default that Connect-LiveUpdateSystem sets).</summary>
internal static class Session
{
    private static readonly ConditionalWeakTable<object, LiveUpdateEngine> Connections = new();
    private static readonly object Global = new();

    private static object Key => (object?)Runspace.DefaultRunspace ?? Global;

    public static LiveUpdateEngine? Current
    {
        get => Connections.TryGetValue(Key, out var engine) ? engine : null;
        set
        {
            Connections.Remove(Key);
            if (value is not null) Connections.Add(Key, value);
        }
    }

    public static LiveUpdateEngine Connect(ILiveUpdateBackend backend)
    {
        if (backend is SimulatedBackend sim) sim.Faults = FaultInjector.FromEnvironment();
        var engine = new LiveUpdateEngine(backend);
        Current = engine;
        return engine;
    }
}

/// <summary>
/// The base of every LiveUpdate cmdlet: finds the connected system, hands the engine an OperationContext whose
/// ShouldProcess is the cmdlet's, turns engine errors into ErrorRecords with stable ids, and writes the engine's log
/// and progress on the pipeline thread (queued from any other thread, drained here).
/// </summary>
public abstract class LiveUpdateCmdlet : PSCmdlet
{
    private readonly ConcurrentQueue<LogEntry> _log = new();
    private readonly ConcurrentQueue<ProgressInfo> _progress = new();
    private readonly CancellationTokenSource _cancel = new();
    private readonly Dictionary<string, int> _activityIds = new();
    private int _pipelineThread = -1;

    /// <summary>Appends every log entry of this command as a JSON line to this file (default: $LiveUpdateLogPath).</summary>
    [Parameter]
    public string? LogPath { get; set; }

    protected CancellationToken Cancellation => _cancel.Token;

    protected override void BeginProcessing()
    {
        _pipelineThread = Environment.CurrentManagedThreadId;
        if (LogPath is null && GetVariableValue("LiveUpdateLogPath") is { } preference)
            LogPath = preference is PSObject pso ? pso.BaseObject?.ToString() : preference.ToString();
        if (LogPath is not null) LogPath = GetUnresolvedProviderPathFromPSPath(LogPath);
    }

    protected override void StopProcessing() => _cancel.Cancel();

    protected override void EndProcessing() => Drain();

    /// <summary>The connected system; a terminating NotConnected error when there is none.</summary>
    protected LiveUpdateEngine Engine => Session.Current ?? throw new LiveUpdateException("NotConnected", ErrorKind.InvalidOperation,
        "No LiveUpdate system is connected in this session; run New-LiveUpdateLab -Path DIR or Connect-LiveUpdateSystem -Path DIR first.", null);

    internal ILogger Logger => new CmdletLogger(_log, "LiveUpdate." + MyInvocation.MyCommand.Name);

    protected OperationContext Context() => new()
    {
        Logger = Logger,
        ShouldProcess = (target, action) => ShouldProcess(target, action),
        Progress = OnProgress,
        Cancellation = _cancel.Token,
    };

    private void OnProgress(ProgressInfo info)
    {
        _progress.Enqueue(info);
        if (Environment.CurrentManagedThreadId == _pipelineThread) Drain();
    }

    /// <summary>Writes queued log entries and progress; call on the pipeline thread only.</summary>
    protected void Drain()
    {
        while (_log.TryDequeue(out var entry))
        {
            if (LogPath is not null) JsonLinesLog.Append(LogPath, entry, OperationId);
            switch (entry.Level)
            {
                case LogLevel.Trace:
                case LogLevel.Debug:
                    WriteDebug(entry.Message);
                    break;
                case LogLevel.Information:
                    WriteVerbose(entry.Message);
                    break;
                case LogLevel.Warning:
                    WriteWarning(entry.Message);
                    break;
                default:
                    WriteInformation(new InformationRecord(entry.Message, "LiveUpdate." + entry.Level));
                    WriteVerbose(entry.Message);
                    break;
            }
        }
        while (_progress.TryDequeue(out var p))
        {
            if (!_activityIds.TryGetValue(p.Activity, out var id)) _activityIds[p.Activity] = id = _activityIds.Count + 1;
            var record = new ProgressRecord(id, p.Activity, p.Status)
            {
                PercentComplete = p.PercentComplete,
                RecordType = p.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
            };
            if (p.Remaining is { } remaining) record.SecondsRemaining = (int)Math.Ceiling(remaining.TotalSeconds);
            WriteProgress(record);
        }
    }

    /// <summary>The operation id that log lines carry, when the command runs one.</summary>
    protected string? OperationId { get; set; }

    internal static ErrorRecord ToErrorRecord(LiveUpdateException e)
    {
        var category = Enum.TryParse<ErrorCategory>(e.Kind.ToString(), out var c) ? c : ErrorCategory.NotSpecified;
        return new ErrorRecord(e, e.ErrorId, category, e.Target);
    }

    /// <summary>Runs one item's work; an engine error becomes a non-terminating ErrorRecord for that item.</summary>
    protected void Run(Action work)
    {
        try
        {
            work();
        }
        catch (LiveUpdateException e)
        {
            Drain();
            WriteError(ToErrorRecord(e));
        }
        finally
        {
            Drain();
        }
    }

    /// <summary>Runs work whose failure must stop the command (bad connection, impossible parameters).</summary>
    protected void RunTerminating(Action work)
    {
        try
        {
            work();
        }
        catch (LiveUpdateException e)
        {
            Drain();
            ThrowTerminatingError(ToErrorRecord(e));
        }
        finally
        {
            Drain();
        }
    }

    /// <summary>
    /// A live update that did not succeed still returns its result (which says where the applications run and why);
    /// it also writes an error, so that $? and -ErrorAction work in runbooks. The error's target is the result.
    /// </summary>
    protected void WriteOutcomeError(LiveUpdateResult result)
    {
        if (result.Status == LiveUpdateStatus.Succeeded) return;
        var id = result.Status == LiveUpdateStatus.RolledBack ? "LiveUpdateRolledBack" : "LiveUpdateInterrupted";
        var message = $"Operation {result.OperationId} on {result.Partition}: {result.Status}. {result.Reason}";
        WriteError(new ErrorRecord(new LiveUpdateException(id, ErrorKind.OperationStopped, message, result), id, ErrorCategory.OperationStopped, result));
    }

    protected static bool Matches(string value, string[]? patterns)
    {
        if (patterns is null || patterns.Length == 0) return true;
        foreach (var p in patterns)
            if (new WildcardPattern(p, WildcardOptions.IgnoreCase).IsMatch(value)) return true;
        return false;
    }

    /// <summary>A non-terminating ObjectNotFound error for a name without wildcards that matched nothing.</summary>
    protected void ReportUnmatched(string[]? names, IEnumerable<string> found, string errorId, string noun)
    {
        if (names is null) return;
        var set = new HashSet<string>(found, StringComparer.OrdinalIgnoreCase);
        foreach (var n in names)
        {
            if (WildcardPattern.ContainsWildcardCharacters(n)) continue;
            if (!set.Contains(n))
                WriteError(ToErrorRecord(new LiveUpdateException(errorId, ErrorKind.ObjectNotFound, $"There is no {noun} named '{n}'.", n)));
        }
    }
}
