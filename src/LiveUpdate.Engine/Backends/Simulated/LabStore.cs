using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
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
    public const string LockFileName = ".lock";
    private const string PendingFileName = "commit.pending";
    private const string HeaderPrefix = "LiveUpdate.Lab/2 sha256=";

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    private readonly object _gate = new();
    private FileStream? _lock;
    private int _depth;
    private LabState? _cache;

    public LabStore(string root) => Root = root;

    public string Root { get; }
    public string StatePath => Path.Combine(Root, StateFileName);

    public static bool IsLab(string root) => File.Exists(Path.Combine(root, StateFileName));

    public IDisposable Lock(TimeSpan wait)
    {
        Monitor.Enter(_gate);
        try
        {
            if (_depth++ == 0) _lock = Acquire(wait);
            return new Releaser(this);
        }
        catch
        {
            _depth--;
            Monitor.Exit(_gate);
            throw;
        }
    }

    private FileStream Acquire(TimeSpan wait)
    {
        var path = Path.Combine(Root, LockFileName);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                // The lock is the open file itself; its content never changes, so merely reading a lab changes no file.
                try
                {
                    Recover();
                }
                catch
                {
                    fs.Dispose();
                    throw;
                }
                return fs;
            }
            catch (DirectoryNotFoundException e)
            {
                throw Gone(e);
            }
            catch (IOException) when (clock.Elapsed < wait)
            {
                Thread.Sleep(15);
            }
            catch (IOException e)
            {
                throw new LiveUpdateException("LabBusy", ErrorKind.ResourceBusy,
                    $"The lab '{Root}' is being changed by another process; it stayed busy for {wait.TotalSeconds:0.#} s.", Root, e);
            }
        }
    }

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

    private void Release()
    {
        try
        {
            if (--_depth == 0)
            {
                _lock?.Dispose();
                _lock = null;
            }
        }
        finally
        {
            Monitor.Exit(_gate);
        }
    }

    private sealed class Releaser : IDisposable
    {
        private LabStore? _store;
        public Releaser(LabStore store) => _store = store;
        public void Dispose() => Interlocked.Exchange(ref _store, null)?.Release();
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
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (FileNotFoundException)
        {
            throw Corrupt(path, "it is missing");
        }
        catch (DirectoryNotFoundException e)
        {
            throw Gone(e);
        }
        var newline = text.IndexOf('\n');
        if (newline < 0 || !text.StartsWith(HeaderPrefix, StringComparison.Ordinal))
            throw Corrupt(path, "its header is missing");
        var expected = text.Substring(HeaderPrefix.Length, newline - HeaderPrefix.Length).Trim();
        var body = text.Substring(newline + 1);
        if (!string.Equals(Hash(body), expected, StringComparison.Ordinal))
            throw Corrupt(path, "its content does not match its checksum (truncated or edited by hand)");
        try
        {
            return JsonSerializer.Deserialize<T>(body, Json) ?? throw Corrupt(path, "it is empty");
        }
        catch (JsonException e)
        {
            throw Corrupt(path, "it is not valid JSON: " + e.Message);
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
            foreach (var (relative, content) in files) WriteFlushed(Path.Combine(Root, relative) + ".commit", content);
            var pending = Path.Combine(Root, PendingFileName);
            WriteFlushed(pending, string.Join("\n", files.Select(f => f.Relative)) + "\n");
            foreach (var (relative, _) in files) File.Move(Path.Combine(Root, relative) + ".commit", Path.Combine(Root, relative), overwrite: true);
            File.Delete(pending);
            lock (_gate) _cache = state;
        }
    }

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    private static string Format<T>(T value)
    {
        var body = JsonSerializer.Serialize(value, Json);
        return HeaderPrefix + Hash(body) + "\n" + body;
    }

    private static void WriteFlushed(string path, string content)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        var bytes = Encoding.UTF8.GetBytes(content);
        fs.Write(bytes, 0, bytes.Length);
        fs.Flush(true);
    }

    /// <summary>Write, flush to disk, rename: the file is either the old or the new one, never a mixture.</summary>
    internal static void WriteAtomically(string path, string content)
    {
        var temp = path + ".tmp-" + Environment.ProcessId;
        WriteFlushed(temp, content);
        File.Move(temp, path, overwrite: true);
    }

    private static string Hash(string body) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(body))).ToLowerInvariant();
}
