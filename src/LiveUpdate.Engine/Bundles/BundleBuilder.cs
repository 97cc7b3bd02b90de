using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text.Json;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Bundles;

/// <summary>One payload of a bundle to make: its package's name, version and kind, and its bytes or the file that holds them.</summary>
public sealed record BundlePayload(string Name, string Version, string Kind, string FileName, byte[]? Content = null, string? SourcePath = null);

/// <summary>What a bundle to make says of itself and holds.</summary>
public sealed record BundleDefinition(string Name, OsLevel TargetLevel, OsLevel? RequiresLevel, bool LiveUpdateCapable, IReadOnlyList<BundlePayload> Packages);

/// <summary>
/// Makes update bundles: a folder, or a .zip, .tar or .tar.gz archive of one, with every payload under
/// <c>payload/</c> and a manifest that gives each its SHA-256 and size. New-LiveUpdateBundle and the labs' sample
/// bundles are made here, so what the module makes is what it verifies. The bundle is written beside its final path
/// and renamed into place: a bundle that is there is complete.
/// </summary>
public static class BundleBuilder
{
    public static bool IsArchivePath(string path)
    {
        var lower = path.ToLowerInvariant();
        return lower.EndsWith(".zip", StringComparison.Ordinal) || lower.EndsWith(".tar", StringComparison.Ordinal)
            || lower.EndsWith(".tar.gz", StringComparison.Ordinal) || lower.EndsWith(".tgz", StringComparison.Ordinal);
    }

    /// <summary>Writes the bundle at <paramref name="path"/> (a new or empty folder, or a new archive) and returns its full path.</summary>
    public static string Create(string path, BundleDefinition definition)
    {
        var full = Path.GetFullPath(path);
        var payloads = Check(definition, full);
        var archive = IsArchivePath(full);
        if (archive ? File.Exists(full) || Directory.Exists(full) : File.Exists(full) || (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any()))
            throw new LiveUpdateException("BundlePathExists", ErrorKind.ResourceExists,
                $"'{path}' already exists; a bundle is made at a new path (or in an empty folder).", path);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(Path.Combine(staging, "payload"));
            var manifest = new BundleManifest
            {
                Format = BundleManifest.FormatName,
                Name = definition.Name,
                TargetLevel = definition.TargetLevel.ToString(),
                RequiresLevel = definition.RequiresLevel?.ToString(),
                LiveUpdateCapable = definition.LiveUpdateCapable,
                Packages = new List<BundleManifest.ManifestPackage>(),
            };
            foreach (var p in payloads)
            {
                var (sha, size) = WritePayload(p, Path.Combine(staging, "payload", p.FileName));
                manifest.Packages.Add(new BundleManifest.ManifestPackage
                {
                    Name = p.Name, Version = p.Version, Kind = p.Kind, File = "payload/" + p.FileName, Sha256 = sha, Size = size,
                });
            }
            File.WriteAllText(Path.Combine(staging, BundleManifest.FileName), JsonSerializer.Serialize(manifest, BundleManifest.Json));
            if (!archive)
            {
                if (Directory.Exists(full)) Directory.Delete(full);
                Directory.Move(staging, full);
                return full;
            }
            var packed = staging + ".archive";
            try
            {
                Pack(staging, packed, full.ToLowerInvariant());
                File.Move(packed, full);
            }
            finally
            {
                if (File.Exists(packed)) File.Delete(packed);
            }
            return full;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static void Pack(string folder, string archive, string lower)
    {
        if (lower.EndsWith(".zip", StringComparison.Ordinal))
        {
            ZipFile.CreateFromDirectory(folder, archive, CompressionLevel.Optimal, includeBaseDirectory: false);
            return;
        }
        using var file = new FileStream(archive, FileMode.CreateNew, FileAccess.Write);
        if (lower.EndsWith(".tar", StringComparison.Ordinal))
        {
            TarFile.CreateFromDirectory(folder, file, includeBaseDirectory: false);
            return;
        }
        using var gz = new GZipStream(file, CompressionLevel.Optimal);
        TarFile.CreateFromDirectory(folder, gz, includeBaseDirectory: false);
    }

    /// <summary>Every field of a bundle to make passes the checks a manifest must pass; each payload's bytes are read once (bounded).</summary>
    private static List<BundlePayload> Check(BundleDefinition d, string target)
    {
        LiveUpdateException Bad(string what, object? t = null) => new("BundleDefinitionInvalid", ErrorKind.InvalidArgument, what, t ?? target);
        if (!BundleManifest.IsBundleName(d.Name)) throw Bad($"'{BundleManifest.Shown(d.Name)}' is no bundle name: one printable line of at most 200 characters.", d.Name);
        if (d.RequiresLevel is not null && d.RequiresLevel >= d.TargetLevel)
            throw Bad($"A bundle to {d.TargetLevel} cannot require {d.RequiresLevel}: the level it requires must be below its target.", d.RequiresLevel.ToString());
        if (d.Packages.Count == 0) throw Bad("A bundle holds at least one package.");
        if (d.Packages.Count > BundleManifest.MaxPackages) throw Bad($"A bundle holds at most {BundleManifest.MaxPackages} packages.");
        var result = new List<BundlePayload>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in d.Packages)
        {
            if (!BundleManifest.IsPackageName(p.Name)) throw Bad($"'{BundleManifest.Shown(p.Name)}' is no package name (letters, digits, . _ + -).", p.Name);
            if (!BundleManifest.IsVersion(p.Version)) throw Bad($"'{BundleManifest.Shown(p.Version)}' is no version of {p.Name} (letters, digits, . _ + : ~ -).", p.Version);
            if (!BundleManifest.Kinds.Contains(p.Kind)) throw Bad($"'{BundleManifest.Shown(p.Kind)}' is no package kind; the kinds are {string.Join(", ", BundleManifest.Kinds)}.", p.Kind);
            if (!BundleManifest.IsPayloadPath(p.FileName) || p.FileName.Contains('/') || p.FileName == BundleManifest.FileName)
                throw Bad($"'{BundleManifest.Shown(p.FileName)}' is no payload file name (letters, digits, . _ + ~ -).", p.FileName);
            if (!names.Add(p.FileName)) throw Bad($"Two packages name the payload file '{p.FileName}'.", p.FileName);
            if (p.Content is null && p.SourcePath is null) throw new ArgumentException("A payload needs its content or a file.", nameof(d));
            result.Add(p);
        }
        return result;
    }

    /// <summary>Copies a payload into the bundle, hashing it; a deb or overlay must start as one.</summary>
    private static (string Sha256, long Size) WritePayload(BundlePayload p, string target)
    {
        using var source = p.Content is not null ? new MemoryStream(p.Content, writable: false) : OpenSource(p.SourcePath!);
        var head = new byte[512];
        var n = source.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var start = head.AsSpan(0, n);
        LiveUpdateException NotA(string what) => new("BundleDefinitionInvalid", ErrorKind.InvalidArgument,
            $"The payload of {p.Name} is not {what}.", p.SourcePath ?? p.FileName);
        if (p.Kind == "deb" && !start.StartsWith("!<arch>\ndebian-binary"u8)) throw NotA("a Debian package (it does not start as one)");
        if (p.Kind == "overlay" && !(start.StartsWith(new byte[] { 0x1f, 0x8b }) || (n > 262 && start.Slice(257, 5).SequenceEqual("ustar"u8))))
            throw NotA("a tar or tar.gz archive, as an overlay must be");
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write);
        sha.AppendData(head, 0, n);
        output.Write(head, 0, n);
        long size = n;
        var buffer = new byte[81920];
        int read;
        while ((read = source.Read(buffer, 0, buffer.Length)) > 0)
        {
            sha.AppendData(buffer, 0, read);
            output.Write(buffer, 0, read);
            size += read;
        }
        return (Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant(), size);
    }

    private static Stream OpenSource(string path)
    {
        try
        {
            return BundleFiles.OpenRegular(path, path, path);
        }
        catch (FileNotFoundException)
        {
            throw new LiveUpdateException("PayloadNotFound", ErrorKind.ObjectNotFound, $"The payload file '{path}' does not exist.", path);
        }
        catch (LiveUpdateException e) when (e.ErrorId == "BundleEntryTypeNotAllowed")
        {
            throw new LiveUpdateException("BundleDefinitionInvalid", ErrorKind.InvalidArgument, $"The payload '{path}' is not a regular file.", path);
        }
    }
}
