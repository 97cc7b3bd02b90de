using System;
using System.Collections.Generic;
using System.Linq;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>The runtime state of a container host: what the backend made and where (the description says what may be touched).</summary>
internal sealed class ContainerState
{
    public int NextSerial { get; set; } = 1;
    /// <summary>Loop devices the backend attached, by disk name (lab disks are files).</summary>
    public Dictionary<string, string> LoopDevices { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>The disks (by name) whose loop device the backend attached itself: only these it detaches.</summary>
    public List<string> LoopsAttached { get; set; } = new();
    /// <summary>The file systems the backend made, by disk and file-system UUID: these alone are "ours".</summary>
    public List<MadeFileSystem> Made { get; set; } = new();
    public bool NamespaceCreated { get; set; }
    public bool BridgeCreated { get; set; }
    public List<ContainerPartition> Partitions { get; set; } = new();
    public List<ContainerVg> VolumeGroups { get; set; } = new();
    public List<ContainerApplication> Applications { get; set; } = new();
    public List<CloneRecord> Clones { get; set; } = new();
    public List<ContainerMirror> Mirrors { get; set; } = new();

    public string NewSerial() => (NextSerial++).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
    public ContainerPartition? Partition(string name) => Partitions.FirstOrDefault(p => Same(p.Name, name));
    public ContainerVg? Vg(string? serial) => serial is null ? null : VolumeGroups.FirstOrDefault(v => v.Serial == serial);
    public ContainerVg? Vg(string partition, string name) => VolumeGroups.FirstOrDefault(v => Same(v.Partition, partition) && Same(v.Name, name));
    public ContainerApplication? App(string name) => Applications.FirstOrDefault(a => Same(a.Name, name));
    public CloneRecord? CloneOf(string partition) => Clones.FirstOrDefault(c => Same(c.Partition, partition));
    public ContainerMirror? MirrorOf(string partition) => Mirrors.FirstOrDefault(m => Same(m.Partition, partition));
    public ContainerVg? VgOnDisk(string disk) => VolumeGroups.FirstOrDefault(v => v.Disks.Contains(disk, StringComparer.OrdinalIgnoreCase));
}

/// <summary>A file system the backend made on a disk: recorded before mkfs.btrfs runs, with the UUID it is given.</summary>
internal sealed class MadeFileSystem
{
    public string Disk { get; set; } = "";
    public string Uuid { get; set; } = "";
    /// <summary>The block device (major:minor) it was made on.</summary>
    public string Device { get; set; } = "";
}

/// <summary>A container partition: the token that names its container, namespace and link, and its processes.</summary>
internal sealed class ContainerPartition : PartitionRecord
{
    /// <summary>Names the container, its network namespace and its link; stays when the partition takes another's name.</summary>
    public string Token { get; set; } = "";
    public int NspawnPid { get; set; }
    public int LeaderPid { get; set; }
}

internal sealed class ContainerLv
{
    public string Name { get; set; } = "";
    public string MountPoint { get; set; } = "/";
}

internal sealed class ContainerVg
{
    public string Serial { get; set; } = "";
    public string Name { get; set; } = "";
    public string Role { get; set; } = "";
    public string? Partition { get; set; }
    public List<string> Disks { get; set; } = new();
    public List<ContainerLv> Lvs { get; set; } = new();
    /// <summary>True when the backend created the file system (a host's original rootvg is not ours to wipe).</summary>
    public bool Created { get; set; }
    /// <summary>The file system label of a file system the backend made; null for one it found.</summary>
    public string? Label { get; set; }
    /// <summary>The OS level its root logical volume held when last read.</summary>
    public string? OsLevel { get; set; }
}

/// <summary>A container application: how far a move got, and the most records its data has held.</summary>
internal sealed class ContainerApplication : ApplicationRecord
{
    /// <summary>Set while a move is under way: the destination and how far it got (Stopped, Started).</summary>
    public string? MovingTo { get; set; }
    public string? MovePhase { get; set; }
    /// <summary>The most records its data has held where it stopped (each one appended durably): none of them may go missing.</summary>
    public long HighWater { get; set; }
}

/// <summary>A replicated mirror: the file system on the mirror disks and the generations of every logical volume sent to it.</summary>
internal sealed class ContainerMirror : MirrorRecord
{
    /// <summary>The file system on the mirror disks that receives every change of the source.</summary>
    public string Vg { get; set; } = "";
    /// <summary>The generation of the last complete transfer of each logical volume, by volume group serial and logical volume name.</summary>
    public Dictionary<string, int> Generations { get; set; } = new();
    public int NextGeneration { get; set; } = 1;
    /// <summary>Logical volumes whose live copy already moved to the surrogate.</summary>
    public List<string> MovedLvs { get; set; } = new();
    public DateTimeOffset? LastSync { get; set; }

    public override void Unimport()
    {
        base.Unimport();
        MovedLvs.Clear();
    }
}
