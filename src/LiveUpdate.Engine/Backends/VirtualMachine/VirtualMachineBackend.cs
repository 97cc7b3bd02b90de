using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>
/// A libvirt host as a system that can be live-updated: partitions are domains with kernels of their own.
/// <list type="bullet">
/// <item>rootvg is a domain's disks: its boot disk (vda) and the data disks of its applications (vdb, …).</item>
/// <item>Clone: a block copy of the boot disk while the guest runs, ended while the guest's file systems are frozen
/// through its agent; updates go into the clone offline (debugfs), kernel and boot files included.</item>
/// <item>Mirror: a synchronous block copy (QEMU's write-blocking mode) of every data disk: from the moment it is
/// ready, no write completes in the guest before it is on the mirror; the blackout ends the job (nothing is left to
/// copy) and hot-plugs the copy into the surrogate.</item>
/// <item>Surrogate: a second domain defined from the original's own definition, booted from the updated clone.</item>
/// </list>
/// Partitions run commands through the QEMU guest agent; libvirt is called through its C API.
/// </summary>
public sealed partial class VirtualMachineBackend : ILiveUpdateBackend
{
    public const string KindName = "VirtualMachine";
    internal const string StateFileName = "liveupdate-vmstate.json";
    internal const string StateHeader = "LiveUpdate.VmState/1";
    internal const string OsLevelFile = "/etc/liveupdate/oslevel";
    internal const string PackagesFile = "/etc/liveupdate/packages";
    private static readonly TimeSpan StoreWait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(120);

    private readonly HostStore<VmState> _store;
    private readonly CommandRunner _runner = new();
    private readonly Dictionary<string, long> _sizes = new(StringComparer.OrdinalIgnoreCase);
    private LibvirtConnection? _libvirt;
    private GuestAgent? _agent;
    private ILogger _log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    private VirtualMachineBackend(string root, VmHostDescription description)
    {
        _store = new HostStore<VmState>(root, StateFileName, StateHeader);
        Description = description;
    }

    public VmHostDescription Description { get; }
    public string Kind => KindName;
    public string Location => _store.Root;
    public TimingModel Timing { get; } = new(CopyMBps: 300, MirrorSyncMBps: 300, SecondsPerPackage: 1, PartitionCreateSeconds: 1, BootSeconds: 6,
        ImportSeconds: 0.1, ShutdownSeconds: 2, StopMilliseconds: 40, SyncMilliseconds: 5, StartMilliseconds: 300, HealthMilliseconds: 30);
    public FaultInjector? Faults { get; set; }
    public IDisposable Lock(TimeSpan wait) => _store.Lock(wait);
    public DateTimeOffset Clock => DateTimeOffset.Now;

    internal LibvirtConnection Libvirt => _libvirt ?? throw new InvalidOperationException("not connected");
    internal GuestAgent Agent => _agent ??= new GuestAgent(Libvirt) { Log = _log };

    public void Dispose() => _libvirt?.Dispose();

    /// <summary>Whether a folder holds a VM host description.</summary>
    public static bool IsHost(string path) => VmHostDescription.Exists(Path.GetFullPath(path));

    /// <summary>Connects to the system described in <paramref name="path"/>: checks every described disk and domain, and (a lab) starts what is not running.</summary>
    public static VirtualMachineBackend Open(string path, OperationContext? context = null)
    {
        var root = Path.GetFullPath(path);
        VmPrerequisites.Check(lab: false);
        var b = new VirtualMachineBackend(root, VmHostDescription.Load(root));
        b.Attach(context ?? OperationContext.None);
        return b;
    }

    /// <summary>Opens for removal: the state is read where it can be, nothing is booted.</summary>
    public static VirtualMachineBackend OpenForRemoval(string path)
    {
        var root = Path.GetFullPath(path);
        return new VirtualMachineBackend(root, VmHostDescription.Load(root));
    }

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
    private void Fault(string step, FaultTiming timing) => Faults?.At(step, timing);
    internal string DiskPath(string disk) => Description.PathOf(_store.Root, disk);
    internal bool IsBlock(string disk) => Description.Disk(disk).Device is not null;
    private string BootDir => Path.Combine(_store.Root, "boot");
    private string Scratch => Path.Combine(_store.Root, "scratch");
    private string ConsoleOf(string domain) => Path.Combine(_store.Root, "console", domain + ".log");

    private void Use(OperationContext context)
    {
        _log = context.Logger;
        if (_agent is not null) _agent.Log = _log;
    }

    private T Change<T>(OperationContext context, Func<VmState, T> change)
    {
        using (_store.Lock(StoreWait))
        {
            Use(context);
            var state = _store.Load();
            try
            {
                return change(state);
            }
            finally
            {
                _store.Save(state);
            }
        }
    }

    private void Change(OperationContext context, Action<VmState> change) => Change<object?>(context, s => { change(s); return null; });

    private void Save(VmState s) => _store.Save(s);

    // ================================================================== connecting

    private void Attach(OperationContext context)
    {
        var existed = File.Exists(_store.StatePath);
        try
        {
            AttachAndStart(context);
        }
        catch (LiveUpdateException) when (!existed && !Description.Lab)
        {
            // A description that was refused leaves nothing behind.
            if (File.Exists(_store.StatePath)) File.Delete(_store.StatePath);
            throw;
        }
    }

    private void AttachAndStart(OperationContext context) => Change(context, s =>
    {
        _libvirt = VmDaemon.Connect(Description, Description.Lab, r => { s.Daemon = r; Save(s); }, context.Logger);
        foreach (var pd in Description.Partitions!.Where(pd => s.Partition(pd.Name) is null))
            if (!Libvirt.Exists(pd.Domain!))
                throw new LiveUpdateException("DomainNotFound", ErrorKind.ObjectNotFound, $"Partition {pd.Name}: libvirt at {Description.Uri} has no domain named '{pd.Domain}'.", pd.Domain);
        CheckDisks(s);
        EnsureBridge(s);
        var first = s.Partitions.Count == 0;
        if (first) Seed(s);
        Save(s);
        if (!Description.Lab && !first) return;
        foreach (var p in s.Partitions.ToList())
        {
            if (!Libvirt.Running(p.Domain)) Boot(s, p, context);
            Save(s);
            foreach (var a in s.Applications.Where(a => Same(a.Partition, p.Name) && a.Running && a.MovingTo is null))
                if (!AppAlive(s, a)) StartApplication(s, a, p, context);
        }
    });

    /// <summary>
    /// A disk is its storage: every described disk resolves to a file or a block device under /dev, no two are the
    /// same storage, and a disk that no volume group of ours holds is neither mounted nor open in any process.
    /// </summary>
    private void CheckDisks(VmState s)
    {
        var disks = Description.Disks!;
        var paths = disks.Select(d => DiskPath(d.Name!)).ToList();
        var stat = _runner.Probe(VmPrerequisites.Tool("stat"), new[] { "-L", "-c", "%d:%i:%t:%T:%F" }.Concat(paths).ToArray());
        var lines = stat.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (!stat.Succeeded || lines.Length != disks.Count)
        {
            var missing = disks.First(d => !File.Exists(DiskPath(d.Name!)));
            throw new LiveUpdateException("DiskNotFound", ErrorKind.ObjectNotFound, $"Disk {missing.Name} ({DiskPath(missing.Name!)}) does not exist.", missing.Name);
        }
        var identities = new Dictionary<string, string>();
        var open = OpenFiles();
        for (var i = 0; i < disks.Count; i++)
        {
            var d = disks[i];
            var f = lines[i].Split(':');
            var block = f[4] == "block special file";
            if (d.Device is not null && !block || d.File is not null && f[4] != "regular file")
                throw new LiveUpdateException("DiskTypeInvalid", ErrorKind.InvalidData, $"Disk {d.Name} is a {f[4]}, not the {(d.Device is null ? "image file" : "block device")} the description says.", d.Name);
            var real = Path.GetFullPath(new FileInfo(paths[i]).ResolveLinkTarget(true)?.FullName ?? paths[i]);
            if (block && !real.StartsWith("/dev/", StringComparison.Ordinal))
                throw new LiveUpdateException("DiskPathInvalid", ErrorKind.InvalidData, $"Disk {d.Name} resolves to {real}, outside /dev.", d.Name);
            var id = block ? "b" + f[2] + ":" + f[3] : "f" + f[0] + ":" + f[1];
            if (identities.TryGetValue(id, out var other))
                throw new LiveUpdateException("DiskSameStorage", ErrorKind.InvalidData, $"Disks {other} and {d.Name} are the same storage ({real}).", d.Name);
            identities[id] = d.Name!;
            if (s.DiskIdentity.TryGetValue(d.Name!, out var known) && known != id)
                throw new LiveUpdateException("DiskChanged", ErrorKind.InvalidData, $"Disk {d.Name} is no longer the storage it was when LiveUpdate first saw it; nothing was changed.", d.Name);
            s.DiskIdentity[d.Name!] = id;
            _sizes[d.Name!] = (block ? long.Parse(_runner.Run(VmPrerequisites.Tool("blockdev"), new[] { "--getsize64", real }).StandardOutput.Trim(), CultureInfo.InvariantCulture) : new FileInfo(real).Length) / (1024 * 1024);
            if (s.VgOnDisk(d.Name!) is not null || Description.Partitions!.Any(p => Same(p.RootDisk, d.Name) || (p.DataDisks ?? new List<string>()).Contains(d.Name!, StringComparer.OrdinalIgnoreCase))) continue;
            if (open.Contains(real) || block && HostTools.MountsOfDevice(real).Count > 0 || !block && LoopBacked(real))
                throw new LiveUpdateException("DiskInUse", ErrorKind.ResourceBusy, $"Disk {d.Name} ({real}) is in use on this host (open, mounted or behind a loop device); LiveUpdate does not touch it.", d.Name);
        }
    }

    /// <summary>Every file some process on this host holds open (by its resolved path).</summary>
    private static HashSet<string> OpenFiles()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pid in HostTools.Processes())
        {
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
                {
                    var target = new FileInfo(fd).LinkTarget;
                    if (target is not null && target.StartsWith('/')) set.Add(target);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return set;
    }

    private static bool LoopBacked(string file) => Directory.Exists("/sys/block") && Directory.GetDirectories("/sys/block", "loop*")
        .Select(d => Path.Combine(d, "loop", "backing_file")).Where(File.Exists).Any(b => File.ReadAllText(b).Trim() == file);

    private void EnsureBridge(VmState s)
    {
        if (!Description.CreateBridge) return;
        var ns = VmDaemon.DaemonNamespace();
        if (ns is null)
            throw new LiveUpdateException("LibvirtNotIsolated", ErrorKind.InvalidOperation,
                "The libvirt daemon that answers runs in the host's own network namespace; a lab keeps its network in a namespace of its own and needs a daemon started there (stop the host's daemon or connect to a described host).", Description.Uri);
        if (s.Daemon is not null && s.Daemon.Namespace is null) s.Daemon.Namespace = ns;
        var ip = VmPrerequisites.Tool("ip");
        if (!_runner.Probe(ip, new[] { "-n", ns, "link", "show", "dev", Description.Bridge! }).Succeeded)
        {
            _runner.Run(ip, new[] { "-n", ns, "link", "add", Description.Bridge!, "type", "bridge" }, _log);
            s.BridgeCreated = true;
            Save(s);
            if (Description.Gateway is not null) _runner.Run(ip, new[] { "-n", ns, "addr", "add", Description.Gateway, "dev", Description.Bridge! }, _log);
        }
        _runner.Run(ip, new[] { "-n", ns, "link", "set", Description.Bridge!, "up" }, _log);
        LabNamespace = ns;
    }

    /// <summary>The network namespace that holds the lab's bridge (where its clients run); null for a real host.</summary>
    public string? LabNamespace { get; private set; }

    private void Seed(VmState s)
    {
        foreach (var pd in Description.Partitions!)
        {
            if (!Libvirt.Exists(pd.Domain!))
                throw new LiveUpdateException("DomainNotFound", ErrorKind.ObjectNotFound, $"Partition {pd.Name}: libvirt at {Description.Uri} has no domain named '{pd.Domain}'.", pd.Domain);
            var xml = Libvirt.Xml(pd.Domain!, inactive: true);
            var disks = DomainXml.Disks(xml);
            var expected = new[] { pd.RootDisk! }.Concat(pd.DataDisks ?? new List<string>()).ToList();
            var targets = new List<string>();
            for (var i = 0; i < expected.Count; i++)
            {
                var path = Path.GetFullPath(DiskPath(expected[i]));
                var target = disks.FirstOrDefault(kv => kv.Value.Length > 0 && Path.GetFullPath(kv.Value) == path).Key;
                if (target is null || i == 0 && target != "vda" || i > 0 && target == "vda")
                    throw new LiveUpdateException("DomainDisksMismatch", ErrorKind.InvalidData,
                        $"Domain {pd.Domain} does not hold disk {expected[i]} ({DiskPath(expected[i])}) {(i == 0 ? "as its boot disk vda" : "as a data disk")}, as the description says.", pd.Domain);
                targets.Add(target);
            }
            var serial = s.NewSerial();
            var root = new GuestImage(DiskPath(pd.RootDisk!)) { Log = _log };
            s.VolumeGroups.Add(new VmVolumeGroup
            {
                Serial = serial, Name = "rootvg", Role = nameof(VolumeGroupRole.Root), Partition = pd.Name, Disks = expected,
                MountPoints = pd.DataMountPoints ?? new List<string>(), OsLevel = Libvirt.Running(pd.Domain!) ? null : root.ReadText(OsLevelFile, 256)?.Trim(),
                Kernel = Libvirt.Running(pd.Domain!) ? null : NewestKernel(root),
            });
            var p = new VmPartition
            {
                Name = pd.Name!, Id = pd.Id, Uuid = Guid.NewGuid().ToString(), HostName = pd.HostName!, Address = pd.Address!, Domain = pd.Domain!,
                RootVg = serial, MemoryMB = DomainXml.MemoryMB(xml),
            };
            for (var i = 1; i < expected.Count; i++) p.Attached[targets[i]] = expected[i];
            s.Partitions.Add(p);
            if (Libvirt.Running(p.Domain)) ReadGuest(s, p);
        }
        foreach (var ad in Description.Applications ?? new List<VmHostDescription.ApplicationDescription>())
            s.Applications.Add(new VmApplication { Name = ad.Name!, Partition = ad.Partition!, DataDisk = ad.DataDisk!, Running = true });
    }

    /// <summary>The newest kernel whose vmlinuz is in the image's /boot (the boot files follow the installed kernel).</summary>
    internal static string? NewestKernel(GuestImage image) => image.List("/boot")
        .Where(n => n.StartsWith("vmlinuz-", StringComparison.Ordinal)).Select(n => n.Substring(8))
        .OrderBy(v => v, KernelVersionComparer.Instance).LastOrDefault();

    /// <summary>Reads what only the running guest knows: its kernel release and its OS level.</summary>
    private void ReadGuest(VmState s, VmPartition p)
    {
        p.Kernel = Agent.Run(p.Domain, new[] { "/bin/uname", "-r" }, "Reading the kernel").Output.Trim();
        var vg = s.Vg(p.RootVg);
        if (vg is not null && vg.OsLevel is null) vg.OsLevel = Agent.Exec(p.Domain, new[] { "/bin/cat", OsLevelFile }).Output.Trim();
    }
}

/// <summary>Orders kernel releases as versions: 6.1.0-57 before 6.12.117.</summary>
internal sealed class KernelVersionComparer : IComparer<string>
{
    public static readonly KernelVersionComparer Instance = new();

    public int Compare(string? x, string? y)
    {
        var a = Parts(x);
        var b = Parts(y);
        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
            if (a[i] != b[i]) return a[i].CompareTo(b[i]);
        return a.Length.CompareTo(b.Length);
    }

    private static long[] Parts(string? v) => System.Text.RegularExpressions.Regex.Matches(v ?? "", @"\d+").Select(m => long.TryParse(m.Value, out var n) ? n : 0).ToArray();
}
