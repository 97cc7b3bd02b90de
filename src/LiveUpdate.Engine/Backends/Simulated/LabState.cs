using System;
using System.Collections.Generic;
using System.Linq;

namespace LiveUpdate.Engine.Backends.Simulated;

// The persisted state of a simulated Power system. Plain mutable classes that System.Text.Json writes to
// lab.json; the backend turns them into the immutable public model.

internal sealed class LabState
{
    public int Version { get; set; } = 2;
    /// <summary>Counts saved changes; a reader whose copy has another generation reads the lab again.</summary>
    public long Generation { get; set; }
    public string Name { get; set; } = "Server-9080-HEX-SN78A1B2C";
    public string MachineType { get; set; } = "9080-HEX";
    public string SerialNumber { get; set; } = "78A1B2C";
    public double TotalProcessors { get; set; } = 16;
    public long TotalMemoryMB { get; set; } = 65536;
    public DateTimeOffset Clock { get; set; } = new(2026, 1, 5, 8, 0, 0, TimeSpan.Zero);
    public long NextId { get; set; } = 1;
    public TimingModel Timing { get; set; } = new();
    public List<DiskRecord> Disks { get; set; } = new();
    public List<VgRecord> VolumeGroups { get; set; } = new();
    public List<SimulatedPartition> Partitions { get; set; } = new();
    public List<SimulatedApplication> Applications { get; set; } = new();
    public List<CloneRecord> Clones { get; set; } = new();
    public List<SimulatedMirror> Mirrors { get; set; } = new();

    public string NewId(string prefix) => $"{prefix}{NextId++:x6}";

    /// <summary>The domain a change works in: the original partition whose records it may change (not persisted).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string? CurrentDomain { get; set; }

    /// <summary>
    /// A partition and its surrogate, with their volume groups, applications, clone and mirror, form one domain, named
    /// after the original partition; the lab persists each domain in a file of its own.
    /// </summary>
    public string DomainOf(string? partition)
    {
        var p = partition is null ? null : Partition(partition);
        return p?.SurrogateOf ?? p?.Name ?? partition ?? "";
    }

    public SimulatedPartition? Partition(string name) => Partitions.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
    public DiskRecord? Disk(string name) => Disks.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));
    public VgRecord? Vg(string id) => VolumeGroups.FirstOrDefault(v => v.Id == id);
    public VgRecord? Vg(string partition, string name) => VolumeGroups.FirstOrDefault(v =>
        string.Equals(v.Partition, partition, StringComparison.OrdinalIgnoreCase) && string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase));
    public SimulatedApplication? App(string name) => Applications.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));
    public CloneRecord? CloneOf(string partition) => Clones.FirstOrDefault(c => string.Equals(c.Partition, partition, StringComparison.OrdinalIgnoreCase));
    public SimulatedMirror? MirrorOf(string partition) => Mirrors.FirstOrDefault(m => string.Equals(m.Partition, partition, StringComparison.OrdinalIgnoreCase));
}

internal sealed class DiskRecord
{
    public string Name { get; set; } = "";
    public long SizeMB { get; set; }
    public string Pvid { get; set; } = "";
    public string Location { get; set; } = "";
}

internal sealed class LvRecord
{
    public string Name { get; set; } = "";
    public string MountPoint { get; set; } = "";
    public string Type { get; set; } = "jfs2";
    public long SizeMB { get; set; }
    public long UsedMB { get; set; }
}

internal sealed class VgRecord
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public string? Partition { get; set; }
    public string Role { get; set; } = "Root";
    public bool Active { get; set; } = true;
    public List<string> Disks { get; set; } = new();
    /// <summary>Disks that hold a mirror copy of this volume group (every write reaches them).</summary>
    public List<string> MirrorDisks { get; set; } = new();
    /// <summary>The disk whose folder holds this volume group's files.</summary>
    public string ContentDisk { get; set; } = "";
    /// <summary>Other volume groups that receive a copy of every write to this one (a split mirror kept current).</summary>
    public List<string> ReplicaVgs { get; set; } = new();
    public string? OsLevel { get; set; }
    public List<string> Filesets { get; set; } = new();
    public List<LvRecord> LogicalVolumes { get; set; } = new();
}

/// <summary>A simulated partition: whether it runs is the state itself.</summary>
internal sealed class SimulatedPartition : PartitionRecord
{
    public bool Running { get; set; } = true;
}

/// <summary>A simulated application: its record rate on the virtual clock and its modelled stop and start times.</summary>
internal sealed class SimulatedApplication : ApplicationRecord
{
    public string DataPath { get; set; } = "";
    public string ServiceAddress { get; set; } = "";
    public double RecordsPerSecond { get; set; } = 2;
    public double Accrued { get; set; }
    public long NextSequence { get; set; } = 1;
    public string HealthCheck { get; set; } = "";
    /// <summary>Up to when this application's records are written to its data files.</summary>
    public DateTimeOffset LastTick { get; set; }
    public double HealthTimeoutSeconds { get; set; } = 30;
    public double StopMilliseconds { get; set; }
    public double StartMilliseconds { get; set; }
}

/// <summary>A simulated mirror: its disks, and the volume group it was imported as.</summary>
internal sealed class SimulatedMirror : MirrorRecord
{
    public List<string> Disks { get; set; } = new();
    public string? ImportedVg { get; set; }

    public override void Unimport()
    {
        base.Unimport();
        ImportedVg = null;
    }
}

/// <summary>The records of one domain, as one file holds them.</summary>
internal sealed class DomainFile
{
    public List<SimulatedPartition> Partitions { get; set; } = new();
    public List<VgRecord> VolumeGroups { get; set; } = new();
    public List<SimulatedApplication> Applications { get; set; } = new();
    public List<CloneRecord> Clones { get; set; } = new();
    public List<SimulatedMirror> Mirrors { get; set; } = new();
}

/// <summary>The frame as <c>system.state</c> holds it: everything but the disks and the domains.</summary>
internal sealed class FrameFile
{
    public int Version { get; set; }
    public long Generation { get; set; }
    public string Name { get; set; } = "";
    public string MachineType { get; set; } = "";
    public string SerialNumber { get; set; } = "";
    public double TotalProcessors { get; set; }
    public long TotalMemoryMB { get; set; }
    public DateTimeOffset Clock { get; set; }
    public long NextId { get; set; }
    public TimingModel Timing { get; set; } = new();
    public List<string> Domains { get; set; } = new();
}
