using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Power;

/// <summary>
/// The description of a Power frame that the Power backend manages: <c>liveupdate-power.json</c> in the system's
/// state folder. It names the HMC and the managed system, the VIOS that serves the partitions' disks, how to reach
/// each partition over SSH, the temporary addresses a surrogate may use, and the applications with their data volume
/// groups and service addresses. It holds no password: passwords come from the credentials given when connecting.
/// See docs/en-US/about_LiveUpdate_Power.md.
/// </summary>
public sealed class PowerDescription
{
    public const string FileName = "liveupdate-power.json";
    public const string FormatName = "LiveUpdate.PowerSystem/1";

    [JsonPropertyName("format")] public string? Format { get; set; } = FormatName;
    /// <summary>True for an emulated frame of the tests: Remove-LiveUpdateLab removes the state folder.</summary>
    [JsonPropertyName("lab")] public bool Lab { get; set; }
    [JsonPropertyName("hmc")] public HmcDescription? Hmc { get; set; }
    [JsonPropertyName("managedSystem")] public string? ManagedSystem { get; set; }
    [JsonPropertyName("vios")] public ViosDescription? Vios { get; set; }
    /// <summary>The known-hosts file (relative to the folder, or absolute); default ~/.ssh/known_hosts.</summary>
    [JsonPropertyName("knownHosts")] public string? KnownHosts { get; set; }
    [JsonPropertyName("partitions")] public List<PartitionDescription>? Partitions { get; set; }
    /// <summary>Addresses a surrogate answers at until it takes over its original's address.</summary>
    [JsonPropertyName("surrogateAddresses")] public List<string>? SurrogateAddresses { get; set; }
    [JsonPropertyName("applications")] public List<ApplicationDescription>? Applications { get; set; }
    /// <summary>Where bundles are copied on a partition before they are installed into its clone.</summary>
    [JsonPropertyName("stagingFolder")] public string? StagingFolder { get; set; } = "/var/tmp/liveupdate";

    public sealed class HmcDescription
    {
        [JsonPropertyName("address")] public string? Address { get; set; }
        [JsonPropertyName("port")] public int Port { get; set; } = 22;
        [JsonPropertyName("user")] public string? User { get; set; } = "hscroot";
        /// <summary>A private key file (relative to the folder, or absolute); without one the SSH agent logs in, unless a credential is given.</summary>
        [JsonPropertyName("keyFile")] public string? KeyFile { get; set; }
    }

    public sealed class ViosDescription
    {
        [JsonPropertyName("name")] public string? Name { get; set; } = "vios1";
        /// <summary>When set, padmin commands go over SSH to this address; otherwise through the HMC (viosvrcmd).</summary>
        [JsonPropertyName("address")] public string? Address { get; set; }
        [JsonPropertyName("user")] public string? User { get; set; } = "padmin";
        [JsonPropertyName("keyFile")] public string? KeyFile { get; set; }
    }

    public sealed class PartitionDescription
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        /// <summary>Its SSH address; default: the address the HMC reports (rmc_ipaddr).</summary>
        [JsonPropertyName("address")] public string? Address { get; set; }
        [JsonPropertyName("port")] public int Port { get; set; } = 22;
        [JsonPropertyName("user")] public string? User { get; set; } = "root";
        [JsonPropertyName("keyFile")] public string? KeyFile { get; set; }
        [JsonPropertyName("netmask")] public string? Netmask { get; set; } = "255.255.255.0";
        [JsonPropertyName("interface")] public string? Interface { get; set; } = "en0";
    }

    public sealed class ApplicationDescription
    {
        [JsonPropertyName("name")] public string? Name { get; set; }
        [JsonPropertyName("partition")] public string? Partition { get; set; }
        /// <summary>The data volume group: varied off and exported where it stops, imported where it starts.</summary>
        [JsonPropertyName("volumeGroup")] public string? VolumeGroup { get; set; }
        [JsonPropertyName("mountPoint")] public string? MountPoint { get; set; }
        /// <summary>An address of its own that moves with it (an alias of the partition's interface).</summary>
        [JsonPropertyName("serviceAddress")] public string? ServiceAddress { get; set; }
        [JsonPropertyName("netmask")] public string? Netmask { get; set; } = "255.255.255.0";
        [JsonPropertyName("start")] public List<string>? Start { get; set; }
        [JsonPropertyName("stop")] public List<string>? Stop { get; set; }
        [JsonPropertyName("health")] public List<string>? Health { get; set; }
        [JsonPropertyName("healthTimeoutSeconds")] public int HealthTimeoutSeconds { get; set; } = 30;
        /// <summary>Optional: a file of numbered records (one per line, the number first) that Test-ApplicationData reads.</summary>
        [JsonPropertyName("recordsFile")] public string? RecordsFile { get; set; }
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private static readonly Regex NamePattern = new(@"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,46}$", RegexOptions.CultureInvariant);
    private static readonly Regex HostPattern = new(@"^[A-Za-z0-9][A-Za-z0-9.:\-]{0,252}$", RegexOptions.CultureInvariant);
    private static readonly Regex VgPattern = new(@"^[A-Za-z][A-Za-z0-9_]{0,14}$", RegexOptions.CultureInvariant);
    private static readonly Regex PathPattern = new(@"^(/[A-Za-z0-9_.+\-]+)+$", RegexOptions.CultureInvariant);
    private static readonly Regex Ipv4Pattern = new(@"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$", RegexOptions.CultureInvariant);

    public static bool Exists(string folder) => File.Exists(System.IO.Path.Combine(folder, FileName));

    public static PowerDescription Load(string folder)
    {
        var path = System.IO.Path.Combine(folder, FileName);
        PowerDescription? d;
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null) throw Invalid(path, "is a link");
            if (info.Length > 1024 * 1024) throw Invalid(path, "is larger than 1 MiB");
            d = JsonSerializer.Deserialize<PowerDescription>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw Invalid(path, "is not valid JSON: " + e.Message);
        }
        catch (FileNotFoundException)
        {
            throw new LiveUpdateException("NotALab", ErrorKind.ObjectNotFound, $"'{folder}' holds no {FileName}.", folder);
        }
        if (d is null) throw Invalid(path, "is empty");
        d.Validate(path);
        return d;
    }

    /// <summary>Reads a description file from anywhere (to copy into a state folder): its relative key and known-hosts paths are made absolute.</summary>
    public static PowerDescription LoadFile(string file)
    {
        var full = System.IO.Path.GetFullPath(file);
        var folder = System.IO.Path.GetDirectoryName(full)!;
        if (System.IO.Path.GetFileName(full) != FileName)
        {
            if (!File.Exists(full)) throw new LiveUpdateException("DescriptionNotFound", ErrorKind.ObjectNotFound, $"The description '{file}' does not exist.", file);
        }
        PowerDescription? d;
        try
        {
            d = JsonSerializer.Deserialize<PowerDescription>(File.ReadAllText(full), Json);
        }
        catch (JsonException e)
        {
            throw Invalid(full, "is not valid JSON: " + e.Message);
        }
        catch (FileNotFoundException)
        {
            throw new LiveUpdateException("DescriptionNotFound", ErrorKind.ObjectNotFound, $"The description '{file}' does not exist.", file);
        }
        if (d is null) throw Invalid(full, "is empty");
        string? Rebase(string? p) => p is null || System.IO.Path.IsPathRooted(p) ? p : System.IO.Path.Combine(folder, p);
        if (d.Hmc is not null) d.Hmc.KeyFile = Rebase(d.Hmc.KeyFile);
        if (d.Vios is not null) d.Vios.KeyFile = Rebase(d.Vios.KeyFile);
        foreach (var p in d.Partitions ?? new List<PartitionDescription>()) p.KeyFile = Rebase(p.KeyFile);
        d.KnownHosts = Rebase(d.KnownHosts);
        return d;
    }

    public void Save(string folder)
    {
        var path = System.IO.Path.Combine(folder, FileName);
        StateFile.WriteAtomically(path, JsonSerializer.Serialize(this, Json));
    }

    internal static LiveUpdateException Invalid(string path, string why) =>
        new("DescriptionInvalid", ErrorKind.InvalidData, $"The system description '{path}' {why}.", path);

    public void Validate(string path)
    {
        if (Format != FormatName) throw Invalid(path, $"has format '{Format}', not '{FormatName}'");
        if (Hmc is null || !IsHost(Hmc.Address)) throw Invalid(path, "names no valid HMC address (hmc.address)");
        if (Hmc.Port is < 1 or > 65535) throw Invalid(path, "has an HMC port outside 1-65535");
        if (!IsName(Hmc.User)) throw Invalid(path, $"has an invalid HMC user '{Hmc.User}'");
        if (!IsName(ManagedSystem)) throw Invalid(path, $"names no valid managed system ('{ManagedSystem}')");
        Vios ??= new ViosDescription();
        if (!IsName(Vios.Name)) throw Invalid(path, $"has an invalid VIOS name '{Vios.Name}'");
        if (Vios.Address is not null && !IsHost(Vios.Address)) throw Invalid(path, $"has an invalid VIOS address '{Vios.Address}'");
        Partitions ??= new List<PartitionDescription>();
        foreach (var p in Partitions)
        {
            if (!IsName(p.Name)) throw Invalid(path, $"has a partition with an invalid name '{p.Name}'");
            if (p.Address is not null && !IsHost(p.Address)) throw Invalid(path, $"has an invalid address '{p.Address}' for {p.Name}");
            if (!IsName(p.User)) throw Invalid(path, $"has an invalid user for {p.Name}");
            if (!Ipv4Pattern.IsMatch(p.Netmask ?? "")) throw Invalid(path, $"has an invalid netmask for {p.Name}");
            if (!Regex.IsMatch(p.Interface ?? "", "^en[0-9]{1,2}$")) throw Invalid(path, $"has an invalid interface for {p.Name} (en0, en1, ...)");
        }
        if (Partitions.GroupBy(p => p.Name, StringComparer.OrdinalIgnoreCase).Any(g => g.Count() > 1)) throw Invalid(path, "names a partition twice");
        SurrogateAddresses ??= new List<string>();
        if (SurrogateAddresses.Any(a => !Ipv4Pattern.IsMatch(a))) throw Invalid(path, "has a surrogate address that is not an IPv4 address");
        Applications ??= new List<ApplicationDescription>();
        foreach (var a in Applications) ValidateApplication(path, a);
        if (Applications.GroupBy(a => a.Name, StringComparer.OrdinalIgnoreCase).Any(g => g.Count() > 1)) throw Invalid(path, "names an application twice");
        if (Applications.GroupBy(a => a.VolumeGroup, StringComparer.Ordinal).Any(g => g.Count() > 1)) throw Invalid(path, "gives two applications one volume group");
        if (!PathPattern.IsMatch(StagingFolder ?? "")) throw Invalid(path, "has an invalid stagingFolder");
    }

    private void ValidateApplication(string path, ApplicationDescription a)
    {
        if (!IsName(a.Name)) throw Invalid(path, $"has an application with an invalid name '{a.Name}'");
        if (!Partitions!.Any(p => string.Equals(p.Name, a.Partition, StringComparison.OrdinalIgnoreCase)))
            throw Invalid(path, $"puts {a.Name} on '{a.Partition}', which it does not describe");
        if (!VgPattern.IsMatch(a.VolumeGroup ?? "") || a.VolumeGroup is "rootvg" or "altinst_rootvg" || a.VolumeGroup!.StartsWith("old_rootvg", StringComparison.Ordinal))
            throw Invalid(path, $"gives {a.Name} an invalid data volume group '{a.VolumeGroup}' (1-15 letters, digits or _, not a root volume group)");
        if (!PathPattern.IsMatch(a.MountPoint ?? "")) throw Invalid(path, $"gives {a.Name} an invalid mountPoint");
        if (!Ipv4Pattern.IsMatch(a.ServiceAddress ?? "")) throw Invalid(path, $"gives {a.Name} no IPv4 serviceAddress");
        if (!Ipv4Pattern.IsMatch(a.Netmask ?? "")) throw Invalid(path, $"gives {a.Name} an invalid netmask");
        foreach (var (what, argv) in new[] { ("start", a.Start), ("stop", a.Stop), ("health", a.Health) })
        {
            if (argv is null || argv.Count == 0 || argv.Any(x => x is null || x.Any(c => char.IsControl(c))))
                throw Invalid(path, $"gives {a.Name} no valid {what} command (an argument vector without control characters)");
        }
        if (a.HealthTimeoutSeconds is < 1 or > 3600) throw Invalid(path, $"gives {a.Name} a healthTimeoutSeconds outside 1-3600");
        if (a.RecordsFile is not null && !PathPattern.IsMatch(a.RecordsFile)) throw Invalid(path, $"gives {a.Name} an invalid recordsFile");
    }

    public static bool IsName(string? s) => s is not null && NamePattern.IsMatch(s);
    public static bool IsHost(string? s) => s is not null && HostPattern.IsMatch(s);

    public PartitionDescription? Partition(string name) => Partitions!.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
}
