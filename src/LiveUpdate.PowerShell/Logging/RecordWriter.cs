using System;
using System.Collections.Generic;
using System.Management.Automation;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.PowerShell.Logging;

/// <summary>Where PowerShell records go: a cmdlet's streams (pipeline thread only) or a job's collections.</summary>
internal interface IStreamTarget
{
    void Verbose(string message);
    void Debug(string message);
    void Warning(string message);
    void Information(InformationRecord record);
    void Progress(ProgressRecord record);
}

/// <summary>
/// Turns the engine's log entries and progress into PowerShell records, and appends every entry to the audit log
/// when there is one. Log levels map as PowerShell users expect: Trace and Debug to Debug; Information to Verbose
/// (the story of the operation); Warning and above to Warning. Every entry of Information level and above is also
/// an InformationRecord tagged "LiveUpdate", its level and its operation id, for scripts that collect them with
/// -InformationVariable. Progress activities get stable ids; a child activity points at its parent's id.
/// </summary>
internal sealed class RecordWriter
{
    private readonly Dictionary<string, int> _activityIds = new(StringComparer.Ordinal);
    private readonly string _command;

    public RecordWriter(string command, string? logPath)
    {
        _command = command;
        LogPath = logPath;
    }

    /// <summary>The audit log; null when there is none, or when it could no longer be written.</summary>
    public string? LogPath { get; private set; }

    private string? _failure;

    /// <summary>The operation that log lines carry when an entry names none itself.</summary>
    public string? OperationId { get; set; }

    /// <summary>Why the audit log stopped, once (then null), so that the command can say so.</summary>
    public string? TakeFailure() => System.Threading.Interlocked.Exchange(ref _failure, null);

    /// <summary>
    /// Writes to the audit log only (used while the pipeline is stopping and streams are closed). A log that can no
    /// longer be written (disk full, file removed with its folder) must not break an update in flight: it is dropped
    /// and the failure reported once.
    /// </summary>
    public void Audit(LogEntry entry)
    {
        if (entry.OperationId is { } id) OperationId = id;
        if (LogPath is null) return;
        try
        {
            JsonLinesLog.Append(LogPath, entry, _command, OperationId);
        }
        catch (Exception e) when (e is System.IO.IOException or UnauthorizedAccessException)
        {
            _failure = $"'{LogPath}' could not be written ({e.Message})";
            LogPath = null;
        }
    }

    public void Write(LogEntry entry, IStreamTarget target)
    {
        Audit(entry);
        switch (entry.Level)
        {
            case LogLevel.Trace:
            case LogLevel.Debug:
                target.Debug(entry.Message);
                return;
            case LogLevel.Information:
                target.Verbose(entry.Message);
                break;
            default:
                target.Warning(entry.Message);
                break;
        }
        var tags = new List<string> { "LiveUpdate", entry.Level.ToString() };
        if ((entry.OperationId ?? OperationId) is { } op) tags.Add(op);
        var record = new InformationRecord(entry.Message, entry.Category) { TimeGenerated = entry.Time.LocalDateTime };
        foreach (var tag in tags) record.Tags.Add(tag);
        target.Information(record);
    }

    public void Write(ProgressInfo info, IStreamTarget target) => target.Progress(ToRecord(info));

    public ProgressRecord ToRecord(ProgressInfo info)
    {
        var record = new ProgressRecord(Id(info.Activity), info.Activity, string.IsNullOrEmpty(info.Status) ? info.Activity : info.Status)
        {
            PercentComplete = info.PercentComplete,
            RecordType = info.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        };
        if (info.ParentActivity is { } parent) record.ParentActivityId = Id(parent);
        if (info.Remaining is { } remaining) record.SecondsRemaining = (int)Math.Ceiling(Math.Max(0, remaining.TotalSeconds));
        return record;
    }

    private int Id(string activity)
    {
        if (!_activityIds.TryGetValue(activity, out var id)) _activityIds[activity] = id = _activityIds.Count + 1;
        return id;
    }
}
