using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Bundles;

/// <summary>
/// A verified update bundle: a folder (or a .zip, .tar, .tar.gz archive of one) holding <c>manifest.json</c> and
/// payload files, each named in the manifest with its SHA-256 and size.
/// <para>
/// <see cref="Verify"/> reads the bundle where it lies and writes nothing. <see cref="Open"/> also copies it — each
/// payload hashed as it is copied — into a new folder that only this user can enter, which <see cref="Dispose"/>
/// removes: what a backend installs is exactly what was verified, and nothing another user can write (an extracted
/// copy in a shared temporary folder, the bundle folder after the check) is ever read again.
/// </para>
/// <para>
/// Before anything is written: every entry is a regular file or a folder with a plain name and no set-user or
/// set-group bit, at most <see cref="BundleReader.MaxEntries"/> of them; the manifest is at most 1 MiB and passes its
/// checks (names, versions and paths of a strict form); every file is listed; no archive entry declares more bytes
/// than the manifest gives its payload; and the payloads fit the free space of the copy's folder.
/// </para>
/// </summary>
public sealed class UpdateBundle : IDisposable
{
    /// <summary>Space left free beside a copy of a bundle.</summary>
    private const long Reserve = 16L * 1024 * 1024;

    private readonly string? _root;

    /// <summary>Test facility: the free space this thread's copies see (the real free space when null).</summary>
    [ThreadStatic] internal static Func<string, long?>? FreeSpaceOverride;

    private UpdateBundle(string source, string format, string? root, VerifiedManifest m)
    {
        Source = source;
        Format = format;
        _root = root;
        Name = m.Name;
        TargetLevel = m.TargetLevel;
        RequiresLevel = m.RequiresLevel;
        LiveUpdateCapable = m.LiveUpdateCapable;
        Packages = m.Packages;
    }

    /// <summary>The path the user gave.</summary>
    public string Source { get; }
    /// <summary>Folder, Zip, Tar or TarGz.</summary>
    public string Format { get; }
    /// <summary>The private folder that holds the verified copy (only for a bundle made by <see cref="Open"/>).</summary>
    public string Root => _root ?? throw new InvalidOperationException($"The bundle '{Source}' was verified in place; open it to use its payload.");
    /// <summary>Whether the bundle holds a verified private copy of its payload.</summary>
    public bool HasCopy => _root is not null && Directory.Exists(_root);
    public string Name { get; }
    public OsLevel TargetLevel { get; }
    public OsLevel? RequiresLevel { get; }
    public bool LiveUpdateCapable { get; }
    public IReadOnlyList<BundlePackage> Packages { get; }
    public long PayloadBytes => Packages.Sum(p => p.Size);

    /// <summary>The verified copy of a package's payload.</summary>
    public string PackagePath(BundlePackage package) => Path.Combine(Root, package.File.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>
    /// Verifies a bundle and copies it into a new private folder (under <paramref name="copyParent"/>, a folder
    /// only this user may write, or else the temporary folder); throws <see cref="LiveUpdateException"/> for anything
    /// wrong with it. Dispose removes the copy.
    /// </summary>
    public static UpdateBundle Open(string path, string? copyParent = null) => Load(path, copy: true, copyParent, null);

    /// <summary>
    /// Opens a bundle for an operation: its copy's folder carries the operation's id, so that a copy left by a
    /// process that died during the operation is removed when the operation is resumed (<see cref="RemoveCopies"/>).
    /// </summary>
    public static UpdateBundle OpenFor(string operationId, string path) => Load(path, copy: true, null, operationId);

    private const string CopyPrefix = "liveupdate-bundle-";

    /// <summary>
    /// Removes what is left of this user's private copies for an operation (a process that died cannot remove its
    /// own): only folders this user owns and alone may enter, never following a link.
    /// </summary>
    public static void RemoveCopies(string operationId)
    {
        var temp = Path.GetTempPath();
        if (!Directory.Exists(temp) || operationId.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0) return;
        foreach (var dir in Directory.EnumerateDirectories(temp, CopyPrefix + operationId + "-*"))
        {
            var node = BundleFiles.Inspect(dir);
            if (node.Type != NodeType.Directory || node.Owner != BundleFiles.CurrentUser || (node.Mode & (UnixFileMode)0x3F) != 0) continue;
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another process of this user removes it at the same moment, or it is in use; the next resume tries again.
            }
        }
    }

    /// <summary>Verifies a bundle where it lies, writing nothing; the result tells what it holds but has no payload to install.</summary>
    public static UpdateBundle Verify(string path) => Load(path, copy: false, null, null);

    /// <summary>Verifies a bundle where it lies and says what it found: its packages when it passes every check, the error when not.</summary>
    public static LiveUpdateBundle Test(string path)
    {
        var format = Directory.Exists(path) ? "Folder" : path.ToLowerInvariant() switch
        {
            var p when p.EndsWith(".zip", StringComparison.Ordinal) => "Zip",
            var p when p.EndsWith(".tar", StringComparison.Ordinal) => "Tar",
            var p when p.EndsWith(".tar.gz", StringComparison.Ordinal) || p.EndsWith(".tgz", StringComparison.Ordinal) => "TarGz",
            _ => "Unknown",
        };
        try
        {
            using var b = Verify(path);
            return new LiveUpdateBundle(path, b.Name, b.Format, true, null,
                $"{b.Packages.Count} packages, every SHA-256 and size matches; nothing but regular files and folders.",
                b.TargetLevel, b.RequiresLevel, b.LiveUpdateCapable, b.PayloadBytes, b.Packages);
        }
        catch (LiveUpdateException e)
        {
            return new LiveUpdateBundle(path, "", format, false, e.ErrorId, e.Message, null, null, null, 0, Array.Empty<BundlePackage>());
        }
    }

    /// <summary>Removes the private copy. Idempotent.</summary>
    public void Dispose()
    {
        if (_root is not null && Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private static UpdateBundle Load(string path, bool copy, string? copyParent, string? operationId)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new LiveUpdateException("BundleNotFound", ErrorKind.ObjectNotFound, "No update bundle path was given.", path);
        var full = Path.GetFullPath(path);
        var node = BundleFiles.Inspect(full);
        if (node.Type == NodeType.SymbolicLink && File.ResolveLinkTarget(full, returnFinalTarget: true) is { } target)
        {
            // The path the user gave may be a link; what it leads to is the bundle, checked like any other.
            full = target.FullName;
            node = BundleFiles.Inspect(full);
        }
        if (node.Type == NodeType.Missing)
            throw new LiveUpdateException("BundleNotFound", ErrorKind.ObjectNotFound, $"The update bundle '{path}' does not exist.", path);
        if (node.Type is not (NodeType.File or NodeType.Directory))
            throw BundleFiles.NotRegular(path, path, node.Type);
        BundleFiles.RefuseUntrustedLocation(full, path);
        using var reader = BundleReader.For(full, path);
        var captured = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var entries = reader.Scan(IsManifestCandidate, captured);
        var prefix = RootPrefix(entries, captured, path);
        var manifestBytes = captured[prefix + BundleManifest.FileName];
        var manifest = BundleManifest.Parse(manifestBytes, path);
        var byFile = CrossCheck(entries, prefix, manifest, path, reader.Format != "Folder");

        string? root = null;
        if (copy)
        {
            root = BundleFiles.CreatePrivateFolder(operationId is null ? CopyPrefix : $"{CopyPrefix}{operationId}-", copyParent);
            var free = (FreeSpaceOverride ?? BundleFiles.FreeBytes)(root);
            if (free is { } f && manifest.PayloadBytes + Reserve > f)
            {
                Directory.Delete(root, recursive: true);
                throw new LiveUpdateException("BundleTooLarge", ErrorKind.LimitsExceeded,
                    $"The bundle '{path}' holds {manifest.PayloadBytes} bytes of payload; the folder for its verified copy ({Path.GetDirectoryName(root)}) has {f} bytes free. Free space there or set TMPDIR to a larger folder.", path);
            }
        }
        try
        {
            ReadAndVerify(reader, prefix, manifestBytes, byFile, root, path);
            return new UpdateBundle(path, reader.Format, root, manifest);
        }
        catch
        {
            if (root is not null && Directory.Exists(root)) Directory.Delete(root, recursive: true);
            throw;
        }
    }

    private static bool IsManifestCandidate(string name) =>
        name == BundleManifest.FileName || (name.EndsWith("/" + BundleManifest.FileName, StringComparison.Ordinal) && name.Count(c => c == '/') == 1);

    /// <summary>"" when the manifest is at the top; "dir/" when an archive wraps the whole bundle in one folder.</summary>
    private static string RootPrefix(IReadOnlyList<BundleEntry> entries, IDictionary<string, byte[]> captured, string source)
    {
        if (captured.ContainsKey(BundleManifest.FileName)) return "";
        var tops = entries.Select(e => e.Name.Split('/')[0]).Distinct(StringComparer.Ordinal).ToList();
        if (tops.Count == 1 && entries.Any(e => e.Name.Contains('/')) && entries.All(e => e.Name != tops[0] || e.Type == NodeType.Directory)
            && captured.ContainsKey(tops[0] + "/" + BundleManifest.FileName))
            return tops[0] + "/";
        throw new LiveUpdateException("BundleManifestMissing", ErrorKind.InvalidData, $"The update bundle '{source}' has no manifest.json.", source);
    }

    /// <summary>
    /// Every file is the manifest or a listed payload; every payload is there; no archive entry declares more
    /// bytes than the manifest allows (a small archive that would expand to far more is refused here, before a byte
    /// of it is written).
    /// </summary>
    private static Dictionary<string, BundlePackage> CrossCheck(IReadOnlyList<BundleEntry> entries, string prefix, VerifiedManifest m, string source, bool archive)
    {
        var byFile = m.Packages.ToDictionary(p => p.File, StringComparer.Ordinal);
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in entries.Where(e => e.Type == NodeType.File))
        {
            var rel = e.Name.StartsWith(prefix, StringComparison.Ordinal) ? e.Name.Substring(prefix.Length) : e.Name;
            if (rel == BundleManifest.FileName && e.Name == prefix + rel) continue;
            if (!byFile.TryGetValue(rel, out var package) || e.Name != prefix + rel)
                throw new LiveUpdateException("BundleUnexpectedFile", ErrorKind.InvalidData,
                    $"The bundle '{source}' holds '{BundleManifest.Shown(e.Name)}', which its manifest does not list.", source);
            if (archive && e.Length > package.Size)
                throw new LiveUpdateException("BundleEntryTooLarge", ErrorKind.LimitsExceeded,
                    $"The archive entry '{BundleManifest.Shown(e.Name)}' of bundle '{source}' expands to {e.Length} bytes; the manifest gives package {package.Name} {package.Size}. Nothing was extracted.", source);
            present.Add(rel);
        }
        var missing = m.Packages.FirstOrDefault(p => !present.Contains(p.File));
        if (missing is not null)
            throw new LiveUpdateException("BundlePayloadMissing", ErrorKind.InvalidData, $"The bundle '{source}' lacks the payload file '{missing.File}' of package {missing.Name}.", source);
        return byFile;
    }

    /// <summary>Reads every payload once, bounded to its size, hashing it as it goes (and writing it into the private copy).</summary>
    private static void ReadAndVerify(BundleReader reader, string prefix, byte[] manifestBytes, Dictionary<string, BundlePackage> byFile, string? root, string source)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        bool Wanted(BundleEntry e) => e.Name.StartsWith(prefix, StringComparison.Ordinal) && (byFile.ContainsKey(e.Name.Substring(prefix.Length)) || e.Name == prefix + BundleManifest.FileName);
        reader.ReadFiles(Wanted, (entry, data) =>
        {
            var rel = entry.Name.Substring(prefix.Length);
            if (rel == BundleManifest.FileName)
            {
                // The manifest read again must be the one that was checked.
                var again = BundleFiles.ReadBounded(data, BundleManifest.MaxBytes);
                if (again is null || !again.AsSpan().SequenceEqual(manifestBytes))
                    throw new LiveUpdateException("BundleCorrupt", ErrorKind.InvalidData, $"The manifest of bundle '{source}' changed while it was read.", source);
                if (root is not null) Write(root, rel, again);
                return;
            }
            var package = byFile[rel];
            using var target = root is null ? Stream.Null : Create(root, rel);
            var (hash, size) = CopyBounded(data, target, package.Size);
            if (size > package.Size)
                throw new LiveUpdateException(reader.Format == "Folder" ? "BundleChecksumMismatch" : "BundleEntryTooLarge",
                    reader.Format == "Folder" ? ErrorKind.InvalidData : ErrorKind.LimitsExceeded,
                    $"The payload file '{rel}' of bundle '{source}' holds more than the {package.Size} bytes the manifest says.", source);
            if (size != package.Size)
                throw new LiveUpdateException("BundleChecksumMismatch", ErrorKind.InvalidData,
                    $"The payload file '{rel}' of bundle '{source}' has {size} bytes, the manifest says {package.Size}.", source);
            if (!string.Equals(hash, package.Sha256, StringComparison.Ordinal))
                throw new LiveUpdateException("BundleChecksumMismatch", ErrorKind.InvalidData,
                    $"The payload file '{rel}' of bundle '{source}' fails its checksum: SHA-256 {hash}, the manifest says {package.Sha256}.", source);
            seen.Add(rel);
        });
        var unread = byFile.Keys.FirstOrDefault(k => !seen.Contains(k));
        if (unread is not null)
            throw new LiveUpdateException("BundlePayloadMissing", ErrorKind.InvalidData, $"The bundle '{source}' lacks the payload file '{unread}' of package {byFile[unread].Name}.", source);
    }

    /// <summary>Copies at most limit + 1 bytes, hashing them; the size tells whether there was more.</summary>
    private static (string Hash, long Size) CopyBounded(Stream from, Stream to, long limit)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        long total = 0;
        while (total <= limit)
        {
            var want = (int)Math.Min(buffer.Length, limit + 1 - total);
            var n = from.Read(buffer, 0, want);
            if (n == 0) break;
            total += n;
            if (total > limit) break;
            sha.AppendData(buffer, 0, n);
            to.Write(buffer, 0, n);
        }
        to.Flush();
        return (Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant(), total);
    }

    private static FileStream Create(string root, string rel)
    {
        var path = Path.Combine(root, rel.Replace('/', Path.DirectorySeparatorChar));
        var dir = Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(dir);
        else Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        return new FileStream(path, options);
    }

    private static void Write(string root, string rel, byte[] bytes)
    {
        using var s = Create(root, rel);
        s.Write(bytes);
    }

    /// <summary>Writes a bundle folder with the given payload files (name, version, content) and a matching manifest.</summary>
    public static string Create(string folder, string name, OsLevel target, OsLevel? requires, bool liveUpdateCapable,
        IEnumerable<(string Name, string Version, string Kind, string FileName, byte[] Content)> packages) =>
        BundleBuilder.Create(folder, new BundleDefinition(name, target, requires, liveUpdateCapable,
            packages.Select(p => new BundlePayload(p.Name, p.Version, p.Kind, p.FileName, p.Content)).ToList()));

    /// <summary>The SHA-256 of a regular file (never of a link, FIFO or device), as lowercase hexadecimal.</summary>
    internal static string Sha256OfFile(string path)
    {
        using var s = BundleFiles.OpenRegular(path, path, Path.GetFileName(path));
        using var sha = SHA256.Create();
        return Convert.ToHexString(sha.ComputeHash(s)).ToLowerInvariant();
    }

    internal static string Sha256OfBytes(byte[] data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
}
