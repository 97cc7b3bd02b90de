using System;
using System.Collections.Generic;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Backends;

/// <summary>
/// The seam between the flow and a system that can be live-updated. It speaks the model's language (partitions,
/// volume groups, disks, applications), never a tool's. The flow validates every request against
/// <see cref="Inventory"/> before it calls a primitive, so a primitive may assume its arguments are sound;
/// it must still be idempotent where the reliability design says so (redoing a finished step is safe).
/// Durations that primitives report come from the backend's own clock (virtual for the simulated system).
/// </summary>
public interface ILiveUpdateBackend : IDisposable
{
    /// <summary>"Simulated" or "Linux".</summary>
    string Kind { get; }

    /// <summary>Where the system's state lives (a lab folder).</summary>
    string Location { get; }

    /// <summary>The timing model the backend uses for estimates.</summary>
    TimingModel Timing { get; }

    /// <summary>Test facility: where set, primitives fail (or kill the process) at the named point.</summary>
    FaultInjector? Faults { get; set; }

    /// <summary>Takes the system's lock (reentrant within one backend object). Waits up to <paramref name="wait"/>.</summary>
    IDisposable Lock(TimeSpan wait);

    SystemInventory Inventory();

    /// <summary>The backend's clock (virtual for the simulated system, the real time elsewhere); phases are timed with it.</summary>
    DateTimeOffset Clock { get; }

    // Storage
    RootVgClone CloneRootVg(string partition, IReadOnlyList<string> disks, OperationContext context);
    RootVgMirror MirrorRootVg(string partition, IReadOnlyList<string> disks, OperationContext context);
    VolumeGroup ImportMirror(string partition, string surrogate, OperationContext context);
    /// <summary>Removes the clone of a partition and wipes the given disks, even where a failed step left them half written. Idempotent.</summary>
    void RemoveClone(string partition, IReadOnlyList<string> disks, OperationContext context);
    /// <summary>Removes the mirror of a partition (exporting it from a surrogate first) and wipes the disks. Idempotent.</summary>
    void RemoveMirror(string partition, IReadOnlyList<string> disks, OperationContext context);
    void RemoveVolumeGroup(string partition, string volumeGroup, OperationContext context);

    // Updates
    RootVgClone InstallUpdate(string partition, UpdateBundle bundle, OperationContext context);
    /// <summary>Turns the old_rootvg kept by a finished live update into the partition's clone again (the way back).</summary>
    RootVgClone AdoptOldRootVg(string partition, OperationContext context);
    /// <summary>
    /// Turns a kept rootvg (old_rootvg, or an older one: old_rootvg1, old_rootvg2, ...) into the partition's clone;
    /// <see cref="RestoreOldRootVg"/> gives it its name back. A backend that keeps only old_rootvg need not override this.
    /// </summary>
    RootVgClone AdoptOldRootVg(string partition, string volumeGroup, OperationContext context) =>
        volumeGroup == "old_rootvg" ? AdoptOldRootVg(partition, context)
            : throw new LiveUpdateException("OlderRootVgNotSupported", ErrorKind.NotEnabled,
                $"The {Kind} backend goes back to old_rootvg only, not to {volumeGroup}.", volumeGroup);
    /// <summary>Undoes <see cref="AdoptOldRootVg(string, string, OperationContext)"/>: the partition's clone becomes its old_rootvg again, untouched. Idempotent.</summary>
    void RestoreOldRootVg(string partition, OperationContext context);

    // Partitions
    LogicalPartition StartSurrogate(string partition, OperationContext context);
    void RemoveSurrogate(string surrogate, OperationContext context);
    LogicalPartition TakeOver(string original, string surrogate, OperationContext context);

    // Applications
    /// <summary>
    /// Stops the application where it runs and restarts it on <paramref name="destination"/> on that partition's copy
    /// of its data (either direction between a partition and its surrogate, while the mirror is imported). When the
    /// application does not pass its health check there within its timeout, the migration's Status is
    /// "HealthCheckFailed" (the application stays on the destination; the flow moves it back).
    /// </summary>
    ApplicationMigration MoveApplication(string application, string destination, OperationContext context);
    /// <summary>Makes sure the application runs on the partition that holds it, starting it if a failure left it stopped.</summary>
    ApplicationInstance RecoverApplication(string application, OperationContext context);
    /// <summary>
    /// How many records the application has acknowledged, and the sequence numbers of the records in its data where it
    /// runs now, in file order, read at one instant.
    /// </summary>
    ApplicationRecords ReadApplicationRecords(string application);

    // The lab itself
    /// <summary>Removes everything the lab made (for a real host: nothing but what the lab created) and its folder.</summary>
    void RemoveLab(OperationContext context);
}

/// <summary>
/// How long things take on a backend: the simulated system advances its virtual clock by these figures; the
/// Linux backend uses them for estimates only and measures real time.
/// </summary>
public sealed record TimingModel(
    double CopyMBps = 400,
    double MirrorSyncMBps = 250,
    double SecondsPerPackage = 6,
    double PartitionCreateSeconds = 20,
    double BootSeconds = 75,
    double ImportSeconds = 4,
    double ShutdownSeconds = 40,
    double StopMilliseconds = 120,
    double SyncMilliseconds = 15,
    double StartMilliseconds = 180,
    double HealthMilliseconds = 40)
{
    public TimeSpan Copy(long megabytes) => TimeSpan.FromSeconds(2 + megabytes / CopyMBps);
    public TimeSpan MirrorSync(long megabytes) => TimeSpan.FromSeconds(1 + megabytes / MirrorSyncMBps);
    public TimeSpan Install(int packages, long bytes) => TimeSpan.FromSeconds(packages * SecondsPerPackage + bytes / (CopyMBps * 1024 * 1024));
    public TimeSpan Boot => TimeSpan.FromSeconds(PartitionCreateSeconds + BootSeconds);
    public TimeSpan Import => TimeSpan.FromSeconds(ImportSeconds);
    public TimeSpan Shutdown => TimeSpan.FromSeconds(ShutdownSeconds);
    public TimeSpan Blackout => TimeSpan.FromMilliseconds(StopMilliseconds + SyncMilliseconds + StartMilliseconds + HealthMilliseconds);
}
