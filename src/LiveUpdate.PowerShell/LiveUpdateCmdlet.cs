using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using LiveUpdate.Engine.Backends;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using LiveUpdate.PowerShell.Logging;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.PowerShell;

/// <summary>
/// The base of every LiveUpdate cmdlet: finds the connected system, hands the engine an OperationContext whose
/// ShouldProcess is the cmdlet's, turns engine errors into ErrorRecords with stable ids, and writes the engine's log
/// and progress on the pipeline thread. Long work (<see cref="Execute{T}"/>) runs on a worker thread while the
/// pipeline thread pumps what the worker queues: log entries, progress and confirmation requests. Ctrl+C
/// (StopProcessing) cancels the work's token; the pipeline thread keeps pumping until the engine has stopped
/// safely, writing to the audit log only, since a stopping pipeline accepts no more records.
/// </summary>
public abstract class LiveUpdateCmdlet : PSCmdlet, IStreamTarget
{
    private readonly ConcurrentQueue<object> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _cancel = new();
    private RecordWriter? _writer;
    private int _pipelineThread = -1;
    private volatile bool _stopping;

    /// <summary>Appends every log entry of this command as a JSON line to this file (default: $LiveUpdateLogPath).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LogPath { get; set; }

    protected CancellationToken Cancellation => _cancel.Token;

    private string CommandName => MyInvocation.MyCommand?.Name ?? GetType().Name;

    internal RecordWriter Writer => _writer ??= new RecordWriter(CommandName, null);

    protected override void BeginProcessing()
    {
        _pipelineThread = Environment.CurrentManagedThreadId;
        if (LogPath is null && GetVariableValue("LiveUpdateLogPath") is { } preference)
        {
            var text = preference is PSObject pso ? pso.BaseObject?.ToString() : preference.ToString();
            if (!string.IsNullOrWhiteSpace(text)) LogPath = text;
        }
        if (LogPath is not null) LogPath = GetUnresolvedProviderPathFromPSPath(LogPath);
        _writer = new RecordWriter(CommandName, LogPath);
        if (LogPath is not null)
        {
            var data = MyInvocation.BoundParameters.ToDictionary(kv => kv.Key, kv => (object?)kv.Value);
            data["User"] = Environment.UserName;
            data["Host"] = Environment.MachineName;
            data["ProcessId"] = Environment.ProcessId;
            try
            {
                JsonLinesLog.Event(LogPath, "Information", CommandName, null, $"{CommandName} started", data);
            }
            catch (Exception e) when (e is System.IO.IOException or UnauthorizedAccessException)
            {
                // Nothing has changed yet: an audit log that cannot be written stops the command before it starts.
                ThrowTerminatingError(new ErrorRecord(new LiveUpdateException("LogPathNotWritable", ErrorKind.PermissionDenied,
                    $"The log file '{LogPath}' cannot be written: {e.Message}", LogPath, e), "LogPathNotWritable", ErrorCategory.PermissionDenied, LogPath));
            }
        }
    }

    protected override void StopProcessing()
    {
        _stopping = true;
        if (_writer?.LogPath is { } path)
            JsonLinesLog.Event(path, "Warning", CommandName, _writer.OperationId, "Stop requested (Ctrl+C): the work stops at the next safe point");
        _cancel.Cancel();
        _signal.Release();
    }

    protected override void EndProcessing()
    {
        Drain();
        if (_writer?.LogPath is { } path && !_stopping)
            JsonLinesLog.Event(path, "Information", CommandName, _writer.OperationId, $"{CommandName} finished");
    }

    /// <summary>The system the command acts on: the session's connection; a NotConnected error when there is none.</summary>
    protected virtual LiveUpdateEngine Engine => Session.CurrentEngine ?? throw NotConnected();

    internal static LiveUpdateException NotConnected() => new("NotConnected", ErrorKind.InvalidOperation,
        Session.Forgotten is { } why
            ? $"No LiveUpdate system is connected in this session: {why} Connect with Connect-LiveUpdateSystem -Path DIR, or name the system with -System."
            : "No LiveUpdate system is connected in this session; run New-LiveUpdateLab -Path DIR or Connect-LiveUpdateSystem -Path DIR first, or name the system with -System.", null);

    internal ILogger Logger => new CmdletLogger(entry => Post(entry), "LiveUpdate." + CommandName);

    protected OperationContext Context() => new()
    {
        Logger = Logger,
        ShouldProcess = AskShouldProcess,
        Progress = info => Post(info),
        Cancellation = _cancel.Token,
    };

    private bool OnPipelineThread => Environment.CurrentManagedThreadId == _pipelineThread;

    private bool StreamsOpen => !_stopping && !Stopping;

    /// <summary>Queues a record from any thread; on the pipeline thread it is written at once.</summary>
    private void Post(object item)
    {
        _queue.Enqueue(item);
        if (OnPipelineThread) Drain();
        else _signal.Release();
    }

    private bool AskShouldProcess(string target, string action)
    {
        if (OnPipelineThread) return StreamsOpen && ShouldProcess(target, action);
        var request = new ConfirmationRequest(target, action);
        Post(request);
        return request.Answer.Task.GetAwaiter().GetResult();
    }

    private sealed class ConfirmationRequest
    {
        public ConfirmationRequest(string target, string action)
        {
            Target = target;
            Action = action;
        }

        public string Target { get; }
        public string Action { get; }
        public TaskCompletionSource<bool> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Writes queued log entries, progress and confirmation requests; on the pipeline thread only.</summary>
    protected void Drain()
    {
        while (_queue.TryDequeue(out var item))
        {
            try
            {
                switch (item)
                {
                    case LogEntry entry when StreamsOpen:
                        Writer.Write(entry, this);
                        break;
                    case LogEntry entry:
                        Writer.Audit(entry);
                        break;
                    case ProgressInfo progress when StreamsOpen:
                        Writer.Write(progress, this);
                        break;
                    case ConfirmationRequest request:
                        try
                        {
                            request.Answer.SetResult(StreamsOpen && ShouldProcess(request.Target, request.Action));
                        }
                        catch (Exception e)
                        {
                            request.Answer.SetException(e);
                            if (e is PipelineStoppedException) _stopping = true;
                        }
                        break;
                }
            }
            catch (PipelineStoppedException)
            {
                // Ctrl+C arrived between the check and the write: from now on, the audit log only.
                _stopping = true;
            }
        }
        if (StreamsOpen && Writer.TakeFailure() is { } failure)
            WriteWarning($"The log file {failure}; the command goes on without it.");
    }

    /// <summary>
    /// Runs long engine work on a worker thread and pumps its records on the pipeline thread until it ends. When
    /// the pipeline was stopped meanwhile, the work has still run to its safe end before this throws.
    /// </summary>
    protected T Execute<T>(Func<LiveUpdateEngine, OperationContext, T> work)
    {
        var engine = Engine;
        var context = Context();
        var command = CommandName;
        var task = Task.Factory.StartNew(() =>
        {
            context.Logger.LogDebug("{Command} works on {Location} ({Backend}) on worker thread {Thread}; the pipeline thread relays its log, progress and confirmations",
                command, engine.Backend.Location, engine.Backend.Kind, Environment.CurrentManagedThreadId);
            return work(engine, context);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        task.ContinueWith(_ => _signal.Release(), TaskScheduler.Default);
        while (true)
        {
            _signal.Wait();
            Drain();
            if (task.IsCompleted) break;
        }
        Drain();
        if (_stopping || Stopping)
        {
            var outcome = task.IsFaulted ? task.Exception!.GetBaseException().Message : task.IsCanceled ? "cancelled" : "finished";
            if (Writer.LogPath is { } path)
                JsonLinesLog.Event(path, "Warning", CommandName, Writer.OperationId, $"{CommandName} stopped; the work ended safely: {outcome}");
            throw new PipelineStoppedException();
        }
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException e)
        {
            throw new LiveUpdateException("OperationStopped", ErrorKind.OperationStopped, "The operation was stopped before it changed anything that it could not undo.", null, e);
        }
    }

    /// <summary>The operation id that log lines carry, when the command runs one.</summary>
    protected string? OperationId
    {
        get => Writer.OperationId;
        set => Writer.OperationId = value;
    }

    internal static ErrorRecord ToErrorRecord(LiveUpdateException e)
    {
        var category = Enum.TryParse<ErrorCategory>(e.Kind.ToString(), out var c) ? c : ErrorCategory.NotSpecified;
        return new ErrorRecord(e, e.ErrorId, category, e.Target);
    }

    private void AuditError(LiveUpdateException e)
    {
        if (Writer.LogPath is { } path)
            JsonLinesLog.Event(path, "Error", CommandName, Writer.OperationId, e.Message,
                new Dictionary<string, object?> { ["ErrorId"] = e.ErrorId, ["Category"] = e.Kind.ToString(), ["Target"] = e.Target is LiveUpdateResult r ? r.Partition : e.Target });
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
            AuditError(e);
            if (StreamsOpen) WriteError(ToErrorRecord(e));
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
            AuditError(e);
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
        if (OutcomeError(result) is not { } error) return;
        AuditError((LiveUpdateException)error.Exception);
        WriteError(error);
    }

    internal static ErrorRecord? OutcomeError(LiveUpdateResult result)
    {
        if (result.Status == LiveUpdateStatus.Succeeded) return null;
        var id = result.Status == LiveUpdateStatus.RolledBack ? "LiveUpdateRolledBack" : "LiveUpdateInterrupted";
        var message = $"Operation {result.OperationId} on {result.Partition}: {result.Status}. {result.Reason}";
        return new ErrorRecord(new LiveUpdateException(id, ErrorKind.OperationStopped, message, result), id, ErrorCategory.OperationStopped, result);
    }

    protected static bool Matches(string value, string[]? patterns)
    {
        if (patterns is null || patterns.Length == 0) return true;
        foreach (var p in patterns)
            if (new WildcardPattern(p, WildcardOptions.IgnoreCase).IsMatch(value)) return true;
        return false;
    }

    /// <summary>
    /// Writes the items whose name matches (wildcards allowed) and that belong to the partition, if one is given (an
    /// unknown partition is an error); then an ObjectNotFound error for each plain name that matched nothing.
    /// </summary>
    protected void WriteMatching<T>(IEnumerable<T> items, Func<T, string> name, Func<T, string?> partitionOf, string[]? names,
        PartitionIdentity? partition, string errorId, string noun)
    {
        if (partition is not null) Engine.GetPartition(partition.Name);
        var found = items.Where(i => Matches(name(i), names)
            && (partition is null || string.Equals(partitionOf(i), partition.Name, StringComparison.OrdinalIgnoreCase))).ToList();
        WriteObject(found, enumerateCollection: true);
        ReportUnmatched(names, found.Select(name), errorId, noun);
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

    // The cmdlet's own streams, as the record writer sees them (pipeline thread only).
    void IStreamTarget.Verbose(string message) => WriteVerbose(message);
    void IStreamTarget.Debug(string message) => WriteDebug(message);
    void IStreamTarget.Warning(string message) => WriteWarning(message);
    void IStreamTarget.Information(InformationRecord record) => WriteInformation(record);
    void IStreamTarget.Progress(ProgressRecord record) => WriteProgress(record);
}
