using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>The runtime state of a libvirt host: what the backend made and where (the description says what may be touched).</summary>
internal sealed class VmState
{
    public int NextSerial { get; set; } = 1;
    public List<VmPartition> Partitions { get; set; } = new();
    public List<VmVolumeGroup> VolumeGroups { get; set; } = new();
    public List<VmApplication> Applications { get; set; } = new();
    public List<CloneRecord> Clones { get; set; } = new();
    public List<VmMirror> Mirrors { get; set; } = new();
    /// <summary>Identity (device and inode, or device number) of every described disk when first seen.</summary>
    public Dictionary<string, string> DiskIdentity { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public bool BridgeCreated { get; set; }
    public VmDaemonRecord? Daemon { get; set; }

    public string NewSerial() => (NextSerial++).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
    public VmPartition? Partition(string? name) => Partitions.FirstOrDefault(p => Same(p.Name, name));
    public VmVolumeGroup? Vg(string? serial) => serial is null ? null : VolumeGroups.FirstOrDefault(v => v.Serial == serial);
    public VmVolumeGroup? Vg(string partition, string name) => VolumeGroups.FirstOrDefault(v => Same(v.Partition, partition) && Same(v.Name, name));
    public VmApplication? App(string name) => Applications.FirstOrDefault(a => Same(a.Name, name));
    public CloneRecord? CloneOf(string partition) => Clones.FirstOrDefault(c => Same(c.Partition, partition));
    public VmMirror? MirrorOf(string partition) => Mirrors.FirstOrDefault(m => Same(m.Partition, partition));
    public VmVolumeGroup? VgOnDisk(string disk) => VolumeGroups.FirstOrDefault(v => v.Disks.Contains(disk, StringComparer.OrdinalIgnoreCase));
}

/// <summary>What the lab started of libvirt, so that removing the lab stops exactly that.</summary>
internal sealed class VmDaemonRecord
{
    public int VirtlogdPid { get; set; }
    public int LibvirtdPid { get; set; }
    public string? Namespace { get; set; }
    public bool NamespaceCreated { get; set; }
    public bool UserCreated { get; set; }
    public bool GroupCreated { get; set; }
    public bool QemuConfWritten { get; set; }
    public bool LogDirCreated { get; set; }
}

internal sealed class VmPartition
{
    public string Name { get; set; } = "";
    public int Id { get; set; }
    public string Uuid { get; set; } = "";
    public string HostName { get; set; } = "";
    /// <summary>Address with prefix.</summary>
    public string Address { get; set; } = "";
    /// <summary>The libvirt domain; stays when the partition takes another's name (a running domain cannot be renamed).</summary>
    public string Domain { get; set; } = "";
    public string RootVg { get; set; } = "";
    public string? SurrogateOf { get; set; }
    public double Processors { get; set; } = 1;
    public long MemoryMB { get; set; }
    /// <summary>The kernel release the guest reported (uname -r) when it last booted.</summary>
    public string? Kernel { get; set; }
    /// <summary>Data disks attached to the running guest (disk name by target, e.g. vdb).</summary>
    public Dictionary<string, string> Attached { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>True for a domain this backend defined (a surrogate): removing it undefines it.</summary>
    public bool Defined { get; set; }
}

internal sealed class VmVolumeGroup
{
    public string Serial { get; set; } = "";
    public string Name { get; set; } = "";
    public string Role { get; set; } = "";
    public string? Partition { get; set; }
    /// <summary>The root (boot) disk first, then the data disks.</summary>
    public List<string> Disks { get; set; } = new();
    /// <summary>Where each data disk (Disks[1..]) is mounted in the guest.</summary>
    public List<string> MountPoints { get; set; } = new();
    public string? OsLevel { get; set; }
    /// <summary>The newest kernel installed on the root disk (its /boot), as the boot files follow it.</summary>
    public string? Kernel { get; set; }
    public bool Created { get; set; }
}

internal sealed class VmApplication
{
    public string Name { get; set; } = "";
    public string Partition { get; set; } = "";
    /// <summary>The disk that holds the application's newest data.</summary>
    public string DataDisk { get; set; } = "";
    public bool Running { get; set; }
    public string? MovingTo { get; set; }
    public string? MovePhase { get; set; }
    public long HighWater { get; set; }
}

internal sealed class VmMirror
{
    public string Partition { get; set; } = "";
    /// <summary>The mirror volume group's serial.</summary>
    public string Vg { get; set; } = "";
    public string SourceVg { get; set; } = "";
    /// <summary>Source data disk → mirror disk.</summary>
    public Dictionary<string, string> Pairs { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>Data disks whose mirror job ended at a blackout (the copy then belongs to the surrogate).</summary>
    public List<string> Ended { get; set; } = new();
    public string State { get; set; } = "Synchronized";
    /// <summary>
    /// False from the moment the mirror is recorded until every job has copied everything: a mirror whose process died
    /// in between is no mirror yet (the inventory does not show it), so that redoing the step starts its jobs.
    /// </summary>
    public bool Ready { get; set; } = true;
    public string? ImportedInto { get; set; }
    public long BlackoutBytes { get; set; }
    public double DurationSeconds { get; set; }
    public DateTimeOffset Created { get; set; }
}
