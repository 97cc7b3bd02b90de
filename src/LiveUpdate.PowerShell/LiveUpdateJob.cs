using System;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using LiveUpdate.PowerShell.Logging;

namespace LiveUpdate.PowerShell;

/// <summary>
/// Invoke-LiveUpdate -AsJob: the live update runs on a thread of its own, over its own connection to the same
/// system, and writes its result, errors, log and progress into the job's streams (Receive-Job reads them).
/// Stop-Job cancels it exactly as Ctrl+C does: before the point of no return the update stops and rolls back,
/// after it the move finishes first. The confirmation was asked in the foreground before the job started.
/// </summary>
public sealed class LiveUpdateJob : Job, IStreamTarget
{
    public const string JobTypeName = "LiveUpdateJob";

    private readonly LiveUpdateEngine _engine;
    private readonly LiveUpdateRequest _request;
    private readonly RecordWriter _writer;
    private readonly CancellationTokenSource _cancel = new();
    private readonly object _gate = new();
    private readonly object _stateGate = new();
    private Task? _task;
    private string _status = "NotStarted";

    internal LiveUpdateJob(string command, string? name, LiveUpdateEngine engine, LiveUpdateRequest request, string? logPath)
        : base(command, name)
    {
        PSJobTypeName = JobTypeName;
        _engine = engine;
        _request = request;
        _writer = new RecordWriter("Invoke-LiveUpdate", logPath);
    }

    /// <summary>The partition being updated.</summary>
    public string Partition => _request.Partition;

    public override string StatusMessage => _status;

    public override bool HasMoreData => Output.Count > 0 || Error.Count > 0 || Progress.Count > 0 || Verbose.Count > 0
        || Debug.Count > 0 || Warning.Count > 0 || Information.Count > 0;

    /// <summary>The lab (or host) the job works on.</summary>
    public override string Location => _engine.Backend.Location;

    internal void Start()
    {
        SetJobState(JobState.Running);
        _status = "Running";
        _task = Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private void Work()
    {
        var context = new OperationContext
        {
            Logger = new CmdletLogger(entry => { lock (_gate) _writer.Write(entry, this); }, "LiveUpdate.Invoke-LiveUpdate"),
            ShouldProcess = static (_, _) => true,
            Progress = info => { lock (_gate) _writer.Write(info, this); },
            Cancellation = _cancel.Token,
        };
        try
        {
            var result = _engine.Invoke(_request, context);
            if (result is null)
            {
                Finish(JobState.Completed, "Declined");
                return;
            }
            Output.Add(PSObject.AsPSObject(result));
            if (LiveUpdateCmdlet.OutcomeError(result) is { } outcome) Error.Add(outcome);
            // Stopped when Stop-Job rolled it back; Failed when a fault did; Completed when it succeeded.
            var state = result.Status == LiveUpdateStatus.Succeeded ? JobState.Completed
                : _cancel.IsCancellationRequested ? JobState.Stopped : JobState.Failed;
            Finish(state, result.Status.ToString());
        }
        catch (OperationCanceledException)
        {
            Finish(JobState.Stopped, "Stopped before the point of no return");
        }
        catch (LiveUpdateException e)
        {
            var record = LiveUpdateCmdlet.ToErrorRecord(e);
            Error.Add(record);
            Finish(JobState.Failed, e.ErrorId);
        }
        catch (Exception e)
        {
            Error.Add(new ErrorRecord(e, "LiveUpdateJobFailed", ErrorCategory.NotSpecified, _request.Partition));
            Finish(JobState.Failed, e.GetType().Name);
        }
    }

    private void Finish(JobState state, string status)
    {
        if (_writer.TakeFailure() is { } failure) Warning.Add(new WarningRecord($"The log file {failure}; the job went on without it."));
        _status = status;
        if (_writer.LogPath is { } path)
            JsonLinesLog.Event(path, state == JobState.Completed ? "Information" : "Warning", "Invoke-LiveUpdate", _writer.OperationId,
                $"Job {Name} ({Id}) ended {state}: {status}");
        lock (_stateGate) SetJobState(state);
    }

    /// <summary>
    /// Asks the update to stop: before the point of no return it rolls back, after it the move finishes first. The
    /// job is Stopping until then (Wait-Job waits for it), Stopped when it rolled back, Completed when it had finished.
    /// </summary>
    public override void StopJob()
    {
        lock (_stateGate)
        {
            if (IsFinishedState(JobStateInfo.State)) return;
            _cancel.Cancel();
            if (JobStateInfo.State == JobState.Running) SetJobState(JobState.Stopping);
        }
    }

    private static bool IsFinishedState(JobState state) => state is JobState.Completed or JobState.Failed or JobState.Stopped;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _cancel.Cancel();
            _task?.Wait();
            _cancel.Dispose();
        }
        base.Dispose(disposing);
    }

    void IStreamTarget.Verbose(string message) => Verbose.Add(new VerboseRecord(message));
    void IStreamTarget.Debug(string message) => Debug.Add(new DebugRecord(message));
    void IStreamTarget.Warning(string message) => Warning.Add(new WarningRecord(message));
    void IStreamTarget.Information(InformationRecord record) => Information.Add(record);
    void IStreamTarget.Progress(ProgressRecord record) => Progress.Add(record);
}
