using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>Connecting: the described disks attached, the network made, the partitions recorded and booted on the first connection.</summary>
public sealed partial class ContainerBackend
{
    private void Attach(OperationContext context) => Change(context, s =>
    {
        var first = s.Partitions.Count == 0;
        // Before anything is attached, mounted or written: every described disk is what it claims and free.
        var identities = CheckDisks();
        try
        {
            foreach (var d in Description.Disks!.Where(d => d.File is not null))
            {
                var before = identities.First(i => i.Name == d.Name).Device;
                var dev = Device(s, d.Name!);
                if (before is null && !s.LoopsAttached.Contains(d.Name!)) s.LoopsAttached.Add(d.Name!);
                _ = dev;
            }
            EnsureNetwork(s);
            if (first) Seed(s);
            foreach (var d in Description.Disks!)
            {
                var dev = Device(s, d.Name!);
                _sizes[d.Name!] = _tools.SizeBytes(dev) / (1024 * 1024);
                if (s.VgOnDisk(d.Name!) is not null) continue;
                var sig = _tools.Signature(dev);
                if (sig is not null && !IsOurs(s, d.Name!, sig.Value.Uuid)) _foreign[d.Name!] = sig.Value.Type;
            }
            foreach (var vg in s.VolumeGroups.Where(v => v.Role != nameof(VolumeGroupRole.OldRoot))) EnsureMounted(s, vg);
            if (!first)
            {
                Save(s);
                return;
            }
            foreach (var p in s.Partitions.ToList())
            {
                if (!PartitionAlive(p)) Boot(s, p, context);
                foreach (var a in s.Applications.Where(a => Same(a.Partition, p.Name) && a.Running))
                    if (!AppAlive(s, a)) StartApplication(s, a, p, context);
            }
            Save(s);
        }
        catch (Exception) when (first)
        {
            context.Logger.LogWarning("The first connection to {Path} failed; undoing what it had made", _store.Root);
            Abandon(s, context);
            throw;
        }
    });

    /// <summary>
    /// Resolves every described disk to what it really is and refuses a description in which two disks are one storage
    /// or a disk is in use on the host (mounted outside the backend's own mount folder, held, swap).
    /// </summary>
    private IReadOnlyList<DiskIdentity> CheckDisks()
    {
        var ids = Description.Disks!.Select(d => d.Device is not null ? DiskIdentities.OfDevice(d.Name!, d.Device) : DiskIdentities.OfFile(d.Name!, _store.Root, d.File!)).ToList();
        DiskIdentities.RequireDistinct(ids);
        var inUse = DiskIdentities.InUse(Path.Combine(_store.Root, "mnt"));
        foreach (var id in ids) DiskIdentities.RequireUnused(id, inUse);
        return ids;
    }

    /// <summary>Undoes a first connection that failed: containers, mounts, loop devices, network and folders it made; no state is left.</summary>
    private void Abandon(ContainerState s, OperationContext context)
    {
        void Try(Action undo)
        {
            try
            {
                undo();
            }
            catch (Exception e) when (e is LiveUpdateException or IOException)
            {
                context.Logger.LogWarning("Undoing the failed connection left something behind: {Reason}", e.Message);
            }
        }
        foreach (var p in s.Partitions) Try(() => ShutDown(p, context));
        Try(() => _tools.Unmount(Path.Combine(_store.Root, "mnt")));
        foreach (var name in s.LoopsAttached)
            if (s.LoopDevices.TryGetValue(name, out var loop))
                Try(() =>
                {
                    _tools.Probe("btrfs", "device", "scan", "--forget", loop);
                    _tools.DetachLoop(loop);
                });
        var n = Description.Network!;
        if (s.NamespaceCreated && n.Namespace is not null) Try(() => _tools.DeleteNamespace(n.Namespace));
        else if (s.BridgeCreated) Try(() => { if (_tools.LinkExists(n.Namespace, n.Bridge!)) _tools.Ip(n.Namespace, "link", "delete", n.Bridge!); });
        foreach (var dir in new[] { Path.Combine(_store.Root, "mnt"), RunDir })
            Try(() => { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); });
        Try(() => File.Delete(_store.StatePath));
    }

    /// <summary>
    /// True when the file system on a disk is one the backend made: recorded in its state, when it was made, with this
    /// disk and this file-system UUID. A label is not proof: anyone can write one.
    /// </summary>
    private static bool IsOurs(ContainerState s, string disk, string? uuid) =>
        uuid is not null && s.Made.Any(m => Same(m.Disk, disk) && string.Equals(m.Uuid, uuid, StringComparison.OrdinalIgnoreCase));

    private static LiveUpdateException LevelProblem(string partition, string? text) => text is null
        ? new LiveUpdateException("OsLevelMissing", ErrorKind.ObjectNotFound,
            $"The root of partition {partition} has no OS level file /{OsLevelFile}. LiveUpdate reads a partition's level from its first line, in the form 7300-02-01 (release, technology level, service pack); create it in the partition's root, e.g. echo 1-0-0 > /{OsLevelFile}, and connect again. Nothing was changed.", partition)
        : new LiveUpdateException("OsLevelInvalid", ErrorKind.InvalidData,
            $"The OS level file /{OsLevelFile} of partition {partition} says '{Printable(text)}', not a level in the form 7300-02-01 (release, technology level, service pack). Nothing was changed.", partition);

    private void Seed(ContainerState s)
    {
        foreach (var pd in Description.Partitions!)
        {
            var serial = s.NewSerial();
            var devices = pd.RootDisks!.Select(d => Device(s, d)).ToList();
            var sig = _tools.Signature(devices[0]);
            if (sig is null || sig.Value.Type != "btrfs")
                throw new LiveUpdateException("RootVgNotBtrfs", ErrorKind.InvalidData,
                    $"The root disks of {pd.Name} ({string.Join(", ", pd.RootDisks!)}) hold {(sig is null ? "no file system" : sig.Value.Type)}, not the btrfs root volume group the description promises.", pd.Name);
            var vg = new ContainerVg
            {
                Serial = serial, Name = "rootvg", Role = nameof(VolumeGroupRole.Root), Partition = pd.Name, Disks = pd.RootDisks!.ToList(),
                Lvs = pd.LogicalVolumes!.Select(l => new ContainerLv { Name = l.Name!, MountPoint = l.MountPoint! }).ToList(), Label = sig.Value.Label,
            };
            s.VolumeGroups.Add(vg);
            s.Partitions.Add(new ContainerPartition
            {
                Name = pd.Name!, Id = pd.Id, Uuid = Guid.NewGuid().ToString(), HostName = pd.HostName!, Address = pd.Address!, Token = "p" + s.NewSerial(),
                RootVg = serial, Processors = pd.Processors, MemoryMB = pd.MemoryMB,
            });
            EnsureMounted(s, vg);
            foreach (var lv in vg.Lvs.OrderBy(l => l.MountPoint.Length))
            {
                try
                {
                    Volume(Mnt(serial), lv);
                }
                catch (LiveUpdateException e)
                {
                    throw new LiveUpdateException("RootVgLayoutInvalid", ErrorKind.InvalidData,
                        $"The root volume group of {pd.Name} does not have the layout of the description: {e.Message} (see about_LiveUpdate_Container: 'root' at the top, each other logical volume nested at root/<mount point>).", pd.Name, e);
                }
            }
            vg.OsLevel = ReadLevel(vg) ?? throw LevelProblem(pd.Name!, RawLevel(vg));
        }
        foreach (var ad in Description.Applications ?? new List<HostDescription.ApplicationDescription>())
        {
            var p = s.Partition(ad.Partition!)!;
            s.Applications.Add(new ContainerApplication { Name = ad.Name!, Partition = p.Name, DataVg = p.RootVg, Running = true });
        }
    }

    private void EnsureNetwork(ContainerState s)
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
}
