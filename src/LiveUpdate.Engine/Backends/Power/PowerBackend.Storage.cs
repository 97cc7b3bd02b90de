using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Power;

// Storage: the clone (alt_disk_copy), the rootvg mirror (mirrorvg), the data volume groups reaching the surrogate
// (VIOS mappings), and their removal. A disk is claimed by its PVID in the state before anything writes to it, so
// that a removal after a crash touches the disks of this operation and no other.
public sealed partial class PowerBackend
{
    private const int MaxCopies = 3;

    private IReadOnlyList<AixDisk> DisksOn(string partition) => Read(partition, "lspv", () => AixCommands.ParseDisks(On(partition, AixCommands.Disks())));

    private static void Claim(PowerState s, string partition, AixDisk d, string purpose)
    {
        if (s.Claim(d.Pvid) is { } c && (c.Purpose != purpose || !Same(c.Partition, partition)))
            throw new LiveUpdateException("DiskInUse", ErrorKind.ResourceUnavailable, $"Disk {d.Name} (PVID {d.Pvid}) is already used by LiveUpdate for the {c.Purpose.ToLowerInvariant()} of {c.Partition}.", d.Name);
        if (s.Claim(d.Pvid) is null) s.Claims.Add(new DiskClaim { Pvid = d.Pvid, Disk = d.Name, Partition = partition, Purpose = purpose });
    }

    private static List<AixDisk> Resolve(IReadOnlyList<AixDisk> seen, IEnumerable<string> names, string partition) => names.Select(n =>
        seen.FirstOrDefault(d => d.Name == n) ?? throw new LiveUpdateException("DiskNotFound", ErrorKind.ObjectNotFound, $"Partition {partition} does not see a disk named {n}.", n)).ToList();

    public RootVgClone CloneRootVg(string partition, IReadOnlyList<string> disks, OperationContext context)
    {
        Update(context, s =>
        {
            var seen = DisksOn(partition);
            var targets = Resolve(seen, disks, partition);
            if (targets.All(d => d.VolumeGroup == "altinst_rootvg") && s.CloneOf(partition) is not null) return;
            Fault(Steps.Clone, FaultTiming.Before);
            var busy = targets.FirstOrDefault(d => d.VolumeGroup is not null);
            if (busy is not null)
                throw new LiveUpdateException("DiskInUse", ErrorKind.ResourceUnavailable, $"Disk {busy.Name} of {partition} belongs to {busy.VolumeGroup}; the clone needs free disks.", busy.Name);
            foreach (var d in targets) Claim(s, partition, d, "Clone");
            var level = AixCommands.ParseOsLevel(On(partition, AixCommands.OsLevel()));
            s.Clones.RemoveAll(c => Same(c.Partition, partition));
            s.Clones.Add(new CloneRecord { Partition = partition, Vg = "altinst_rootvg", SourceLevel = level.ToString(), State = nameof(CloneState.Cloned), Created = DateTimeOffset.Now });
            s.CloneLevels[partition] = level.ToString();
            Save(s);
            Fault(Steps.Clone, FaultTiming.During);
            var clock = Stopwatch.StartNew();
            context.Logger.LogInformation("Cloning rootvg of {Partition} ({Level}) onto {Disks} as altinst_rootvg; the boot list stays as it is", partition, level, Join(disks));
            Change(partition, AixCommands.Clone(disks), "cloning rootvg (alt_disk_copy)");
            var after = DisksOn(partition);
            var missing = targets.FirstOrDefault(t => after.FirstOrDefault(d => d.Pvid == t.Pvid)?.VolumeGroup != "altinst_rootvg");
            if (missing is not null)
                throw new LiveUpdateException("CloneIncomplete", ErrorKind.InvalidData, $"alt_disk_copy ended, yet lspv on {partition} does not show {missing.Name} in altinst_rootvg.", partition);
            s.CloneOf(partition)!.DurationSeconds = clock.Elapsed.TotalSeconds;
        });
        Fault(Steps.Clone, FaultTiming.After);
        return Inventory().Clones.First(c => Same(c.Partition, partition));
    }

    public RootVgMirror MirrorRootVg(string partition, IReadOnlyList<string> disks, OperationContext context)
    {
        Update(context, s =>
        {
            var seen = DisksOn(partition);
            var targets = Resolve(seen, disks, partition);
            if (targets.All(d => d.VolumeGroup == "rootvg") && s.ClaimsOf(partition, "Mirror").Any()) return;
            var copies = AixCommands.ParseLogicalVolumes(On(partition, AixCommands.LogicalVolumes("rootvg"))).Select(l => l.Copies).DefaultIfEmpty(1).Max();
            if (copies >= MaxCopies)
                throw new LiveUpdateException("RootVgMaxCopies", ErrorKind.LimitsExceeded,
                    $"rootvg of {partition} already has {copies} copies of its logical volumes, the most AIX keeps; it cannot be mirrored once more.", partition);
            Fault(Steps.Mirror, FaultTiming.Before);
            var busy = targets.FirstOrDefault(d => d.VolumeGroup is not null);
            if (busy is not null)
                throw new LiveUpdateException("DiskInUse", ErrorKind.ResourceUnavailable, $"Disk {busy.Name} of {partition} belongs to {busy.VolumeGroup}; the mirror needs free disks.", busy.Name);
            foreach (var d in targets) Claim(s, partition, d, "Mirror");
            s.Mirrors.RemoveAll(m => Same(m.Partition, partition));
            s.Mirrors.Add(new MirrorRecord { Partition = partition, Disks = disks.ToList(), Created = DateTimeOffset.Now });
            Save(s);
            Fault(Steps.Mirror, FaultTiming.During);
            var clock = Stopwatch.StartNew();
            context.Logger.LogInformation("Mirroring rootvg of {Partition} onto {Disks}: every later write reaches both copies", partition, Join(disks));
            Change(partition, AixCommands.Mirror("rootvg", disks), "mirroring rootvg (mirrorvg)");
            var vg = AixCommands.ParseVolumeGroup(On(partition, AixCommands.VolumeGroup("rootvg")));
            if (vg.StalePps > 0)
            {
                Change(partition, AixCommands.Sync("rootvg"), "synchronising the rootvg mirror (syncvg)");
                vg = AixCommands.ParseVolumeGroup(On(partition, AixCommands.VolumeGroup("rootvg")));
                if (vg.StalePps > 0)
                    throw new LiveUpdateException("MirrorNotSynchronized", ErrorKind.InvalidData, $"rootvg of {partition} still has {vg.StalePps} stale partitions after syncvg.", partition);
            }
            s.MirrorOf(partition)!.DurationSeconds = clock.Elapsed.TotalSeconds;
        });
        Fault(Steps.Mirror, FaultTiming.After);
        return Inventory().Mirrors.First(m => Same(m.Partition, partition));
    }

    /// <summary>
    /// The surrogate receives the applications' data: since splitvg does not split rootvg and a copy of a varied-on
    /// volume group must never be varied on elsewhere, each application's data volume group is mapped to the
    /// surrogate (its disks stay mapped to the original too) and imported there in its blackout.
    /// </summary>
    public VolumeGroup ImportMirror(string partition, string surrogate, OperationContext context)
    {
        Update(context, s =>
        {
            var m = s.MirrorOf(partition)!;
            if (m.State == nameof(MirrorState.Imported) && Same(m.ImportedInto, surrogate)) return;
            Fault(Steps.Import, FaultTiming.Before);
            var seen = DisksOn(partition);
            var pvids = new List<string>();
            foreach (var a in Description.Applications!.Where(a => Same(AppPartition(a), partition)))
            {
                var disks = seen.Where(d => d.VolumeGroup == a.VolumeGroup).ToList();
                if (disks.Count == 0)
                    throw new LiveUpdateException("DataVolumeGroupNotFound", ErrorKind.ObjectNotFound, $"lspv on {partition} shows no disk of {a.VolumeGroup}, the data of {a.Name}.", a.Name);
                var rec = s.App(a.Name!) ?? AddApp(s, a);
                rec.DataPvids = disks.Select(d => d.Pvid).ToList();
                pvids.AddRange(rec.DataPvids);
            }
            Save(s);
            context.Logger.LogInformation("Mapping the data volume groups of {Partition} ({VolumeGroups}) to {Surrogate} through {Vios}",
                partition, Join(Description.Applications!.Where(a => Same(AppPartition(a), partition)).Select(a => a.VolumeGroup!)), surrogate, ViosName);
            MapDisks(s.Surrogate(surrogate)!, pvids);
            Fault(Steps.Import, FaultTiming.During);
            Change(surrogate, AixCommands.Configure(), "configuring the new disks (cfgmgr)");
            var there = DisksOn(surrogate);
            var absent = pvids.FirstOrDefault(p => there.All(d => d.Pvid != p));
            if (absent is not null)
                throw new LiveUpdateException("DiskNotVisible", ErrorKind.DeviceError, $"After cfgmgr, {surrogate} does not see the disk with PVID {absent}.", surrogate);
            m.State = nameof(MirrorState.Imported);
            m.ImportedInto = surrogate;
        });
        Fault(Steps.Import, FaultTiming.After);
        var inv = Inventory();
        var mirror = inv.Mirrors.First(x => Same(x.Partition, partition));
        return new VolumeGroup("rootvg", inv.VolumeGroups.FirstOrDefault(v => Same(v.Partition, partition) && v.Name == "rootvg")?.Id ?? "", surrogate,
            VolumeGroupRole.Mirror, VolumeGroupState.Active, mirror.Disks, mirror.Disks, 0, 0, null, Array.Empty<LogicalVolume>());
    }

    private static AppRecord AddApp(PowerState s, PowerDescription.ApplicationDescription a)
    {
        var rec = new AppRecord { Name = a.Name!, Partition = a.Partition! };
        s.Applications.Add(rec);
        return rec;
    }

    public void RemoveClone(string partition, IReadOnlyList<string> disks, OperationContext context) => Update(context, s =>
    {
        var c = s.CloneOf(partition);
        if (c is null && !s.ClaimsOf(partition, "Clone").Any() && s.SurrogateOf(partition) is null) return; // nothing of this backend's to remove
        context.Logger.LogInformation("Removing altinst_rootvg of {Partition} and clearing {Disks}", partition, Join(disks));
        if (s.SurrogateOf(partition) is { } sur) RemoveSurrogate(s, sur.Name, context);
        var seen = DisksOn(partition);
        var ours = s.ClaimsOf(partition, "Clone").Select(x => x.Pvid).ToHashSet();
        var clone = seen.Where(d => d.VolumeGroup == "altinst_rootvg").ToList();
        if (clone.Count > 0 && clone.All(d => ours.Contains(d.Pvid)))
        {
            if (clone.Any(d => d.Active)) Change(partition, AixCommands.Sleep(clone[0].Name), "putting the clone to sleep");
            Change(partition, AixCommands.RemoveAltRootVg("altinst_rootvg"), "removing altinst_rootvg (alt_rootvg_op -X)");
        }
        else if (clone.Count > 0)
            context.Logger.LogWarning("altinst_rootvg on {Disks} of {Partition} was not made by this operation; it is left alone", Join(clone.Select(d => d.Name)), partition);
        ClearClaimed(s, partition, "Clone", disks, context);
        s.Clones.RemoveAll(x => Same(x.Partition, partition));
        s.CloneLevels.Remove(partition);
    });

    /// <summary>Clears the disks this backend claimed for a purpose that no volume group holds now (chpv -C), and drops the claims.</summary>
    private void ClearClaimed(PowerState s, string partition, string purpose, IEnumerable<string> disks, OperationContext context)
    {
        var seen = DisksOn(partition);
        foreach (var name in disks)
        {
            var d = seen.FirstOrDefault(x => x.Name == name);
            var claim = d is null ? null : s.Claim(d.Pvid);
            if (d is null || claim is null || claim.Purpose != purpose)
            {
                if (d is not null) context.Logger.LogInformation("{Disk} of {Partition} was not claimed for the {Purpose}; it is left as it is", name, partition, purpose.ToLowerInvariant());
                continue;
            }
            if (d.VolumeGroup is not null)
                throw new LiveUpdateException("DiskInUse", ErrorKind.ResourceUnavailable, $"{name} of {partition} still belongs to {d.VolumeGroup}; it is not cleared.", name);
            Change(partition, AixCommands.ClearDisk(name), "clearing a disk (chpv -C)");
            s.Claims.Remove(claim);
            Save(s);
        }
    }

    public void RemoveMirror(string partition, IReadOnlyList<string> disks, OperationContext context) => Update(context, s =>
    {
        var m = s.MirrorOf(partition);
        if (m is null && !s.ClaimsOf(partition, "Mirror").Any()) return; // nothing of this backend's to remove
        context.Logger.LogInformation("Removing the rootvg mirror of {Partition} from {Disks}", partition, Join(disks));
        if (m?.ImportedInto is { } into && s.Surrogate(into) is { } sur) UnmapDisks(sur, s.Applications.Where(a => Same(a.Partition, partition)).SelectMany(a => a.DataPvids));
        UnmirrorClaimed(s, partition, disks);
        ClearClaimed(s, partition, "Mirror", disks, context);
        s.Mirrors.RemoveAll(x => Same(x.Partition, partition));
    });

    /// <summary>Takes the claimed mirror disks out of rootvg (unmirrorvg, then reducevg).</summary>
    private void UnmirrorClaimed(PowerState s, string partition, IEnumerable<string> disks)
    {
        var seen = DisksOn(partition);
        var ours = s.ClaimsOf(partition, "Mirror").Select(c => c.Pvid).ToHashSet();
        var inRoot = disks.Select(n => seen.FirstOrDefault(d => d.Name == n)).Where(d => d is not null && d.VolumeGroup == "rootvg" && ours.Contains(d.Pvid)).Select(d => d!.Name).ToList();
        if (inRoot.Count == 0) return;
        var copies = AixCommands.ParseLogicalVolumes(On(partition, AixCommands.LogicalVolumes("rootvg"))).Select(l => l.Copies).DefaultIfEmpty(1).Max();
        if (copies > 1) Change(partition, AixCommands.Unmirror("rootvg", inRoot), "unmirroring rootvg (unmirrorvg)");
        Change(partition, AixCommands.Reduce("rootvg", inRoot), "taking the mirror disks out of rootvg (reducevg)");
    }

    public void RemoveVolumeGroup(string partition, string volumeGroup, OperationContext context) => Update(context, s =>
    {
        var seen = DisksOn(partition);
        var disks = seen.Where(d => d.VolumeGroup == volumeGroup).ToList();
        if (disks.Count == 0) return;
        context.Logger.LogInformation("Removing {VolumeGroup} of {Partition} and clearing {Disks}", volumeGroup, partition, Join(disks.Select(d => d.Name)));
        Change(partition, AixCommands.RemoveAltRootVg(volumeGroup), $"removing {volumeGroup} (alt_rootvg_op -X)");
        foreach (var d in disks) Change(partition, AixCommands.ClearDisk(d.Name), "clearing a disk (chpv -C)");
        s.OldRoots.RemoveAll(o => Same(o.Partition, partition) && o.Name == volumeGroup);
        s.Claims.RemoveAll(c => disks.Any(d => d.Pvid == c.Pvid));
    });
}
