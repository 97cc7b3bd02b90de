using System;
using System.Collections.Generic;
using LiveUpdate.Engine.Bundles;

namespace LiveUpdate.Engine.Model;

// The public model: immutable snapshots that the engine returns and the cmdlets write to the pipeline.
// Names follow what an AIX administrator reads in lspv, lsvg, lssyscfg and lslpp output.
//
// Every value is one a script can filter on and ConvertTo-Json writes readably without switches: OS levels are
// their text (7300-02-01, which sorts and compares as levels do), durations are seconds (a double), points in time
// are DateTimeOffsets, and every enumeration has the underlying type long, which ConvertTo-Json writes by name
// (it writes the others as numbers unless -EnumsAsStrings is given).

public enum PartitionState : long { Running, NotActivated }

public enum DiskState : long { Free, InUse }

public enum VolumeGroupRole : long { Root, AltInstRoot, Mirror, OldRoot, Data }

public enum VolumeGroupState : long { Active, VariedOff }

public enum ApplicationState : long { Running, Stopped }

public enum CloneState : long { Cloned, Updated, Booted }

public enum MirrorState : long { Synchronized, Imported }

public enum LiveUpdateStatus : long { Succeeded, RolledBack, Failed, Interrupted }

/// <summary>The frame: a managed system that lends processors and memory to its logical partitions.</summary>
public sealed record ManagedSystem(
    string Name,
    string MachineType,
    string SerialNumber,
    string Backend,
    string Location,
    double TotalProcessors,
    double AvailableProcessors,
    long TotalMemoryMB,
    long AvailableMemoryMB,
    int Partitions,
    DateTimeOffset Clock);

/// <summary>A logical partition (LPAR): an operating-system instance with its own root volume group.</summary>
public sealed record LogicalPartition(
    string Name,
    int Id,
    string Uuid,
    string HostName,
    string Address,
    PartitionState State,
    string OsLevel,
    double Processors,
    long MemoryMB,
    IReadOnlyList<string> RootDisks,
    string? SurrogateOf,
    string System,
    string? Kernel = null)
{
    public bool IsSurrogate => SurrogateOf is not null;
}

/// <summary>A physical volume (hdisk) as lspv shows it.</summary>
public sealed record PhysicalVolume(
    string Name,
    long SizeMB,
    string Pvid,
    string? VolumeGroup,
    string? Partition,
    DiskState State,
    string Location)
{
    /// <summary>The size in GiB, to one decimal.</summary>
    public double SizeGB => Math.Round(SizeMB / 1024.0, 1);
}

/// <summary>A logical volume and the file system it holds.</summary>
public sealed record LogicalVolume(string Name, string MountPoint, string Type, long SizeMB, long UsedMB);

/// <summary>A volume group as lsvg shows it, with the partition that owns it.</summary>
public sealed record VolumeGroup(
    string Name,
    string Id,
    string? Partition,
    VolumeGroupRole Role,
    VolumeGroupState State,
    IReadOnlyList<string> Disks,
    IReadOnlyList<string> MirrorDisks,
    long SizeMB,
    long UsedMB,
    string? OsLevel,
    IReadOnlyList<LogicalVolume> LogicalVolumes)
{
    /// <summary>The size in GiB, to one decimal.</summary>
    public double SizeGB => Math.Round(SizeMB / 1024.0, 1);
    /// <summary>The space used in GiB, to one decimal.</summary>
    public double UsedGB => Math.Round(UsedMB / 1024.0, 1);
}

/// <summary>An application that runs on a partition and keeps its data on a volume group; its health check's timeout in seconds.</summary>
public sealed record ApplicationInstance(
    string Name,
    string Partition,
    ApplicationState State,
    string DataPath,
    string DataVolumeGroup,
    string ServiceAddress,
    long Records,
    string HealthCheck,
    double HealthTimeout)
{
    // For backends that measure with TimeSpans (internal, so that JSON reads the one public constructor).
    internal ApplicationInstance(string name, string partition, ApplicationState state, string dataPath, string dataVolumeGroup,
        string serviceAddress, long records, string healthCheck, TimeSpan healthTimeout)
        : this(name, partition, state, dataPath, dataVolumeGroup, serviceAddress, records, healthCheck, healthTimeout.TotalSeconds) { }
}

/// <summary>The alternate root volume group (altinst_rootvg): a copy of a partition's rootvg on other disks; the copy took Duration seconds.</summary>
public sealed record RootVgClone(
    string Partition,
    string VolumeGroup,
    IReadOnlyList<string> Disks,
    string SourceLevel,
    string OsLevel,
    CloneState State,
    IReadOnlyList<string> AppliedBundles,
    string? BootedAs,
    double Duration,
    DateTimeOffset Created)
{
    // For backends that measure with TimeSpans (internal, so that JSON reads the one public constructor).
    internal RootVgClone(string partition, string volumeGroup, IReadOnlyList<string> disks, OsLevel sourceLevel, OsLevel osLevel, CloneState state,
        IReadOnlyList<string> appliedBundles, string? bootedAs, TimeSpan duration, DateTimeOffset created)
        : this(partition, volumeGroup, disks, sourceLevel, osLevel, state, appliedBundles, bootedAs, duration.TotalSeconds, created) { }
}

/// <summary>A mirror copy of a partition's rootvg that every later write reaches.</summary>
public sealed record RootVgMirror(
    string Partition,
    string VolumeGroup,
    IReadOnlyList<string> Disks,
    MirrorState State,
    string? ImportedAs,
    string? ImportedInto,
    double Duration,
    DateTimeOffset Created)
{
    // For backends that measure with TimeSpans (internal, so that JSON reads the one public constructor).
    internal RootVgMirror(string partition, string volumeGroup, IReadOnlyList<string> disks, MirrorState state, string? importedAs, string? importedInto,
        TimeSpan duration, DateTimeOffset created)
        : this(partition, volumeGroup, disks, state, importedAs, importedInto, duration.TotalSeconds, created) { }
}

/// <summary>One application moved from a partition to another by restarting it on the mirrored data; its times in seconds.</summary>
public sealed record ApplicationMigration(
    string Application,
    string Source,
    string Destination,
    string Status,
    double Blackout,
    double StopTime,
    double SyncTime,
    double StartTime,
    long RecordsAcknowledged,
    long RecordsOnDestination,
    bool DataVerified,
    bool IdentityTakenOver,
    long? BlackoutCopiedBytes = null)
{
    // For backends that measure with TimeSpans (internal, so that JSON reads the one public constructor).
    internal ApplicationMigration(string application, string source, string destination, string status, TimeSpan blackout, TimeSpan stopTime,
        TimeSpan syncTime, TimeSpan startTime, long recordsAcknowledged, long recordsOnDestination, bool dataVerified, bool identityTakenOver,
        long? blackoutCopiedBytes = null)
        : this(application, source, destination, status, blackout.TotalSeconds, stopTime.TotalSeconds, syncTime.TotalSeconds, startTime.TotalSeconds,
            recordsAcknowledged, recordsOnDestination, dataVerified, identityTakenOver, blackoutCopiedBytes) { }
}

/// <summary>A phase of a live update with how long it took in seconds (on the backend's clock).</summary>
public sealed record PhaseResult(string Name, string Status, double Duration, string Detail);

/// <summary>What Invoke-LiveUpdate returns; Duration and Blackout in seconds.</summary>
public sealed record LiveUpdateResult(
    string OperationId,
    string Partition,
    string FromLevel,
    string ToLevel,
    string OsLevel,
    LiveUpdateStatus Status,
    string Reason,
    double Duration,
    double Blackout,
    IReadOnlyList<PhaseResult> Phases,
    IReadOnlyList<ApplicationMigration> Applications,
    IReadOnlyList<string> CloneDisks,
    IReadOnlyList<string> MirrorDisks,
    IReadOnlyList<string> OldRootVgDisks,
    string Bundle,
    DateTimeOffset Started,
    DateTimeOffset Finished,
    bool PointOfNoReturnPassed = false,
    string? FailedStep = null,
    string? ErrorId = null);

/// <summary>
/// Running: a process works on it now. InProgress: hand steps that wait for the next one. Interrupted: a process
/// stopped in the middle of it (Resume-LiveUpdate). Corrupt: its journal fails its check (Resume-LiveUpdate -Discard).
/// </summary>
public enum OperationState : long { Running, Interrupted, Succeeded, RolledBack, Failed, InProgress, Corrupt }

/// <summary>One step of a journalled operation, as the journal last saw it; its duration in seconds.</summary>
public sealed record OperationStep(string Name, string State, double Duration, string Detail);

/// <summary>A live update (or undo) as its journal tells it: each step's state and timing, and how it ended.</summary>
public sealed record LiveUpdateOperation(
    string Id,
    string Kind,
    string Partition,
    string? FromLevel,
    string? ToLevel,
    OperationState State,
    bool PointOfNoReturnPassed,
    IReadOnlyList<OperationStep> Steps,
    IReadOnlyList<string> Applications,
    IReadOnlyList<string> CloneDisks,
    IReadOnlyList<string> MirrorDisks,
    string Bundle,
    int ProcessId,
    DateTimeOffset Started,
    DateTimeOffset? Finished,
    string Reason);

/// <summary>An application's acknowledged count and the sequence numbers its data holds, read at one instant.</summary>
public sealed record ApplicationRecords(long Acknowledged, IReadOnlyList<long> Sequences);

/// <summary>What the data of an application holds: every acknowledged record, in order, without a gap?</summary>
public sealed record ApplicationDataCheck(
    string Application,
    string Partition,
    string DataVolumeGroup,
    long Acknowledged,
    long Found,
    long FirstGap,
    bool InOrder,
    bool Verified);

/// <summary>One check that a live update would make, and its outcome.</summary>
public sealed record PreviewCheck(string Name, bool Passed, string Message, string? ErrorId);

/// <summary>One step of the plan a live update would follow, with its estimate in seconds.</summary>
public sealed record PlannedStep(int Step, string Name, string Description, double EstimatedDuration);

/// <summary>
/// What Test-LiveUpdate returns: every check, the plan and the estimates (seconds); nothing is changed. FromLevel is
/// null when the partition does not exist.
/// </summary>
public sealed record LiveUpdatePreview(
    string Partition,
    string? FromLevel,
    string? ToLevel,
    bool CanProceed,
    IReadOnlyList<PreviewCheck> Checks,
    IReadOnlyList<PlannedStep> Plan,
    double EstimatedDuration,
    double EstimatedBlackout,
    IReadOnlyList<string> CloneDisks,
    IReadOnlyList<string> MirrorDisks,
    string Bundle);

/// <summary>
/// What Test-LiveUpdateBundle and New-LiveUpdateBundle return: what a bundle holds and whether it passed every check
/// (when not, the error's id and message). Format is Folder, Zip, Tar or TarGz; PayloadBytes is the payloads' total.
/// </summary>
public sealed record LiveUpdateBundle(
    string Path,
    string Name,
    string Format,
    bool Verified,
    string? ErrorId,
    string Message,
    string? TargetLevel,
    string? RequiresLevel,
    bool? LiveUpdateCapable,
    long PayloadBytes,
    IReadOnlyList<BundlePackage> Packages);

/// <summary>Everything a backend knows at one instant.</summary>
public sealed record SystemInventory(
    ManagedSystem System,
    IReadOnlyList<LogicalPartition> Partitions,
    IReadOnlyList<PhysicalVolume> Disks,
    IReadOnlyList<VolumeGroup> VolumeGroups,
    IReadOnlyList<ApplicationInstance> Applications,
    IReadOnlyList<RootVgClone> Clones,
    IReadOnlyList<RootVgMirror> Mirrors);
