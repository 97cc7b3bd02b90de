using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>
/// The description of a libvirt host (or VM lab) that the VirtualMachine backend manages:
/// <c>liveupdate-vmhost.json</c> in the system's folder. It names the libvirt URI, every disk the backend may touch
/// (image files or block devices), the domains that are partitions with their root and data disks, and the
/// applications. The backend never touches a disk or a domain that is not named here.
/// </summary>
public sealed class VmHostDescription
{
    public const string FileName = "liveupdate-vmhost.json";
    public const string FormatName = "LiveUpdate.VmHost/1";

    [JsonPropertyName("format")] public string? Format { get; set; } = FormatName;
    [JsonPropertyName("name")] public string? Name { get; set; }
    /// <summary>A short token (2-8 lower-case letters or digits) that names what the backend creates (domains, bridge).</summary>
    [JsonPropertyName("id")] public string? Id { get; set; }
    /// <summary>True for a lab: its disks are files in the folder and Remove-LiveUpdateLab removes everything it made.</summary>
    [JsonPropertyName("lab")] public bool Lab { get; set; }
    /// <summary>The libvirt connection URI: qemu:///system, or qemu+ssh://root@host/system.</summary>
    [JsonPropertyName("uri")] public string? Uri { get; set; } = "qemu:///system";
    /// <summary>Lab only: the network namespace in which the lab starts libvirtd when no daemon answers.</summary>
    [JsonPropertyName("daemonNamespace")] public string? DaemonNamespace { get; set; }
    /// <summary>The bridge that surrogates join (the original's interface tells for a real host).</summary>
    [JsonPropertyName("bridge")] public string? Bridge { get; set; }
    /// <summary>True when the backend creates the bridge in the daemon's namespace (and removes it).</summary>
    [JsonPropertyName("createBridge")] public bool CreateBridge { get; set; }
    [JsonPropertyName("gateway")] public string? Gateway { get; set; }
    [JsonPropertyName("surrogateAddressFrom")] public int SurrogateAddressFrom { get; set; } = 50;
    [JsonPropertyName("disks")] public List<DiskDescription>? Disks { get; set; }
    [JsonPropertyName("partitions")] public List<PartitionDescription>? Partitions { get; set; }
    [JsonPropertyName("applications")] public List<ApplicationDescription>? Applications { get; set; }

    public sealed class DiskDescription
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        /// <summary>An image file: relative to the folder, or absolute; or</summary>
        [JsonPropertyName("file")] public string? File { get; set; }
        /// <summary>a block device under /dev.</summary>
        [JsonPropertyName("device")] public string? Device { get; set; }
    }

    public sealed class PartitionDescription
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        /// <summary>The libvirt domain that is this partition.</summary>
        [JsonPropertyName("domain")] public string? Domain { get; set; }
        [JsonPropertyName("id")] public int Id { get; set; }
        [JsonPropertyName("hostName")] public string? HostName { get; set; }
        /// <summary>The guest's address with its prefix, e.g. 198.18.0.10/24 (on its first interface).</summary>
        [JsonPropertyName("address")] public string? Address { get; set; }
        /// <summary>The disk the guest boots from (its vda).</summary>
        [JsonPropertyName("rootDisk")] public string? RootDisk { get; set; }
        /// <summary>The disks of its logical volumes with application data (vdb, …), each one file system.</summary>
        [JsonPropertyName("dataDisks")] public List<string>? DataDisks { get; set; }
        /// <summary>Where each data disk is mounted in the guest, in the order of <see cref="DataDisks"/>.</summary>
        [JsonPropertyName("dataMountPoints")] public List<string>? DataMountPoints { get; set; }
    }

    public sealed class ApplicationDescription
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        [JsonPropertyName("partition")] public string? Partition { get; set; }
        /// <summary>Argument vectors run in the guest through its agent.</summary>
        [JsonPropertyName("start")] public List<string>? Start { get; set; }
        [JsonPropertyName("stop")] public List<string>? Stop { get; set; }
        /// <summary>
        /// The health command, its last argument the address to ask. It may be left out where the backend creates the
        /// bridge (<see cref="CreateBridge"/>, a lab): the host then connects to <see cref="Port"/> from that bridge's namespace.
        /// </summary>
        [JsonPropertyName("health")] public List<string>? Health { get; set; }
        [JsonPropertyName("healthTimeoutSeconds")] public double HealthTimeoutSeconds { get; set; } = 30;
        /// <summary>The data disk of the partition that holds the application's data.</summary>
        [JsonPropertyName("dataDisk")] public string? DataDisk { get; set; }
        [JsonPropertyName("dataPath")] public string? DataPath { get; set; }
        /// <summary>Numbered records, one a line, that the application acknowledges (the lab's recordd).</summary>
        [JsonPropertyName("recordsFile")] public string? RecordsFile { get; set; }
        [JsonPropertyName("serviceAddress")] public string? ServiceAddress { get; set; }
        /// <summary>The TCP port the application serves; the health check without a health command.</summary>
        [JsonPropertyName("port")] public int? Port { get; set; }
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, ReadCommentHandling = JsonCommentHandling.Skip };
    private static readonly Regex Token = new("^[a-z0-9]{2,8}$", RegexOptions.CultureInvariant);
    private static readonly Regex SafeName = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", RegexOptions.CultureInvariant);
    private static readonly Regex SafeUri = new(@"^(qemu|qemu\+ssh|qemu\+tls|qemu\+unix|qemu\+tcp)://[A-Za-z0-9@._:\[\]-]*/(system|session)(\?[A-Za-z0-9=&._/-]*)?$", RegexOptions.CultureInvariant);
    private static readonly Regex MountPoint = new("^/[A-Za-z0-9_./-]{0,100}$", RegexOptions.CultureInvariant);

    public static bool Exists(string folder) => File.Exists(Path.Combine(folder, FileName));

    public static VmHostDescription Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        var info = new FileInfo(path);
        if (info.LinkTarget is not null) throw Invalid(path, "the description is a link");
        if (info.Length > 1024 * 1024) throw Invalid(path, "the description is larger than 1 MB");
        VmHostDescription? d;
        try
        {
            d = JsonSerializer.Deserialize<VmHostDescription>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw Invalid(path, e.Message);
        }
        if (d is null) throw Invalid(path, "it is empty");
        d.Validate(path);
        return d;
    }

    public void Save(string folder) => StateFile.WriteAtomically(Path.Combine(folder, FileName), JsonSerializer.Serialize(this, Json));

    private static LiveUpdateException Invalid(string path, string what) =>
        new("HostDescriptionInvalid", ErrorKind.InvalidData, $"The VM host description {path} is not valid: {what}.", path);

    /// <summary>Checks every name, path and reference before the backend uses any of it.</summary>
    public void Validate(string path)
    {
        if (Format != FormatName) throw Invalid(path, $"format is '{Format}', expected '{FormatName}'");
        if (Id is null || !Token.IsMatch(Id)) throw Invalid(path, "id must be 2-8 lower-case letters or digits");
        if (Name is null || !SafeName.IsMatch(Name)) throw Invalid(path, "name is missing or holds characters other than letters, digits, '_', '.', '-'");
        if (Uri is null || !SafeUri.IsMatch(Uri)) throw Invalid(path, $"uri '{Uri}' is not a qemu libvirt URI");
        if (Bridge is null || !Regex.IsMatch(Bridge, "^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")) throw Invalid(path, "bridge must be a link name of at most 15 characters");
        if (DaemonNamespace is not null && !SafeName.IsMatch(DaemonNamespace)) throw Invalid(path, "daemonNamespace is not a safe name");
        if (Gateway is not null && !Cidr.TryParse(Gateway, out _, out _)) throw Invalid(path, $"gateway '{Gateway}' is not an address with a prefix");
        var disks = Disks ?? throw Invalid(path, "it names no disks");
        foreach (var disk in disks)
        {
            if (disk.Name is null || !SafeName.IsMatch(disk.Name)) throw Invalid(path, $"disk name '{disk.Name}' is not a safe name");
            if ((disk.File is null) == (disk.Device is null)) throw Invalid(path, $"disk {disk.Name} needs exactly one of file and device");
            var p = disk.File ?? disk.Device!;
            if (p.Any(char.IsControl) || p.Contains(',') || p.Split('/').Any(s => s == "..")) throw Invalid(path, $"disk {disk.Name} has an unsafe path");
            if (disk.Device is not null && !disk.Device.StartsWith("/dev/", StringComparison.Ordinal)) throw Invalid(path, $"disk {disk.Name}: a device lives under /dev");
        }
        var dup = disks.GroupBy(d => d.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw Invalid(path, $"disk {dup.Key} is named twice");
        var parts = Partitions ?? throw Invalid(path, "it names no partitions");
        if (parts.Count == 0) throw Invalid(path, "it names no partitions");
        foreach (var p in parts)
        {
            if (p.Name is null || !SafeName.IsMatch(p.Name)) throw Invalid(path, $"partition name '{p.Name}' is not a safe name");
            if (p.Domain is null || !SafeName.IsMatch(p.Domain)) throw Invalid(path, $"partition {p.Name} names no domain, or an unsafe one");
            if (p.HostName is null || !SafeName.IsMatch(p.HostName)) throw Invalid(path, $"partition {p.Name} has no valid hostName");
            if (p.Address is null || !Cidr.TryParse(p.Address, out _, out _)) throw Invalid(path, $"partition {p.Name} has no address with a prefix");
            if (p.RootDisk is null || !disks.Any(d => Same(d.Name, p.RootDisk))) throw Invalid(path, $"partition {p.Name}: root disk '{p.RootDisk}' is not described");
            foreach (var d in p.DataDisks ?? new List<string>())
                if (!disks.Any(x => Same(x.Name, d))) throw Invalid(path, $"partition {p.Name}: data disk '{d}' is not described");
            if ((p.DataMountPoints?.Count ?? 0) != (p.DataDisks?.Count ?? 0) || (p.DataMountPoints ?? new List<string>()).Any(m => !MountPoint.IsMatch(m) || m.Contains("..")))
                throw Invalid(path, $"partition {p.Name}: one safe dataMountPoint per data disk");
        }
        var used = parts.SelectMany(p => new[] { p.RootDisk! }.Concat(p.DataDisks ?? new List<string>())).GroupBy(d => d, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (used is not null) throw Invalid(path, $"disk {used.Key} belongs to two partitions or twice to one");
        foreach (var a in Applications ?? new List<ApplicationDescription>())
        {
            if (a.Name is null || !SafeName.IsMatch(a.Name)) throw Invalid(path, $"application name '{a.Name}' is not a safe name");
            var p = parts.FirstOrDefault(x => Same(x.Name, a.Partition)) ?? throw Invalid(path, $"application {a.Name}: partition '{a.Partition}' is not described");
            if (a.DataDisk is null || !(p.DataDisks ?? new List<string>()).Any(d => Same(d, a.DataDisk))) throw Invalid(path, $"application {a.Name}: its dataDisk must be a data disk of {p.Name}");
            foreach (var argv in new[] { a.Start, a.Stop, a.Health ?? a.Start })
                if (argv is null || argv.Count == 0 || !argv[0].StartsWith('/') || argv.Any(x => x.Any(char.IsControl))) throw Invalid(path, $"application {a.Name}: start, stop and health are argument vectors with an absolute program");
            // Without a health command the host connects to the port in the namespace that holds the bridge the
            // backend made; a host whose guests sit on a network the backend did not make may not reach them at all.
            if (a.Health is null && !CreateBridge) throw Invalid(path, $"application {a.Name} has no health command; one is required where the backend does not create the bridge (the host running LiveUpdate may not reach the guests' network)");
            if (a.Health is null && a.Port is not (> 0 and < 65536)) throw Invalid(path, $"application {a.Name} has neither a health command nor a port; without a command the backend checks that the port accepts a TCP connection");
            if (a.ServiceAddress is null || !Cidr.TryParse(a.ServiceAddress, out _, out _)) throw Invalid(path, $"application {a.Name} has no serviceAddress with a prefix");
            if (a.RecordsFile is not null && !MountPoint.IsMatch(a.RecordsFile)) throw Invalid(path, $"application {a.Name}: recordsFile is not a safe absolute path");
        }
    }

    internal static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    public DiskDescription Disk(string name) => Disks!.First(d => Same(d.Name, name));
    public PartitionDescription? Partition(string name) => Partitions!.FirstOrDefault(p => Same(p.Name, name));
    public ApplicationDescription App(string name) => Applications!.First(a => Same(a.Name, name));

    /// <summary>The disk's path on the host: a file under the folder (or absolute), or the device.</summary>
    public string PathOf(string folder, string disk)
    {
        var d = Disk(disk);
        return d.Device ?? (Path.IsPathRooted(d.File!) ? d.File! : Path.Combine(folder, d.File!));
    }
}
