using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Linux;

/// <summary>The runtime state of a Linux host: what the backend made and where (the description says what may be touched).</summary>
internal sealed class LinuxState
{
    public int NextSerial { get; set; } = 1;
    /// <summary>Loop devices the backend attached, by disk name (lab disks are files).</summary>
    public Dictionary<string, string> LoopDevices { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public bool NamespaceCreated { get; set; }
    public bool BridgeCreated { get; set; }
    public List<PartitionRuntime> Partitions { get; set; } = new();
    public List<VgRuntime> VolumeGroups { get; set; } = new();
    public List<AppRuntime> Applications { get; set; } = new();
    public List<CloneRecord> Clones { get; set; } = new();
    public List<MirrorRuntime> Mirrors { get; set; } = new();

    public string NewSerial() => (NextSerial++).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
    public PartitionRuntime? Partition(string name) => Partitions.FirstOrDefault(p => Same(p.Name, name));
    public VgRuntime? Vg(string? serial) => serial is null ? null : VolumeGroups.FirstOrDefault(v => v.Serial == serial);
    public VgRuntime? Vg(string partition, string name) => VolumeGroups.FirstOrDefault(v => Same(v.Partition, partition) && Same(v.Name, name));
    public AppRuntime? App(string name) => Applications.FirstOrDefault(a => Same(a.Name, name));
    public CloneRecord? CloneOf(string partition) => Clones.FirstOrDefault(c => Same(c.Partition, partition));
    public MirrorRuntime? MirrorOf(string partition) => Mirrors.FirstOrDefault(m => Same(m.Partition, partition));
    public VgRuntime? VgOnDisk(string disk) => VolumeGroups.FirstOrDefault(v => v.Disks.Contains(disk, StringComparer.OrdinalIgnoreCase));
}

internal sealed class PartitionRuntime
{
    public string Name { get; set; } = "";
    public int Id { get; set; }
    public string Uuid { get; set; } = "";
    public string HostName { get; set; } = "";
    /// <summary>Address with prefix.</summary>
    public string Address { get; set; } = "";
    /// <summary>Names the container, its network namespace and its link; stays when the partition takes another's name.</summary>
    public string Token { get; set; } = "";
    public string RootVg { get; set; } = "";
    public string? SurrogateOf { get; set; }
    public double Processors { get; set; }
    public long MemoryMB { get; set; }
    public int NspawnPid { get; set; }
    public int LeaderPid { get; set; }
}

internal sealed class LvRuntime
{
    public string Name { get; set; } = "";
    public string MountPoint { get; set; } = "/";
}

internal sealed class VgRuntime
{
    public string Serial { get; set; } = "";
    public string Name { get; set; } = "";
    public string Role { get; set; } = "";
    public string? Partition { get; set; }
    public List<string> Disks { get; set; } = new();
    public List<LvRuntime> Lvs { get; set; } = new();
    /// <summary>True when the backend created the file system (a host's original rootvg is not ours to wipe).</summary>
    public bool Created { get; set; }
    /// <summary>The file system label of a file system the backend made; null for one it found.</summary>
    public string? Label { get; set; }
    /// <summary>The OS level its root logical volume held when last read.</summary>
    public string? OsLevel { get; set; }
}

internal sealed class AppRuntime
{
    public string Name { get; set; } = "";
    public string Partition { get; set; } = "";
    public string DataVg { get; set; } = "";
    /// <summary>Whether it should be running.</summary>
    public bool Running { get; set; }
    /// <summary>Set while a move is under way: the destination and how far it got (Stopped, Started).</summary>
    public string? MovingTo { get; set; }
    public string? MovePhase { get; set; }
    /// <summary>The most records its data has held where it stopped (each one appended durably): none of them may go missing.</summary>
    public long HighWater { get; set; }
}

internal sealed class MirrorRuntime
{
    public string Partition { get; set; } = "";
    /// <summary>The file system on the mirror disks that receives every change of the source.</summary>
    public string Vg { get; set; } = "";
    public string SourceVg { get; set; } = "";
    public string State { get; set; } = "Synchronized";
    public string? ImportedInto { get; set; }
    /// <summary>The generation of the last complete transfer of each logical volume, by volume group serial and logical volume name.</summary>
    public Dictionary<string, int> Generations { get; set; } = new();
    public int NextGeneration { get; set; } = 1;
    /// <summary>Logical volumes whose live copy already moved to the surrogate.</summary>
    public List<string> MovedLvs { get; set; } = new();
    public double DurationSeconds { get; set; }
    public DateTimeOffset Created { get; set; }
    public DateTimeOffset? LastSync { get; set; }
}

/// <summary>
/// The state file of a Linux host (<c>liveupdate-state.json</c>): a header line with the SHA-256 of the JSON body,
/// written to a temporary file, flushed and renamed, so a crash leaves the old or the new state and a file edited by
/// hand or truncated is refused. Changes are serialised across processes by an exclusive lock on <c>.lock</c>.
/// </summary>
internal sealed class LinuxStore
{
    public const string StateFileName = "liveupdate-state.json";
    public const string LockFileName = SystemLock.FileName;
    private const string Header = "LiveUpdate.LinuxState/1";

    private readonly SystemLock _lock;

    public LinuxStore(string root)
    {
        Root = root;
        _lock = new SystemLock(root);
    }

    public string Root { get; }
    public string StatePath => Path.Combine(Root, StateFileName);
    public bool Exists => File.Exists(StatePath);

    public IDisposable Lock(TimeSpan wait) => _lock.Hold(wait);

    public LinuxState Load() => File.Exists(StatePath) ? StateFile.Read<LinuxState>(StatePath, Header, Corrupt) : new LinuxState();

    private LiveUpdateException Corrupt(string why) => new("LabStateCorrupt", ErrorKind.InvalidData,
        $"The state of '{Root}' cannot be trusted: {why}. Nothing was changed.", StatePath);

    public void Save(LinuxState state) => StateFile.WriteAtomically(StatePath, StateFile.Format(Header, state));
}
