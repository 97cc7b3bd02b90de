using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>
/// The one persistence path of a simulated lab. The state is split so that a change writes only what it changed:
/// <c>system.state</c> (the frame, the clock, the generation), <c>disks.state</c> (the disks, written once) and
/// <c>domains/&lt;partition&gt;.state</c> (a partition, its surrogate, their volume groups and applications). Each file
/// is a header line with the SHA-256 of the JSON body that follows, so a file that was truncated or edited by hand is
/// refused, never reinterpreted. A change writes its files to temporary names and flushes them, records the renames
/// in <c>commit.pending</c>, then renames them (the frame last) and removes the record; whoever takes the lock next
/// finishes the renames of a change whose process died, so the lab is always wholly before or wholly after a change.
/// Changes are serialised across processes by an exclusive lock on <c>.lock</c>. The parsed state is kept in memory
/// and read again only when the frame's generation moved.
/// </summary>
internal sealed class LabStore
{
    public const string StateFileName = "system.state";
    public const string DisksFileName = "disks.state";
    public const string DomainsFolder = "domains";
    public const string LockFileName = SystemLock.FileName;
    private const string PendingFileName = "commit.pending";
    private const string Header = "LiveUpdate.Lab/2";


    private readonly object _gate = new();
    private readonly SystemLock _lock;
    private LabState? _cache;

    public LabStore(string root)
    {
        Root = root;
        _lock = new SystemLock(root, Recover);
    }

    public string Root { get; }
    public string StatePath => Path.Combine(Root, StateFileName);

    public static bool IsLab(string root) => File.Exists(Path.Combine(root, StateFileName));

    public IDisposable Lock(TimeSpan wait) => _lock.Hold(wait);

    /// <summary>Holding the lock: finish the renames of a change whose process died, and drop its stray temporary files.</summary>
    private void Recover()
    {
        var pending = Path.Combine(Root, PendingFileName);
        if (File.Exists(pending))
        {
            foreach (var line in File.ReadAllLines(pending).Where(l => l.Length > 0))
            {
                var final = Path.Combine(Root, line);
                var temp = final + ".commit";
                if (File.Exists(temp)) File.Move(temp, final, overwrite: true);
            }
            File.Delete(pending);
            _cache = null;
        }
        var domains = Path.Combine(Root, DomainsFolder);
        var strays = Directory.EnumerateFiles(Root, "*.commit").Concat(Directory.EnumerateFiles(Root, "*.tmp-*"));
        if (Directory.Exists(domains)) strays = strays.Concat(Directory.EnumerateFiles(domains, "*.commit"));
        foreach (var stale in strays.ToList()) File.Delete(stale);
    }

    /// <summary>Forgets the parsed state (after a change failed half-way through it).</summary>
    public void Invalidate()
    {
        lock (_gate) _cache = null;
    }

    /// <summary>The lab's state: the kept copy when nobody saved since, else read and verified again.</summary>
    public LabState Load()
    {
        var frame = ReadFrame();
        lock (_gate)
        {
            if (_cache is not null && _cache.Generation == frame.Generation) return _cache;
        }
        using (Lock(TimeSpan.FromSeconds(30)))
        {
            frame = ReadFrame();
            if (_cache is not null && _cache.Generation == frame.Generation) return _cache;
            var state = new LabState
            {
                Version = frame.Version, Generation = frame.Generation, Name = frame.Name, MachineType = frame.MachineType, SerialNumber = frame.SerialNumber,
                TotalProcessors = frame.TotalProcessors, TotalMemoryMB = frame.TotalMemoryMB, Clock = frame.Clock, NextId = frame.NextId, Timing = frame.Timing,
                Disks = Read<List<DiskRecord>>(Path.Combine(Root, DisksFileName)),
            };
            foreach (var name in frame.Domains)
            {
                var d = Read<DomainFile>(DomainPath(name));
                state.Partitions.AddRange(d.Partitions);
                state.VolumeGroups.AddRange(d.VolumeGroups);
                state.Applications.AddRange(d.Applications);
                state.Clones.AddRange(d.Clones);
                state.Mirrors.AddRange(d.Mirrors);
            }
            _cache = state;
            return state;
        }
    }

    private string DomainPath(string domain) => Path.Combine(Root, DomainsFolder, domain.ToLowerInvariant() + ".state");

    private FrameFile ReadFrame()
    {
        if (!File.Exists(StatePath))
            throw Directory.Exists(Root)
                ? new LiveUpdateException("NotALab", ErrorKind.InvalidArgument, $"'{Root}' is not a LiveUpdate lab: it has no {StateFileName}.", Root)
                : Gone(null);
        var frame = Read<FrameFile>(StatePath);
        if (frame.Version != 2) throw Corrupt(StatePath, $"it has version {frame.Version}, not 2");
        return frame;
    }

    private T Read<T>(string path)
    {
        try
        {
            return StateFile.Read<T>(path, Header, why => Corrupt(path, why));
        }
        catch (DirectoryNotFoundException e)
        {
            throw Gone(e);
        }
    }

    private LiveUpdateException Gone(Exception? e) => new("NotALab", ErrorKind.ObjectNotFound, $"The lab folder '{Root}' does not exist (any more).", Root, e);

    private LiveUpdateException Corrupt(string path, string why) => new("LabStateCorrupt", ErrorKind.InvalidData,
        $"The state of the lab '{Root}' cannot be trusted: {Path.GetRelativePath(Root, path)}: {why}. Nothing was changed.", path);

    /// <summary>Saves the frame and the given domains (all of them, and the disks, when <paramref name="domains"/> is null).</summary>
    public void Save(LabState state, IReadOnlyCollection<string>? domains = null)
    {
        using (Lock(TimeSpan.FromSeconds(30)))
        {
            var all = state.Partitions.Where(p => p.SurrogateOf is null).Select(p => p.Name).ToList();
            state.Generation++;
            var files = new List<(string Relative, string Content)>();
            if (domains is null) files.Add((DisksFileName, Format(state.Disks)));
            var owner = state.Partitions.ToDictionary(p => p.Name, p => p.SurrogateOf ?? p.Name, StringComparer.OrdinalIgnoreCase);
            string Of(string? partition) => partition is not null && owner.TryGetValue(partition, out var d) ? d : partition ?? "";
            foreach (var domain in domains ?? all)
            {
                var file = new DomainFile
                {
                    Partitions = state.Partitions.Where(p => Same(p.SurrogateOf ?? p.Name, domain)).ToList(),
                    VolumeGroups = state.VolumeGroups.Where(v => Same(Of(v.Partition), domain)).ToList(),
                    Applications = state.Applications.Where(a => Same(Of(a.Partition), domain)).ToList(),
                    Clones = state.Clones.Where(c => Same(c.Partition, domain)).ToList(),
                    Mirrors = state.Mirrors.Where(m => Same(m.Partition, domain)).ToList(),
                };
                files.Add((Path.Combine(DomainsFolder, domain.ToLowerInvariant() + ".state"), Format(file)));
            }
            files.Add((StateFileName, Format(new FrameFile
            {
                Version = state.Version, Generation = state.Generation, Name = state.Name, MachineType = state.MachineType, SerialNumber = state.SerialNumber,
                TotalProcessors = state.TotalProcessors, TotalMemoryMB = state.TotalMemoryMB, Clock = state.Clock, NextId = state.NextId, Timing = state.Timing,
                Domains = all,
            })));
            Directory.CreateDirectory(Path.Combine(Root, DomainsFolder));
            foreach (var (relative, content) in files) StateFile.WriteFlushed(Path.Combine(Root, relative) + ".commit", content);
            var pending = Path.Combine(Root, PendingFileName);
            StateFile.WriteFlushed(pending, string.Join("\n", files.Select(f => f.Relative)) + "\n");
            foreach (var (relative, _) in files) File.Move(Path.Combine(Root, relative) + ".commit", Path.Combine(Root, relative), overwrite: true);
            File.Delete(pending);
            lock (_gate) _cache = state;
        }
    }

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    private static string Format<T>(T value) => StateFile.Format(Header, value);
}
