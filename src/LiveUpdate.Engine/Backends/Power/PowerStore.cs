using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Power;

/// <summary>What the Power backend keeps of a frame between commands: which disks it claimed (by PVID, before it wrote to them), its clones, mirrors, surrogates, kept root volume groups and where each application runs.</summary>
internal sealed class PowerState
{
    public List<DiskClaim> Claims { get; set; } = new();
    public List<CloneRecord> Clones { get; set; } = new();
    public List<MirrorRecord> Mirrors { get; set; } = new();
    public List<SurrogateRecord> Surrogates { get; set; } = new();
    public List<OldRootRecord> OldRoots { get; set; } = new();
    public List<AppRecord> Applications { get; set; } = new();
    /// <summary>The level each clone was read back at, by partition.</summary>
    public Dictionary<string, string> CloneLevels { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
    public CloneRecord? CloneOf(string partition) => Clones.FirstOrDefault(c => Same(c.Partition, partition));
    public MirrorRecord? MirrorOf(string partition) => Mirrors.FirstOrDefault(m => Same(m.Partition, partition));
    public SurrogateRecord? Surrogate(string name) => Surrogates.FirstOrDefault(s => Same(s.Name, name));
    public SurrogateRecord? SurrogateOf(string partition) => Surrogates.FirstOrDefault(s => Same(s.Of, partition));
    public AppRecord? App(string name) => Applications.FirstOrDefault(a => Same(a.Name, name));
    public IEnumerable<DiskClaim> ClaimsOf(string partition, string purpose) => Claims.Where(c => Same(c.Partition, partition) && c.Purpose == purpose);
    public DiskClaim? Claim(string pvid) => Claims.FirstOrDefault(c => c.Pvid == pvid);
}

/// <summary>A disk the backend is about to write or has written, known by its PVID (its name may differ per partition).</summary>
internal sealed class DiskClaim
{
    public string Pvid { get; set; } = "";
    public string Disk { get; set; } = "";
    public string Partition { get; set; } = "";
    /// <summary>Clone, Mirror or OldRoot.</summary>
    public string Purpose { get; set; } = "";
}

internal sealed class MirrorRecord
{
    public string Partition { get; set; } = "";
    public List<string> Disks { get; set; } = new();
    public string State { get; set; } = "Synchronized";
    public string? ImportedInto { get; set; }
    public double DurationSeconds { get; set; }
    public DateTimeOffset Created { get; set; }
}

internal sealed class SurrogateRecord
{
    public string Name { get; set; } = "";
    public string Of { get; set; } = "";
    /// <summary>The address it answers at until it takes over its original's.</summary>
    public string Address { get; set; } = "";
    public int ViosSlot { get; set; }
    /// <summary>How far the take-over got (each part is done once).</summary>
    public List<string> TakeOverDone { get; set; } = new();
    /// <summary>The PVIDs of the original's rootvg, read before it was shut down (they become old_rootvg).</summary>
    public List<string> OldRootPvids { get; set; } = new();
    public string? OriginalHostName { get; set; }
    public string? OriginalLevel { get; set; }
}

internal sealed class OldRootRecord
{
    public string Partition { get; set; } = "";
    public string Name { get; set; } = "old_rootvg";
    public List<string> Pvids { get; set; } = new();
    public string Level { get; set; } = "";
}

internal sealed class AppRecord
{
    public string Name { get; set; } = "";
    public string Partition { get; set; } = "";
    public string? MovingTo { get; set; }
    /// <summary>How far a move got: Stopping, Exported, Imported, Started.</summary>
    public string? Phase { get; set; }
    public long HighWater { get; set; }
    /// <summary>The PVIDs of its data volume group's disks.</summary>
    public List<string> DataPvids { get; set; } = new();
}

/// <summary>
/// The local state of a Power frame: <c>power-state.json</c> (a header line with the SHA-256 of its JSON body,
/// written to a temporary file, flushed and renamed) in an owner-only folder that no other user may write; the
/// flow keeps its journals and locks beside it. Changes are serialised across processes by the lock on <c>.lock</c>.
/// </summary>
internal sealed class PowerStore
{
    public const string StateFileName = "power-state.json";
    private const string Header = "LiveUpdate.PowerState/1";
    private readonly SystemLock _lock;

    public PowerStore(string root, Action? onAcquired = null)
    {
        Root = root;
        _lock = new SystemLock(root, onAcquired);
    }

    public string Root { get; }
    public string StatePath => Path.Combine(Root, StateFileName);

    public IDisposable Lock(TimeSpan wait) => _lock.Hold(wait);

    public PowerState Load() => File.Exists(StatePath) ? StateFile.Read<PowerState>(StatePath, Header, Corrupt) : new PowerState();

    public void Save(PowerState s) => StateFile.WriteAtomically(StatePath, StateFile.Format(Header, s));

    private LiveUpdateException Corrupt(string why) => new("LabStateCorrupt", ErrorKind.InvalidData, $"The state of '{Root}' cannot be trusted: {why}. Nothing was changed.", StatePath);

    /// <summary>Creates the folder owner-only, or checks that an existing one is not a link and that no other user can write it.</summary>
    public static void PrepareFolder(string folder)
    {
        var info = new DirectoryInfo(folder);
        if (info.Exists && info.LinkTarget is not null)
            throw new LiveUpdateException("StateFolderNotTrusted", ErrorKind.PermissionDenied, $"The state folder '{folder}' is a link; it is not used.", folder);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
            return;
        }
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (!info.Exists) Directory.CreateDirectory(folder, owner);
        if ((File.GetUnixFileMode(folder) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            throw new LiveUpdateException("StateFolderNotTrusted", ErrorKind.PermissionDenied,
                $"The state folder '{folder}' can be written by other users; it is not used (chmod go-w, or choose another folder).", folder);
    }
}
