using System;
using System.Collections.Generic;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>Storage: clone (alt_disk_copy), mirror (mirrorvg), import of the mirror, removal.</summary>
public sealed partial class SimulatedBackend
{
    public RootVgClone CloneRootVg(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        Fault(Steps.Clone, FaultTiming.Before);
        var usedMB = root.LogicalVolumes.Sum(l => l.SizeMB);
        context.Logger.LogInformation("Copying rootvg of {Partition} ({UsedMB} MB) to {Disks} as altinst_rootvg", p.Name, usedMB, string.Join(",", disks));
        foreach (var d in disks) Wipe(d);
        var copying = $"Copying rootvg of {p.Name} to {string.Join(", ", disks)}";
        CopyTree(Content(root), Folder(disks[0]), CopyProgress(context, copying, usedMB, s.Timing.Copy(usedMB)));
        CopyDone(context, copying, usedMB);
        Fault(Steps.Clone, FaultTiming.During);
        var vg = new VgRecord
        {
            Id = s.NewId("00f8"), Name = "altinst_rootvg", Partition = p.Name, Role = nameof(VolumeGroupRole.AltInstRoot), Active = false,
            Disks = disks.ToList(), ContentDisk = disks[0], OsLevel = root.OsLevel, Filesets = root.Filesets.ToList(),
            LogicalVolumes = root.LogicalVolumes.Select(l => new LvRecord { Name = l.Name, MountPoint = l.MountPoint, Type = l.Type, SizeMB = l.SizeMB, UsedMB = l.UsedMB }).ToList(),
        };
        var duration = s.Timing.Copy(usedMB);
        var started = s.Clock;
        Advance(s, duration);
        s.VolumeGroups.Add(vg);
        var clone = new CloneRecord { Partition = p.Name, Vg = vg.Id, SourceLevel = root.OsLevel!, DurationSeconds = duration.TotalSeconds, Created = started };
        s.Clones.Add(clone);
        return ToModel(s, clone);
    }).Also(_ => Fault(Steps.Clone, FaultTiming.After));

    public RootVgMirror MirrorRootVg(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        Fault(Steps.Mirror, FaultTiming.Before);
        var usedMB = root.LogicalVolumes.Sum(l => l.SizeMB);
        context.Logger.LogInformation("Mirroring rootvg of {Partition} onto {Disks} and synchronising {UsedMB} MB", p.Name, string.Join(",", disks), usedMB);
        foreach (var d in disks) Wipe(d);
        var syncing = $"Synchronising the rootvg mirror of {p.Name} on {string.Join(", ", disks)}";
        CopyTree(Content(root), Folder(disks[0]), CopyProgress(context, syncing, usedMB, s.Timing.MirrorSync(usedMB)));
        CopyDone(context, syncing, usedMB);
        Fault(Steps.Mirror, FaultTiming.During);
        root.MirrorDisks = disks.ToList();
        var duration = s.Timing.MirrorSync(usedMB);
        var mirror = new SimulatedMirror { Partition = p.Name, SourceVg = root.Id, Disks = disks.ToList(), DurationSeconds = duration.TotalSeconds, Created = s.Clock };
        s.Mirrors.Add(mirror);
        Advance(s, duration); // writes during the sync already reach both copies
        return ToModel(s, mirror);
    }).Also(_ => Fault(Steps.Mirror, FaultTiming.After));

    public VolumeGroup ImportMirror(string partition, string surrogate, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var m = s.MirrorOf(partition)!;
        var root = s.Vg(m.SourceVg)!;
        Fault(Steps.Import, FaultTiming.Before);
        context.Logger.LogInformation("Splitting the rootvg mirror of {Partition} on {Disks} and importing it into {Surrogate}; writes stay replicated until the blackout", partition, string.Join(",", m.Disks), surrogate);
        var vg = new VgRecord
        {
            Id = s.NewId("00f8"), Name = "mirror_rootvg", Partition = surrogate, Role = nameof(VolumeGroupRole.Mirror), Active = true,
            Disks = m.Disks.ToList(), ContentDisk = m.Disks[0], OsLevel = root.OsLevel, Filesets = root.Filesets.ToList(),
            LogicalVolumes = root.LogicalVolumes.Select(l => new LvRecord { Name = "fs" + l.Name, MountPoint = l.MountPoint, Type = l.Type, SizeMB = l.SizeMB, UsedMB = l.UsedMB }).ToList(),
        };
        root.MirrorDisks.Clear();
        Fault(Steps.Import, FaultTiming.During);
        root.ReplicaVgs.Add(vg.Id);
        vg.ReplicaVgs.Add(root.Id);
        s.VolumeGroups.Add(vg);
        m.State = nameof(MirrorState.Imported);
        m.ImportedVg = vg.Id;
        m.ImportedInto = surrogate;
        Advance(s, s.Timing.Import);
        return ToModel(s, vg);
    }).Also(_ => Fault(Steps.Import, FaultTiming.After));

    public void RemoveClone(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var c = s.CloneOf(partition);
        var vg = c is null ? null : s.Vg(c.Vg);
        context.Logger.LogInformation("Removing altinst_rootvg of {Partition} and wiping {Disks}", partition, string.Join(",", disks));
        if (vg is not null)
        {
            foreach (var d in vg.Disks) Wipe(d);
            s.VolumeGroups.Remove(vg);
        }
        if (c is not null) s.Clones.Remove(c);
        foreach (var d in disks.Where(d => !InUse(s, d))) Wipe(d);
    });

    private static bool InUse(LabState s, string disk) => s.VolumeGroups.Any(v =>
        v.Disks.Contains(disk, StringComparer.OrdinalIgnoreCase) || v.MirrorDisks.Contains(disk, StringComparer.OrdinalIgnoreCase));

    public void RemoveMirror(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var m = s.MirrorOf(partition);
        context.Logger.LogInformation("Removing the rootvg mirror of {Partition} and wiping {Disks}", partition, string.Join(",", disks));
        if (m is null)
        {
            foreach (var d in disks.Where(d => !InUse(s, d))) Wipe(d);
            return;
        }
        var root = s.Vg(m.SourceVg);
        var imported = m.ImportedVg is null ? null : s.Vg(m.ImportedVg);
        if (root is not null)
        {
            root.MirrorDisks.RemoveAll(d => m.Disks.Contains(d));
            if (imported is not null) root.ReplicaVgs.Remove(imported.Id);
        }
        if (imported is not null) s.VolumeGroups.Remove(imported);
        foreach (var d in m.Disks) Wipe(d);
        s.Mirrors.Remove(m);
        foreach (var d in disks.Where(d => !InUse(s, d))) Wipe(d);
    });

    public void RemoveVolumeGroup(string partition, string volumeGroup, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var vg = s.Vg(partition, volumeGroup);
        if (vg is null) return;
        context.Logger.LogInformation("Removing volume group {VolumeGroup} of {Partition} and freeing {Disks}", vg.Name, partition, string.Join(",", vg.Disks));
        foreach (var d in vg.Disks.Concat(vg.MirrorDisks)) Wipe(d);
        s.VolumeGroups.Remove(vg);
    });
}
