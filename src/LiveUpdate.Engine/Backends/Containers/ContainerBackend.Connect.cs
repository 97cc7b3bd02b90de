using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>Connecting: the described disks attached, the network made, the partitions recorded and booted on the first connection.</summary>
public sealed partial class ContainerBackend
{
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
            vg.OsLevel = ReadLevel(vg);
            if (!Directory.Exists(LvPath(Mnt(serial), vg.Lvs.First(l => l.MountPoint == "/"))))
                throw new LiveUpdateException("RootVgLayoutInvalid", ErrorKind.InvalidData,
                    $"The root volume group of {pd.Name} has no subvolume 'root' at its top; see about_LiveUpdate_Container for the layout.", pd.Name);
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
