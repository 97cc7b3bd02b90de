using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using LiveUpdate.Engine.Flow;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>
/// The description of a Linux host (or lab) that the Container backend manages: <c>liveupdate-host.json</c> in the
/// system's folder. It names every disk the backend may touch, the partitions with their root volume groups, the
/// applications, and the network. The lab writes one; for a real host an administrator writes it (see
/// docs/en-US/about_LiveUpdate_Container.md). The backend never touches a disk that is not named here.
/// </summary>
public sealed class HostDescription
{
    public const string FileName = "liveupdate-host.json";
    public const string FormatName = "LiveUpdate.LinuxHost/1";

    [JsonPropertyName("format")] public string? Format { get; set; } = FormatName;
    /// <summary>The system's name as the inventory shows it.</summary>
    [JsonPropertyName("name")] public string? Name { get; set; }
    /// <summary>A short token (2-8 lower-case letters or digits) that names everything the backend creates (file system labels, namespaces, links).</summary>
    [JsonPropertyName("id")] public string? Id { get; set; }
    /// <summary>True for a lab: its disks are files in the folder and Remove-LiveUpdateLab removes everything.</summary>
    [JsonPropertyName("lab")] public bool Lab { get; set; }
    [JsonPropertyName("network")] public NetworkDescription? Network { get; set; }
    [JsonPropertyName("disks")] public List<DiskDescription>? Disks { get; set; }
    [JsonPropertyName("partitions")] public List<PartitionDescription>? Partitions { get; set; }
    [JsonPropertyName("applications")] public List<ApplicationDescription>? Applications { get; set; }

    public sealed class NetworkDescription
    {
        /// <summary>The network namespace that holds the bridge; null for the host's own.</summary>
        [JsonPropertyName("namespace")] public string? Namespace { get; set; }
        /// <summary>True when the backend creates the namespace (and removes it with the lab).</summary>
        [JsonPropertyName("createNamespace")] public bool CreateNamespace { get; set; }
        [JsonPropertyName("bridge")] public string? Bridge { get; set; }
        /// <summary>True when the backend creates the bridge (and removes it with the lab).</summary>
        [JsonPropertyName("createBridge")] public bool CreateBridge { get; set; }
        /// <summary>The bridge's own address with its prefix, e.g. 198.18.0.254/24 (optional).</summary>
        [JsonPropertyName("gateway")] public string? Gateway { get; set; }
        /// <summary>Where surrogate partitions take their addresses from until they take over: the first free host number from here on.</summary>
        [JsonPropertyName("surrogateAddressFrom")] public int SurrogateAddressFrom { get; set; } = 100;
    }

    public sealed class DiskDescription
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        /// <summary>A block device (e.g. /dev/disk/by-id/...); or</summary>
        [JsonPropertyName("device")] public string? Device { get; set; }
        /// <summary>a file, relative to the folder, that the backend attaches as a loop device.</summary>
        [JsonPropertyName("file")] public string? File { get; set; }
        [JsonPropertyName("location")] public string? Location { get; set; }
    }

    public sealed class LogicalVolumeDescription
    {
        /// <summary>The logical volume's name (a btrfs subvolume).</summary>
        [JsonPropertyName("name")] public string? Name { get; set; }
        /// <summary>"/" for the root subvolume (<c>root</c> at the top of the file system); any other is nested at <c>root/&lt;mountPoint&gt;</c>.</summary>
        [JsonPropertyName("mountPoint")] public string? MountPoint { get; set; }
    }

    public sealed class PartitionDescription
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        [JsonPropertyName("id")] public int Id { get; set; }
        [JsonPropertyName("hostName")] public string? HostName { get; set; }
        /// <summary>The partition's address with its prefix, e.g. 198.18.0.1/24.</summary>
        [JsonPropertyName("address")] public string? Address { get; set; }
        /// <summary>The disks of its root volume group: one btrfs file system.</summary>
        [JsonPropertyName("rootDisks")] public List<string>? RootDisks { get; set; }
        [JsonPropertyName("logicalVolumes")] public List<LogicalVolumeDescription>? LogicalVolumes { get; set; }
        [JsonPropertyName("processors")] public double Processors { get; set; } = 1;
        [JsonPropertyName("memoryMB")] public long MemoryMB { get; set; } = 512;
    }

    public sealed class StopDescription
    {
        /// <summary>A command run in the partition that stops the application; or</summary>
        [JsonPropertyName("command")] public List<string>? Command { get; set; }
        /// <summary>a signal sent to the process group of the process whose id is in <see cref="PidFile"/>.</summary>
        [JsonPropertyName("signal")] public string? Signal { get; set; }
        [JsonPropertyName("pidFile")] public string? PidFile { get; set; }
        [JsonPropertyName("timeoutSeconds")] public double TimeoutSeconds { get; set; } = 10;
    }

    public sealed class ApplicationDescription
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        /// <summary>Where it runs first.</summary>
        [JsonPropertyName("partition")] public string? Partition { get; set; }
        /// <summary>Run in the partition; must return once the application runs in the background (its output detached).</summary>
        [JsonPropertyName("start")] public List<string>? Start { get; set; }
        [JsonPropertyName("stop")] public StopDescription? Stop { get; set; }
        /// <summary>Run in the partition; exit code 0 means healthy. Optional: without it, the backend checks that <see cref="Port"/> accepts a TCP connection on the service address.</summary>
        [JsonPropertyName("health")] public List<string>? Health { get; set; }
        [JsonPropertyName("healthTimeoutSeconds")] public double HealthTimeoutSeconds { get; set; } = 30;
        /// <summary>The directory (inside the partition) that holds its data; it must lie on a logical volume other than the root one.</summary>
        [JsonPropertyName("dataPath")] public string? DataPath { get; set; }
        /// <summary>A file of records, one a line, whose count the inventory reports (optional).</summary>
        [JsonPropertyName("recordsFile")] public string? RecordsFile { get; set; }
        /// <summary>The address it serves on, with its prefix; it moves with the application.</summary>
        [JsonPropertyName("serviceAddress")] public string? ServiceAddress { get; set; }
        [JsonPropertyName("port")] public int? Port { get; set; }
    }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public static bool Exists(string folder) => System.IO.File.Exists(Path.Combine(folder, FileName));

    public static HostDescription Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        HostDescription? d;
        try
        {
            d = JsonSerializer.Deserialize<HostDescription>(System.IO.File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new LiveUpdateException("HostDescriptionInvalid", ErrorKind.InvalidData, $"The host description '{path}' is not valid JSON: {e.Message}", path, e);
        }
        if (d is null) throw Invalid(path, "is empty");
        d.Validate(path);
        return d;
    }

    public void Save(string folder)
    {
        var path = Path.Combine(folder, FileName);
        StateFile.WriteAtomically(path, JsonSerializer.Serialize(this, Json) + "\n");
    }

    private static LiveUpdateException Invalid(string path, string what) =>
        new("HostDescriptionInvalid", ErrorKind.InvalidData, $"The host description '{path}' {what}.", path);

    private static readonly Regex Token = new("^[a-z0-9]{2,8}\\z", RegexOptions.CultureInvariant);
    private static readonly Regex SafeName = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\\z", RegexOptions.CultureInvariant);
    private static readonly Regex LinkName = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}\\z", RegexOptions.CultureInvariant);

    /// <summary>Checks everything the backend relies on; the error names the first problem.</summary>
    public void Validate(string path)
    {
        if (Format != FormatName) throw Invalid(path, $"has format '{Escaped(Format ?? "")}', not '{FormatName}'");
        if (string.IsNullOrWhiteSpace(Name)) throw Invalid(path, "names no system");
        if (Id is null || !Token.IsMatch(Id)) throw Invalid(path, $"has id '{Escaped(Id ?? "")}'; an id is 2 to 8 lower-case letters or digits");
        if (Network?.Bridge is null || !LinkName.IsMatch(Network.Bridge)) throw Invalid(path, "names no valid network bridge (network.bridge, at most 15 characters)");
        if (Network.Namespace is not null && !SafeName.IsMatch(Network.Namespace)) throw Invalid(path, $"has an invalid network namespace '{Escaped(Network.Namespace ?? "")}'");
        if (Network.Gateway is not null && !TryParseCidr(Network.Gateway, out _, out _)) throw Invalid(path, $"has gateway '{Escaped(Network.Gateway ?? "")}', not an address/prefix");
        if (Disks is null || Disks.Count == 0) throw Invalid(path, "lists no disks");
        var disks = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var d in Disks)
        {
            if (d.Name is null || !SafeName.IsMatch(d.Name)) throw Invalid(path, $"has a disk with an invalid name '{Escaped(d.Name ?? "")}'");
            if (!disks.Add(d.Name)) throw Invalid(path, $"names disk {d.Name} twice");
            if ((d.Device is null) == (d.File is null)) throw Invalid(path, $"gives disk {d.Name} neither or both of device and file; give one");
            if (d.Device is not null && !IsDevicePath(d.Device)) throw Invalid(path, $"gives disk {d.Name} the device '{Escaped(d.Device)}', not a plain path under /dev (letters, digits and . _ - + : @ /, no '.' or '..' component)");
            if (d.File is not null && !IsFolderFile(d.File)) throw Invalid(path, $"gives disk {d.Name} the file '{Escaped(d.File)}', not a plain relative path inside the folder (letters, digits and . _ - + /, no '..')");
        }
        if (Partitions is null || Partitions.Count == 0) throw Invalid(path, "lists no partitions");
        var parts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in Partitions)
        {
            if (p.Name is null || !SafeName.IsMatch(p.Name)) throw Invalid(path, $"has a partition with an invalid name '{Escaped(p.Name ?? "")}'");
            if (!parts.Add(p.Name)) throw Invalid(path, $"names partition {p.Name} twice");
            if (p.Address is null || !TryParseCidr(p.Address, out _, out _)) throw Invalid(path, $"gives partition {p.Name} the address '{Escaped(p.Address ?? "")}', not an address/prefix");
            if (p.RootDisks is null || p.RootDisks.Count == 0) throw Invalid(path, $"gives partition {p.Name} no root disks");
            foreach (var rd in p.RootDisks)
            {
                if (!disks.Contains(rd)) throw Invalid(path, $"gives partition {p.Name} the root disk {rd}, which it does not list under disks");
                if (!used.Add(rd)) throw Invalid(path, $"gives disk {rd} to two partitions");
            }
            if (p.HostName is null || !SafeName.IsMatch(p.HostName)) throw Invalid(path, $"gives partition {p.Name} the invalid host name '{Escaped(p.HostName ?? "")}'");
            var lvs = p.LogicalVolumes ?? new List<LogicalVolumeDescription>();
            if (lvs.Count(l => l.MountPoint == "/") != 1) throw Invalid(path, $"gives partition {p.Name} not exactly one logical volume mounted at /");
            foreach (var lv in lvs)
            {
                if (lv.Name is null || !SafeName.IsMatch(lv.Name) || lv.Name.Contains('@')) throw Invalid(path, $"gives partition {p.Name} a logical volume with the invalid name '{Escaped(lv.Name ?? "")}'");
                if (lv.MountPoint is null || !IsCleanAbsolute(lv.MountPoint)) throw Invalid(path, $"gives logical volume {lv.Name} of {p.Name} the mount point '{Escaped(lv.MountPoint ?? "")}'");
            }
        }
        var apps = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var a in Applications ?? new List<ApplicationDescription>())
        {
            if (a.Name is null || !SafeName.IsMatch(a.Name)) throw Invalid(path, $"has an application with an invalid name '{Escaped(a.Name ?? "")}'");
            if (!apps.Add(a.Name)) throw Invalid(path, $"names application {a.Name} twice");
            var p = Partitions.FirstOrDefault(x => string.Equals(x.Name, a.Partition, StringComparison.OrdinalIgnoreCase))
                ?? throw Invalid(path, $"puts application {a.Name} on '{Escaped(a.Partition ?? "")}', which it does not list under partitions");
            if (a.Start is null || a.Start.Count == 0) throw Invalid(path, $"gives application {a.Name} no start command");
            if (a.Health is { Count: 0 }) throw Invalid(path, $"gives application {a.Name} an empty health command; leave it out for the built-in TCP check of its port");
            if (a.Health is null && a.Port is null) throw Invalid(path, $"gives application {a.Name} neither a health command nor a port; without a command the backend checks that the port accepts a TCP connection");
            if (a.Port is not null and (< 1 or > 65535)) throw Invalid(path, $"gives application {a.Name} the port {a.Port}, not 1 to 65535");
            if (a.Stop is null || (a.Stop.Command is null or { Count: 0 } && (a.Stop.Signal is null || a.Stop.PidFile is null)))
                throw Invalid(path, $"gives application {a.Name} no stop: a command, or a signal with a pidFile");
            if (a.Stop.Signal is not null) Native.Signal(a.Stop.Signal);
            if (a.ServiceAddress is null || !TryParseCidr(a.ServiceAddress, out _, out _)) throw Invalid(path, $"gives application {a.Name} the service address '{Escaped(a.ServiceAddress ?? "")}', not an address/prefix");
            if (a.DataPath is null || !IsCleanAbsolute(a.DataPath)) throw Invalid(path, $"gives application {a.Name} the data path '{Escaped(a.DataPath ?? "")}'");
            var lv = DataVolume(p, a.DataPath);
            if (lv is null || lv.MountPoint == "/")
                throw Invalid(path, $"keeps the data of {a.Name} ({a.DataPath}) on the root logical volume of {p.Name}; data must lie on a logical volume of its own, which the mirror carries to the updated partition");
        }
    }

    private static readonly Regex DevicePath = new(@"^/dev(/[A-Za-z0-9_.+:@-]+)+\z", RegexOptions.CultureInvariant);
    private static readonly Regex FolderFile = new(@"^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*\z", RegexOptions.CultureInvariant);

    /// <summary>A device path the backend passes on (to mount, among others): under /dev, no "." or "..", no comma, space or control character.</summary>
    public static bool IsDevicePath(string p) => DevicePath.IsMatch(p) && !p.Split('/').Any(c => c is "." or "..");

    /// <summary>A disk file inside the description's folder.</summary>
    public static bool IsFolderFile(string p) => FolderFile.IsMatch(p) && !p.Split('/').Any(c => c is "." or "..");

    private static string Escaped(string text) => Regex.Replace(text, @"[\x00-\x1f\x7f]", m => $"\\x{(int)m.Value[0]:x2}");

    private static bool IsCleanAbsolute(string p) => p.StartsWith("/", StringComparison.Ordinal) && !p.Split('/').Any(s => s is "." or "..") && !p.Contains("//") && (p == "/" || !p.EndsWith("/", StringComparison.Ordinal));

    /// <summary>The logical volume that holds a path: the one with the longest mount point that contains it.</summary>
    public static LogicalVolumeDescription? DataVolume(PartitionDescription p, string dataPath) =>
        (p.LogicalVolumes ?? new List<LogicalVolumeDescription>())
            .Where(l => l.MountPoint == "/" || dataPath == l.MountPoint || dataPath.StartsWith(l.MountPoint + "/", StringComparison.Ordinal))
            .OrderByDescending(l => l.MountPoint!.Length).FirstOrDefault();

    public static bool TryParseCidr(string text, out IPAddress address, out int prefix) => Backends.Host.Cidr.TryParse(text, out address, out prefix);

    /// <summary>The address of a CIDR without its prefix.</summary>
    public static string Host(string cidr) => Backends.Host.Cidr.Host(cidr);

    /// <summary>The address in the same network with the given host number (e.g. .101 of 198.18.0.1/24).</summary>
    public static string WithHostNumber(string cidr, int number) => Backends.Host.Cidr.WithHostNumber(cidr, number);
}
