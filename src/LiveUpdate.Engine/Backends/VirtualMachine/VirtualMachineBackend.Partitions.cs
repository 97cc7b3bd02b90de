using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

public sealed partial class VirtualMachineBackend
{
    /// <summary>Boots a partition's domain from its boot disk with the newest kernel installed there, and waits for its agent.</summary>
    private void Boot(VmState s, VmPartition p, OperationContext context)
    {
        var vg = s.Vg(p.RootVg)!;
        var image = new GuestImage(DiskPath(vg.Disks[0])) { Log = context.Logger };
        var kernel = vg.Kernel ?? NewestKernel(image)
            ?? throw new LiveUpdateException("BootFileMissing", ErrorKind.InvalidData, $"The boot disk {vg.Disks[0]} of {p.Name} has no kernel in /boot.", p.Name);
        PlaceBootFiles(p, image, kernel);
        context.Logger.LogInformation("Booting {Partition} (domain {Domain}) from {Disk} with kernel {Kernel}", p.Name, p.Domain, vg.Disks[0], kernel);
        Directory.CreateDirectory(Path.GetDirectoryName(ConsoleOf(p.Domain))!);
        Libvirt.Start(p.Domain);
        if (!Agent.WaitReady(p.Domain, BootTimeout, context.Cancellation))
            throw new LiveUpdateException("GuestAgentUnavailable", ErrorKind.ResourceUnavailable, $"{p.Name} booted, but its guest agent did not answer within {BootTimeout.TotalSeconds:0} s (console: {ConsoleOf(p.Domain)}).", p.Name);
        ReadGuest(s, p);
    }

    /// <summary>The kernel and initramfs a domain boots directly: copied out of its boot disk's /boot, where the installed kernel put them.</summary>
    private void PlaceBootFiles(VmPartition p, GuestImage image, string kernel)
    {
        var dir = Path.Combine(BootDir, p.Domain);
        VmFiles.PrivateFolder(dir);
        image.Extract("/boot/vmlinuz-" + kernel, Path.Combine(dir, "vmlinuz"), 256L * 1024 * 1024);
        image.Extract("/boot/initrd.img-" + kernel, Path.Combine(dir, "initrd.img"), 256L * 1024 * 1024);
    }

    public LogicalPartition StartSurrogate(string partition, OperationContext context)
    {
        var surrogate = Change(context, s =>
        {
            var p = s.Partition(partition)!;
            var c = s.CloneOf(partition)!;
            var vg = s.Vg(c.Vg)!;
            var name = Steps.SurrogateName(p.Name);
            var sur = s.Partition(name);
            if (sur is not null && c.State == nameof(CloneState.Booted) && Libvirt.Running(sur.Domain)) return ToModel(s, sur);
            Fault(Steps.Boot, FaultTiming.Before);
            if (sur is null)
            {
                var serial = s.NewSerial();
                sur = new VmPartition
                {
                    Name = name, Id = s.Partitions.Max(x => x.Id) + 1, Uuid = Guid.NewGuid().ToString(), HostName = p.HostName + "-sur",
                    Address = FreeAddress(s, p.Address), Domain = $"lu{Description.Id}-{p.Name}-s{serial}", RootVg = vg.Serial, SurrogateOf = p.Name,
                    Processors = p.Processors, MemoryMB = p.MemoryMB, Defined = true,
                };
                s.Partitions.Add(sur);
            }
            vg.Partition = sur.Name;
            vg.Name = "rootvg";
            vg.Role = nameof(VolumeGroupRole.Root);
            c.State = nameof(CloneState.Booted);
            c.BootedAs = sur.Name;
            // Recorded before the domain exists, so that a failure from here on is cleaned up by RemoveSurrogate.
            Save(s);
            var image = new GuestImage(DiskPath(vg.Disks[0])) { Log = context.Logger };
            var kernel = vg.Kernel ?? NewestKernel(image)!;
            PlaceBootFiles(sur, image, kernel);
            var dir = Path.Combine(BootDir, sur.Domain);
            var xml = DomainXml.Surrogate(Libvirt.Xml(p.Domain, inactive: true), sur.Domain, sur.Name, DiskPath(vg.Disks[0]), IsBlock(vg.Disks[0]),
                Path.Combine(dir, "vmlinuz"), Path.Combine(dir, "initrd.img"), sur.HostName, sur.Address, MacOf(sur.Domain), ConsoleOf(sur.Domain));
            context.Logger.LogInformation("Defining {Surrogate} (domain {Domain}) from {Partition}'s definition and booting it from {Disk} with kernel {Kernel} at {Level}",
                name, sur.Domain, p.Name, vg.Disks[0], kernel, vg.OsLevel);
            if (!Libvirt.Exists(sur.Domain)) Libvirt.Define(sur.Domain, xml);
            Fault(Steps.Boot, FaultTiming.During);
            if (!Libvirt.Running(sur.Domain)) Boot(s, sur, context);
            Libvirt.SetMetadata(sur.Domain, DomainXml.Identity(sur.Name, sur.Uuid, sur.HostName, sur.Address), DomainXml.MetadataKey, DomainXml.MetadataUri, persistent: true);
            return ToModel(s, sur);
        });
        Fault(Steps.Boot, FaultTiming.After);
        return surrogate;
    }

    /// <summary>A locally administered link-layer address for a domain the backend defines.</summary>
    private string MacOf(string domain)
    {
        var h = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Description.Id + "/" + domain));
        return $"52:54:00:{h[0]:x2}:{h[1]:x2}:{h[2]:x2}";
    }

    private string FreeAddress(VmState s, string like)
    {
        var used = new HashSet<string>(s.Partitions.Select(p => Cidr.Host(p.Address))
            .Concat((Description.Applications ?? new()).Select(a => Cidr.Host(a.ServiceAddress!)))
            .Concat(Description.Partitions!.Select(p => Cidr.Host(p.Address!)))
            .Concat(Description.Gateway is null ? Array.Empty<string>() : new[] { Cidr.Host(Description.Gateway) }));
        for (var n = Description.SurrogateAddressFrom; n < Description.SurrogateAddressFrom + 150; n++)
        {
            var candidate = Cidr.WithHostNumber(like, n);
            if (!used.Contains(Cidr.Host(candidate))) return candidate;
        }
        throw new LiveUpdateException("NoFreeAddress", ErrorKind.ResourceUnavailable, $"No address is free for a surrogate in the network of {like}.", like);
    }

    public void RemoveSurrogate(string surrogate, OperationContext context) => Change(context, s =>
    {
        var sur = s.Partition(surrogate);
        if (sur is not null) RemoveSurrogate(s, sur, context);
    });

    private void RemoveSurrogate(VmState s, VmPartition sur, OperationContext context)
    {
        var stranded = s.Applications.FirstOrDefault(a => Same(a.Partition, sur.Name));
        if (stranded is not null)
            throw new LiveUpdateException("SurrogateHasApplications", ErrorKind.InvalidOperation, $"{stranded.Name} runs on {sur.Name}; move it back before the surrogate is removed.", sur.Name);
        context.Logger.LogInformation("Stopping and removing {Surrogate} (domain {Domain})", sur.Name, sur.Domain);
        RemoveDomain(sur);
        var original = sur.SurrogateOf!;
        var m = s.MirrorOf(original);
        if (m is not null && Same(m.ImportedInto, sur.Name))
        {
            if (s.Vg(m.Vg) is { } mirror)
            {
                mirror.Partition = original;
                mirror.Role = "MirrorCopy";
            }
            m.State = nameof(MirrorState.Synchronized);
            m.ImportedInto = null;
        }
        if (s.Vg(sur.RootVg) is { } vg && vg.Role == nameof(VolumeGroupRole.Root))
        {
            vg.Partition = original;
            vg.Name = "altinst_rootvg";
            vg.Role = nameof(VolumeGroupRole.AltInstRoot);
        }
        if (s.CloneOf(original) is { } c)
        {
            c.State = c.AppliedBundles.Count > 0 ? nameof(CloneState.Updated) : nameof(CloneState.Cloned);
            c.BootedAs = null;
        }
        s.Partitions.Remove(sur);
    }

    /// <summary>Powers a domain off and, where the backend defined it, removes its definition and boot files.</summary>
    private void RemoveDomain(VmPartition p)
    {
        if (!Libvirt.Exists(p.Domain)) return;
        if (Libvirt.Running(p.Domain)) Libvirt.Destroy(p.Domain);
        if (!p.Defined) return;
        Libvirt.Undefine(p.Domain);
        var dir = Path.Combine(BootDir, p.Domain);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
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
            context.Logger.LogInformation("{Surrogate} takes over the name and identity of {Partition}; the old disks {Disks} are kept as old_rootvg", surrogate, original, string.Join(", ", origRoot.Disks));
            var m = s.MirrorOf(original);
            // Data disks that no application took along: their mirror ends now and the copy joins the surrogate.
            if (m is not null)
                foreach (var (source, copy) in m.Pairs.Where(kv => !m.Ended.Contains(kv.Key)).ToList())
                    MoveDataDisk(s, m, o, sur, source, copy, context);
            if (Libvirt.Running(o.Domain))
            {
                Agent.Exec(o.Domain, new[] { "/bin/sync" });
                Libvirt.Destroy(o.Domain);
            }
            Fault(Steps.TakeOver, FaultTiming.During);
            // The guest finds a data disk by the serial it carries (data1, ...), never by the disk's name on the host.
            var data = surRoot.MountPoints.Take(surRoot.Disks.Count - 1).Select((mp, i) => $"{SerialOf(i)}:{mp}").ToList();
            if (Libvirt.Running(sur.Domain))
            {
                if (sur.Address != o.Address)
                {
                    // Removing the surrogate's own (primary) address must not take the secondary ones with it.
                    Agent.Exec(sur.Domain, new[] { "/bin/sysctl", "-w", "net.ipv4.conf.eth0.promote_secondaries=1" });
                    Agent.Run(sur.Domain, new[] { "/bin/ip", "addr", "replace", o.Address, "dev", "eth0" }, "Taking over the address");
                    Agent.Exec(sur.Domain, new[] { "/bin/arping", "-U", "-c", "1", "-I", "eth0", Cidr.Host(o.Address) });
                    Agent.Exec(sur.Domain, new[] { "/bin/ip", "addr", "del", sur.Address, "dev", "eth0" });
                }
                Agent.Run(sur.Domain, new[] { "/bin/hostname", o.HostName }, "Taking over the host name");
            }
            // The definition the surrogate boots with from now on carries the identity, its data disks and the title users see.
            var definition = DomainXml.WithCommandLine(Libvirt.Xml(sur.Domain, inactive: true), o.HostName, o.Address, o.Name, data);
            Libvirt.Define(sur.Domain, definition);
            Libvirt.SetTitle(sur.Domain, o.Name, persistent: true);
            Libvirt.SetMetadata(sur.Domain, DomainXml.Identity(o.Name, o.Uuid, o.HostName, o.Address), DomainXml.MetadataKey, DomainXml.MetadataUri, persistent: true);
            if (o.Defined || Description.Lab) RemoveDomainDefinition(o);
            if (m is not null) DropMirror(s, m);
            // Rootvgs kept by earlier updates stay too, one generation older each.
            OldRootVgs.Age(s.VolumeGroups.Where(v => v.Role == nameof(VolumeGroupRole.OldRoot) && v != origRoot && (Same(v.Partition, o.Name) || Same(v.Partition, sur.Name))),
                v => v.Name, (v, name) => v.Name = name);
            origRoot.Name = OldRootVgs.Newest;
            origRoot.Role = nameof(VolumeGroupRole.OldRoot);
            if (s.CloneOf(original) is { } clone) s.Clones.Remove(clone);
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

    /// <summary>The original's definition goes (its disks stay as old_rootvg): only the surrogate is the partition now.</summary>
    private void RemoveDomainDefinition(VmPartition o)
    {
        if (!Libvirt.Exists(o.Domain)) return;
        if (Libvirt.Running(o.Domain)) Libvirt.Destroy(o.Domain);
        Libvirt.Undefine(o.Domain);
        var dir = Path.Combine(BootDir, o.Domain);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }
}
