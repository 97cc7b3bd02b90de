using System;
using System.Threading;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LiveUpdate.Engine.Flow;

/// <summary>
/// Progress of a long operation, in the engine's words; the cmdlets turn it into progress records. An activity with
/// a <paramref name="ParentActivity"/> is part of that one (a copy within a phase, the blackout within the move).
/// </summary>
public sealed record ProgressInfo(string Activity, string Status, int PercentComplete, TimeSpan? Remaining, bool Completed = false, string? ParentActivity = null);

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

    /// <summary>The activity that the work done with this context belongs to; progress reported here nests under it.</summary>
    public string? ProgressActivity { get; init; }

    public CancellationToken Cancellation { get; init; }

    public static OperationContext None { get; } = new();

    internal void Report(string activity, string status, int percent, TimeSpan? remaining = null, bool completed = false)
        => Progress?.Invoke(new ProgressInfo(activity, status, Math.Max(0, Math.Min(100, percent)), remaining, completed, ProgressActivity));

    /// <summary>The activity under which backends show the blackout: applications stopped, not answering.</summary>
    public const string BlackoutActivity = "Blackout";

    /// <summary>Reports that an application has stopped on its source and does not answer until it runs on the destination.</summary>
    internal void BlackoutStarted(string application, string source, string destination)
        => Report(BlackoutActivity, $"{application} stopped on {source}: not answering until it runs on {destination}", 0);

    /// <summary>Reports the end of an application's blackout: it answers again, or its health check gave up.</summary>
    internal void BlackoutEnded(string application, string destination, TimeSpan blackout, bool answered = true)
        => Report(BlackoutActivity, answered
            ? $"{application} answers on {destination} after {blackout.TotalMilliseconds:0} ms"
            : $"{application} did not answer on {destination} within {blackout.TotalSeconds:0} s", 100, TimeSpan.Zero, completed: true);

    /// <summary>The same context, for work that is part of <paramref name="activity"/> (its progress nests there).</summary>
    public OperationContext Within(string activity) => new()
    {
        Logger = Logger,
        ShouldProcess = ShouldProcess,
        Progress = Progress,
        Cancellation = Cancellation,
        ProgressActivity = activity,
    };
}
