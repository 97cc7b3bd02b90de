using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>
/// A real Linux host whose partitions are system containers, as a system that can be live-updated.
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
public sealed partial class ContainerBackend : ILiveUpdateBackend
{
    public const string KindName = "Container";
    /// <summary>The backend's former name, still accepted where a backend is named (<c>-Backend Linux</c>).</summary>
    public const string FormerKindName = "Linux";
    public const string StateFileName = "liveupdate-state.json";
    internal const string StateHeader = "LiveUpdate.LinuxState/1";
    internal const string OsLevelFile = "etc/liveupdate/oslevel";
    internal const string PackagesFile = "etc/liveupdate/packages";
    internal const string BootedMarker = "run/liveupdate.booted";
    private const string Eth = "eth0";
    private static readonly TimeSpan StoreWait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// What the backend needs on the host; the lab also needs busybox for its partitions' root and dpkg-deb for its sample
    /// bundle. Packages are installed by the clone's own tar and dpkg, so the host needs neither for that.
    /// </summary>
    internal static readonly ToolSet Tools = new("container backend", new[]
    {
        ("btrfs", "btrfs-progs"), ("mkfs.btrfs", "btrfs-progs"), ("systemd-nspawn", "systemd-container"),
        ("nsenter", "util-linux"), ("wipefs", "util-linux"), ("blkid", "util-linux"), ("losetup", "mount"), ("mount", "mount"),
        ("umount", "mount"), ("blockdev", "util-linux"), ("ip", "iproute2"), ("start-stop-daemon", "dpkg"),
        ("hostname", "hostname"), ("sysctl", "procps"),
    }, new[] { ("busybox", "busybox-static"), ("dpkg-deb", "dpkg") }, "disks, mounts, containers and network namespaces");

    private readonly HostStore<ContainerState> _store;
    private readonly HostTools _tools = new();
    private readonly Dictionary<string, string> _foreign = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, long> _sizes = new(StringComparer.OrdinalIgnoreCase);
    private readonly bool _force;

    private ContainerBackend(string root, HostDescription description, bool force)
    {
        _store = new HostStore<ContainerState>(root, StateFileName, StateHeader);
        _tools.OwnMountRoot = Path.Combine(root, "mnt");
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
    public static ContainerBackend Open(string path, bool force = false, OperationContext? context = null)
    {
        var root = Path.GetFullPath(path);
        Prerequisites.Check(Tools, lab: false);
        if (!HostDescription.Exists(root))
            throw new LiveUpdateException("NotALab", ErrorKind.InvalidArgument, $"'{path}' holds no {HostDescription.FileName}.", path);
        Folders.RequireSafe(root, "a host's folder");
        var description = HostDescription.Load(root);
        var backend = new ContainerBackend(root, description, force);
        var fresh = !backend._store.Exists;
        try
        {
            backend.Attach(context ?? OperationContext.None);
        }
        catch when (fresh && !backend._store.Exists)
        {
            // Nothing of a first connection that failed is left, its lock file neither.
            File.Delete(Path.Combine(root, HostStore<ContainerState>.LockFileName));
            throw;
        }
        return backend;
    }

    /// <summary>Opens a host or lab only to remove it: nothing is attached, mounted or booted first.</summary>
    public static ContainerBackend OpenForRemoval(string path)
    {
        var root = Path.GetFullPath(path);
        Prerequisites.Check(Tools, lab: false);
        return new ContainerBackend(root, HostDescription.Load(root), force: false);
    }

    // ================================================================== paths and names

    private string Mnt(string serial) => Path.Combine(_store.Root, "mnt", "vg" + serial);
    private string RunDir => Path.Combine(_store.Root, "run");
    private string Namespace(ContainerPartition p) => $"lu{Description.Id}{p.Token}";
    private string HostLink(ContainerPartition p) => $"v{Description.Id}{p.Token}";
    private string Machine(ContainerPartition p) => $"lu{Description.Id}{p.Token}";
    private string Label(string serial) => $"lu.{Description.Id}.vg{serial}";
    private string? BridgeNamespace => Description.Network!.Namespace;

    private static string LvPath(string mount, ContainerLv lv) => lv.MountPoint == "/" ? Path.Combine(mount, "root") : Path.Combine(mount, "root", lv.MountPoint.TrimStart('/'));
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
    private string Device(ContainerState s, string disk)
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

    private T Change<T>(OperationContext context, Func<ContainerState, T> change)
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
            catch (Exception e) when (e is not (LiveUpdateException or OperationCanceledException or IOException or UnauthorizedAccessException))
            {
                // Whatever a tool or the host answered that the backend did not expect is still a failure of the step
                // with an id, so the flow rolls back what the step had made.
                throw new LiveUpdateException("HostStepFailed", ErrorKind.DeviceError, $"The host step failed unexpectedly: {e.Message}", _store.Root, e);
            }
            finally
            {
                _tools.Log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
            }
        }
    }

    private void Change(OperationContext context, Action<ContainerState> change) => Change<object?>(context, s => { change(s); return null; });

    private void Save(ContainerState s) => _store.Save(s);
}
