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

/// <summary>Partitions: the surrogate container booted from the updated clone, its removal, and the take-over of the original's identity.</summary>
public sealed partial class ContainerBackend
{
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
                sur = new ContainerPartition
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
            using (var tree = SafeTree.Open(root)) tree.WriteText("etc/hostname", sur.HostName + "\n");
            Fault(Steps.Boot, FaultTiming.During);
            Boot(s, sur, context);
            Save(s);
            Refresh(s, partition, context);
            return ToModel(s, sur);
        });
        Fault(Steps.Boot, FaultTiming.After);
        return surrogate;
    }

    private string FreeAddress(ContainerState s, string like)
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

    private void RemoveSurrogate(ContainerState s, ContainerPartition sur, OperationContext context)
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
            m.Unimport();
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
        c?.Unboot();
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
            using (var tree = SafeTree.Open(surRootDir)) tree.WriteText("etc/hostname", o.HostName + "\n");
            DeleteChildren(MirrorDir(Mnt(surRoot.Serial)));
            if (m is not null) DropMirror(s, m, context);
            EnsureMounted(s, origRoot);
            DeleteChildren(MirrorDir(Mnt(origRoot.Serial)));
            DeleteChildren(CloneDir(Mnt(origRoot.Serial)));
            _tools.Unmount(Mnt(origRoot.Serial));
            // Rootvgs kept by earlier updates stay too, one generation older each: old_rootvg becomes old_rootvg1,
            // old_rootvg1 becomes old_rootvg2, and so on.
            OldRootVgs.Age(s.VolumeGroups.Where(v => v.Role == nameof(VolumeGroupRole.OldRoot) && v != origRoot && (Same(v.Partition, o.Name) || Same(v.Partition, sur.Name))),
                v => v.Name, (v, name) => v.Name = name);
            origRoot.Name = OldRootVgs.Newest;
            origRoot.Role = nameof(VolumeGroupRole.OldRoot);
            var clone = s.CloneOf(original);
            if (clone is not null) s.Clones.Remove(clone);
            s.Partitions.Remove(o);
            var oldName = sur.Name;
            sur.TakeIdentityOf(o);
            foreach (var a in s.Applications.Where(a => Same(a.Partition, oldName))) a.Partition = o.Name;
            foreach (var v in s.VolumeGroups.Where(v => Same(v.Partition, oldName))) v.Partition = o.Name;
            origRoot.Partition = o.Name;
            return ToModel(s, sur);
        });
        Fault(Steps.TakeOver, FaultTiming.After);
        return result;
    }
}
