using System;
using System.Collections.Generic;
using System.IO;
using System.Globalization;
using System.Linq;
using System.Text.Json.Nodes;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Flow;

// The journalled operations: Invoke (a live update), Undo (back to the kept old_rootvg), Resume (finish or roll back an
// interrupted one). Each runs the same idempotent steps, announces each in the journal before it starts and records it
// when it ends, and treats the first application stop as the point of no return: before it any failure rolls back;
// after it the flow moves the applications back to the original partition (or, for the last step, forward) so that
// they run with their data, and the result says which and why.
public sealed partial class LiveUpdateEngine
{
    private static string NewOperationId() => $"LU-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N").Substring(0, 6)}";

    private DateTimeOffset Now => Backend.Clock;

    /// <summary>The whole live update: every check, then the steps through the journal.</summary>
    public LiveUpdateResult? Invoke(LiveUpdateRequest request, OperationContext context)
    {
        var id = NewOperationId();
        using var held = Hold(request.Partition, id);
        var inv = Inventory();
        if (held != NoLock) RefuseIfInterrupted(Checks.FindPartition(inv, request.Partition)!.Name);
        var preview = Plan(inv, request, out var bundle, out var partition, out var error);
        Throw(error);
        var p = partition!;
        if (!context.ShouldProcess(p.Name, $"Live update from {p.OsLevel} to {bundle!.TargetLevel} (clone onto {Join(preview.CloneDisks)}, mirror onto {Join(preview.MirrorDisks)})")) return null;
        TakeOverNotice(held, p.Name, context);
        var journal = OperationJournal.Create(Backend.Location, p.Name, id);
        journal.Append("Begin", inv.System.Clock,
            ("kind", "Update"), ("partition", p.Name), ("bundle", bundle.Source), ("bundleName", bundle.Name),
            ("from", p.OsLevel.ToString()), ("to", bundle.TargetLevel.ToString()),
            ("cloneDisks", preview.CloneDisks), ("mirrorDisks", preview.MirrorDisks),
            ("applications", inv.Applications.Where(a => Same(a.Partition, p.Name)).Select(a => a.Name).ToArray()),
            ("pid", Environment.ProcessId));
        context.Logger.LogInformation("[{Operation}] Live update of {Partition} from {From} to {To} begins", id, p.Name, p.OsLevel, bundle.TargetLevel);
        return Run(journal, context);
    }

    /// <summary>
    /// Goes back to the level of a kept rootvg — old_rootvg (the level before the last finished update) or an older
    /// one (old_rootvg1, ...) — booting it as the surrogate; the level it leaves becomes the new old_rootvg.
    /// </summary>
    public LiveUpdateResult? Undo(string partition, IReadOnlyList<string>? mirrorDisks, OperationContext context, string volumeGroup = "old_rootvg")
    {
        var id = NewOperationId();
        using var held = Hold(partition, id);
        var inv = Inventory();
        Throw(Checks.Partition(inv, partition, out var found));
        var p = found!;
        Throw(Checks.Original(p));
        RefuseIfInterrupted(p.Name);
        Throw(Checks.NoClone(inv, p, WayOut(p.Name, "clone")) ?? Checks.NoMirror(inv, p, WayOut(p.Name, "mirror")) ?? Checks.NoSurrogate(inv, p, WayOut(p.Name, "surrogate")));
        var kept = inv.VolumeGroups.Where(v => Same(v.Partition, p.Name) && v.Role == VolumeGroupRole.OldRoot).OrderBy(v => v.Name, StringComparer.OrdinalIgnoreCase).ToList();
        var old = kept.FirstOrDefault(v => Same(v.Name, volumeGroup))
            ?? throw new LiveUpdateException("OldRootVgMissing", ErrorKind.ObjectNotFound, kept.Count == 0
                ? $"Partition {p.Name} has no old_rootvg (it was removed, or no live update finished); there is nothing to go back to."
                : $"Partition {p.Name} keeps no rootvg named '{volumeGroup}'; it keeps {string.Join(", ", kept.Select(v => $"{v.Name} ({v.OsLevel})"))}.", volumeGroup);
        var used = Checks.RootVgUsedMB(inv, p);
        var mirror = mirrorDisks ?? Checks.ChooseDisk(inv, used, Array.Empty<string>()) ?? throw Checks.NoDisk("mirror", used, p.Name);
        Throw(Checks.Disks(inv, mirror, used, "mirror of rootvg"));
        Throw(Checks.Frame(inv, p));
        if (!context.ShouldProcess(p.Name, $"Undo the live update: go back from {p.OsLevel} to {old.OsLevel} ({old.Name} on {Join(old.Disks)}; mirror onto {Join(mirror)})")) return null;
        TakeOverNotice(held, p.Name, context);
        var journal = OperationJournal.Create(Backend.Location, p.Name, id);
        journal.Append("Begin", inv.System.Clock,
            ("kind", "Undo"), ("partition", p.Name), ("bundle", ""), ("bundleName", $"{old.Name} at {old.OsLevel}"), ("oldRootVg", old.Name),
            ("from", p.OsLevel.ToString()), ("to", old.OsLevel!.ToString()),
            ("cloneDisks", old.Disks), ("mirrorDisks", mirror),
            ("applications", inv.Applications.Where(a => Same(a.Partition, p.Name)).Select(a => a.Name).ToArray()),
            ("pid", Environment.ProcessId));
        return Run(journal, context);
    }

    /// <summary>Finishes (or, with <paramref name="rollBack"/>, rolls back) an operation that a dead process left unfinished.</summary>
    public LiveUpdateResult? Resume(string operationId, bool rollBack, OperationContext context)
    {
        var journal = OpenTrusted(operationId);
        if (journal.Ended)
            throw new LiveUpdateException("OperationNotInterrupted", ErrorKind.InvalidOperation,
                $"Operation {operationId} already ended ({(string?)journal.End!["status"]}); there is nothing to resume.", operationId);
        if (journal.IsHandSteps && !rollBack)
            throw new LiveUpdateException("OperationNotResumable", ErrorKind.InvalidOperation,
                $"Operation {operationId} holds the hand steps taken on {journal.Partition}; there is no flow to finish. Go on with the next step by hand, or take them all back with Resume-LiveUpdate -Id {operationId} -RollBack.", operationId);
        if (Checks.FindPartition(Inventory(), journal.Partition) is null)
            throw new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound, $"Partition {journal.Partition} of operation {operationId} no longer exists.", operationId);
        if (PartitionLock.IsHeld(Backend.Location, journal.Partition))
            throw new LiveUpdateException("UpdateInProgress", ErrorKind.ResourceBusy,
                $"Operation {operationId} on {journal.Partition} is in flight ({PartitionLock.Owner(Backend.Location, journal.Partition)}); it cannot be resumed.", journal.Partition);
        if (!context.ShouldProcess(journal.Partition, rollBack ? $"Roll back interrupted operation {operationId}" : $"Finish interrupted operation {operationId}")) return null;
        using var held = Hold(journal.Partition, operationId);
        journal = OpenTrusted(operationId); // another process may have finished it meanwhile
        if (journal.Ended)
            throw new LiveUpdateException("OperationNotInterrupted", ErrorKind.InvalidOperation, $"Operation {operationId} was finished by another process.", operationId);
        TakeOverNotice(held, journal.Partition, context);
        journal.Append("Resumed", Now, ("pid", Environment.ProcessId), ("rollBack", rollBack));
        context.Logger.LogInformation("[{Operation}] Resuming the {Kind} of {Partition} ({Mode})", operationId, journal.Kind, journal.Partition, rollBack ? "roll back" : "finish");
        if (rollBack || journal.RollingBack)
        {
            var reason = !rollBack ? "The interrupted roll-back was finished."
                : journal.IsHandSteps ? $"The hand steps on {journal.Partition} were taken back on request; it stays at {journal.FromLevel}."
                : "Rolled back on request after the operation was interrupted.";
            try
            {
                return RollBack(journal, reason, null, null, context);
            }
            finally
            {
                UpdateBundle.RemoveCopies(journal.Id);
            }
        }
        return Run(journal, context);
    }

    /// <summary>A journal that passes its check; one that does not is refused with the way to clear it.</summary>
    private OperationJournal OpenTrusted(string id)
    {
        try
        {
            return OperationJournal.Open(Backend.Location, id);
        }
        catch (LiveUpdateException e) when (e.ErrorId == "JournalCorrupt")
        {
            throw new LiveUpdateException("JournalCorrupt", ErrorKind.InvalidData, $"{e.Message} Look at it, then clear it with Resume-LiveUpdate -Id {id} -Discard.", id, e);
        }
    }

    private void TakeOverNotice(IDisposable held, string partition, OperationContext context)
    {
        var previous = PartitionLock.Of(held)?.PreviousOwner;
        if (previous is not null)
            context.Logger.LogWarning("The lock of {Partition} was left by a process that is gone ({Owner}); it is taken over", partition, previous);
    }

    /// <summary>Called holding the partition's lock: an unfinished operation of the partition is then not running anywhere.</summary>
    private void RefuseIfInterrupted(string partition)
    {
        var open = Unfinished(partition);
        if (open is null) return;
        if (!open.IsHandSteps) throw InterruptedError(open);
        var done = string.Join(", ", ToOperation(open).Steps.Where(s => s.State == "Succeeded").Select(s => s.Name));
        throw new LiveUpdateException("OperationInProgress", ErrorKind.InvalidOperation,
            $"Partition {partition} is in the middle of hand steps (operation {open.Id}{(done.Length == 0 ? "" : ", done: " + done)}). Go on with them, " +
            $"undo them with Remove-RootVgClone, Stop-RootVgMirror and Stop-UpdatedPartition, or take them all back with Resume-LiveUpdate -Id {open.Id} -RollBack.", open.Id);
    }

    // ------------------------------------------------------------------ history

    /// <summary>
    /// The operations of one partition (or of all), oldest first by their start on the system's clock. A journal
    /// that fails its chain check is listed as Corrupt with what can be read of it; the others list as they are.
    /// </summary>
    public IReadOnlyList<LiveUpdateOperation> Operations(string? partition = null) =>
        OperationJournal.Ids(Backend.Location, partition).Select(Read)
            .OrderBy(r => r.Operation.Started).ThenBy(r => r.At).ThenBy(r => r.Operation.Id, StringComparer.Ordinal)
            .Select(r => r.Operation).ToList();

    public LiveUpdateOperation GetOperation(string id) => Read(id).Operation;

    private (LiveUpdateOperation Operation, DateTimeOffset At) Read(string id)
    {
        try
        {
            var j = OperationJournal.Open(Backend.Location, id);
            return (ToOperation(j), j.StartedAt);
        }
        catch (LiveUpdateException e) when (e.ErrorId == "JournalCorrupt")
        {
            return Corrupt(id, e);
        }
    }

    private (LiveUpdateOperation, DateTimeOffset) Corrupt(string id, LiveUpdateException e)
    {
        var (partition, first, written) = OperationJournal.Glimpse(Backend.Location, id);
        string? Field(string key) => first?[key] is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;
        var started = DateTimeOffset.TryParse(Field("clock"), CultureInfo.InvariantCulture, DateTimeStyles.None, out var clock) ? clock : written;
        var at = DateTimeOffset.TryParse(Field("at"), CultureInfo.InvariantCulture, DateTimeStyles.None, out var real) ? real : written;
        var operation = new LiveUpdateOperation(id, Field("kind") ?? "", partition, Field("from"), Field("to"), OperationState.Corrupt, false,
            Array.Empty<OperationStep>(), Array.Empty<string>(), Array.Empty<string>(), Array.Empty<string>(), Field("bundleName") ?? "", 0, started, null,
            $"{e.Message} Look at it, then clear it with Resume-LiveUpdate -Id {id} -Discard.");
        return (operation, at);
    }

    /// <summary>
    /// Sets aside the journal of an operation that fails its chain check (it is renamed, not deleted), so that the
    /// partition can be updated again. Only a corrupt journal is discarded: an intact one is finished or rolled back.
    /// </summary>
    public string? Discard(string id, OperationContext context)
    {
        var (operation, _) = Read(id);
        if (operation.State != OperationState.Corrupt)
            throw new LiveUpdateException("OperationNotCorrupt", ErrorKind.InvalidOperation,
                $"The journal of operation {id} is intact ({operation.State}); it is not discarded. " +
                (operation.State is OperationState.Interrupted or OperationState.InProgress
                    ? $"Finish it with Resume-LiveUpdate -Id {id}, or go back with Resume-LiveUpdate -Id {id} -RollBack."
                    : "It stays as the record of what happened."), id);
        if (PartitionLock.IsHeld(Backend.Location, operation.Partition))
            throw new LiveUpdateException("UpdateInProgress", ErrorKind.ResourceBusy,
                $"Partition {operation.Partition} is being updated ({PartitionLock.Owner(Backend.Location, operation.Partition)}); its journals stay as they are.", operation.Partition);
        if (!context.ShouldProcess(id, $"Discard the journal of operation {id} on {operation.Partition}, which fails its check (it is kept beside, renamed .discarded)")) return null;
        using var held = Hold(operation.Partition, id);
        var aside = OperationJournal.Discard(Backend.Location, id);
        context.Logger.LogWarning("The journal of operation {Operation} on {Partition} failed its check and was set aside as {File}", id, operation.Partition, aside);
        return aside;
    }

    private LiveUpdateOperation ToOperation(OperationJournal j)
    {
        var end = j.End;
        OperationState state;
        if (end is not null) state = Enum.Parse<OperationState>((string)end["status"]!);
        else if (PartitionLock.IsHeld(Backend.Location, j.Partition)) state = OperationState.Running;
        // Hand steps wait for the administrator's next step, unless a process stopped in the middle of one.
        else state = j.IsHandSteps && (string?)j.Last["event"] != "StepStarted" ? OperationState.InProgress : OperationState.Interrupted;
        var resumed = j.Events("Resumed").LastOrDefault();
        return new LiveUpdateOperation(j.Id, j.Kind, j.Partition, j.FromLevel, j.ToLevel, state, j.PointOfNoReturnPassed, j.Steps(),
            j.Applications, j.CloneDisks, j.MirrorDisks, j.BundleName, (int?)resumed?["pid"] ?? j.ProcessId, j.StartedClock,
            end is null ? null : OperationJournal.Clock(end), (string?)end?["reason"] ?? "");
    }

    /// <summary>Every acknowledged record of an application, in order, with no gap, where it runs now?</summary>
    public ApplicationDataCheck CheckApplicationData(string application)
    {
        var app = GetApplication(application);
        var read = Backend.ReadApplicationRecords(app.Name);
        var records = read.Sequences;
        long gap = 0;
        for (var i = 0; i < records.Count; i++)
        {
            if (records[i] != i + 1)
            {
                gap = i + 1;
                break;
            }
        }
        var inOrder = gap == 0;
        return new ApplicationDataCheck(app.Name, app.Partition, app.DataVolumeGroup, read.Acknowledged, records.Count, gap, inOrder,
            inOrder && records.Count == read.Acknowledged);
    }

    // ------------------------------------------------------------------ running the steps

    private static string Activity(OperationJournal j) => $"{(j.Kind == "Undo" ? "Undo" : "Live update")} of {j.Partition}";

    /// <summary>How long each step should take on the backend's timing model, for the progress bar's estimate.</summary>
    private TimeSpan Estimate(OperationJournal j, string step, UpdateBundle? bundle)
    {
        var t = Backend.Timing;
        var inv = Inventory();
        var p = Checks.FindPartition(inv, j.Partition);
        var used = p is null ? 0 : Checks.RootVgUsedMB(inv, p);
        return step switch
        {
            Steps.Clone when j.Kind == "Undo" => TimeSpan.Zero,
            Steps.Clone => t.Copy(used),
            Steps.Mirror => t.MirrorSync(used),
            Steps.Install => bundle is null ? TimeSpan.Zero : t.Install(bundle.Packages.Count, bundle.PayloadBytes),
            Steps.Boot => t.Boot,
            Steps.Import => t.Import,
            Steps.Move => TimeSpan.FromTicks(t.Blackout.Ticks * j.Applications.Count),
            Steps.TakeOver => t.Shutdown,
            _ => TimeSpan.Zero,
        };
    }

    /// <summary>What a step does, as the progress bar shows it.</summary>
    private static string Describe(OperationJournal j, string step, UpdateBundle? bundle) => step switch
    {
        Steps.Verify => $"verifying {j.BundleName} (manifest, every payload SHA-256, levels)",
        Steps.Clone when j.Kind == "Undo" => $"adopting {j.OldRootVg} on {Join(j.CloneDisks)} as altinst_rootvg",
        Steps.Clone => $"cloning rootvg onto {Join(j.CloneDisks)} as altinst_rootvg",
        Steps.Mirror => $"mirroring rootvg onto {Join(j.MirrorDisks)}",
        Steps.Install => $"installing {bundle?.Name ?? j.BundleName} into altinst_rootvg",
        Steps.Boot => $"booting {Steps.SurrogateName(j.Partition)} from altinst_rootvg at {j.ToLevel}",
        Steps.Import => $"importing the rootvg mirror into {Steps.SurrogateName(j.Partition)}",
        Steps.Move => $"moving {string.Join(", ", j.Applications)} (each stops, then restarts on the mirrored data)",
        Steps.TakeOver => $"{Steps.SurrogateName(j.Partition)} takes over the name and identity of {j.Partition}",
        _ => step,
    };

    private LiveUpdateResult Run(OperationJournal j, OperationContext context)
    {
        UpdateBundle? bundle = null;
        try
        {
            return Run(j, context, ref bundle);
        }
        finally
        {
            // The verified private copy of the bundle lives as long as the operation runs; copies that a process which
            // died during the operation left go too.
            bundle?.Dispose();
            UpdateBundle.RemoveCopies(j.Id);
        }
    }

    private LiveUpdateResult Run(OperationJournal j, OperationContext context, ref UpdateBundle? bundle)
    {
        using var scope = context.Logger.BeginScope(new Dictionary<string, object> { ["OperationId"] = j.Id });
        var steps = j.Kind == "Undo" ? Steps.Undo : Steps.Update;
        string? current = null;
        var activity = Activity(j);
        var inner = context.Within(activity);
        var estimates = steps.ToDictionary(s => s, s => Estimate(j, s, null));
        try
        {
            foreach (var step in steps)
            {
                current = step;
                if (step == Steps.Verify || step == Steps.Install) bundle ??= OpenBundle(j, step == Steps.Verify);
                if (step == Steps.Verify) estimates[Steps.Install] = Estimate(j, Steps.Install, bundle);
                if (j.StepDone(step)) continue;
                if (!j.PointOfNoReturnPassed) context.Cancellation.ThrowIfCancellationRequested();
                var remaining = steps.SkipWhile(s => s != step).Aggregate(TimeSpan.Zero, (sum, s) => sum + estimates[s]);
                var total = estimates.Values.Aggregate(TimeSpan.Zero, (sum, e) => sum + e);
                context.Report(activity, $"{step}: {Describe(j, step, bundle)}", (int)(100 - 100 * remaining.Ticks / Math.Max(1, total.Ticks)), remaining);
                var before = Now;
                j.Append("StepStarted", before, ("step", step));
                if (step == Steps.Move && !j.PointOfNoReturnPassed)
                {
                    j.Append("PointOfNoReturn", before);
                    context.Logger.LogInformation("[{Operation}] Point of no return: the applications stop on {Partition}", j.Id, j.Partition);
                }
                var detail = Do(j, step, bundle, inner);
                j.Append("StepSucceeded", Now, ("step", step), ("detail", detail));
            }
            context.Report(activity, "Done", 100, TimeSpan.Zero, completed: true);
            var level = Checks.FindPartition(Inventory(), j.Partition)?.OsLevel;
            j.Append("Ended", Now, ("status", nameof(LiveUpdateStatus.Succeeded)), ("level", level?.ToString()),
                ("reason", $"{j.Partition} runs {level}; every application moved with its data verified."));
            return Result(j, LiveUpdateStatus.Succeeded);
        }
        catch (Exception e) when (e is LiveUpdateException or IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            var error = e as LiveUpdateException ?? new LiveUpdateException(e is OperationCanceledException ? "OperationCancelled" : "StepFailed",
                e is OperationCanceledException ? ErrorKind.OperationStopped : ErrorKind.DeviceError, e.Message, current, e);
            j.Append("StepFailed", Now, ("step", current), ("error", error.Message), ("errorId", error.ErrorId));
            context.Logger.LogWarning("[{Operation}] Step {Step} failed: {Error}", j.Id, current, error.Message);
            if (current == Steps.TakeOver)
            {
                // Every application already runs on the surrogate at the new level: going forward is the short way.
                try
                {
                    context.Logger.LogInformation("[{Operation}] Retrying {Step}: the applications already run on the surrogate", j.Id, current);
                    j.Append("StepStarted", Now, ("step", current), ("retry", true));
                    var detail = Do(j, current, bundle, inner);
                    j.Append("StepSucceeded", Now, ("step", current), ("detail", detail));
                    context.Report(activity, "Done", 100, TimeSpan.Zero, completed: true);
                    var level = Checks.FindPartition(Inventory(), j.Partition)?.OsLevel;
                    var reason = $"{current} failed once ({error.Message}) and succeeded when retried; {j.Partition} runs {level}.";
                    j.Append("Ended", Now, ("status", nameof(LiveUpdateStatus.Succeeded)), ("level", level?.ToString()), ("reason", reason));
                    return Result(j, LiveUpdateStatus.Succeeded) with { FailedStep = current, ErrorId = error.ErrorId };
                }
                catch (Exception again) when (again is LiveUpdateException or IOException)
                {
                    j.Append("StepFailed", Now, ("step", current), ("error", again.Message));
                }
            }
            var why = e is OperationCanceledException
                ? $"A stop was requested before {current}, before the point of no return; everything was rolled back and {j.Partition} stays at {j.FromLevel}; the applications never stopped."
                : j.PointOfNoReturnPassed
                ? $"{current} failed after the point of no return ({error.Message}); the applications were moved back to {j.Partition}, which stays at {j.FromLevel}."
                : $"{current} failed before the point of no return ({error.Message}); everything was rolled back and {j.Partition} stays at {j.FromLevel}; the applications never stopped.";
            return RollBack(j, why, current, error, context);
        }
    }

    private UpdateBundle OpenBundle(OperationJournal j, bool faultPoints)
    {
        if (faultPoints) Backend.Faults?.At(Steps.Verify, FaultTiming.Before);
        var bundle = UpdateBundle.OpenFor(j.Id, j.BundlePath);
        if (faultPoints) Backend.Faults?.At(Steps.Verify, FaultTiming.During);
        if (faultPoints) Backend.Faults?.At(Steps.Verify, FaultTiming.After);
        return bundle;
    }

    /// <summary>One step, idempotent: what is already done is recognised and not done again.</summary>
    private string Do(OperationJournal j, string step, UpdateBundle? bundle, OperationContext context)
    {
        var p = j.Partition;
        var inv = Inventory();
        var clone = inv.Clones.FirstOrDefault(c => Same(c.Partition, p));
        var mirror = inv.Mirrors.FirstOrDefault(m => Same(m.Partition, p));
        var surrogate = inv.Partitions.FirstOrDefault(x => Same(x.SurrogateOf, p));
        switch (step)
        {
            case Steps.Verify:
                return $"{bundle!.Name}: {bundle.Packages.Count} packages verified";
            case Steps.Clone when j.Kind == "Undo":
                if (clone is null) Backend.AdoptOldRootVg(p, j.OldRootVg, context);
                return $"{j.OldRootVg} on {Join(j.CloneDisks)} adopted as altinst_rootvg";
            case Steps.Clone:
                if (clone is not null && clone.Disks.SequenceEqual(j.CloneDisks, StringComparer.OrdinalIgnoreCase)) return "already cloned";
                Backend.RemoveClone(p, j.CloneDisks, context); // wipes what an interrupted attempt left
                Backend.CloneRootVg(p, j.CloneDisks, context);
                return $"rootvg -> {Join(j.CloneDisks)}";
            case Steps.Mirror:
                if (mirror is not null && mirror.Disks.SequenceEqual(j.MirrorDisks, StringComparer.OrdinalIgnoreCase)) return "already mirrored";
                Backend.RemoveMirror(p, j.MirrorDisks, context);
                Backend.MirrorRootVg(p, j.MirrorDisks, context);
                return $"rootvg mirrored onto {Join(j.MirrorDisks)}";
            case Steps.Install:
                if (clone is not null && clone.OsLevel == j.ToLevel && clone.AppliedBundles.Contains(bundle!.Name)) return "already installed";
                Backend.InstallUpdate(p, bundle!, context);
                return $"{bundle!.Name} installed into altinst_rootvg";
            case Steps.Boot:
                // A surrogate that exists but does not run yet (its creation was interrupted) is booted by the backend.
                if (surrogate is { State: PartitionState.Running }) return $"{surrogate.Name} already running";
                Throw(Checks.Frame(inv, Checks.FindPartition(inv, p)!));
                surrogate = Backend.StartSurrogate(p, context);
                return $"{surrogate.Name} booted at {surrogate.OsLevel}";
            case Steps.Import:
                if (mirror?.State == MirrorState.Imported) return "already imported";
                var vg = Backend.ImportMirror(p, surrogate!.Name, context);
                return $"{vg.Name} imported into {surrogate.Name}";
            case Steps.Move:
                foreach (var name in j.Applications)
                {
                    var app = Inventory().Applications.FirstOrDefault(a => Same(a.Name, name));
                    if (app is null || !Same(app.Partition, p)) continue; // already moved
                    // A stop request still counts until the first application stops; after that the move finishes.
                    if (!j.Events("ApplicationMoved").Any()) context.Cancellation.ThrowIfCancellationRequested();
                    var moved = Backend.MoveApplication(name, surrogate!.Name, context);
                    j.Append("ApplicationMoved", Now, ("application", name), ("migration", moved));
                    if (moved.Status == "HealthCheckFailed")
                        throw new LiveUpdateException("HealthCheckFailed", ErrorKind.ResourceUnavailable,
                            $"{name} did not answer its health check '{Inventory().Applications.First(a => Same(a.Name, name)).HealthCheck}' on {surrogate.Name} within its timeout.", name);
                    if (!moved.DataVerified)
                        throw new LiveUpdateException("DataMismatch", ErrorKind.InvalidData,
                            $"{name} found {moved.RecordsOnDestination} records on {surrogate.Name}, {moved.RecordsAcknowledged} were acknowledged.", name);
                }
                return $"{j.Applications.Count} applications moved to {surrogate?.Name}";
            case Steps.TakeOver:
                if (surrogate is null) return "identity already taken over";
                Backend.TakeOver(p, surrogate.Name, context);
                return $"{surrogate.Name} took over the name and identity of {p}";
            default:
                throw new InvalidOperationException("Unknown step " + step);
        }
    }

    /// <summary>Back to exactly where the operation started; applications run on the original with their data.</summary>
    private LiveUpdateResult RollBack(OperationJournal j, string reason, string? failedStep, LiveUpdateException? error, OperationContext outer)
    {
        using var scope = outer.Logger.BeginScope(new Dictionary<string, object> { ["OperationId"] = j.Id });
        var p = j.Partition;
        var activity = Activity(j);
        var context = outer.Within(activity);
        try
        {
            outer.Report(activity, $"Rolling back: {reason}", 0);
            j.Append("RollbackStarted", Now, ("reason", reason));
            context.Logger.LogWarning("[{Operation}] Rolling back: {Reason}", j.Id, reason);
            var inv = Inventory();
            var surrogate = inv.Partitions.FirstOrDefault(x => Same(x.SurrogateOf, p));
            if (surrogate is not null)
            {
                foreach (var app in inv.Applications.Where(a => Same(a.Partition, surrogate.Name)).ToList())
                {
                    var back = Backend.MoveApplication(app.Name, p, context);
                    j.Append("ApplicationMovedBack", Now, ("application", app.Name), ("migration", back));
                }
            }
            foreach (var app in Inventory().Applications.Where(a => Same(a.Partition, p) && a.State != ApplicationState.Running).ToList())
                Backend.RecoverApplication(app.Name, context);
            if (surrogate is not null) Backend.RemoveSurrogate(surrogate.Name, context);
            Backend.RemoveMirror(p, j.MirrorDisks, context);
            if (j.Kind == "Undo") Backend.RestoreOldRootVg(p, context);
            else Backend.RemoveClone(p, j.CloneDisks, context);
            outer.Report(activity, "Rolled back", 100, TimeSpan.Zero, completed: true);
            j.Append("Ended", Now, ("status", nameof(LiveUpdateStatus.RolledBack)), ("level", Checks.FindPartition(Inventory(), p)?.OsLevel.ToString()), ("reason", reason),
                ("failedStep", failedStep), ("errorId", error?.ErrorId));
            return Result(j, LiveUpdateStatus.RolledBack) with { FailedStep = failedStep, ErrorId = error?.ErrorId };
        }
        catch (Exception e) when (e is LiveUpdateException or IOException)
        {
            // The journal stays open: Resume-LiveUpdate finishes the roll-back.
            context.Logger.LogError("[{Operation}] The roll-back stopped: {Error}; run Resume-LiveUpdate -Id {Id} to finish it", j.Id, e.Message, j.Id);
            outer.Report(activity, "Roll-back stopped", 100, TimeSpan.Zero, completed: true);
            return Result(j, LiveUpdateStatus.Interrupted, $"{reason} The roll-back stopped ({e.Message}); Resume-LiveUpdate -Id {j.Id} finishes it.") with { FailedStep = failedStep, ErrorId = error?.ErrorId };
        }
    }

    private LiveUpdateResult Result(OperationJournal j, LiveUpdateStatus status, string? reason = null)
    {
        SystemInventory? inv = null;
        try
        {
            inv = Inventory();
        }
        catch (LiveUpdateException) when (status == LiveUpdateStatus.Interrupted)
        {
            // The system does not answer (that is why the operation stopped): the journal tells the rest.
        }
        var p = inv is null ? null : Checks.FindPartition(inv, j.Partition);
        var moves = j.Events("ApplicationMoved").Select(e => e["migration"].Deserialize<ApplicationMigration>()!).ToList();
        if (status == LiveUpdateStatus.Succeeded && moves.Count > 0)
        {
            var last = moves[^1];
            moves[^1] = last with { IdentityTakenOver = true };
        }
        var phases = j.Steps().Where(s => s.State != "Pending").Select(s => new PhaseResult(s.Name, s.State, s.Duration, s.Detail)).ToList();
        var old = inv?.VolumeGroups.FirstOrDefault(v => Same(v.Partition, j.Partition) && v.Role == VolumeGroupRole.OldRoot && Same(v.Name, "old_rootvg"));
        var end = j.End;
        var finished = Now;
        return new LiveUpdateResult(j.Id, j.Partition, j.FromLevel, j.ToLevel, p?.OsLevel ?? j.FromLevel, status,
            reason ?? (string?)end?["reason"] ?? "", (finished - j.StartedClock).TotalSeconds,
            moves.Count == 0 ? 0 : moves.Max(m => m.Blackout), phases, moves,
            j.CloneDisks, j.MirrorDisks, old?.Disks ?? Array.Empty<string>(), j.BundleName, j.StartedClock, finished, j.PointOfNoReturnPassed);
    }
}

internal static class JsonNodeExtensions
{
    public static T? Deserialize<T>(this System.Text.Json.Nodes.JsonNode? node) => node is null ? default : System.Text.Json.JsonSerializer.Deserialize<T>(node.ToJsonString());
}
