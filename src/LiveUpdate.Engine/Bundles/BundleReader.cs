using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Bundles;

/// <summary>One entry of a bundle (a file or folder of a bundle folder, an entry of an archive), its name normalised.</summary>
internal sealed record BundleEntry(string Name, NodeType Type, long Length);

/// <summary>
/// Reads a bundle in two passes without writing anything: <see cref="Scan"/> lists every entry (checking each one's
/// name, type and mode as it comes, and capturing the manifest's bytes, bounded), then <see cref="ReadFiles"/> hands
/// the content of each regular file to a consumer. The rules every entry must pass are the same for folders and
/// archives: a plain relative name, a regular file or a folder, no set-user or set-group bit, at most
/// <see cref="MaxEntries"/> of them.
/// </summary>
internal abstract class BundleReader : IDisposable
{
    public const int MaxEntries = 10000;

    protected BundleReader(string source) => Source = source;

    public string Source { get; }

    /// <summary>Folder, Zip, Tar or TarGz.</summary>
    public abstract string Format { get; }

    /// <summary>Every entry; the content of those named by <paramref name="capture"/> is read into <paramref name="captured"/> (at most <see cref="BundleManifest.MaxBytes"/>).</summary>
    public abstract IReadOnlyList<BundleEntry> Scan(Func<string, bool> capture, IDictionary<string, byte[]> captured);

    /// <summary>Hands each regular file that <paramref name="wanted"/> names to <paramref name="consume"/>, in the bundle's order.</summary>
    public abstract void ReadFiles(Func<BundleEntry, bool> wanted, Action<BundleEntry, Stream> consume);

    public virtual void Dispose() { }

    public static BundleReader For(string path, string source)
    {
        var lower = path.ToLowerInvariant();
        if (Directory.Exists(path)) return new FolderBundleReader(path, source);
        if (lower.EndsWith(".zip", StringComparison.Ordinal)) return new ZipBundleReader(path, source);
        if (lower.EndsWith(".tar", StringComparison.Ordinal)) return new TarBundleReader(path, source, gzip: false);
        if (lower.EndsWith(".tar.gz", StringComparison.Ordinal) || lower.EndsWith(".tgz", StringComparison.Ordinal)) return new TarBundleReader(path, source, gzip: true);
        throw new LiveUpdateException("BundleFormatUnknown", ErrorKind.InvalidArgument,
            $"'{source}' is neither a bundle folder nor a .zip, .tar or .tar.gz archive of one.", source);
    }

    /// <summary>Checks one entry as it is met; returns it with its name normalised (no './' prefix, no trailing '/').</summary>
    protected BundleEntry Check(string rawName, NodeType type, UnixFileMode mode, long length, HashSet<string> seen)
    {
        if (seen.Count >= MaxEntries)
            throw new LiveUpdateException("BundleTooManyEntries", ErrorKind.LimitsExceeded,
                $"The bundle '{Source}' holds more than {MaxEntries} entries; it is refused before anything is written.", Source);
        var name = rawName;
        while (name.StartsWith("./", StringComparison.Ordinal)) name = name.Substring(2);
        if (type == NodeType.Directory) name = name.TrimEnd('/');
        var shown = BundleManifest.Shown(rawName);
        if (name.Length == 0 || name.Length > 4096 || name.StartsWith('/') || name.Any(c => char.IsControl(c) || c == '\\')
            || name.Split('/').Any(c => c is "" or "." or ".."))
            throw new LiveUpdateException("BundleEntryNameInvalid", ErrorKind.InvalidData,
                $"The bundle '{Source}' holds an entry named '{shown}', which is not a plain relative path inside the bundle.", Source);
        if (type is not (NodeType.File or NodeType.Directory))
            throw BundleFiles.NotRegular(Source, shown, type);
        if ((mode & (UnixFileMode.SetUser | UnixFileMode.SetGroup)) != 0)
            throw new LiveUpdateException("BundleEntryModeNotAllowed", ErrorKind.InvalidData,
                $"'{shown}' in the bundle '{Source}' carries the set-user or set-group bit; a bundle may not.", Source);
        if (length < 0)
            throw Corrupt($"the entry '{shown}' has a negative size");
        if (!seen.Add(name))
            throw new LiveUpdateException("BundleEntryDuplicate", ErrorKind.InvalidData,
                $"The bundle '{Source}' holds '{shown}' twice; which one counts would be ambiguous.", Source);
        return new BundleEntry(name, type, length);
    }

    protected LiveUpdateException Corrupt(string why, Exception? inner = null) => new("BundleCorrupt", ErrorKind.InvalidData,
        $"The bundle archive '{Source}' cannot be read: {why}", Source, inner);

    protected static byte[] Capture(Stream data, string name, string source) => BundleFiles.ReadBounded(data, BundleManifest.MaxBytes)
        ?? throw new LiveUpdateException("BundleManifestTooLarge", ErrorKind.LimitsExceeded,
            $"The manifest '{name}' of bundle '{source}' is larger than {BundleManifest.MaxBytes / 1024} KiB; it is not read.", source);
}

/// <summary>A bundle folder: walked without following a link; every entry must be a regular file or a folder that other users cannot write.</summary>
internal sealed class FolderBundleReader : BundleReader
{
    private readonly string _root;
    private List<BundleEntry>? _entries;

    public FolderBundleReader(string root, string source) : base(source) => _root = root;

    public override string Format => "Folder";

    public override IReadOnlyList<BundleEntry> Scan(Func<string, bool> capture, IDictionary<string, byte[]> captured)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<BundleEntry>();
        Walk(_root, "", 0, seen, entries);
        foreach (var e in entries.Where(e => e.Type == NodeType.File && capture(e.Name)))
        {
            using var s = BundleFiles.OpenRegular(Full(e.Name), Source, e.Name);
            captured[e.Name] = Capture(s, e.Name, Source);
        }
        return _entries = entries;
    }

    private void Walk(string dir, string prefix, int depth, HashSet<string> seen, List<BundleEntry> entries)
    {
        if (depth > 64) throw new LiveUpdateException("BundleEntryNameInvalid", ErrorKind.InvalidData, $"The bundle '{Source}' nests folders more than 64 deep.", Source);
        foreach (var path in Directory.EnumerateFileSystemEntries(dir).OrderBy(p => p, StringComparer.Ordinal))
        {
            var name = prefix + Path.GetFileName(path);
            var node = BundleFiles.Inspect(path);
            if (node.WritableByOthers && node.Type != NodeType.SymbolicLink)
                throw BundleFiles.Untrusted(Source, $"'{name}' in it may be written by every user");
            var entry = Check(name, node.Type, node.Mode, node.Size, seen);
            entries.Add(entry);
            if (node.Type == NodeType.Directory) Walk(path, name + "/", depth + 1, seen, entries);
        }
    }

    private string Full(string name) => Path.Combine(_root, name.Replace('/', Path.DirectorySeparatorChar));

    public override void ReadFiles(Func<BundleEntry, bool> wanted, Action<BundleEntry, Stream> consume)
    {
        foreach (var e in _entries!.Where(e => e.Type == NodeType.File && wanted(e)))
        {
            FileStream s;
            try
            {
                s = BundleFiles.OpenRegular(Full(e.Name), Source, e.Name);
            }
            catch (FileNotFoundException)
            {
                throw new LiveUpdateException("BundlePayloadMissing", ErrorKind.InvalidData, $"'{e.Name}' of the bundle '{Source}' was removed while it was read.", Source);
            }
            using (s) consume(e, s);
        }
    }
}

/// <summary>A .zip archive, read from one open regular file; entry types and modes come from the Unix attributes when the archive has them.</summary>
internal sealed class ZipBundleReader : BundleReader
{
    private readonly FileStream _file;
    private readonly ZipArchive _zip;
    private List<(BundleEntry Entry, ZipArchiveEntry Zip)>? _entries;

    public ZipBundleReader(string path, string source) : base(source)
    {
        _file = BundleFiles.OpenRegular(path, source, Path.GetFileName(path));
        try
        {
            _zip = new ZipArchive(_file, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException)
        {
            _file.Dispose();
            throw Corrupt(e.Message, e);
        }
    }

    public override string Format => "Zip";

    public override IReadOnlyList<BundleEntry> Scan(Func<string, bool> capture, IDictionary<string, byte[]> captured)
    {
        try
        {
            if (_zip.Entries.Count > MaxEntries)
                throw new LiveUpdateException("BundleTooManyEntries", ErrorKind.LimitsExceeded,
                    $"The bundle '{Source}' holds {_zip.Entries.Count} entries, more than {MaxEntries}; it is refused before anything is written.", Source);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var entries = new List<(BundleEntry, ZipArchiveEntry)>();
            foreach (var z in _zip.Entries)
            {
                var unix = (z.ExternalAttributes >> 16) & 0xFFFF;
                var isDir = z.FullName.EndsWith('/');
                var type = (unix & 0xF000) switch
                {
                    0 => isDir ? NodeType.Directory : NodeType.File,
                    0x8000 when !isDir => NodeType.File,
                    0x4000 => NodeType.Directory,
                    0xA000 => NodeType.SymbolicLink,
                    0x2000 => NodeType.CharacterDevice,
                    0x6000 => NodeType.BlockDevice,
                    0x1000 => NodeType.Fifo,
                    0xC000 => NodeType.Socket,
                    _ => NodeType.Unknown,
                };
                var entry = Check(z.FullName, type, (UnixFileMode)(unix & 0xFFF), z.Length, seen);
                entries.Add((entry, z));
                if (type == NodeType.File && capture(entry.Name))
                {
                    using var s = z.Open();
                    captured[entry.Name] = Capture(s, entry.Name, Source);
                }
            }
            _entries = entries;
            return entries.Select(e => e.Item1).ToList();
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw Corrupt(e.Message, e);
        }
    }

    public override void ReadFiles(Func<BundleEntry, bool> wanted, Action<BundleEntry, Stream> consume)
    {
        try
        {
            foreach (var (entry, z) in _entries!.Where(e => e.Entry.Type == NodeType.File && wanted(e.Entry)))
            {
                using var s = z.Open();
                consume(entry, s);
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw Corrupt(e.Message, e);
        }
    }

    public override void Dispose()
    {
        _zip.Dispose();
        _file.Dispose();
    }
}

/// <summary>
/// A .tar or .tar.gz archive: read front to back, twice, from one open regular file; the second pass must meet
/// exactly the entries of the first (an archive changed in between is refused).
/// </summary>
internal sealed class TarBundleReader : BundleReader
{
    private readonly FileStream _file;
    private readonly bool _gzip;
    private List<BundleEntry>? _entries;

    public TarBundleReader(string path, string source, bool gzip) : base(source)
    {
        _file = BundleFiles.OpenRegular(path, source, Path.GetFileName(path));
        _gzip = gzip;
    }

    public override string Format => _gzip ? "TarGz" : "Tar";

    private static NodeType TypeOf(TarEntryType t) => t switch
    {
        TarEntryType.RegularFile or TarEntryType.V7RegularFile => NodeType.File,
        TarEntryType.Directory => NodeType.Directory,
        TarEntryType.SymbolicLink or TarEntryType.HardLink => NodeType.SymbolicLink,
        TarEntryType.CharacterDevice => NodeType.CharacterDevice,
        TarEntryType.BlockDevice => NodeType.BlockDevice,
        TarEntryType.Fifo => NodeType.Fifo,
        _ => NodeType.Unknown,
    };

    private static bool IsMetadata(TarEntryType t) => t is TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes;

    private void Each(Action<TarEntry> action)
    {
        _file.Seek(0, SeekOrigin.Begin);
        try
        {
            using var input = _gzip ? new GZipStream(_file, CompressionMode.Decompress, leaveOpen: true) : (Stream)new NonClosing(_file);
            using var reader = new TarReader(input, leaveOpen: false);
            TarEntry? entry;
            while ((entry = reader.GetNextEntry(copyData: false)) is not null)
            {
                if (IsMetadata(entry.EntryType)) continue;
                action(entry);
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or IOException or ArgumentException)
        {
            throw Corrupt(e.Message, e);
        }
    }

    public override IReadOnlyList<BundleEntry> Scan(Func<string, bool> capture, IDictionary<string, byte[]> captured)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<BundleEntry>();
        Each(t =>
        {
            var entry = Check(t.Name, TypeOf(t.EntryType), t.Mode, t.Length, seen);
            entries.Add(entry);
            if (entry.Type == NodeType.File && capture(entry.Name) && t.DataStream is { } data)
                captured[entry.Name] = Capture(data, entry.Name, Source);
        });
        return _entries = entries;
    }

    public override void ReadFiles(Func<BundleEntry, bool> wanted, Action<BundleEntry, Stream> consume)
    {
        var i = 0;
        Each(t =>
        {
            var known = i < _entries!.Count ? _entries[i] : null;
            i++;
            var name = t.Name;
            while (name.StartsWith("./", StringComparison.Ordinal)) name = name.Substring(2);
            if (known is null || known.Name != name.TrimEnd('/') || known.Type != TypeOf(t.EntryType) || known.Length != t.Length)
                throw Corrupt("it changed while it was read");
            if (known.Type == NodeType.File && wanted(known)) consume(known, t.DataStream ?? Stream.Null);
        });
        if (i != _entries!.Count) throw Corrupt("it changed while it was read");
    }

    public override void Dispose() => _file.Dispose();

    /// <summary>Lets a reader close its stream without closing the file, which the second pass reads again.</summary>
    private sealed class NonClosing : Stream
    {
        private readonly Stream _inner;
        public NonClosing(Stream inner) => _inner = inner;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
