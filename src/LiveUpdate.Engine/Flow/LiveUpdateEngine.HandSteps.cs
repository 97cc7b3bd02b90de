using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Flow;

// The hand steps as an operation. The first step an administrator takes by hand (New-RootVgClone, Start-RootVgMirror)
// opens a journalled operation of kind Steps for the partition; every later step and every inverse is recorded in
// it, so that Get-LiveUpdateOperation shows a partition in the middle of hand steps and Resume-LiveUpdate -RollBack
// takes them all back with the cleanup the flow's roll-back uses. Each step before the point of no return has an
// inverse: Remove-RootVgClone (the clone and what was installed into it), Stop-RootVgMirror (the mirror, exported
// from the surrogate first), Stop-UpdatedPartition (the surrogate). The operation ends when the surrogate takes
// over (Succeeded) or when nothing of it is left (RolledBack).
public sealed partial class LiveUpdateEngine
{
    /// <summary>The partition's unfinished operation, newest first; a journal that fails its check is refused with the way to clear it.</summary>
    private OperationJournal? Unfinished(string partition)
    {
        foreach (var id in OperationJournal.Ids(Backend.Location, partition).Reverse())
        {
            var j = OpenTrusted(id);
            if (!j.Ended) return j;
        }
        return null;
    }

    /// <summary>
    /// The partition's hand-step operation, if one is open. An interrupted live update or undo of the partition is
    /// refused: its own journal knows how to finish or go back, and a hand step would confuse it.
    /// </summary>
    private OperationJournal? HandStepsOf(string partition)
    {
        var open = Unfinished(partition);
        if (open is null || open.IsHandSteps) return open;
        throw InterruptedError(open);
    }

    private LiveUpdateException InterruptedError(OperationJournal j)
    {
        var step = ToOperation(j).Steps.LastOrDefault(s => s.State != "Pending")?.Name ?? "its start";
        return new LiveUpdateException("OperationInterrupted", ErrorKind.InvalidOperation,
            $"Operation {j.Id} ({(j.Kind == "Undo" ? "an undo" : "a live update")} of {j.Partition}) was interrupted at step {step}; finish it with Resume-LiveUpdate -Id {j.Id}, or go back with Resume-LiveUpdate -Id {j.Id} -RollBack.", j.Id);
    }

    /// <summary>What to do about what a partition has left, in words an error message ends with.</summary>
    private string WayOut(string partition, string what)
    {
        OperationJournal? open;
        try
        {
            open = Unfinished(partition);
        }
        catch (LiveUpdateException e)
        {
            return e.Message;
        }
        if (open is not null && !open.IsHandSteps)
            return $"It belongs to operation {open.Id}, which was interrupted: finish it with Resume-LiveUpdate -Id {open.Id}, or go back with Resume-LiveUpdate -Id {open.Id} -RollBack.";
        var undo = what switch
        {
            "clone" => $"remove it with Remove-RootVgClone {partition}",
            "mirror" => $"stop it with Stop-RootVgMirror {partition}",
            _ => $"stop it with Stop-UpdatedPartition {Steps.SurrogateName(partition)}",
        };
        return open is null
            ? $"Go on with the next step, or {undo}."
            : $"Go on with the next step, {undo}, or take every hand step back with Resume-LiveUpdate -Id {open.Id} -RollBack.";
    }

    /// <summary>
    /// Runs one hand step inside the partition's hand-step operation: announced before the work, recorded after it
    /// with what it learned (disks, bundle, level); a failure is recorded and rethrown.
    /// </summary>
    private static T Record<T>(OperationJournal j, DateTimeOffset now, Func<DateTimeOffset> later, string step, Func<T> work, Func<T, (string Detail, (string, object?)[] Fields)> done)
    {
        j.Append("StepStarted", now, ("step", step));
        T result;
        try
        {
            result = work();
        }
        catch (Exception e) when (e is LiveUpdateException or IOException or UnauthorizedAccessException)
        {
            j.Append("StepFailed", later(), ("step", step), ("error", e.Message), ("errorId", (e as LiveUpdateException)?.ErrorId));
            throw;
        }
        var (detail, fields) = done(result);
        j.Append("StepSucceeded", later(), new[] { ("step", (object?)step), ("detail", detail) }.Concat(fields).ToArray());
        return result;
    }

    private T Record<T>(OperationJournal j, string step, Func<T> work, Func<T, (string Detail, (string, object?)[] Fields)> done) =>
        Record(j, Now, () => Now, step, work, done);

    private static (string, object?)[] Fields(params (string, object?)[] fields) => fields;

    /// <summary>The partition's hand-step operation, opened now (after the step's confirmation) when it has none.</summary>
    private OperationJournal HandSteps(OperationJournal? open, LogicalPartition p, OperationContext context)
    {
        if (open is not null) return open;
        var id = NewOperationId();
        var j = OperationJournal.Create(Backend.Location, p.Name, id);
        j.Append("Begin", Now,
            ("kind", OperationJournal.HandSteps), ("partition", p.Name), ("bundle", ""), ("bundleName", ""),
            ("from", p.OsLevel), ("to", p.OsLevel), ("cloneDisks", Array.Empty<string>()), ("mirrorDisks", Array.Empty<string>()),
            ("applications", Inventory().Applications.Where(a => Same(a.Partition, p.Name)).Select(a => a.Name).ToArray()),
            ("pid", Environment.ProcessId));
        context.Logger.LogInformation("[{Operation}] The hand steps on {Partition} are recorded as operation {Operation}; Resume-LiveUpdate -Id {Operation} -RollBack takes them back",
            id, p.Name, id, id);
        return j;
    }

    /// <summary>Marks steps undone by an inverse; when nothing of the operation is left, it ends rolled back.</summary>
    private void Undone(OperationJournal? j, string partition, string detail, params string[] steps)
    {
        if (j is null) return;
        foreach (var step in steps.Where(s => j.StepState(s) is not null and not "StepUndone"))
        {
            var fields = new List<(string, object?)> { ("step", step), ("detail", detail) };
            if (step == Steps.Clone) fields.Add(("cloneDisks", Array.Empty<string>()));
            if (step == Steps.Mirror) fields.Add(("mirrorDisks", Array.Empty<string>()));
            j.Append("StepUndone", Now, fields.ToArray());
        }
        var inv = Inventory();
        var left = inv.Clones.Any(c => Same(c.Partition, partition)) || inv.Mirrors.Any(m => Same(m.Partition, partition))
            || inv.Partitions.Any(x => Same(x.SurrogateOf, partition));
        if (left) return;
        var level = Checks.FindPartition(inv, partition)?.OsLevel;
        j.Append("Ended", Now, ("status", nameof(LiveUpdateStatus.RolledBack)), ("level", level),
            ("reason", $"Every hand step was undone; {partition} stays at {level} and its disks are free again."));
    }

    // ------------------------------------------------------------------ the inverses

    /// <summary>The inverse of New-RootVgClone (and of Install-CloneUpdate): removes the partition's altinst_rootvg and wipes its disks.</summary>
    public bool RemoveRootVgClone(string partition, OperationContext context)
    {
        using var held = Hold(partition);
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        Throw(Checks.Partition(inv, partition, out var p, mustRun: false));
        Throw(Checks.Original(p!));
        var j = HandStepsOf(p!.Name);
        var clone = GetClone(p.Name);
        if (clone.State == CloneState.Booted)
            throw new LiveUpdateException("CloneInUse", ErrorKind.InvalidOperation,
                $"The clone of {p.Name} runs as {clone.BootedAs}; stop that first with Stop-UpdatedPartition {clone.BootedAs}.", p.Name);
        if (!context.ShouldProcess($"{clone.VolumeGroup} of {p.Name}", $"Remove the clone ({clone.OsLevel}) and wipe {string.Join(", ", clone.Disks)}")) return false;
        Backend.RemoveClone(p.Name, clone.Disks, context);
        context.Logger.LogInformation("The clone of {Partition} is removed; {Disks} are free again", p.Name, string.Join(", ", clone.Disks));
        Undone(j, p.Name, $"altinst_rootvg removed, {string.Join(", ", clone.Disks)} free", Steps.Install, Steps.Verify, Steps.Clone);
        return true;
    }

    /// <summary>The inverse of Start-RootVgMirror (and of Import-MirrorVg): removes the partition's rootvg mirror and wipes its disks.</summary>
    public bool StopRootVgMirror(string partition, OperationContext context)
    {
        using var held = Hold(partition);
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        Throw(Checks.Partition(inv, partition, out var p, mustRun: false));
        Throw(Checks.Original(p!));
        var j = HandStepsOf(p!.Name);
        var mirror = GetMirror(p.Name);
        if (mirror.ImportedInto is { } into)
            Throw(NoApplicationsOn(inv, into, p.Name, j));
        if (!context.ShouldProcess($"rootvg mirror of {p.Name}", $"Stop mirroring rootvg{(mirror.ImportedInto is null ? "" : $", export it from {mirror.ImportedInto}")} and wipe {string.Join(", ", mirror.Disks)}")) return false;
        Backend.RemoveMirror(p.Name, mirror.Disks, context);
        context.Logger.LogInformation("The rootvg of {Partition} is no longer mirrored; {Disks} are free again", p.Name, string.Join(", ", mirror.Disks));
        Undone(j, p.Name, $"mirror removed, {string.Join(", ", mirror.Disks)} free", Steps.Import, Steps.Mirror);
        return true;
    }

    /// <summary>The inverse of Start-UpdatedPartition: shuts the surrogate down and removes it; its clone stays, updated.</summary>
    public bool StopUpdatedPartition(string surrogate, OperationContext context)
    {
        var inv0 = Inventory();
        Throw(Checks.Partition(inv0, surrogate, out var s0, mustRun: false));
        if (!s0!.IsSurrogate)
        {
            var its = inv0.Partitions.FirstOrDefault(x => Same(x.SurrogateOf, s0.Name));
            throw new LiveUpdateException("NotASurrogate", ErrorKind.InvalidArgument,
                $"Partition {s0.Name} is not a surrogate; Stop-UpdatedPartition stops the partition that Start-UpdatedPartition booted" +
                (its is null ? "." : $" ({its.Name})."), s0.Name);
        }
        using var held = Hold(s0.Name);
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        Throw(Checks.Partition(inv, surrogate, out var s, mustRun: false));
        var original = s!.SurrogateOf!;
        var j = HandStepsOf(original);
        Throw(NoApplicationsOn(inv, s.Name, original, j));
        if (!context.ShouldProcess(s.Name, $"Shut down and remove the surrogate of {original} (its clone stays, at {s.OsLevel})")) return false;
        Backend.RemoveSurrogate(s.Name, context);
        context.Logger.LogInformation("{Surrogate} is shut down and removed; the clone of {Partition} can boot again", s.Name, original);
        Undone(j, original, $"{s.Name} removed", Steps.TakeOver, Steps.Move, Steps.Import, Steps.Boot);
        return true;
    }

    /// <summary>Applications that run on a surrogate keep it (and the mirror they use) until they are moved back.</summary>
    private static LiveUpdateException? NoApplicationsOn(SystemInventory inv, string surrogate, string original, OperationJournal? j)
    {
        var apps = inv.Applications.Where(a => Same(a.Partition, surrogate)).Select(a => a.Name).ToList();
        if (apps.Count == 0) return null;
        var back = j is null ? "" : $", or take every hand step back with Resume-LiveUpdate -Id {j.Id} -RollBack";
        return new LiveUpdateException("ApplicationsOnSurrogate", ErrorKind.InvalidOperation,
            $"{string.Join(", ", apps)} run{(apps.Count == 1 ? "s" : "")} on {surrogate}, past the point of no return; move {(apps.Count == 1 ? "it" : "them")} back first with Move-Application -Destination {original}{back}.", surrogate);
    }
}
