using System;
using System.Collections.Generic;
using System.Linq;
using LiveUpdate.Engine.Backends;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Flow;

/// <summary>What a live update is asked to do.</summary>
public sealed record LiveUpdateRequest(string Partition, string BundlePath, IReadOnlyList<string>? CloneDisks = null, IReadOnlyList<string>? MirrorDisks = null);

/// <summary>
/// The flow: the seven steps of a live update as functions over a backend. Each step validates its request against
/// the backend's inventory, asks <see cref="OperationContext.ShouldProcess"/>, and only then changes anything; a
/// declined confirmation returns null. <see cref="Invoke"/> runs the same steps, so the composed run and the
/// hand-piped run cannot drift apart.
/// </summary>
public sealed partial class LiveUpdateEngine
{
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);

    public LiveUpdateEngine(ILiveUpdateBackend backend) => Backend = backend;

    public ILiveUpdateBackend Backend { get; }

    public SystemInventory Inventory() => Backend.Inventory();

    private static readonly IDisposable NoLock = new NoLockHandle();
    private sealed class NoLockHandle : IDisposable { public void Dispose() { } }

    /// <summary>Takes the partition's lock (UpdateInProgress while another live update of it is in flight).</summary>
    private IDisposable Hold(string partition, string operation = "step")
    {
        var p = Checks.FindPartition(Inventory(), partition);
        if (p is null) return NoLock; // the step's own check reports the unknown partition
        return PartitionLock.Acquire(Backend.Location, p.SurrogateOf ?? p.Name, operation, () => Backend.Lock(LockWait));
    }

    private static void Throw(LiveUpdateException? error)
    {
        if (error is not null) throw error;
    }

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    public LogicalPartition GetPartition(string name)
    {
        Throw(Checks.Partition(Inventory(), name, out var p, mustRun: false));
        return p!;
    }

    public ApplicationInstance GetApplication(string name) => Inventory().Applications.FirstOrDefault(a => Same(a.Name, name))
        ?? throw new LiveUpdateException("ApplicationNotFound", ErrorKind.ObjectNotFound, $"There is no application named '{name}'.", name);

    public PhysicalVolume GetDisk(string name) => Inventory().Disks.FirstOrDefault(d => Same(d.Name, name))
        ?? throw new LiveUpdateException("DiskNotFound", ErrorKind.ObjectNotFound, $"There is no disk named '{name}'.", name);

    public RootVgClone GetClone(string partition) => Inventory().Clones.FirstOrDefault(c => Same(c.Partition, partition))
        ?? throw new LiveUpdateException("CloneNotFound", ErrorKind.ObjectNotFound, $"Partition {partition} has no altinst_rootvg; create one with New-RootVgClone.", partition);

    public RootVgMirror GetMirror(string partition) => Inventory().Mirrors.FirstOrDefault(m => Same(m.Partition, partition))
        ?? throw new LiveUpdateException("MirrorNotFound", ErrorKind.ObjectNotFound, $"The rootvg of {partition} is not mirrored; mirror it with Start-RootVgMirror.", partition);

    // ------------------------------------------------------------------ the steps

    /// <summary>Step 2: clone the rootvg of a running partition onto free disks (altinst_rootvg).</summary>
    public RootVgClone? NewRootVgClone(string partition, IReadOnlyList<string> disks, OperationContext context)
    {
        using var held = Hold(partition);
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        Throw(Checks.Partition(inv, partition, out var p));
        Throw(Checks.Original(p!));
        var j = HandStepsOf(p!.Name);
        Throw(Checks.NoClone(inv, p, WayOut(p.Name, "clone")));
        Throw(Checks.Disks(inv, disks, Checks.RootVgUsedMB(inv, p), "clone of rootvg"));
        if (!context.ShouldProcess(p.Name, $"Clone rootvg ({p.OsLevel}) onto {string.Join(", ", disks)} as altinst_rootvg")) return null;
        return Record(HandSteps(j, p, context), Steps.Clone, () => Backend.CloneRootVg(p.Name, disks, context),
            c => ($"rootvg -> {Join(c.Disks)}", Fields(("cloneDisks", c.Disks))));
    }

    /// <summary>Step 3: mirror the rootvg of a running partition onto free disks; every later write reaches them.</summary>
    public RootVgMirror? StartRootVgMirror(string partition, IReadOnlyList<string> disks, OperationContext context)
    {
        using var held = Hold(partition);
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        Throw(Checks.Partition(inv, partition, out var p));
        Throw(Checks.Original(p!));
        var j = HandStepsOf(p!.Name);
        Throw(Checks.NoMirror(inv, p, WayOut(p.Name, "mirror")));
        Throw(Checks.Disks(inv, disks, Checks.RootVgUsedMB(inv, p), "mirror of rootvg"));
        if (!context.ShouldProcess(p.Name, $"Mirror rootvg onto {string.Join(", ", disks)}")) return null;
        return Record(HandSteps(j, p, context), Steps.Mirror, () => Backend.MirrorRootVg(p.Name, disks, context),
            m => ($"rootvg mirrored onto {Join(m.Disks)}", Fields(("mirrorDisks", m.Disks))));
    }

    /// <summary>Step 1 and 4: verify a bundle completely, then apply it to the clone, never to the running system.</summary>
    public RootVgClone? InstallCloneUpdate(string partition, string bundlePath, OperationContext context)
    {
        using var held = Hold(partition);
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        Throw(Checks.Partition(inv, partition, out var p, mustRun: false));
        var j = HandStepsOf(p!.Name);
        var clone = GetClone(p.Name);
        if (clone.State == CloneState.Booted)
            throw new LiveUpdateException("CloneInUse", ErrorKind.InvalidOperation,
                $"The clone of {p.Name} already runs as {clone.BootedAs}; it can no longer be updated. Stop it with Stop-UpdatedPartition {clone.BootedAs} first.", p.Name);
        using var bundle = j is null ? UpdateBundle.Open(bundlePath) : UpdateBundle.OpenFor(j.Id, bundlePath);
        Throw(Checks.Bundle(bundle, clone.OsLevel, $"the clone of {p.Name}"));
        if (!context.ShouldProcess($"{clone.VolumeGroup} of {p.Name}", $"Install {bundle.Name} ({clone.OsLevel} -> {bundle.TargetLevel})")) return null;
        context.Logger.LogInformation("Bundle {Bundle} verified: {Packages} packages, every SHA-256 matches", bundle.Name, bundle.Packages.Count);
        var ops = HandSteps(j, p, context);
        Record(ops, Steps.Verify, () => bundle, b => ($"{b.Name}: {b.Packages.Count} packages verified",
            Fields(("bundle", b.Source), ("bundleName", b.Name), ("to", b.TargetLevel.ToString()))));
        return Record(ops, Steps.Install, () => Backend.InstallUpdate(p.Name, bundle, context), _ => ($"{bundle.Name} installed into altinst_rootvg", Fields()));
    }

    /// <summary>Step 5: create a second partition and boot it from the updated clone, without restarting the machine.</summary>
    public LogicalPartition? StartUpdatedPartition(string partition, OperationContext context)
    {
        using var held = Hold(partition);
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        Throw(Checks.Partition(inv, partition, out var p));
        var j = HandStepsOf(p!.Name);
        var clone = GetClone(p.Name);
        if (clone.State == CloneState.Booted)
            throw new LiveUpdateException("SurrogateExists", ErrorKind.ResourceExists, $"The clone of {p.Name} already runs as {clone.BootedAs}. {WayOut(p.Name, "surrogate")}", p.Name);
        if (clone.State != CloneState.Updated)
            throw new LiveUpdateException("CloneNotUpdated", ErrorKind.InvalidOperation,
                $"The clone of {p.Name} is still at {clone.OsLevel}; install an update into it first (Install-CloneUpdate).", p.Name);
        Throw(Checks.Frame(inv, p));
        var name = Steps.SurrogateName(p.Name);
        if (!context.ShouldProcess(name, $"Create a partition like {p.Name} and boot it from {string.Join(", ", clone.Disks)} at {clone.OsLevel}")) return null;
        return Record(HandSteps(j, p, context), Steps.Boot, () => Backend.StartSurrogate(p.Name, context),
            s => ($"{s.Name} booted at {s.OsLevel}", Fields(("surrogate", s.Name))));
    }

    /// <summary>Step 6: split the rootvg mirror off and import it into the surrogate (kept current until the blackout).</summary>
    public VolumeGroup? ImportMirrorVg(string partition, string surrogate, OperationContext context)
    {
        using var held = Hold(partition);
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        Throw(Checks.Partition(inv, partition, out var p));
        var j = HandStepsOf(p!.Name);
        var mirror = GetMirror(p.Name);
        Throw(Checks.Partition(inv, surrogate, out var s));
        if (!Same(s!.SurrogateOf, p.Name))
            throw new LiveUpdateException("NotASurrogate", ErrorKind.InvalidArgument, $"Partition {s.Name} is not the surrogate of {p.Name}.", s.Name);
        if (mirror.State == MirrorState.Imported)
            throw new LiveUpdateException("MirrorAlreadyImported", ErrorKind.ResourceExists, $"The mirror of {p.Name} is already imported into {mirror.ImportedInto} as {mirror.ImportedAs}.", p.Name);
        if (!context.ShouldProcess(s.Name, $"Import the rootvg mirror of {p.Name} from {string.Join(", ", mirror.Disks)}")) return null;
        return Record(HandSteps(j, p, context), Steps.Import, () => Backend.ImportMirror(p.Name, s.Name, context),
            vg => ($"{vg.Name} imported into {s.Name}", Fields()));
    }

    /// <summary>
    /// Step 7: move an application to the surrogate by restarting it on the mirrored data (the blackout). When the
    /// last application has left the original partition, the surrogate takes over its name and identity. Moving
    /// an application back to the original partition before that is the way back after the point of no return.
    /// </summary>
    public ApplicationMigration? MoveApplication(string application, string destination, OperationContext context)
    {
        using var held = Hold(Inventory().Applications.FirstOrDefault(a => Same(a.Name, application))?.Partition ?? "");
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        var app = inv.Applications.FirstOrDefault(a => Same(a.Name, application))
            ?? throw new LiveUpdateException("ApplicationNotFound", ErrorKind.ObjectNotFound, $"There is no application named '{application}'.", application);
        Throw(Checks.Partition(inv, destination, out var dst));
        if (Same(app.Partition, dst!.Name))
            throw new LiveUpdateException("ApplicationAlreadyThere", ErrorKind.InvalidOperation, $"{app.Name} already runs on {dst.Name}.", app.Name);
        if (app.State != ApplicationState.Running)
            throw new LiveUpdateException("ApplicationNotRunning", ErrorKind.InvalidOperation, $"{app.Name} is {app.State}; only a running application can be moved.", app.Name);
        var mirror = inv.Mirrors.FirstOrDefault(m => (Same(m.Partition, app.Partition) && Same(m.ImportedInto, dst.Name))
            || (Same(m.Partition, dst.Name) && Same(m.ImportedInto, app.Partition)));
        if (mirror is null)
            throw new LiveUpdateException("MirrorNotImported", ErrorKind.InvalidOperation,
                $"Partition {dst.Name} has no imported mirror of {app.Partition}'s rootvg, where {app.Name} keeps its data; run Import-MirrorVg first.", dst.Name);
        var source = app.Partition;
        var forward = Same(dst.SurrogateOf, source);
        var original = Checks.FindPartition(inv, forward ? source : dst.Name)!;
        var j = HandStepsOf(original.Name);
        // The last application to leave hands the partition's name and identity over: one confirmation covers both,
        // so that no answer can leave every application on a surrogate that never takes over.
        var last = forward && inv.Applications.All(a => Same(a.Name, app.Name) || !Same(a.Partition, source));
        var action = $"Move from {source} to {dst.Name} (stop, restart on the mirrored data)"
            + (last ? $"; as the last application, hand the name and identity of {source} to {dst.Name} and keep the old rootvg as old_rootvg" : "");
        if (!context.ShouldProcess(app.Name, action)) return null;
        var ops = HandSteps(j, original, context);
        if (forward && !ops.PointOfNoReturnPassed)
        {
            ops.Append("PointOfNoReturn", Now);
            context.Logger.LogInformation("[{Operation}] Point of no return: the applications stop on {Partition}", ops.Id, source);
        }
        if (forward && ops.StepState(Steps.Move) != "StepStarted") ops.Append("StepStarted", Now, ("step", Steps.Move));
        var moved = Backend.MoveApplication(app.Name, dst.Name, context);
        ops.Append(forward ? "ApplicationMoved" : "ApplicationMovedBack", Now, ("application", app.Name), ("migration", moved));
        if (moved.Status == "HealthCheckFailed")
        {
            // It does not answer there: it goes back where it ran, with its data, as a failed step of the flow would.
            context.Logger.LogWarning("{Application} failed its health check '{Check}' on {Destination}; moving it back to {Source}", app.Name, app.HealthCheck, dst.Name, source);
            var back = Backend.MoveApplication(app.Name, source, context);
            ops.Append("ApplicationMovedBack", Now, ("application", app.Name), ("migration", back));
            return moved;
        }
        if (last && moved.Status == "Moved")
        {
            ops.Append("StepSucceeded", Now, ("step", Steps.Move), ("detail", $"{ops.Applications.Count} applications moved to {dst.Name}"));
            Record(ops, Steps.TakeOver, () => Backend.TakeOver(source, dst.Name, context), _ => ($"{dst.Name} took over the name and identity of {source}", Fields()));
            var level = Checks.FindPartition(Inventory(), source)?.OsLevel;
            ops.Append("Ended", Now, ("status", nameof(LiveUpdateStatus.Succeeded)), ("level", level),
                ("reason", $"{source} runs {level}; every application moved with its data verified, step by step."));
            moved = moved with { IdentityTakenOver = true };
        }
        return moved;
    }

    /// <summary>Removes a volume group that is no longer needed (the old_rootvg kept after a live update).</summary>
    public void RemoveVolumeGroup(string partition, string volumeGroup, OperationContext context)
    {
        using var _ = Backend.Lock(LockWait);
        var inv = Inventory();
        var vg = inv.VolumeGroups.FirstOrDefault(v => Same(v.Partition, partition) && Same(v.Name, volumeGroup))
            ?? throw new LiveUpdateException("VolumeGroupNotFound", ErrorKind.ObjectNotFound, $"Partition {partition} has no volume group named '{volumeGroup}'.", volumeGroup);
        if (vg.Role != VolumeGroupRole.OldRoot)
        {
            var way = vg.Role switch
            {
                VolumeGroupRole.AltInstRoot => $" It is the clone of {partition}: {WayOut(vg.Partition ?? partition, "clone")}",
                VolumeGroupRole.Mirror => $" It is the imported rootvg mirror: {WayOut(inv.Partitions.FirstOrDefault(x => Same(x.Name, partition))?.SurrogateOf ?? partition, "mirror")}",
                _ => " It is the rootvg the partition runs on.",
            };
            throw new LiveUpdateException("VolumeGroupInUse", ErrorKind.InvalidOperation,
                $"{vg.Name} of {partition} is a {vg.Role} volume group in use; only an old_rootvg kept after a live update can be removed here.{way}", volumeGroup);
        }
        if (!context.ShouldProcess($"{vg.Name} of {partition}", $"Remove and free {string.Join(", ", vg.Disks)}")) return;
        Backend.RemoveVolumeGroup(partition, vg.Name, context);
    }

    // ------------------------------------------------------------------ preview and the whole flow

    /// <summary>Every check the live update would make, the disks it would use, the plan and its estimates.</summary>
    public LiveUpdatePreview Preview(LiveUpdateRequest request) => Plan(Inventory(), request, out _, out _, out _);

    private LiveUpdatePreview Plan(SystemInventory inv, LiveUpdateRequest request, out UpdateBundle? bundle, out LogicalPartition? partition, out LiveUpdateException? firstError)
    {
        var checks = new List<PreviewCheck>();
        LiveUpdateException? first = null;
        void Add(string name, LiveUpdateException? error, string ok)
        {
            first ??= error;
            checks.Add(error is null ? new PreviewCheck(name, true, ok, null) : new PreviewCheck(name, false, error.Message, error.ErrorId));
        }

        var partitionError = Checks.Partition(inv, request.Partition, out partition) ?? (partition is null ? null : Checks.Original(partition));
        Add("Partition", partitionError, partition is null ? "" : $"{partition.Name} is running {partition.OsLevel}");
        bundle = null;
        var bundleError = Checks.OpenBundle(request.BundlePath, out bundle);
        Add("BundleIntegrity", bundleError, bundle is null ? "" : $"{bundle.Name}: {bundle.Packages.Count} packages, every SHA-256 matches");
        firstError = first;
        if (partition is null)
            return new LiveUpdatePreview(request.Partition, null, bundle?.TargetLevel, false, checks, Array.Empty<PlannedStep>(),
                0, 0, Array.Empty<string>(), Array.Empty<string>(), bundle?.Name ?? request.BundlePath);
        var p = partition;
        if (bundle is not null)
            Add("BundleLevel", Checks.Bundle(bundle, p.OsLevel, p.Name), $"{p.OsLevel} -> {bundle.TargetLevel}" + (bundle.RequiresLevel is null ? "" : $" (requires {bundle.RequiresLevel})"));
        Add("NoUpdateInProgress", Checks.NoClone(inv, p, WayOut(p.Name, "clone")) ?? Checks.NoMirror(inv, p, WayOut(p.Name, "mirror"))
            ?? Checks.NoSurrogate(inv, p, WayOut(p.Name, "surrogate")), "no clone, mirror or surrogate is left from an earlier update");
        var used = Checks.RootVgUsedMB(inv, p);
        var clone = request.CloneDisks ?? Checks.ChooseDisk(inv, used, request.MirrorDisks ?? Array.Empty<string>());
        Add("CloneDisks", clone is null ? Checks.NoDisk("clone", used, p.Name) : Checks.Disks(inv, clone, used, "clone of rootvg"),
            clone is null ? "" : $"{string.Join(", ", clone)} for altinst_rootvg ({used} MB)");
        var mirror = request.MirrorDisks ?? Checks.ChooseDisk(inv, used, clone ?? Array.Empty<string>());
        Add("MirrorDisks", mirror is null ? Checks.NoDisk("mirror", used, p.Name) : Checks.Disks(inv, mirror, used, "mirror of rootvg"),
            mirror is null ? "" : $"{string.Join(", ", mirror)} for the rootvg mirror");
        if (clone is not null && mirror is not null)
            Add("DisksDistinct", Checks.DisjointDisks(clone, mirror), "clone and mirror use different disks");
        Add("FrameResources", Checks.Frame(inv, p), $"{inv.System.AvailableProcessors} processors and {inv.System.AvailableMemoryMB} MB free for a surrogate of {p.Processors} processors and {p.MemoryMB} MB");
        var apps = inv.Applications.Where(a => Same(a.Partition, p.Name)).ToList();
        var stopped = apps.FirstOrDefault(a => a.State != ApplicationState.Running);
        Add("Applications", stopped is null ? null : new LiveUpdateException("ApplicationNotRunning", ErrorKind.InvalidOperation, $"{stopped.Name} is {stopped.State}; start it or move it away first.", stopped.Name),
            $"{apps.Count} running: {string.Join(", ", apps.Select(a => a.Name))}");

        var t = Backend.Timing;
        var plan = new List<PlannedStep>
        {
            new(1, Steps.Verify, $"Verify {bundle?.Name ?? request.BundlePath} (manifest, every payload SHA-256, levels)", 0),
            new(2, Steps.Clone, $"Clone rootvg of {p.Name} onto {Join(clone)} as altinst_rootvg", t.Copy(used).TotalSeconds),
            new(3, Steps.Mirror, $"Mirror rootvg onto {Join(mirror)}; later writes reach both", t.MirrorSync(used).TotalSeconds),
            new(4, Steps.Install, $"Install {bundle?.Packages.Count ?? 0} packages into altinst_rootvg ({p.OsLevel} -> {bundle?.TargetLevel})", bundle is null ? 0 : t.Install(bundle.Packages.Count, bundle.PayloadBytes).TotalSeconds),
            new(5, Steps.Boot, $"Create {Steps.SurrogateName(p.Name)} and boot it from altinst_rootvg", t.Boot.TotalSeconds),
            new(6, Steps.Import, "Split the mirror and import it into the surrogate", t.Import.TotalSeconds),
            new(7, Steps.Move, $"Move {apps.Count} applications (each stopped, restarted on the mirrored data, health-checked)", t.Blackout.TotalSeconds * apps.Count),
            new(8, Steps.TakeOver, $"Surrogate takes over the name and identity of {p.Name}; old rootvg kept on {string.Join(", ", p.RootDisks)} as old_rootvg", t.Shutdown.TotalSeconds),
        };
        var total = plan.Sum(s => s.EstimatedDuration);
        firstError = first;
        return new LiveUpdatePreview(p.Name, p.OsLevel, bundle?.TargetLevel, checks.All(c => c.Passed), checks, plan, total,
            apps.Count == 0 ? 0 : t.Blackout.TotalSeconds, clone ?? Array.Empty<string>(), mirror ?? Array.Empty<string>(), bundle?.Name ?? request.BundlePath);
    }

    private static string Join(IReadOnlyList<string>? disks) => disks is null ? "(none)" : string.Join(", ", disks);
}
