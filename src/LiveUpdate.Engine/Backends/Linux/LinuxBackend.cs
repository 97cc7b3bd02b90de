using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Linux;

/// <summary>
/// A real Linux host as a system that can be live-updated.
/// <list type="bullet">
/// <item>A root volume group is a btrfs file system over the block devices its description names; its logical
/// volumes are subvolumes: <c>root</c> at the top (the partition's <c>/</c>) and every other one nested at
/// <c>root/&lt;mount point&gt;</c>, so a partition sees them without mounts of its own.</item>
/// <item>Clone: a read-only snapshot of each logical volume, <c>btrfs send | btrfs receive</c> onto a fresh btrfs
/// on the clone disks (a new file-system UUID by construction), then writable snapshots in place.</item>
/// <item>Mirror: a replicated copy, not a btrfs raid1. A raid1 mirror of a mounted file system cannot be split
/// safely here: btrfs has no split, a member can leave a mounted file system only by <c>device remove</c> (which
/// moves its data off and wipes it), two members with one file-system UUID merge silently when the kernel scans them,
/// and changing the UUID of a degraded member destroys it. So the mirror disks hold a file system of their own that
/// receives incremental <c>btrfs send</c> streams of every logical volume; every step after the mirror refreshes it,
/// and the blackout sends the last changes (milliseconds of data) before the application starts on the copy.</item>
/// <item>A partition is a system container (systemd-nspawn, <c>--register=no --keep-unit</c>) booted from its root
/// logical volume, with its own host name and network namespace, linked by a veth pair to a bridge.</item>
/// <item>Applications are declared with start, stop and health commands, a data path on a logical volume of its own
/// and a service address; moving one stops it, sends the last changes of its logical volume through the mirror to the
/// destination, moves the address (gratuitous ARP) and starts it there.</item>
/// </list>
/// Every external command runs through <see cref="CommandRunner"/> from an argument vector.
/// </summary>
public sealed class LinuxBackend : ILiveUpdateBackend
{
    public const string KindName = "Linux";
    internal const string OsLevelFile = "etc/liveupdate/oslevel";
    internal const string PackagesFile = "etc/liveupdate/packages";
    internal const string BootedMarker = "run/liveupdate.booted";
    private const string Eth = "eth0";
    private static readonly TimeSpan StoreWait = TimeSpan.FromSeconds(30);

    private readonly LinuxStore _store;
    private readonly HostTools _tools = new();
    private readonly Dictionary<string, string> _foreign = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, long> _sizes = new(StringComparer.OrdinalIgnoreCase);
    private readonly bool _force;

    private LinuxBackend(string root, HostDescription description, bool force)
    {
        _store = new LinuxStore(root);
        Description = description;
        _force = force;
    }

    public HostDescription Description { get; }
    public string Kind => KindName;
    public string Location => _store.Root;
    public TimingModel Timing { get; } = new(CopyMBps: 200, MirrorSyncMBps: 200, SecondsPerPackage: 1, PartitionCreateSeconds: 1, BootSeconds: 1,
        ImportSeconds: 1, ShutdownSeconds: 2, StopMilliseconds: 50, SyncMilliseconds: 150, StartMilliseconds: 100, HealthMilliseconds: 50);
    public FaultInjector? Faults { get; set; }

    public IDisposable Lock(TimeSpan wait) => _store.Lock(wait);

    /// <summary>Real time: phases and blackouts are measured, not modelled.</summary>
    public DateTimeOffset Clock => DateTimeOffset.Now;

    public void Dispose() { }

    /// <summary>True when the folder holds a Linux host description.</summary>
    public static bool IsHost(string path) => HostDescription.Exists(Path.GetFullPath(path));

    /// <summary>
    /// Connects to the host a folder describes. On the first connection it records the described partitions and
    /// boots those that do not run, with their applications. <paramref name="force"/> lets the backend use disks that
    /// hold a file system it did not make (they count as free and are overwritten when used).
    /// </summary>
    public static LinuxBackend Open(string path, bool force = false, OperationContext? context = null)
    {
        var root = Path.GetFullPath(path);
        Prerequisites.Check(lab: false);
        if (!HostDescription.Exists(root))
            throw new LiveUpdateException("NotALab", ErrorKind.InvalidArgument, $"'{path}' holds no {HostDescription.FileName}.", path);
        var description = HostDescription.Load(root);
        var backend = new LinuxBackend(root, description, force);
        backend.Attach(context ?? OperationContext.None);
        return backend;
    }

    /// <summary>Opens a host or lab only to remove it: nothing is attached, mounted or booted first.</summary>
    public static LinuxBackend OpenForRemoval(string path)
    {
        var root = Path.GetFullPath(path);
        Prerequisites.Check(lab: false);
        return new LinuxBackend(root, HostDescription.Load(root), force: false);
    }

    // ================================================================== paths and names

    private string Mnt(string serial) => Path.Combine(_store.Root, "mnt", "vg" + serial);
    private string RunDir => Path.Combine(_store.Root, "run");
    private string Namespace(PartitionRuntime p) => $"lu{Description.Id}{p.Token}";
    private string HostLink(PartitionRuntime p) => $"v{Description.Id}{p.Token}";
    private string Machine(PartitionRuntime p) => $"lu{Description.Id}{p.Token}";
    private string Label(string serial) => $"lu.{Description.Id}.vg{serial}";
    private string LabelPrefix => $"lu.{Description.Id}.";
    private string? BridgeNamespace => Description.Network!.Namespace;

    private static string LvPath(string mount, LvRuntime lv) => lv.MountPoint == "/" ? Path.Combine(mount, "root") : Path.Combine(mount, "root", lv.MountPoint.TrimStart('/'));
    private static string Under(string root, string absolute) => Path.Combine(root, absolute.TrimStart('/'));
    private static string MirrorDir(string mount) => Path.Combine(mount, ".liveupdate", "mirror");
    private static string CloneDir(string mount) => Path.Combine(mount, ".liveupdate", "clone");

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    private HostDescription.DiskDescription DiskOf(string name) =>
        Description.Disks!.FirstOrDefault(d => Same(d.Name, name))
        ?? throw new LiveUpdateException("DiskNotDescribed", ErrorKind.InvalidArgument,
            $"Disk {name} is not named in {HostDescription.FileName}; the backend touches no other disk.", name);

    private HostDescription.ApplicationDescription AppDescription(string name) =>
        Description.Applications!.First(a => Same(a.Name, name));

    /// <summary>The block device of a described disk (a lab disk's loop device).</summary>
    private string Device(LinuxState s, string disk)
    {
        var d = DiskOf(disk);
        if (d.Device is not null) return d.Device;
        if (s.LoopDevices.TryGetValue(d.Name!, out var loop) && LoopStillMaps(loop, d)) return loop;
        var attached = _tools.AttachLoop(Path.Combine(_store.Root, d.File!));
        s.LoopDevices[d.Name!] = attached;
        return attached;
    }

    private bool LoopStillMaps(string loop, HostDescription.DiskDescription d)
    {
        try
        {
            var backing = File.ReadAllText($"/sys/block/{Path.GetFileName(loop)}/loop/backing_file").Trim();
            return backing == Path.Combine(_store.Root, d.File!);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void Fault(string step, FaultTiming timing) => Faults?.At(step, timing);

    private void Use(OperationContext context)
    {
        _tools.Log = context.Logger;
        _tools.Cancellation = context.Cancellation;
    }

    private T Change<T>(OperationContext context, Func<LinuxState, T> change)
    {
        using (_store.Lock(StoreWait))
        {
            Use(context);
            var state = _store.Load();
            try
            {
                var result = change(state);
                _store.Save(state);
                return result;
            }
            finally
            {
                _tools.Log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
            }
        }
    }

    private void Change(OperationContext context, Action<LinuxState> change) => Change<object?>(context, s => { change(s); return null; });

    private void Save(LinuxState s) => _store.Save(s);

    // ================================================================== connecting

    private void Attach(OperationContext context) => Change(context, s =>
    {
        foreach (var d in Description.Disks!.Where(d => d.File is not null)) Device(s, d.Name!);
        EnsureNetwork(s);
        var first = s.Partitions.Count == 0;
        if (first) Seed(s);
        foreach (var d in Description.Disks!)
        {
            var dev = Device(s, d.Name!);
            _sizes[d.Name!] = _tools.SizeBytes(dev) / (1024 * 1024);
            if (s.VgOnDisk(d.Name!) is not null) continue;
            var sig = _tools.Signature(dev);
            if (sig is not null && !(sig.Value.Label ?? "").StartsWith(LabelPrefix, StringComparison.Ordinal))
                _foreign[d.Name!] = sig.Value.Type;
        }
        foreach (var vg in s.VolumeGroups.Where(v => v.Role != nameof(VolumeGroupRole.OldRoot))) EnsureMounted(s, vg);
        Save(s);
        if (!first) return;
        foreach (var p in s.Partitions.ToList())
        {
            if (!PartitionAlive(p)) Boot(s, p, context);
            Save(s);
            foreach (var a in s.Applications.Where(a => Same(a.Partition, p.Name) && a.Running))
                if (!AppAlive(s, a)) StartApplication(s, a, p, context);
        }
    });

    private void Seed(LinuxState s)
    {
        foreach (var pd in Description.Partitions!)
        {
            var serial = s.NewSerial();
            var devices = pd.RootDisks!.Select(d => Device(s, d)).ToList();
            var sig = _tools.Signature(devices[0]);
            if (sig is null || sig.Value.Type != "btrfs")
                throw new LiveUpdateException("RootVgNotBtrfs", ErrorKind.InvalidData,
                    $"The root disks of {pd.Name} ({string.Join(", ", pd.RootDisks!)}) hold {(sig is null ? "no file system" : sig.Value.Type)}, not the btrfs root volume group the description promises.", pd.Name);
            var vg = new VgRuntime
            {
                Serial = serial, Name = "rootvg", Role = nameof(VolumeGroupRole.Root), Partition = pd.Name, Disks = pd.RootDisks!.ToList(),
                Lvs = pd.LogicalVolumes!.Select(l => new LvRuntime { Name = l.Name!, MountPoint = l.MountPoint! }).ToList(), Label = sig.Value.Label,
            };
            s.VolumeGroups.Add(vg);
            s.Partitions.Add(new PartitionRuntime
            {
                Name = pd.Name!, Id = pd.Id, Uuid = Guid.NewGuid().ToString(), HostName = pd.HostName!, Address = pd.Address!, Token = "p" + s.NewSerial(),
                RootVg = serial, Processors = pd.Processors, MemoryMB = pd.MemoryMB,
            });
            EnsureMounted(s, vg);
            vg.OsLevel = ReadLevel(vg);
            if (!Directory.Exists(LvPath(Mnt(serial), vg.Lvs.First(l => l.MountPoint == "/"))))
                throw new LiveUpdateException("RootVgLayoutInvalid", ErrorKind.InvalidData,
                    $"The root volume group of {pd.Name} has no subvolume 'root' at its top; see about_LiveUpdate_Linux for the layout.", pd.Name);
        }
        foreach (var ad in Description.Applications ?? new List<HostDescription.ApplicationDescription>())
        {
            var p = s.Partition(ad.Partition!)!;
            s.Applications.Add(new AppRuntime { Name = ad.Name!, Partition = p.Name, DataVg = p.RootVg, Running = true });
        }
    }

    private void EnsureNetwork(LinuxState s)
    {
        var n = Description.Network!;
        if (n.Namespace is not null && !HostTools.NamespaceExists(n.Namespace))
        {
            if (!n.CreateNamespace)
                throw new LiveUpdateException("NetworkNamespaceMissing", ErrorKind.ObjectNotFound, $"The network namespace {n.Namespace} of the description does not exist.", n.Namespace);
            _tools.AddNamespace(n.Namespace);
            _tools.Ip(n.Namespace, "link", "set", "lo", "up");
            s.NamespaceCreated = true;
        }
        if (!_tools.LinkExists(n.Namespace, n.Bridge!))
        {
            if (!n.CreateBridge)
                throw new LiveUpdateException("BridgeMissing", ErrorKind.ObjectNotFound, $"The bridge {n.Bridge} of the description does not exist.", n.Bridge);
            // A bridge without a link-layer address of its own takes the lowest of its ports' and changes it when
            // that port goes (a partition that shuts down): the neighbours' caches then point at an address nobody
            // has, and their traffic through the bridge stalls for seconds. So the bridge gets a fixed address.
            _tools.Ip(n.Namespace, "link", "add", n.Bridge!, "address", BridgeAddress(), "type", "bridge");
            s.BridgeCreated = true;
        }
        if (n.Gateway is not null && (n.CreateBridge || s.BridgeCreated)) _tools.AddAddress(n.Namespace, n.Bridge!, n.Gateway);
        _tools.Ip(n.Namespace, "link", "set", n.Bridge!, "up");
    }

    /// <summary>A locally administered link-layer address for the bridge a lab makes, derived from the host's id.</summary>
    private string BridgeAddress()
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("bridge/" + Description.Id));
        return "02:" + string.Join(":", hash.Take(5).Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }

    // ================================================================== inventory

    public SystemInventory Inventory()
    {
        var s = _store.Load();
        var running = s.Partitions.Where(PartitionAlive).ToList();
        var (memTotal, _) = MemoryMB();
        var totalProcessors = (double)Environment.ProcessorCount;
        var system = new ManagedSystem(Description.Name!, "Linux " + System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
            MachineId(), KindName, _store.Root, totalProcessors, Math.Round(totalProcessors - running.Sum(p => p.Processors), 2),
            memTotal, memTotal - running.Sum(p => p.MemoryMB), s.Partitions.Count, DateTimeOffset.Now);
        var partitions = s.Partitions.OrderBy(p => p.Id).Select(p => ToModel(s, p)).ToList();
        var disks = Description.Disks!.Select(d => ToModel(s, d)).ToList();
        var vgs = s.VolumeGroups.Where(v => v.Role != "MirrorCopy").Select(v => ToModel(s, v)).ToList();
        var apps = s.Applications.Select(a => ToModel(s, a)).ToList();
        var clones = s.Clones.Select(c => ToModel(s, c)).ToList();
        var mirrors = s.Mirrors.Select(m => ToModel(s, m)).ToList();
        return new SystemInventory(system, partitions, disks, vgs, apps, clones, mirrors);
    }

    private static (long Total, long Available) MemoryMB()
    {
        long total = 0, available = 0;
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            var parts = line.Split(new[] { ' ', ':' }, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2) continue;
            if (parts[0] == "MemTotal") total = long.Parse(parts[1], CultureInfo.InvariantCulture) / 1024;
            if (parts[0] == "MemAvailable") available = long.Parse(parts[1], CultureInfo.InvariantCulture) / 1024;
        }
        return (total, available);
    }

    private static string MachineId()
    {
        try
        {
            return File.ReadAllText("/etc/machine-id").Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private LogicalPartition ToModel(LinuxState s, PartitionRuntime p)
    {
        var root = s.Vg(p.RootVg);
        var level = root is null ? null : ReadLevel(root);
        var mirrorDisks = s.Mirrors.Where(m => m.SourceVg == p.RootVg && m.State == nameof(MirrorState.Synchronized)).SelectMany(m => s.Vg(m.Vg)?.Disks ?? new List<string>());
        return new LogicalPartition(p.Name, p.Id, p.Uuid, p.HostName, HostDescription.Host(p.Address),
            PartitionAlive(p) ? PartitionState.Running : PartitionState.NotActivated,
            OsLevel.TryParse(level, out var l) ? l! : new OsLevel(1, 0, 0), p.Processors, p.MemoryMB,
            root is null ? Array.Empty<string>() : root.Disks.Concat(mirrorDisks).ToArray(), p.SurrogateOf, Description.Name!);
    }

    private PhysicalVolume ToModel(LinuxState s, HostDescription.DiskDescription d)
    {
        var vg = s.VgOnDisk(d.Name!);
        var mirror = vg is null ? null : s.Mirrors.FirstOrDefault(m => m.Vg == vg.Serial && m.State == nameof(MirrorState.Synchronized));
        string? vgName = vg is null ? null : mirror is not null ? s.Vg(mirror.SourceVg)?.Name ?? "rootvg" : vg.Name;
        string? owner = vg?.Partition;
        var state = vg is null ? DiskState.Free : DiskState.InUse;
        if (vg is null && _foreign.TryGetValue(d.Name!, out var type) && !_force)
        {
            vgName = $"({type})";
            state = DiskState.InUse;
        }
        s.LoopDevices.TryGetValue(d.Name!, out var loop);
        var location = d.Device ?? $"{loop} ({d.File})";
        return new PhysicalVolume(d.Name!, _sizes.GetValueOrDefault(d.Name!), Pvid(d.Name!), vgName, owner, state, d.Location ?? location);
    }

    private string Pvid(string disk) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Description.Id + "/" + disk)))
        .Substring(0, 16).ToLowerInvariant();

    private VolumeGroup ToModel(LinuxState s, VgRuntime v)
    {
        var mount = Mnt(v.Serial);
        var mounted = HostTools.IsMountPoint(mount);
        var (size, used) = mounted ? HostTools.Usage(mount) : (v.Disks.Sum(d => _sizes.GetValueOrDefault(d)), 0L);
        var mirror = s.Mirrors.FirstOrDefault(m => m.SourceVg == v.Serial && m.State == nameof(MirrorState.Synchronized));
        var active = v.Partition is not null && s.Partition(v.Partition) is { } p && p.RootVg == v.Serial && PartitionAlive(p)
                     || v.Role == nameof(VolumeGroupRole.Mirror);
        var level = ReadLevel(v);
        return new VolumeGroup(v.Name, Label(v.Serial), v.Partition, Enum.Parse<VolumeGroupRole>(v.Role),
            active ? VolumeGroupState.Active : VolumeGroupState.VariedOff, v.Disks.ToArray(),
            mirror is null ? Array.Empty<string>() : (s.Vg(mirror.Vg)?.Disks ?? new List<string>()).ToArray(), size, used,
            OsLevel.TryParse(level, out var l) ? l : null,
            v.Lvs.Select(lv => new LogicalVolume(lv.Name, lv.MountPoint, "btrfs", size, lv.MountPoint == "/" ? used : 0)).ToArray());
    }

    private ApplicationInstance ToModel(LinuxState s, AppRuntime a)
    {
        var d = AppDescription(a.Name);
        var vg = s.Vg(a.DataVg);
        var service = HostDescription.Host(d.ServiceAddress!) + (d.Port is null ? "" : ":" + d.Port.Value.ToString(CultureInfo.InvariantCulture));
        return new ApplicationInstance(a.Name, a.Partition, AppAlive(s, a) ? ApplicationState.Running : ApplicationState.Stopped,
            d.DataPath!, vg?.Name ?? "", service, CountRecords(s, a), string.Join(" ", d.Health!), TimeSpan.FromSeconds(d.HealthTimeoutSeconds));
    }

    private long CountRecords(LinuxState s, AppRuntime a)
    {
        var d = AppDescription(a.Name);
        if (d.RecordsFile is null) return 0;
        var file = RecordsPath(s, a.DataVg, a.Name);
        if (file is null || !File.Exists(file)) return 0;
        try
        {
            return File.ReadLines(file).LongCount(l => l.Length > 0);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Where an application's records file lies on the host, on a given volume group.</summary>
    private string? RecordsPath(LinuxState s, string vgSerial, string app)
    {
        var d = AppDescription(app);
        var vg = s.Vg(vgSerial);
        if (d.RecordsFile is null || vg is null) return null;
        return Under(Path.Combine(Mnt(vg.Serial), "root"), d.RecordsFile);
    }

    private string? ReadLevel(VgRuntime v)
    {
        var file = Path.Combine(Mnt(v.Serial), "root", OsLevelFile);
        try
        {
            if (File.Exists(file))
            {
                var text = File.ReadAllText(file).Trim();
                if (OsLevel.TryParse(text, out _)) v.OsLevel = text;
            }
        }
        catch (IOException)
        {
            // The cached level stands.
        }
        return v.OsLevel;
    }

    private RootVgClone ToModel(LinuxState s, CloneRecord c)
    {
        var vg = s.Vg(c.Vg)!;
        var level = ReadLevel(vg) ?? c.SourceLevel;
        return new RootVgClone(c.Partition, vg.Name, vg.Disks.ToArray(), OsLevel.Parse(c.SourceLevel), OsLevel.Parse(level),
            Enum.Parse<CloneState>(c.State), c.AppliedBundles.ToArray(), c.BootedAs, TimeSpan.FromSeconds(c.DurationSeconds), c.Created);
    }

    private RootVgMirror ToModel(LinuxState s, MirrorRuntime m) => new(m.Partition, s.Vg(m.SourceVg)?.Name ?? "rootvg",
        (s.Vg(m.Vg)?.Disks ?? new List<string>()).ToArray(), Enum.Parse<MirrorState>(m.State), m.ImportedInto is null ? null : s.Vg(m.Vg)?.Name,
        m.ImportedInto, TimeSpan.FromSeconds(m.DurationSeconds), m.Created);

    // ================================================================== processes

    private bool PartitionAlive(PartitionRuntime p) =>
        p.NspawnPid > 0 && HostTools.Alive(p.NspawnPid) && HostTools.CommandLine(p.NspawnPid).Contains("--machine=" + Machine(p), StringComparison.Ordinal)
        && p.LeaderPid > 0 && HostTools.Alive(p.LeaderPid);

    /// <summary>The host process id of an application's main process, from its pid file inside the partition; 0 when it does not run.</summary>
    private int AppPid(LinuxState s, AppRuntime a)
    {
        var p = s.Partition(a.Partition);
        var d = AppDescription(a.Name);
        if (p is null || !PartitionAlive(p)) return 0;
        var pidFile = d.Stop?.PidFile;
        if (pidFile is null) return -1;
        try
        {
            var text = File.ReadAllText($"/proc/{p.LeaderPid}/root{pidFile}").Trim();
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var inner)) return 0;
            var host = HostTools.HostPid(p.LeaderPid, inner);
            return host > 0 && HostTools.Alive(host) ? host : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private bool AppAlive(LinuxState s, AppRuntime a)
    {
        var pid = AppPid(s, a);
        if (pid > 0) return true;
        if (pid == 0) return false;
        // No pid file: the health command decides.
        var p = s.Partition(a.Partition)!;
        return Exec(p, AppDescription(a.Name).Health!, probe: true).Succeeded;
    }

    /// <summary>Runs a command inside a partition: every namespace of its init and its root.</summary>
    private CommandResult Exec(PartitionRuntime p, IReadOnlyList<string> argv, bool probe = false, string? purpose = null)
    {
        var args = new List<string> { "--target", p.LeaderPid.ToString(CultureInfo.InvariantCulture), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", "--" };
        args.AddRange(argv);
        var runner = new CommandRunner();
        var nsenter = Prerequisites.Tool("nsenter");
        return probe ? runner.Probe(nsenter, args, _tools.Log, TimeSpan.FromSeconds(30), cancellation: _tools.Cancellation)
            : runner.Run(nsenter, args, _tools.Log, TimeSpan.FromSeconds(120), purpose, cancellation: _tools.Cancellation);
    }

    // ================================================================== partitions: boot and stop

    private void Boot(LinuxState s, PartitionRuntime p, OperationContext context)
    {
        if (PartitionAlive(p)) return;
        var vg = s.Vg(p.RootVg)!;
        EnsureMounted(s, vg);
        var root = LvPath(Mnt(vg.Serial), vg.Lvs.First(l => l.MountPoint == "/"));
        StopStrays(p);
        var ns = Namespace(p);
        _tools.AddNamespace(ns);
        _tools.Ip(ns, "link", "set", "lo", "up");
        var link = HostLink(p);
        if (!_tools.LinkExists(ns, Eth))
        {
            _tools.DeleteLink(BridgeNamespace, link);
            _tools.Ip(BridgeNamespace, "link", "add", link, "type", "veth", "peer", "name", Eth, "netns", ns);
        }
        _tools.Ip(BridgeNamespace, "link", "set", link, "master", Description.Network!.Bridge!, "up");
        _tools.Ip(ns, "link", "set", Eth, "up");
        // An address added in the same network is a secondary; when the primary goes (the take-over replaces the
        // surrogate's address with the original's), the kernel must promote it, not drop it with its route.
        _tools.Run("nsenter", "--net=/run/netns/" + ns, "--", Prerequisites.Tool("sysctl"), "-q", "-w",
            "net.ipv4.conf.all.promote_secondaries=1", $"net.ipv4.conf.{Eth}.promote_secondaries=1");
        _tools.AddAddress(ns, Eth, p.Address);
        Directory.CreateDirectory(RunDir);
        var pidFile = Path.Combine(RunDir, p.Token + ".pid");
        var logFile = Path.Combine(RunDir, p.Token + ".log");
        File.Delete(pidFile);
        var marker = Path.Combine(root, BootedMarker);
        context.Logger.LogInformation("Booting partition {Partition} from {Root} (container {Machine}, network namespace {Namespace}, {Address})",
            p.Name, root, Machine(p), ns, p.Address);
        _tools.RunFor("Booting partition " + p.Name, "start-stop-daemon", "--start", "--background", "--make-pidfile", "--pidfile", pidFile, "--output", logFile,
            "--exec", Prerequisites.Tool("systemd-nspawn"), "--",
            "--quiet", "--register=no", "--keep-unit", "--machine=" + Machine(p), "--directory=" + root, "--hostname=" + p.HostName,
            "--network-namespace-path=/run/netns/" + ns, "--kill-signal=SIGTERM", "--console=passive", "--resolv-conf=off", "--timezone=off",
            "--link-journal=no", "/sbin/init");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            if (p.NspawnPid == 0 && File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid)) p.NspawnPid = pid;
            if (p.NspawnPid > 0 && p.LeaderPid == 0 || p.LeaderPid > 0 && !HostTools.Alive(p.LeaderPid))
                p.LeaderPid = HostTools.Children(p.NspawnPid).FirstOrDefault();
            if (p.LeaderPid > 0 && File.Exists($"/proc/{p.LeaderPid}/root/{BootedMarker}")) break;
            if (p.NspawnPid > 0 && !HostTools.Alive(p.NspawnPid) || clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                var log = File.Exists(logFile) ? File.ReadAllText(logFile).Trim() : "";
                StopContainer(p);
                throw new LiveUpdateException("PartitionBootFailed", ErrorKind.DeviceError,
                    $"Partition {p.Name} did not boot within 30 s{(log.Length == 0 ? "" : ": " + log)}", p.Name);
            }
            Thread.Sleep(10);
        }
        _ = marker;
        context.Logger.LogInformation("Partition {Partition} runs: container process {Pid}, init {Leader}", p.Name, p.NspawnPid, p.LeaderPid);
    }

    /// <summary>
    /// Stops a partition's container and everything in it (also one that a failed step left unrecorded). A container
    /// process that has exited is done with: it holds no mount, namespace or file any more, whenever its parent (often
    /// the host's init, as start-stop-daemon leaves it) gets round to reaping it.
    /// </summary>
    private void StopContainer(PartitionRuntime p)
    {
        if (p.NspawnPid > 0 && HostTools.CommandLine(p.NspawnPid).Contains("--machine=" + Machine(p), StringComparison.Ordinal))
            HostTools.StopProcess(p.NspawnPid, TimeSpan.FromSeconds(15));
        StopStrays(p);
        p.NspawnPid = 0;
        p.LeaderPid = 0;
        File.Delete(Path.Combine(RunDir, p.Token + ".pid"));
    }

    private void StopStrays(PartitionRuntime p)
    {
        var tag = "--machine=" + Machine(p);
        foreach (var pid in HostTools.Processes().Where(x => HostTools.Alive(x) && HostTools.CommandLine(x).Split(' ').Contains(tag)).ToList())
            HostTools.StopProcess(pid, TimeSpan.FromSeconds(15));
    }

    private void ShutDown(PartitionRuntime p, OperationContext context)
    {
        context.Logger.LogInformation("Shutting down partition {Partition}", p.Name);
        StopContainer(p);
        _tools.DeleteNamespace(Namespace(p));
        _tools.DeleteLink(BridgeNamespace, HostLink(p));
    }

    // ================================================================== applications: start, stop, health

    private TimeSpan StartApplication(LinuxState s, AppRuntime a, PartitionRuntime p, OperationContext context)
    {
        var d = AppDescription(a.Name);
        var clock = Stopwatch.StartNew();
        if (!_tools.HasAddress(Namespace(p), Eth, ServiceCidr(d)))
        {
            _tools.AddAddress(Namespace(p), Eth, ServiceCidr(d));
            Announce(p, ServiceCidr(d));
        }
        Exec(p, d.Start!, purpose: $"Starting {a.Name} on {p.Name}");
        var timeout = TimeSpan.FromSeconds(d.HealthTimeoutSeconds);
        while (true)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var r = Exec(p, d.Health!, probe: true);
            if (r.Succeeded) break;
            if (clock.Elapsed > timeout)
                throw new LiveUpdateException("HealthCheckFailed", ErrorKind.OperationStopped,
                    $"{a.Name} did not answer its health check '{string.Join(" ", d.Health!)}' on {p.Name} within {timeout.TotalSeconds:0.#} s (last exit code {r.ExitCode}).", a.Name);
            Thread.Sleep(5);
        }
        a.Running = true;
        context.Logger.LogInformation("{Application} answers its health check on {Partition} after {Milliseconds} ms", a.Name, p.Name, (long)clock.Elapsed.TotalMilliseconds);
        return clock.Elapsed;
    }

    /// <summary>Stops an application and waits until none of its processes is left; the service address stays unless <paramref name="releaseAddress"/>.</summary>
    private void StopApplication(LinuxState s, AppRuntime a, PartitionRuntime p, OperationContext context, bool releaseAddress = true)
    {
        var d = AppDescription(a.Name);
        var timeout = TimeSpan.FromSeconds(d.Stop!.TimeoutSeconds);
        if (PartitionAlive(p))
        {
            if (d.Stop.Command is { Count: > 0 }) Exec(p, d.Stop.Command, purpose: $"Stopping {a.Name} on {p.Name}");
            if (d.Stop.Signal is not null)
            {
                var pid = AppPid(s, a);
                if (pid > 0)
                {
                    var group = HostTools.ProcessGroup(pid);
                    context.Logger.LogInformation("Sending SIG{Signal} to {Application} (process group {Group}) on {Partition}", d.Stop.Signal.ToUpperInvariant().Replace("SIG", ""), a.Name, group, p.Name);
                    // The whole group, so that no worker of the application is still writing when its data is copied.
                    if (group > 1) _tools.StopGroup(group, Native.Signal(d.Stop.Signal), timeout);
                    else HostTools.StopProcess(pid, timeout);
                }
            }
            if (releaseAddress) _tools.DeleteAddress(Namespace(p), Eth, ServiceCidr(d));
        }
        a.Running = false;
    }

    /// <summary>
    /// A service address is held as a host address (/32): it never becomes a secondary of the partition's own address,
    /// which the kernel would drop with it when the partition's address changes (at the take-over).
    /// </summary>
    private static string ServiceCidr(HostDescription.ApplicationDescription d) => HostDescription.Host(d.ServiceAddress!) + "/32";

    /// <summary>Gratuitous ARP for an address from the partition that now holds it, so neighbours update their caches.</summary>
    private void Announce(PartitionRuntime p, string cidr)
    {
        var busybox = Prerequisites.Find("busybox");
        var arping = Prerequisites.Find("arping");
        var args = new List<string> { "--net=/run/netns/" + Namespace(p), "--" };
        if (arping is not null) args.AddRange(new[] { arping, "-U", "-c", "1", "-I", Eth, HostDescription.Host(cidr) });
        else if (busybox is not null) args.AddRange(new[] { busybox, "arping", "-U", "-c", "1", "-I", Eth, HostDescription.Host(cidr) });
        else
        {
            // No arping: neighbours on the bridge side forget the old link-layer address.
            if (BridgeNamespace is not null) _tools.ProbeIp(BridgeNamespace, "neigh", "flush", "to", HostDescription.Host(cidr));
            return;
        }
        _tools.Probe("nsenter", args.ToArray());
    }

    // ================================================================== storage helpers

    private void EnsureMounted(LinuxState s, VgRuntime vg)
    {
        var dir = Mnt(vg.Serial);
        if (HostTools.IsMountPoint(dir)) return;
        _tools.SharedMountRoot(Path.Combine(_store.Root, "mnt"));
        _tools.MountBtrfs(vg.Disks.Select(d => Device(s, d)).ToList(), dir);
    }

    /// <summary>Makes sure a disk may be overwritten: named in the description, in no volume group, and blank or ours (or forced).</summary>
    private void CheckWritable(LinuxState s, string disk, string purpose)
    {
        DiskOf(disk);
        var vg = s.VgOnDisk(disk);
        if (vg is not null)
            throw new LiveUpdateException("DiskInUse", ErrorKind.ResourceUnavailable, $"Disk {disk} belongs to {vg.Name}{(vg.Partition is null ? "" : " of " + vg.Partition)}; the {purpose} needs a free disk.", disk);
        var sig = _tools.Signature(Device(s, disk));
        if (sig is null || (sig.Value.Label ?? "").StartsWith(LabelPrefix, StringComparison.Ordinal)) return;
        if (_force)
        {
            _tools.Log.LogWarning("Disk {Disk} holds {Type} ({Label}); overwriting it because the connection was made with -Force", disk, sig.Value.Type, sig.Value.Label);
            return;
        }
        throw new LiveUpdateException("DiskHoldsFileSystem", ErrorKind.ResourceUnavailable,
            $"Disk {disk} holds a {sig.Value.Type} file system{(sig.Value.Label is null ? "" : $" labelled '{sig.Value.Label}'")} that LiveUpdate did not make; connect with -Force to overwrite it.", disk);
    }

    /// <summary>Wipes a disk unless it belongs to a volume group or holds a file system the backend did not make (a warning then).</summary>
    private void WipeIfOurs(LinuxState s, string disk, OperationContext context)
    {
        if (Description.Disks!.All(d => !Same(d.Name, disk)) || s.VgOnDisk(disk) is not null) return;
        var dev = Device(s, disk);
        var sig = _tools.Signature(dev);
        if (sig is null)
        {
            foreach (var m in HostTools.MountsOfDevice(dev).OrderByDescending(m => m.MountPoint.Length)) _tools.Unmount(m.MountPoint);
            return;
        }
        if (!(sig.Value.Label ?? "").StartsWith(LabelPrefix, StringComparison.Ordinal) && !_force)
        {
            context.Logger.LogWarning("Disk {Disk} holds {Type} that LiveUpdate did not make; it is left as it is", disk, sig.Value.Type);
            return;
        }
        context.Logger.LogInformation("Wiping disk {Disk} ({Device})", disk, dev);
        _tools.Wipe(dev);
        _foreign.Remove(disk);
    }

    private void DestroyVg(LinuxState s, VgRuntime vg, OperationContext context)
    {
        var dir = Mnt(vg.Serial);
        _tools.Unmount(dir);
        s.VolumeGroups.Remove(vg);
        foreach (var d in vg.Disks)
        {
            var dev = Device(s, d);
            context.Logger.LogInformation("Wiping disk {Disk} ({Device}) of {VolumeGroup}", d, dev, vg.Name);
            _tools.Wipe(dev);
            _foreign.Remove(d);
        }
        if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any()) Directory.Delete(dir);
    }

    private string NewFileSystem(LinuxState s, IReadOnlyList<string> disks, string purpose, OperationContext context)
    {
        foreach (var d in disks) CheckWritable(s, d, purpose);
        var serial = s.NewSerial();
        var devices = disks.Select(d => Device(s, d)).ToList();
        foreach (var dev in devices) _tools.Wipe(dev);
        context.Logger.LogInformation("Making a btrfs file system {Label} on {Disks} for the {Purpose}", Label(serial), string.Join(", ", disks), purpose);
        _tools.MakeBtrfs(devices, Label(serial));
        _tools.SharedMountRoot(Path.Combine(_store.Root, "mnt"));
        _tools.MountBtrfs(devices, Mnt(serial));
        foreach (var d in disks) _foreign.Remove(d);
        return serial;
    }

    /// <summary>
    /// Turns received read-only snapshots into the logical volumes of a volume group, nested in place. With
    /// <paramref name="replaced"/> the volume it replaces is renamed there (instant) instead of deleted, and the
    /// caller deletes it later: the blackout does not wait for a deletion and its transaction commit.
    /// </summary>
    private void PlaceVolume(string mount, LvRuntime lv, string snapshot, string? replaced = null)
    {
        var target = LvPath(mount, lv);
        if (replaced is not null && Directory.Exists(target) && !Directory.Exists(replaced))
        {
            _tools.Log.LogInformation("Renaming {Volume} to {Replaced}; it is deleted once the application answers", target, replaced);
            Directory.Move(target, replaced);
        }
        else _tools.DeleteSubvolume(target);
        _tools.Snapshot(snapshot, target, readOnly: false);
    }

    private void DeleteChildren(string dir)
    {
        if (!Directory.Exists(dir)) return;
        foreach (var sub in Directory.GetDirectories(dir)) _tools.DeleteSubvolume(sub);
    }

    // ================================================================== storage primitives

    public RootVgClone CloneRootVg(string partition, IReadOnlyList<string> disks, OperationContext context)
    {
        var clone = Change(context, s =>
        {
            var existing = s.CloneOf(partition);
            if (existing is not null && s.Vg(existing.Vg)!.Disks.SequenceEqual(disks, StringComparer.OrdinalIgnoreCase)) return ToModel(s, existing);
            var p = s.Partition(partition)!;
            var root = s.Vg(p.RootVg)!;
            Fault(Steps.Clone, FaultTiming.Before);
            var clock = Stopwatch.StartNew();
            var started = DateTimeOffset.Now;
            EnsureMounted(s, root);
            var serial = NewFileSystem(s, disks, "clone of rootvg", context);
            Fault(Steps.Clone, FaultTiming.During);
            var src = Mnt(root.Serial);
            var dst = Mnt(serial);
            var tag = "clone" + serial;
            context.Logger.LogInformation("Cloning rootvg of {Partition} ({Volumes}) onto {Disks}", partition, string.Join(", ", root.Lvs.Select(l => l.Name)), string.Join(", ", disks));
            var done = 0;
            foreach (var lv in root.Lvs.OrderBy(l => l.MountPoint.Length))
            {
                var snap = Path.Combine(CloneDir(src), $"{lv.Name}@{tag}");
                _tools.DeleteSubvolume(snap);
                _tools.Snapshot(LvPath(src, lv), snap, readOnly: true);
                _tools.SendReceive(snap, null, CloneDir(dst));
                PlaceVolume(dst, lv, Path.Combine(CloneDir(dst), $"{lv.Name}@{tag}"));
                _tools.DeleteSubvolume(snap);
                context.Report("Cloning rootvg of " + partition, lv.Name, 100 * ++done / root.Lvs.Count);
            }
            DeleteChildren(CloneDir(dst));
            var vg = new VgRuntime
            {
                Serial = serial, Name = "altinst_rootvg", Role = nameof(VolumeGroupRole.AltInstRoot), Partition = p.Name, Disks = disks.ToList(),
                Lvs = root.Lvs.Select(l => new LvRuntime { Name = l.Name, MountPoint = l.MountPoint }).ToList(), Created = true, Label = Label(serial), OsLevel = ReadLevel(root),
            };
            s.VolumeGroups.Add(vg);
            var c = new CloneRecord { Partition = p.Name, Vg = serial, SourceLevel = ReadLevel(root)!, DurationSeconds = clock.Elapsed.TotalSeconds, Created = started };
            s.Clones.Add(c);
            return ToModel(s, c);
        });
        Fault(Steps.Clone, FaultTiming.After);
        return clone;
    }

    public RootVgMirror MirrorRootVg(string partition, IReadOnlyList<string> disks, OperationContext context)
    {
        var mirror = Change(context, s =>
        {
            var existing = s.MirrorOf(partition);
            if (existing is not null) return ToModel(s, existing);
            var p = s.Partition(partition)!;
            var root = s.Vg(p.RootVg)!;
            Fault(Steps.Mirror, FaultTiming.Before);
            var clock = Stopwatch.StartNew();
            var started = DateTimeOffset.Now;
            EnsureMounted(s, root);
            var serial = NewFileSystem(s, disks, "mirror of rootvg", context);
            var m = new MirrorRuntime { Partition = p.Name, Vg = serial, SourceVg = root.Serial, Created = started };
            var vg = new VgRuntime
            {
                Serial = serial, Name = "mirror_rootvg", Role = "MirrorCopy", Partition = p.Name, Disks = disks.ToList(),
                Lvs = root.Lvs.Select(l => new LvRuntime { Name = l.Name, MountPoint = l.MountPoint }).ToList(), Created = true, Label = Label(serial),
            };
            Fault(Steps.Mirror, FaultTiming.During);
            // Leftovers of an earlier mirror on the source are of no use to this one.
            DeleteChildren(MirrorDir(Mnt(root.Serial)));
            context.Logger.LogInformation("Replicating rootvg of {Partition} onto {Disks}; every later step sends the changes", partition, string.Join(", ", disks));
            foreach (var lv in root.Lvs) SyncChain(s, m, lv, new[] { root, vg }, context);
            s.VolumeGroups.Add(vg);
            m.DurationSeconds = clock.Elapsed.TotalSeconds;
            s.Mirrors.Add(m);
            return ToModel(s, m);
        });
        Fault(Steps.Mirror, FaultTiming.After);
        return mirror;
    }

    private static string GenerationName(MirrorRuntime m, LvRuntime lv, int g) => $"{lv.Name}@m{m.Vg}.{g}";

    private static int? GenerationOf(MirrorRuntime m, LvRuntime lv, string name)
    {
        var prefix = $"{lv.Name}@m{m.Vg}.";
        return name.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(name.Substring(prefix.Length), out var g) ? g : null;
    }

    /// <summary>
    /// Sends the live copy of a logical volume on the first volume group of <paramref name="chain"/> along the chain
    /// (source, mirror, destination) as a new generation: each hop incremental from the newest generation both ends
    /// hold, a full send where they share none. Afterwards every volume group of the chain holds the new generation
    /// and, unless <paramref name="prune"/> is false (the blackout, which leaves that to <see cref="PruneChain"/> once
    /// the application answers again), no older one. Leftovers of an interrupted transfer are removed first, so a redo
    /// is safe; older generations left behind are ignored by the next transfer's choice of parent, which removes them.
    /// </summary>
    private int SyncChain(LinuxState s, MirrorRuntime m, LvRuntime lv, IReadOnlyList<VgRuntime> chain, OperationContext context, bool prune = true)
    {
        foreach (var vg in chain) EnsureMounted(s, vg);
        var g = m.NextGeneration++;
        var name = GenerationName(m, lv, g);
        foreach (var vg in chain) _tools.DeleteSubvolume(Path.Combine(MirrorDir(Mnt(vg.Serial)), name));
        var first = Mnt(chain[0].Serial);
        _tools.Snapshot(LvPath(first, lv), Path.Combine(MirrorDir(first), name), readOnly: true);
        for (var i = 1; i < chain.Count; i++)
        {
            var from = MirrorDir(Mnt(chain[i - 1].Serial));
            var to = MirrorDir(Mnt(chain[i].Serial));
            Directory.CreateDirectory(to);
            var parent = Generations(m, lv, from).Intersect(Generations(m, lv, to).Where(x => _tools.IsCompleteReceived(Path.Combine(to, GenerationName(m, lv, x))) || IsOriginal(to, m, lv, x)))
                .Where(x => x != g).DefaultIfEmpty(0).Max();
            _tools.SendReceive(Path.Combine(from, name), parent == 0 ? null : Path.Combine(from, GenerationName(m, lv, parent)), to);
        }
        if (prune) PruneChain(m, lv, chain, g);
        m.Generations[lv.Name] = g;
        m.LastSync = DateTimeOffset.Now;
        return g;
    }

    /// <summary>Deletes every generation of a logical volume but <paramref name="keep"/> on the volume groups of a chain.</summary>
    private void PruneChain(MirrorRuntime m, LvRuntime lv, IReadOnlyList<VgRuntime> chain, int keep)
    {
        foreach (var vg in chain)
        {
            var dir = MirrorDir(Mnt(vg.Serial));
            foreach (var old in Generations(m, lv, dir).Where(x => x != keep)) _tools.DeleteSubvolume(Path.Combine(dir, GenerationName(m, lv, old)));
        }
    }

    private bool IsOriginal(string dir, MirrorRuntime m, LvRuntime lv, int g) => _tools.IsSubvolume(Path.Combine(dir, GenerationName(m, lv, g)));

    private static IEnumerable<int> Generations(MirrorRuntime m, LvRuntime lv, string dir) => !Directory.Exists(dir)
        ? Enumerable.Empty<int>()
        : Directory.GetDirectories(dir).Select(Path.GetFileName).Select(n => GenerationOf(m, lv, n!)).Where(x => x is not null).Select(x => x!.Value).ToList();

    /// <summary>The volume group that holds the live copy of a logical volume of a mirrored rootvg.</summary>
    private VgRuntime LiveVg(LinuxState s, MirrorRuntime m, LvRuntime lv)
    {
        if (m.MovedLvs.Contains(lv.Name) && m.ImportedInto is not null && s.Partition(m.ImportedInto) is { } sur) return s.Vg(sur.RootVg)!;
        return s.Vg(m.SourceVg)!;
    }

    /// <summary>Brings the mirror up to date with every logical volume (kept current until the blackout).</summary>
    private void Refresh(LinuxState s, string partition, OperationContext context)
    {
        var m = s.MirrorOf(partition);
        if (m is null) return;
        var mirror = s.Vg(m.Vg);
        if (mirror is null) return;
        foreach (var lv in mirror.Lvs)
        {
            var live = LiveVg(s, m, lv);
            var chain = new List<VgRuntime> { live, mirror };
            if (m.ImportedInto is not null && lv.MountPoint != "/" && s.Partition(m.ImportedInto) is { } sur && s.Vg(sur.RootVg) is { } dest && dest != live) chain.Add(dest);
            if (live.Serial != m.SourceVg && lv.MountPoint == "/") continue;
            SyncChain(s, m, lv, chain, context);
        }
        Save(s);
    }

    public VolumeGroup ImportMirror(string partition, string surrogate, OperationContext context)
    {
        var vg = Change(context, s =>
        {
            var m = s.MirrorOf(partition)!;
            var mirror = s.Vg(m.Vg)!;
            if (m.State == nameof(MirrorState.Imported) && Same(m.ImportedInto, surrogate)) return ToModel(s, mirror);
            var sur = s.Partition(surrogate)!;
            var dest = s.Vg(sur.RootVg)!;
            Fault(Steps.Import, FaultTiming.Before);
            context.Logger.LogInformation("Importing the rootvg mirror of {Partition} on {Disks} into {Surrogate}: its data volumes reach {Surrogate}'s rootvg and stay current until the blackout",
                partition, string.Join(", ", mirror.Disks), surrogate, surrogate);
            DeleteChildren(MirrorDir(Mnt(dest.Serial)));
            var source = s.Vg(m.SourceVg)!;
            foreach (var lv in mirror.Lvs)
            {
                var chain = lv.MountPoint == "/" ? new[] { source, mirror } : new[] { source, mirror, dest };
                SyncChain(s, m, lv, chain, context);
                Save(s);
            }
            Fault(Steps.Import, FaultTiming.During);
            m.State = nameof(MirrorState.Imported);
            m.ImportedInto = sur.Name;
            mirror.Partition = sur.Name;
            mirror.Role = nameof(VolumeGroupRole.Mirror);
            return ToModel(s, mirror);
        });
        Fault(Steps.Import, FaultTiming.After);
        return vg;
    }

    public void RemoveClone(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(context, s =>
    {
        var c = s.CloneOf(partition);
        context.Logger.LogInformation("Removing altinst_rootvg of {Partition} and wiping {Disks}", partition, string.Join(", ", disks));
        if (c is not null)
        {
            if (c.BootedAs is not null && s.Partition(c.BootedAs) is { } sur) RemoveSurrogate(s, sur, context);
            var vg = s.Vg(c.Vg);
            if (vg is not null && vg.Role != nameof(VolumeGroupRole.Root)) DestroyVg(s, vg, context);
            s.Clones.Remove(c);
        }
        foreach (var d in disks) WipeIfOurs(s, d, context);
    });

    public void RemoveMirror(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(context, s =>
    {
        var m = s.MirrorOf(partition);
        context.Logger.LogInformation("Removing the rootvg mirror of {Partition} and wiping {Disks}", partition, string.Join(", ", disks));
        if (m is not null) DropMirror(s, m, context);
        foreach (var d in disks) WipeIfOurs(s, d, context);
    });

    private void DropMirror(LinuxState s, MirrorRuntime m, OperationContext context)
    {
        foreach (var vg in new[] { s.Vg(m.SourceVg), m.ImportedInto is null ? null : s.Vg(s.Partition(m.ImportedInto)?.RootVg) })
        {
            if (vg is null) continue;
            EnsureMounted(s, vg);
            DeleteChildren(MirrorDir(Mnt(vg.Serial)));
        }
        var mirror = s.Vg(m.Vg);
        if (mirror is not null) DestroyVg(s, mirror, context);
        s.Mirrors.Remove(m);
    }

    public void RemoveVolumeGroup(string partition, string volumeGroup, OperationContext context) => Change(context, s =>
    {
        var vg = s.Vg(partition, volumeGroup);
        if (vg is null) return;
        context.Logger.LogInformation("Removing volume group {VolumeGroup} of {Partition} and freeing {Disks}", vg.Name, partition, string.Join(", ", vg.Disks));
        DestroyVg(s, vg, context);
    });

    // ================================================================== updates

    public RootVgClone InstallUpdate(string partition, UpdateBundle bundle, OperationContext context)
    {
        var clone = Change(context, s =>
        {
            var c = s.CloneOf(partition)!;
            var vg = s.Vg(c.Vg)!;
            var unsupported = bundle.Packages.FirstOrDefault(p => p.Kind is not ("overlay" or "deb"));
            if (unsupported is not null)
                throw new LiveUpdateException("PackageKindNotSupported", ErrorKind.InvalidData,
                    $"Bundle '{bundle.Name}' holds package {unsupported.Name} of kind '{unsupported.Kind}'; the Linux backend installs packages of kind overlay (a tar or tar.gz archive) and deb.", bundle.Source);
            Fault(Steps.Install, FaultTiming.Before);
            EnsureMounted(s, vg);
            var root = LvPath(Mnt(vg.Serial), vg.Lvs.First(l => l.MountPoint == "/"));
            var binds = new[] { "proc", "sys", "dev", "dev/pts" };
            try
            {
                foreach (var b in binds) _tools.Bind("/" + b, Path.Combine(root, b));
                var done = 0;
                foreach (var package in bundle.Packages)
                {
                    context.Logger.LogInformation("Installing {Package} {Version} ({Kind}) into altinst_rootvg of {Partition}", package.Name, package.Version, package.Kind, partition);
                    if (package.Kind == "overlay") UnpackOverlay(root, bundle.PackagePath(package), package);
                    else InstallDeb(root, bundle.PackagePath(package), package);
                    if (++done == (bundle.Packages.Count + 1) / 2) Fault(Steps.Install, FaultTiming.During);
                    context.Report("Installing " + bundle.Name, package.Name, 100 * done / bundle.Packages.Count);
                }
            }
            finally
            {
                foreach (var b in binds.Reverse())
                {
                    var target = Path.Combine(root, b);
                    if (HostTools.IsMountPoint(target)) _tools.Unmount(target);
                }
            }
            var packages = Path.Combine(root, PackagesFile);
            Directory.CreateDirectory(Path.GetDirectoryName(packages)!);
            var lines = File.Exists(packages) ? File.ReadAllLines(packages).Where(l => l.Length > 0).ToDictionary(l => l.Split(' ')[0], l => l) : new Dictionary<string, string>();
            foreach (var package in bundle.Packages) lines[package.Name] = $"{package.Name} {package.Version} {package.Kind}";
            File.WriteAllText(packages, string.Join("\n", lines.Values.OrderBy(l => l, StringComparer.Ordinal)) + "\n");
            StateFile.WriteAtomically(Path.Combine(root, OsLevelFile), bundle.TargetLevel + "\n");
            vg.OsLevel = bundle.TargetLevel.ToString();
            c.State = nameof(CloneState.Updated);
            if (!c.AppliedBundles.Contains(bundle.Name)) c.AppliedBundles.Add(bundle.Name);
            Refresh(s, partition, context);
            return ToModel(s, c);
        });
        Fault(Steps.Install, FaultTiming.After);
        return clone;
    }

    /// <summary>Unpacks an overlay archive with the clone's own tar inside a chroot, so no path in it can reach outside the clone.</summary>
    private void UnpackOverlay(string root, string archive, BundlePackage package)
    {
        var tar = new[] { "bin/tar", "usr/bin/tar" }.FirstOrDefault(t => File.Exists(Path.Combine(root, t)) || IsLink(Path.Combine(root, t)));
        if (tar is null)
            throw new LiveUpdateException("OverlayNeedsTar", ErrorKind.NotInstalled, $"The clone has no tar to unpack the overlay {package.Name} inside its own root.", package.Name);
        var gz = false;
        using (var f = File.OpenRead(archive)) gz = f.ReadByte() == 0x1f && f.ReadByte() == 0x8b;
        var args = new List<string> { root, "/" + tar, "-x", "-f", "-", "-C", "/" };
        if (gz) args.Insert(3, "-z");
        _tools.RunWithInput(archive, "chroot", args.ToArray());
    }

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    /// <summary>Installs a Debian package into the clone: with the clone's own dpkg in a chroot where it has one, else the host's dpkg with --root.</summary>
    private void InstallDeb(string root, string deb, BundlePackage package)
    {
        var admin = Path.Combine(root, "var/lib/dpkg");
        foreach (var dir in new[] { admin, Path.Combine(admin, "info"), Path.Combine(admin, "updates"), Path.Combine(root, "var/log"), Path.Combine(root, "tmp") }) Directory.CreateDirectory(dir);
        foreach (var file in new[] { "status", "available" })
            if (!File.Exists(Path.Combine(admin, file))) File.WriteAllText(Path.Combine(admin, file), "");
        if (File.Exists(Path.Combine(root, "usr/bin/dpkg")))
        {
            var inside = "/tmp/liveupdate-" + Path.GetFileName(deb);
            File.Copy(deb, Under(root, inside), overwrite: true);
            try
            {
                _tools.RunFor($"Installing {package.Name} in the clone", "chroot", root, "/usr/bin/dpkg", "--install", inside);
            }
            finally
            {
                File.Delete(Under(root, inside));
            }
            return;
        }
        _tools.RunFor($"Installing {package.Name} into the clone", "dpkg", "--root=" + root, "--log=" + Path.Combine(root, "var/log/dpkg.log"), "--install", deb);
    }

    public RootVgClone AdoptOldRootVg(string partition, OperationContext context) => Change(context, s =>
    {
        var existing = s.CloneOf(partition);
        if (existing is not null) return ToModel(s, existing);
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        var old = s.Vg(partition, "old_rootvg")!;
        EnsureMounted(s, old);
        DeleteChildren(MirrorDir(Mnt(old.Serial)));
        context.Logger.LogInformation("Turning old_rootvg of {Partition} on {Disks} ({Level}) into its altinst_rootvg", partition, string.Join(", ", old.Disks), ReadLevel(old));
        old.Name = "altinst_rootvg";
        old.Role = nameof(VolumeGroupRole.AltInstRoot);
        var clone = new CloneRecord
        {
            Partition = partition, Vg = old.Serial, SourceLevel = ReadLevel(root)!, State = nameof(CloneState.Updated),
            AppliedBundles = { "old_rootvg at " + ReadLevel(old) }, Created = DateTimeOffset.Now,
        };
        s.Clones.Add(clone);
        return ToModel(s, clone);
    });

    public void RestoreOldRootVg(string partition, OperationContext context) => Change(context, s =>
    {
        var c = s.CloneOf(partition);
        if (c is null) return;
        var vg = s.Vg(c.Vg)!;
        context.Logger.LogInformation("Returning altinst_rootvg of {Partition} on {Disks} to old_rootvg", partition, string.Join(", ", vg.Disks));
        if (c.BootedAs is not null && s.Partition(c.BootedAs) is { } sur) RemoveSurrogate(s, sur, context);
        EnsureMounted(s, vg);
        DeleteChildren(MirrorDir(Mnt(vg.Serial)));
        _tools.Unmount(Mnt(vg.Serial));
        vg.Name = "old_rootvg";
        vg.Role = nameof(VolumeGroupRole.OldRoot);
        vg.Partition = partition;
        s.Clones.Remove(c);
    });

    // ================================================================== partitions

    public LogicalPartition StartSurrogate(string partition, OperationContext context)
    {
        var surrogate = Change(context, s =>
        {
            var p = s.Partition(partition)!;
            var c = s.CloneOf(partition)!;
            var vg = s.Vg(c.Vg)!;
            var name = Steps.SurrogateName(p.Name);
            var sur = s.Partition(name);
            if (sur is not null && c.State == nameof(CloneState.Booted) && PartitionAlive(sur)) return ToModel(s, sur);
            Fault(Steps.Boot, FaultTiming.Before);
            if (sur is null)
            {
                sur = new PartitionRuntime
                {
                    Name = name, Id = s.Partitions.Max(x => x.Id) + 1, Uuid = Guid.NewGuid().ToString(), HostName = p.HostName + "-sur",
                    Address = FreeAddress(s, p.Address), Token = "p" + s.NewSerial(), RootVg = vg.Serial, SurrogateOf = p.Name,
                    Processors = p.Processors, MemoryMB = p.MemoryMB,
                };
                s.Partitions.Add(sur);
            }
            vg.Partition = sur.Name;
            vg.Name = "rootvg";
            vg.Role = nameof(VolumeGroupRole.Root);
            c.State = nameof(CloneState.Booted);
            c.BootedAs = sur.Name;
            // Recorded before the container starts, so that a failure from here on is cleaned up by RemoveSurrogate.
            Save(s);
            context.Logger.LogInformation("Creating partition {Surrogate} ({Processors} processors, {MemoryMB} MB) and booting it from {Disks} at {Level}",
                name, p.Processors, p.MemoryMB, string.Join(", ", vg.Disks), ReadLevel(vg));
            EnsureMounted(s, vg);
            var root = LvPath(Mnt(vg.Serial), vg.Lvs.First(l => l.MountPoint == "/"));
            File.WriteAllText(Path.Combine(root, "etc/hostname"), sur.HostName + "\n");
            Fault(Steps.Boot, FaultTiming.During);
            Boot(s, sur, context);
            Save(s);
            Refresh(s, partition, context);
            return ToModel(s, sur);
        });
        Fault(Steps.Boot, FaultTiming.After);
        return surrogate;
    }

    private string FreeAddress(LinuxState s, string like)
    {
        var used = new HashSet<string>(s.Partitions.Select(p => HostDescription.Host(p.Address))
            .Concat(Description.Applications!.Select(a => HostDescription.Host(a.ServiceAddress!)))
            .Concat(Description.Partitions!.Select(p => HostDescription.Host(p.Address!)))
            .Concat(Description.Network!.Gateway is null ? Array.Empty<string>() : new[] { HostDescription.Host(Description.Network.Gateway) }));
        for (var n = Description.Network.SurrogateAddressFrom; n < Description.Network.SurrogateAddressFrom + 150; n++)
        {
            var candidate = HostDescription.WithHostNumber(like, n);
            if (!used.Contains(HostDescription.Host(candidate))) return candidate;
        }
        throw new LiveUpdateException("NoFreeAddress", ErrorKind.ResourceUnavailable, $"No address is free for a surrogate in the network of {like}.", like);
    }

    public void RemoveSurrogate(string surrogate, OperationContext context) => Change(context, s =>
    {
        var sur = s.Partition(surrogate);
        if (sur is null) return;
        RemoveSurrogate(s, sur, context);
    });

    private void RemoveSurrogate(LinuxState s, PartitionRuntime sur, OperationContext context)
    {
        var stranded = s.Applications.FirstOrDefault(a => Same(a.Partition, sur.Name));
        if (stranded is not null)
            throw new LiveUpdateException("SurrogateHasApplications", ErrorKind.InvalidOperation,
                $"{stranded.Name} runs on {sur.Name}; move it back before the surrogate is removed.", sur.Name);
        context.Logger.LogInformation("Shutting down and removing partition {Surrogate}", sur.Name);
        ShutDown(sur, context);
        var original = sur.SurrogateOf!;
        var m = s.MirrorOf(original);
        if (m is not null && Same(m.ImportedInto, sur.Name))
        {
            var mirror = s.Vg(m.Vg);
            if (mirror is not null)
            {
                mirror.Partition = original;
                mirror.Role = "MirrorCopy";
            }
            m.State = nameof(MirrorState.Synchronized);
            m.ImportedInto = null;
            m.MovedLvs.Clear();
        }
        var vg = s.Vg(sur.RootVg);
        if (vg is not null)
        {
            EnsureMounted(s, vg);
            DeleteChildren(MirrorDir(Mnt(vg.Serial)));
            vg.Partition = original;
            vg.Name = "altinst_rootvg";
            vg.Role = nameof(VolumeGroupRole.AltInstRoot);
        }
        var c = s.CloneOf(original);
        if (c is not null)
        {
            c.State = c.AppliedBundles.Count > 0 ? nameof(CloneState.Updated) : nameof(CloneState.Cloned);
            c.BootedAs = null;
        }
        s.Partitions.Remove(sur);
    }

    public LogicalPartition TakeOver(string original, string surrogate, OperationContext context)
    {
        var result = Change(context, s =>
        {
            var o = s.Partition(original);
            var sur = s.Partition(surrogate);
            if (sur is null && o is not null && o.SurrogateOf is null && s.CloneOf(original) is null) return ToModel(s, o);
            if (o is null) throw new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound, $"There is no partition named '{original}'.", original);
            if (sur is null) throw new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound, $"There is no partition named '{surrogate}'.", surrogate);
            Fault(Steps.TakeOver, FaultTiming.Before);
            var origRoot = s.Vg(o.RootVg)!;
            var surRoot = s.Vg(sur.RootVg)!;
            var m = s.MirrorOf(original);
            context.Logger.LogInformation("{Surrogate} takes over the name and identity of {Partition}; the old rootvg on {Disks} is kept as old_rootvg",
                surrogate, original, string.Join(", ", origRoot.Disks));
            ShutDown(o, context);
            // Data volumes that no application took along: their last changes, now that nothing writes to them.
            if (m is not null && s.Vg(m.Vg) is { } mirror)
            {
                foreach (var lv in mirror.Lvs.Where(l => l.MountPoint != "/" && !m.MovedLvs.Contains(l.Name)))
                {
                    var g = SyncChain(s, m, lv, new[] { origRoot, mirror, surRoot }, context);
                    PlaceVolume(Mnt(surRoot.Serial), lv, Path.Combine(MirrorDir(Mnt(surRoot.Serial)), GenerationName(m, lv, g)));
                    m.MovedLvs.Add(lv.Name);
                }
            }
            Fault(Steps.TakeOver, FaultTiming.During);
            _tools.AddAddress(Namespace(sur), Eth, o.Address);
            Announce(sur, o.Address);
            if (sur.Address != o.Address) _tools.DeleteAddress(Namespace(sur), Eth, sur.Address);
            if (PartitionAlive(sur)) _tools.RunFor("Renaming " + surrogate, "nsenter", "--target", sur.LeaderPid.ToString(CultureInfo.InvariantCulture), "--uts", "--", Prerequisites.Tool("hostname"), o.HostName);
            var surRootDir = LvPath(Mnt(surRoot.Serial), surRoot.Lvs.First(l => l.MountPoint == "/"));
            File.WriteAllText(Path.Combine(surRootDir, "etc/hostname"), o.HostName + "\n");
            DeleteChildren(MirrorDir(Mnt(surRoot.Serial)));
            if (m is not null) DropMirror(s, m, context);
            EnsureMounted(s, origRoot);
            DeleteChildren(MirrorDir(Mnt(origRoot.Serial)));
            DeleteChildren(CloneDir(Mnt(origRoot.Serial)));
            _tools.Unmount(Mnt(origRoot.Serial));
            origRoot.Name = "old_rootvg";
            origRoot.Role = nameof(VolumeGroupRole.OldRoot);
            var clone = s.CloneOf(original);
            if (clone is not null) s.Clones.Remove(clone);
            s.Partitions.Remove(o);
            var oldName = sur.Name;
            sur.Name = o.Name;
            sur.Id = o.Id;
            sur.Uuid = o.Uuid;
            sur.HostName = o.HostName;
            sur.Address = o.Address;
            sur.SurrogateOf = null;
            foreach (var a in s.Applications.Where(a => Same(a.Partition, oldName))) a.Partition = o.Name;
            foreach (var v in s.VolumeGroups.Where(v => Same(v.Partition, oldName))) v.Partition = o.Name;
            origRoot.Partition = o.Name;
            return ToModel(s, sur);
        });
        Fault(Steps.TakeOver, FaultTiming.After);
        return result;
    }

    // ================================================================== applications

    public ApplicationMigration MoveApplication(string application, string destination, OperationContext context)
    {
        var moved = Change(context, s =>
        {
            var a = s.App(application)!;
            var d = AppDescription(a.Name);
            var src = s.Partition(a.Partition)!;
            var dst = s.Partition(destination)!;
            var m = s.Mirrors.FirstOrDefault(x => Same(x.Partition, src.Name) && Same(x.ImportedInto, dst.Name)
                                                  || Same(x.Partition, dst.Name) && Same(x.ImportedInto, src.Name))
                ?? throw new LiveUpdateException("MirrorNotImported", ErrorKind.InvalidOperation,
                    $"Partition {dst.Name} has no imported mirror shared with {src.Name}, which would carry the data of {a.Name}; run Import-MirrorVg first.", destination);
            var mirror = s.Vg(m.Vg)!;
            var fromVg = s.Vg(a.DataVg)!;
            var toVg = s.Vg(dst.RootVg)!;
            var desc = Description.Partitions!.First(x => Same(x.Name, m.Partition));
            var lvName = HostDescription.DataVolume(desc, d.DataPath!)!.Name!;
            var lv = mirror.Lvs.First(l => l.Name == lvName);
            var chain = new[] { fromVg, mirror, toVg };
            Fault(Steps.Move, FaultTiming.Before);

            // While the application still runs: bring the destination close, so the blackout sends only the last changes.
            SyncChain(s, m, lv, chain, context);
            // Where the destination's copy that the blackout replaces goes, to be deleted once the application answers.
            var replaced = Path.Combine(MirrorDir(Mnt(toVg.Serial)), lv.Name + "@replaced");
            _tools.DeleteSubvolume(replaced);
            Save(s);

            var clock = Stopwatch.StartNew();
            context.Logger.LogInformation("Stopping {Application} on {Source}: the blackout starts", a.Name, src.Name);
            a.MovingTo = dst.Name;
            a.MovePhase = "Stopping";
            // The address stays on the source until the destination holds it: meanwhile clients are refused at once
            // (and retry) instead of waiting for a connection attempt to time out.
            StopApplication(s, a, src, context, releaseAddress: false);
            a.MovePhase = "Stopped";
            Save(s);
            var stop = clock.Elapsed;
            Fault(Steps.Move, FaultTiming.During);

            // The older generations are deleted after the application answers again: not in the blackout.
            var g = SyncChain(s, m, lv, chain, context, prune: false);
            var srcFile = RecordsPath(s, fromVg.Serial, a.Name);
            var acknowledged = srcFile is not null && File.Exists(srcFile) ? File.ReadLines(srcFile).LongCount(l => l.Length > 0) : 0;
            a.HighWater = Math.Max(a.HighWater, acknowledged);
            PlaceVolume(Mnt(toVg.Serial), lv, Path.Combine(MirrorDir(Mnt(toVg.Serial)), GenerationName(m, lv, g)), replaced);
            var dstFile = RecordsPath(s, toVg.Serial, a.Name);
            var verified = srcFile is null || (File.Exists(dstFile!) ? File.ReadAllBytes(srcFile).AsSpan().SequenceEqual(File.ReadAllBytes(dstFile!)) : !File.Exists(srcFile));
            var onDestination = dstFile is not null && File.Exists(dstFile) ? File.ReadLines(dstFile).LongCount(l => l.Length > 0) : 0;
            // Make before break: the destination takes the address and announces it (gratuitous ARP), then the source lets go.
            _tools.AddAddress(Namespace(dst), Eth, ServiceCidr(d));
            Announce(dst, ServiceCidr(d));
            _tools.DeleteAddress(Namespace(src), Eth, ServiceCidr(d));
            var sync = clock.Elapsed - stop;
            a.MovePhase = "Started";
            Save(s);
            context.Logger.LogInformation("Starting {Application} on {Destination} with {Records} records and waiting for '{Check}'", a.Name, dst.Name, onDestination, string.Join(" ", d.Health!));
            var healthy = true;
            if (Faults?.Fire(Steps.Health, FaultTiming.During) == true)
            {
                // Test facility: the application is started but its health check is made to fail at once.
                Exec(dst, d.Start!, purpose: $"Starting {a.Name} on {dst.Name}");
                context.Logger.LogWarning("{Application} did not answer '{Check}' on {Destination} (injected)", a.Name, string.Join(" ", d.Health!), dst.Name);
                healthy = false;
            }
            else
            {
                try
                {
                    StartApplication(s, a, dst, context);
                }
                catch (LiveUpdateException e) when (e.ErrorId is "HealthCheckFailed" or "CommandFailed")
                {
                    context.Logger.LogWarning("{Application} did not become healthy on {Destination}: {Reason}", a.Name, dst.Name, e.Message);
                    healthy = false;
                }
            }
            var blackout = clock.Elapsed;
            var start = blackout - stop - sync;
            context.Logger.LogInformation("{Application} answers on {Destination}: the blackout ends after {Milliseconds} ms", a.Name, dst.Name, (long)blackout.TotalMilliseconds);
            // Healthy or not, the application and its newest data are now on the destination; after a failed health
            // check the flow moves it back (the same way, in the other direction).
            a.Partition = dst.Name;
            a.DataVg = toVg.Serial;
            a.Running = true;
            a.MovingTo = null;
            a.MovePhase = null;
            if (toVg.Serial == m.SourceVg) m.MovedLvs.Remove(lv.Name);
            else if (!m.MovedLvs.Contains(lv.Name)) m.MovedLvs.Add(lv.Name);
            try
            {
                PruneChain(m, lv, chain, g);
                _tools.DeleteSubvolume(replaced);
            }
            catch (LiveUpdateException e)
            {
                // Harmless: the next transfer of this volume, or the take-over, removes what is left.
                context.Logger.LogWarning("Older copies of {Volume} were not all deleted: {Reason}", lv.Name, e.Message);
            }
            var status = !healthy ? "HealthCheckFailed" : verified ? "Moved" : "DataMismatch";
            return new ApplicationMigration(a.Name, src.Name, dst.Name, status, blackout, stop, sync, start,
                acknowledged, onDestination, verified, false);
        });
        Fault(Steps.Move, FaultTiming.After);
        return moved;
    }

    public ApplicationRecords ReadApplicationRecords(string application) => Change(OperationContext.None, s =>
    {
        var a = s.App(application)!;
        var file = RecordsPath(s, a.DataVg, a.Name);
        var sequences = new List<long>();
        if (file is not null && File.Exists(file))
        {
            foreach (var line in File.ReadLines(file))
            {
                var first = line.Split(' ', 2)[0];
                if (first.Length > 0 && long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) sequences.Add(n);
            }
        }
        // What the application has appended durably, it may have acknowledged: no copy may hold fewer.
        a.HighWater = Math.Max(a.HighWater, AppAlive(s, a) ? sequences.Count : 0);
        return new ApplicationRecords(a.HighWater, sequences);
    });

    public ApplicationInstance RecoverApplication(string application, OperationContext context) => Change(context, s =>
    {
        var a = s.App(application)!;
        var home = s.Partition(a.Partition);
        var dest = a.MovingTo is null ? null : s.Partition(a.MovingTo);
        if (home is not null && AppAlive(s, a))
        {
            a.MovingTo = null;
            a.MovePhase = null;
            return ToModel(s, a);
        }
        if (dest is not null && PartitionAlive(dest))
        {
            var there = new AppRuntime { Name = a.Name, Partition = dest.Name, DataVg = dest.RootVg };
            if (AppAlive(s, there) || a.MovePhase == "Started")
            {
                // The move got as far as the destination: its copy of the data is the newest.
                context.Logger.LogWarning("{Application} was left mid-move; it continues on {Destination}", a.Name, dest.Name);
                var m = s.Mirrors.FirstOrDefault(x => Same(x.ImportedInto, dest.Name) || Same(x.ImportedInto, a.Partition));
                if (home is not null && PartitionAlive(home)) _tools.DeleteAddress(Namespace(home), Eth, ServiceCidr(AppDescription(a.Name)));
                a.Partition = dest.Name;
                a.DataVg = dest.RootVg;
                if (m is not null)
                {
                    var lvName = HostDescription.DataVolume(Description.Partitions!.First(x => Same(x.Name, m.Partition)), AppDescription(a.Name).DataPath!)!.Name!;
                    if (dest.RootVg == m.SourceVg) m.MovedLvs.Remove(lvName);
                    else if (!m.MovedLvs.Contains(lvName)) m.MovedLvs.Add(lvName);
                }
                if (!AppAlive(s, a)) StartApplication(s, a, dest, context);
                a.MovingTo = null;
                a.MovePhase = null;
                return ToModel(s, a);
            }
            _tools.DeleteAddress(Namespace(dest), Eth, ServiceCidr(AppDescription(a.Name)));
        }
        if (home is null)
            throw new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound, $"{a.Name} belongs to {a.Partition}, which no longer exists.", a.Name);
        if (!PartitionAlive(home)) Boot(s, home, context);
        context.Logger.LogWarning("{Application} was left stopped on {Partition}; starting it again", a.Name, home.Name);
        StartApplication(s, a, home, context);
        a.MovingTo = null;
        a.MovePhase = null;
        return ToModel(s, a);
    });

    // ================================================================== the lab itself

    public void RemoveLab(OperationContext context)
    {
        using (_store.Lock(StoreWait))
        {
            Use(context);
            LinuxState? s = null;
            try
            {
                s = _store.Load();
            }
            catch (LiveUpdateException e)
            {
                context.Logger.LogWarning("The state cannot be read ({Reason}); removing what the description and the host show", e.Message);
            }
            context.Logger.LogInformation("Removing {What} {Path}", Description.Lab ? "lab" : "everything LiveUpdate made on host", _store.Root);
            foreach (var p in s?.Partitions ?? new List<PartitionRuntime>()) StopContainer(p);
            var prefix = "--machine=lu" + Description.Id + "p";
            foreach (var pid in HostTools.Processes().Where(x => HostTools.CommandLine(x).Split(' ').Any(a => a.StartsWith(prefix, StringComparison.Ordinal))).ToList())
                HostTools.StopProcess(pid, TimeSpan.FromSeconds(15));
            _tools.Unmount(Path.Combine(_store.Root, "mnt"));
            foreach (var ns in Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns").Select(Path.GetFileName).Where(n => n!.StartsWith("lu" + Description.Id + "p", StringComparison.Ordinal)).ToList() : new List<string?>())
                _tools.DeleteNamespace(ns!);
            var n = Description.Network!;
            if (n.Namespace is not null && (n.CreateNamespace && (s?.NamespaceCreated ?? Description.Lab))) _tools.DeleteNamespace(n.Namespace);
            else if (n.CreateBridge && (s?.BridgeCreated ?? false) && _tools.LinkExists(n.Namespace, n.Bridge!)) _tools.Ip(n.Namespace, "link", "delete", n.Bridge!);
            if (n.Namespace is not null)
            {
                foreach (var p in s?.Partitions ?? new List<PartitionRuntime>())
                    if (HostTools.NamespaceExists(n.Namespace)) _tools.DeleteLink(n.Namespace, HostLink(p));
            }
            foreach (var d in Description.Disks!)
            {
                if (d.File is null) continue;
                var file = Path.Combine(_store.Root, d.File);
                var loop = _tools.LoopOf(file);
                if (loop is null) continue;
                _tools.Probe("btrfs", "device", "scan", "--forget", loop);
                _tools.DetachLoop(loop);
            }
            if (Description.Lab)
            {
                Directory.Delete(_store.Root, recursive: true);
            }
            else
            {
                File.Delete(_store.StatePath);
                if (Directory.Exists(Path.Combine(_store.Root, "mnt"))) Directory.Delete(Path.Combine(_store.Root, "mnt"), recursive: true);
                if (Directory.Exists(RunDir)) Directory.Delete(RunDir, recursive: true);
            }
        }
    }
}
