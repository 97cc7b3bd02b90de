using System;
using System.Collections.Generic;

namespace LiveUpdate.Engine.Model;

// The public model: immutable snapshots that the engine returns and the cmdlets write to the pipeline.
// Names follow what an AIX administrator reads in lspv, lsvg, lssyscfg and lslpp output.

public enum PartitionState { Running, NotActivated }

public enum DiskState { Free, InUse }

public enum VolumeGroupRole { Root, AltInstRoot, Mirror, OldRoot, Data }

public enum VolumeGroupState { Active, VariedOff }

public enum ApplicationState { Running, Stopped }

public enum CloneState { Cloned, Updated, Booted }

public enum MirrorState { Synchronized, Imported }

public enum LiveUpdateStatus { Succeeded, RolledBack, Failed, Interrupted }

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
    OsLevel OsLevel,
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
    string Location);

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
    OsLevel? OsLevel,
    IReadOnlyList<LogicalVolume> LogicalVolumes);

/// <summary>An application that runs on a partition and keeps its data on a volume group.</summary>
public sealed record ApplicationInstance(
    string Name,
    string Partition,
    ApplicationState State,
    string DataPath,
    string DataVolumeGroup,
    string ServiceAddress,
    long Records,
    string HealthCheck,
    TimeSpan HealthTimeout);

/// <summary>The alternate root volume group (altinst_rootvg): a copy of a partition's rootvg on other disks.</summary>
public sealed record RootVgClone(
    string Partition,
    string VolumeGroup,
    IReadOnlyList<string> Disks,
    OsLevel SourceLevel,
    OsLevel OsLevel,
    CloneState State,
    IReadOnlyList<string> AppliedBundles,
    string? BootedAs,
    TimeSpan Duration,
    DateTimeOffset Created);

/// <summary>A mirror copy of a partition's rootvg that every later write reaches.</summary>
public sealed record RootVgMirror(
    string Partition,
    string VolumeGroup,
    IReadOnlyList<string> Disks,
    MirrorState State,
    string? ImportedAs,
    string? ImportedInto,
    TimeSpan Duration,
    DateTimeOffset Created);

/// <summary>One application moved from a partition to another by restarting it on the mirrored data.</summary>
public sealed record ApplicationMigration(
    string Application,
    string Source,
    string Destination,
    string Status,
    TimeSpan Blackout,
    TimeSpan StopTime,
    TimeSpan SyncTime,
    TimeSpan StartTime,
    long RecordsAcknowledged,
    long RecordsOnDestination,
    bool DataVerified,
    bool IdentityTakenOver,
    long? BlackoutCopiedBytes = null);

/// <summary>A phase of a live update with how long it took (on the backend's clock).</summary>
public sealed record PhaseResult(string Name, string Status, TimeSpan Duration, string Detail);

/// <summary>What Invoke-LiveUpdate returns.</summary>
public sealed record LiveUpdateResult(
    string OperationId,
    string Partition,
    OsLevel FromLevel,
    OsLevel ToLevel,
    OsLevel OsLevel,
    LiveUpdateStatus Status,
    string Reason,
    TimeSpan Duration,
    TimeSpan Blackout,
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

public enum OperationState { Running, Interrupted, Succeeded, RolledBack, Failed }

/// <summary>One step of a journalled operation, as the journal last saw it.</summary>
public sealed record OperationStep(string Name, string State, TimeSpan Duration, string Detail);

/// <summary>A live update (or undo) as its journal tells it: each step's state and timing, and how it ended.</summary>
public sealed record LiveUpdateOperation(
    string Id,
    string Kind,
    string Partition,
    OsLevel FromLevel,
    OsLevel ToLevel,
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

/// <summary>One step of the plan a live update would follow, with its estimate.</summary>
public sealed record PlannedStep(int Step, string Name, string Description, TimeSpan EstimatedDuration);

/// <summary>What Test-LiveUpdate returns: every check, the plan and the estimates; nothing is changed.</summary>
public sealed record LiveUpdatePreview(
    string Partition,
    OsLevel FromLevel,
    OsLevel? ToLevel,
    bool CanProceed,
    IReadOnlyList<PreviewCheck> Checks,
    IReadOnlyList<PlannedStep> Plan,
    TimeSpan EstimatedDuration,
    TimeSpan EstimatedBlackout,
    IReadOnlyList<string> CloneDisks,
    IReadOnlyList<string> MirrorDisks,
    string Bundle);

/// <summary>Everything a backend knows at one instant.</summary>
public sealed record SystemInventory(
    ManagedSystem System,
    IReadOnlyList<LogicalPartition> Partitions,
    IReadOnlyList<PhysicalVolume> Disks,
    IReadOnlyList<VolumeGroup> VolumeGroups,
    IReadOnlyList<ApplicationInstance> Applications,
    IReadOnlyList<RootVgClone> Clones,
    IReadOnlyList<RootVgMirror> Mirrors);
