using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Bundles;

/// <summary>One package (AIX fileset, Debian package, overlay archive) that a bundle installs.</summary>
public sealed record BundlePackage(string Name, string Version, string Kind, string File, string Sha256, long Size);

/// <summary>The manifest of an update bundle (<c>manifest.json</c> at the bundle's root).</summary>
public sealed class BundleManifest
{
    public const string FormatName = "LiveUpdate.Bundle/1";
    public const string FileName = "manifest.json";

    /// <summary>The largest manifest read; a bigger one is refused before it is parsed.</summary>
    public const long MaxBytes = 1024 * 1024;

    /// <summary>The most packages (and so payload files) a bundle may list.</summary>
    public const int MaxPackages = 4096;

    /// <summary>The package kinds a bundle may hold: filesets for AIX, Debian packages and overlay archives for Linux.</summary>
    public static readonly IReadOnlyList<string> Kinds = new[] { "fileset", "deb", "overlay" };

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

    // Names and versions reach file names, state files, package databases and logs: no spaces, no control
    // characters, nothing a shell or a line-oriented file would read as a separator.
    private static readonly Regex PackageName = new(@"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$", RegexOptions.CultureInvariant);
    private static readonly Regex Version = new(@"^[A-Za-z0-9][A-Za-z0-9._+:~-]{0,63}$", RegexOptions.CultureInvariant);
    private static readonly Regex Sha256Hex = new(@"^[0-9a-fA-F]{64}$", RegexOptions.CultureInvariant);
    private static readonly Regex PathComponent = new(@"^[A-Za-z0-9._+~-]{1,255}$", RegexOptions.CultureInvariant);

    /// <summary>A package name as a manifest may carry it.</summary>
    public static bool IsPackageName(string? name) => name is not null && PackageName.IsMatch(name);

    /// <summary>A package version as a manifest may carry it (dpkg's epochs and tildes included).</summary>
    public static bool IsVersion(string? version) => version is not null && Version.IsMatch(version);

    /// <summary>A bundle's display name: printable, one line, at most 200 characters.</summary>
    public static bool IsBundleName(string? name) => !string.IsNullOrWhiteSpace(name) && name.Length <= 200
        && name.All(c => !char.IsControl(c) && c is not ('\u2028' or '\u2029')) && name == name.Trim();

    /// <summary>A payload's path in the bundle: relative, forward slashes, plain components (no '..', no control characters).</summary>
    public static bool IsPayloadPath(string? path) => path is not null && path.Length <= 1024
        && path.Split('/').All(c => PathComponent.IsMatch(c) && c is not ("." or ".."));

    /// <summary>Parses and checks a manifest's bytes; throws <c>BundleManifestInvalid</c> for anything wrong in it.</summary>
    internal static VerifiedManifest Parse(byte[] bytes, string source)
    {
        BundleManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<BundleManifest>(bytes, Json);
        }
        catch (JsonException e)
        {
            throw new LiveUpdateException("BundleManifestInvalid", ErrorKind.InvalidData, $"The manifest of '{source}' is not valid JSON: {e.Message}", source, e);
        }
        string Bad(string what) => throw new LiveUpdateException("BundleManifestInvalid", ErrorKind.InvalidData, $"The manifest of '{source}' {what}.", source);
        if (m is null) Bad("is empty");
        if (m!.Format != FormatName) Bad($"has format '{Shown(m.Format)}', not '{FormatName}'");
        if (!IsBundleName(m.Name)) Bad(string.IsNullOrWhiteSpace(m.Name) ? "names no bundle" : $"has a name that is not one printable line of at most 200 characters ('{Shown(m.Name)}')");
        if (!OsLevel.TryParse(m.TargetLevel, out var target)) Bad($"has no valid targetLevel ('{Shown(m.TargetLevel)}')");
        OsLevel? requires = null;
        if (m.RequiresLevel is not null && !OsLevel.TryParse(m.RequiresLevel, out requires)) Bad($"has an invalid requiresLevel ('{Shown(m.RequiresLevel)}')");
        if (m.LiveUpdateCapable is null) Bad("does not say whether it is liveUpdateCapable");
        if (m.Packages is null || m.Packages.Count == 0) Bad("lists no packages");
        if (m.Packages!.Count > MaxPackages) Bad($"lists {m.Packages.Count} packages, more than the {MaxPackages} a bundle may hold");
        if (requires is not null && requires >= target!) Bad($"requires {requires}, which is not below its target {target}");

        var packages = new List<BundlePackage>();
        var files = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in m.Packages)
        {
            if (p is null || string.IsNullOrWhiteSpace(p.Name) || string.IsNullOrWhiteSpace(p.Version) || string.IsNullOrWhiteSpace(p.File) || string.IsNullOrWhiteSpace(p.Sha256))
                Bad("has a package without name, version, file or sha256");
            if (!IsPackageName(p!.Name)) Bad($"has a package name that is not a plain name (letters, digits, . _ + -): '{Shown(p.Name)}'");
            if (!IsVersion(p.Version)) Bad($"has a version of {p.Name} that is not a plain version (letters, digits, . _ + : ~ -): '{Shown(p.Version)}'");
            var kind = string.IsNullOrWhiteSpace(p.Kind) ? "fileset" : p.Kind!;
            if (!Kinds.Contains(kind)) Bad($"gives {p.Name} the kind '{Shown(kind)}'; the kinds are {string.Join(", ", Kinds)}");
            var rel = p.File!.Replace('\\', '/');
            if (rel.StartsWith('/') || rel.Split('/').Any(c => c is ".." or ".") || rel.Contains(':'))
                Bad($"names the file '{Shown(p.File)}' outside the bundle");
            if (!IsPayloadPath(rel) || string.Equals(rel, FileName, StringComparison.OrdinalIgnoreCase))
                Bad($"names the payload file '{Shown(p.File)}', which is not a plain relative path (letters, digits, . _ + ~ -, separated by /)");
            if (!files.Add(rel)) Bad($"names the payload file '{rel}' twice");
            if (!Sha256Hex.IsMatch(p.Sha256!.Trim())) Bad($"gives {p.Name} a sha256 that is not 64 hexadecimal digits");
            if (p.Size is null || p.Size < 0) Bad($"does not give the size of {p.Name}'s payload in bytes");
            packages.Add(new BundlePackage(p.Name!, p.Version!, kind, rel, p.Sha256.Trim().ToLowerInvariant(), p.Size!.Value));
        }
        return new VerifiedManifest(m.Name!, target!, requires, m.LiveUpdateCapable!.Value, packages);
    }

    /// <summary>A value as an error message may show it: control characters escaped, cut at 80 characters.</summary>
    internal static string Shown(string? value)
    {
        if (value is null) return "";
        var text = string.Concat(value.Take(80).Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
        return value.Length > 80 ? text + "..." : text;
    }
}

/// <summary>A manifest that passed every check, its payload paths normalised.</summary>
internal sealed record VerifiedManifest(string Name, OsLevel TargetLevel, OsLevel? RequiresLevel, bool LiveUpdateCapable, IReadOnlyList<BundlePackage> Packages)
{
    public long PayloadBytes => Packages.Sum(p => p.Size);
}
