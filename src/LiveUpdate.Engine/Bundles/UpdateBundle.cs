using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Bundles;

/// <summary>One package (AIX fileset, Debian package, overlay archive) that a bundle installs.</summary>
public sealed record BundlePackage(string Name, string Version, string Kind, string File, string Sha256, long Size);

/// <summary>The manifest of an update bundle (<c>manifest.json</c> at the bundle's root).</summary>
public sealed class BundleManifest
{
    public const string FormatName = "LiveUpdate.Bundle/1";

    [JsonPropertyName("format")] public string? Format { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("targetLevel")] public string? TargetLevel { get; set; }
    [JsonPropertyName("requiresLevel")] public string? RequiresLevel { get; set; }
    [JsonPropertyName("liveUpdateCapable")] public bool? LiveUpdateCapable { get; set; }
    [JsonPropertyName("packages")] public List<ManifestPackage>? Packages { get; set; }

    public sealed class ManifestPackage
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        [JsonPropertyName("version")] public string? Version { get; set; }
        [JsonPropertyName("kind")] public string? Kind { get; set; }
        [JsonPropertyName("file")] public string? File { get; set; }
        [JsonPropertyName("sha256")] public string? Sha256 { get; set; }
        [JsonPropertyName("size")] public long? Size { get; set; }
    }

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
}

/// <summary>
/// A verified update bundle: a folder (or a .zip, .tar, .tar.gz archive of one) holding <c>manifest.json</c> and
/// payload files, each named in the manifest with its SHA-256. <see cref="Open"/> verifies everything before it
/// returns, so a bundle object always stands for a complete and intact update.
/// </summary>
public sealed class UpdateBundle
{
    private UpdateBundle(string source, string root, string name, OsLevel target, OsLevel? requires, bool liveCapable, IReadOnlyList<BundlePackage> packages)
    {
        Source = source;
        Root = root;
        Name = name;
        TargetLevel = target;
        RequiresLevel = requires;
        LiveUpdateCapable = liveCapable;
        Packages = packages;
    }

    /// <summary>The path the user gave.</summary>
    public string Source { get; }
    /// <summary>The folder that holds the manifest (an extracted copy for archives).</summary>
    public string Root { get; }
    public string Name { get; }
    public OsLevel TargetLevel { get; }
    public OsLevel? RequiresLevel { get; }
    public bool LiveUpdateCapable { get; }
    public IReadOnlyList<BundlePackage> Packages { get; }
    public long PayloadBytes => Packages.Sum(p => p.Size);

    public string PackagePath(BundlePackage package) => Path.Combine(Root, package.File.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>Opens and verifies a bundle; throws <see cref="LiveUpdateException"/> for anything wrong with it.</summary>
    public static UpdateBundle Open(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new LiveUpdateException("BundleNotFound", ErrorKind.ObjectNotFound, "No update bundle path was given.", path);
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) return OpenFolder(full, full);
        if (File.Exists(full))
        {
            var extracted = Extract(full, out var root);
            try
            {
                return OpenFolder(full, root);
            }
            catch
            {
                Directory.Delete(extracted, recursive: true);
                throw;
            }
        }
        throw new LiveUpdateException("BundleNotFound", ErrorKind.ObjectNotFound, $"The update bundle '{path}' does not exist.", path);
    }

    /// <summary>Extracts an archive into a new folder under the temporary folder (returned) and finds the bundle in it.</summary>
    private static string Extract(string archive, out string root)
    {
        var lower = archive.ToLowerInvariant();
        if (!(lower.EndsWith(".zip") || lower.EndsWith(".tar") || lower.EndsWith(".tar.gz") || lower.EndsWith(".tgz")))
            throw new LiveUpdateException("BundleFormatUnknown", ErrorKind.InvalidArgument,
                $"'{archive}' is neither a bundle folder nor a .zip, .tar or .tar.gz archive of one.", archive);
        // One extracted copy per archive content, shared by every process: each extracts into a folder of its own and
        // renames it into place, so no process ever deletes or half-writes a copy that another one reads. Whatever the
        // copy holds, OpenFolder verifies it completely again.
        var final = Path.Combine(Path.GetTempPath(), "liveupdate-bundle-" + Sha256OfFile(archive).Substring(0, 24));
        if (Directory.Exists(final)) return Unwrap(final, out root);
        var target = final + ".extract-" + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(target);
        try
        {
            if (lower.EndsWith(".zip"))
            {
                ZipFile.ExtractToDirectory(archive, target);
            }
            else if (lower.EndsWith(".tar"))
            {
                TarFile.ExtractToDirectory(archive, target, overwriteFiles: false);
            }
            else
            {
                using var file = File.OpenRead(archive);
                using var gz = new GZipStream(file, CompressionMode.Decompress);
                TarFile.ExtractToDirectory(gz, target, overwriteFiles: false);
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or FormatException)
        {
            Directory.Delete(target, recursive: true);
            throw new LiveUpdateException("BundleCorrupt", ErrorKind.InvalidData, $"The bundle archive '{archive}' cannot be read: {e.Message}", archive, e);
        }
        try
        {
            Directory.Move(target, final);
        }
        catch (IOException) when (Directory.Exists(final))
        {
            Directory.Delete(target, recursive: true); // another process put the same content in place first
        }
        return Unwrap(final, out root);
    }

    /// <summary>An archive may wrap the bundle in one top-level folder.</summary>
    private static string Unwrap(string folder, out string root)
    {
        root = folder;
        if (!File.Exists(Path.Combine(folder, "manifest.json")))
        {
            var dirs = Directory.GetDirectories(folder);
            if (dirs.Length == 1 && Directory.GetFiles(folder).Length == 0) root = dirs[0];
        }
        return folder;
    }

    private static UpdateBundle OpenFolder(string source, string root)
    {
        var manifestPath = Path.Combine(root, "manifest.json");
        if (!File.Exists(manifestPath))
            throw new LiveUpdateException("BundleManifestMissing", ErrorKind.InvalidData, $"The update bundle '{source}' has no manifest.json.", source);
        BundleManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<BundleManifest>(File.ReadAllText(manifestPath), BundleManifest.Json);
        }
        catch (JsonException e)
        {
            throw new LiveUpdateException("BundleManifestInvalid", ErrorKind.InvalidData, $"The manifest of '{source}' is not valid JSON: {e.Message}", source, e);
        }
        string Bad(string what) => throw new LiveUpdateException("BundleManifestInvalid", ErrorKind.InvalidData, $"The manifest of '{source}' {what}.", source);
        if (m is null) Bad("is empty");
        if (m!.Format != BundleManifest.FormatName) Bad($"has format '{m.Format}', not '{BundleManifest.FormatName}'");
        if (string.IsNullOrWhiteSpace(m.Name)) Bad("names no bundle");
        if (!OsLevel.TryParse(m.TargetLevel, out var target)) Bad($"has no valid targetLevel ('{m.TargetLevel}')");
        OsLevel? requires = null;
        if (m.RequiresLevel is not null && !OsLevel.TryParse(m.RequiresLevel, out requires)) Bad($"has an invalid requiresLevel ('{m.RequiresLevel}')");
        if (m.LiveUpdateCapable is null) Bad("does not say whether it is liveUpdateCapable");
        if (m.Packages is null || m.Packages.Count == 0) Bad("lists no packages");

        var packages = new List<BundlePackage>();
        var listed = new HashSet<string>(StringComparer.Ordinal);
        var rootFull = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        foreach (var p in m.Packages!)
        {
            if (string.IsNullOrWhiteSpace(p.Name) || string.IsNullOrWhiteSpace(p.Version) || string.IsNullOrWhiteSpace(p.File) || string.IsNullOrWhiteSpace(p.Sha256))
                Bad("has a package without name, version, file or sha256");
            var rel = p.File!.Replace('\\', '/');
            var full = Path.GetFullPath(Path.Combine(root, rel));
            if (!full.StartsWith(rootFull, StringComparison.Ordinal) || rel.StartsWith("/", StringComparison.Ordinal))
                Bad($"names the file '{p.File}' outside the bundle");
            if (!File.Exists(full))
                throw new LiveUpdateException("BundlePayloadMissing", ErrorKind.InvalidData, $"The bundle '{source}' lacks the payload file '{p.File}' of package {p.Name}.", source);
            var actual = Sha256OfFile(full);
            if (!string.Equals(actual, p.Sha256!.Trim(), StringComparison.OrdinalIgnoreCase))
                throw new LiveUpdateException("BundleChecksumMismatch", ErrorKind.InvalidData,
                    $"The payload file '{p.File}' of bundle '{source}' fails its checksum: SHA-256 {actual}, the manifest says {p.Sha256}.", source);
            var size = new FileInfo(full).Length;
            if (p.Size is not null && p.Size != size)
                throw new LiveUpdateException("BundleChecksumMismatch", ErrorKind.InvalidData,
                    $"The payload file '{p.File}' of bundle '{source}' has {size} bytes, the manifest says {p.Size}.", source);
            listed.Add(Path.GetFullPath(full));
            packages.Add(new BundlePackage(p.Name!, p.Version!, string.IsNullOrWhiteSpace(p.Kind) ? "fileset" : p.Kind!, rel, actual, size));
        }
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            var f = Path.GetFullPath(file);
            if (f == Path.GetFullPath(manifestPath) || listed.Contains(f)) continue;
            throw new LiveUpdateException("BundleUnexpectedFile", ErrorKind.InvalidData,
                $"The bundle '{source}' holds '{Path.GetRelativePath(root, f)}', which its manifest does not list.", source);
        }
        if (requires is not null && requires >= target!)
            Bad($"requires {requires}, which is not below its target {target}");
        return new UpdateBundle(source, root, m.Name!, target!, requires, m.LiveUpdateCapable!.Value, packages);
    }

    /// <summary>Writes a bundle folder with the given payload files (name, version, content) and a matching manifest.</summary>
    public static string Create(string folder, string name, OsLevel target, OsLevel? requires, bool liveUpdateCapable,
        IEnumerable<(string Name, string Version, string Kind, string FileName, byte[] Content)> packages)
    {
        Directory.CreateDirectory(Path.Combine(folder, "payload"));
        var manifest = new BundleManifest
        {
            Format = BundleManifest.FormatName,
            Name = name,
            TargetLevel = target.ToString(),
            RequiresLevel = requires?.ToString(),
            LiveUpdateCapable = liveUpdateCapable,
            Packages = new List<BundleManifest.ManifestPackage>(),
        };
        foreach (var p in packages)
        {
            var rel = "payload/" + p.FileName;
            File.WriteAllBytes(Path.Combine(folder, "payload", p.FileName), p.Content);
            manifest.Packages.Add(new BundleManifest.ManifestPackage
            {
                Name = p.Name, Version = p.Version, Kind = p.Kind, File = rel, Sha256 = Sha256OfBytes(p.Content), Size = p.Content.Length,
            });
        }
        File.WriteAllText(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest, BundleManifest.Json));
        return folder;
    }

    internal static string Sha256OfFile(string path)
    {
        using var s = File.OpenRead(path);
        using var sha = SHA256.Create();
        return Convert.ToHexString(sha.ComputeHash(s)).ToLowerInvariant();
    }

    internal static string Sha256OfBytes(byte[] data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
    private static string Sha256OfString(string s) => Sha256OfBytes(System.Text.Encoding.UTF8.GetBytes(s));
}
