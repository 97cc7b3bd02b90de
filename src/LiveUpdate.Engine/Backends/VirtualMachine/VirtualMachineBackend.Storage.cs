using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

public sealed partial class VirtualMachineBackend
{
    public RootVgClone CloneRootVg(string partition, IReadOnlyList<string> disks, OperationContext context)
    {
        var clone = Change(context, s =>
        {
            var existing = s.CloneOf(partition);
            if (existing is not null && s.Vg(existing.Vg)!.Disks[0].Equals(disks[0], StringComparison.OrdinalIgnoreCase)) return ToModel(s, existing);
            var p = s.Partition(partition)!;
            var root = s.Vg(p.RootVg)!;
            if (disks.Count != 1)
                throw new LiveUpdateException("CloneDiskCount", ErrorKind.InvalidArgument, $"A clone of {partition}'s boot disk takes one disk, not {disks.Count}.", partition);
            CheckSameSize(root.Disks[0], disks[0], "clone");
            if (!Agent.Ping(p.Domain))
                throw new LiveUpdateException("GuestAgentUnavailable", ErrorKind.ResourceUnavailable, $"The guest agent of {partition} does not answer; without it the guest's file systems cannot be frozen for a consistent clone. Nothing was changed.", partition);
            Fault(Steps.Clone, FaultTiming.Before);
            var clock = Stopwatch.StartNew();
            var started = DateTimeOffset.Now;
            var serial = s.NewSerial();
            var vg = new VmVolumeGroup
            {
                Serial = serial, Name = "altinst_rootvg", Role = nameof(VolumeGroupRole.AltInstRoot), Partition = p.Name, Disks = disks.ToList(),
                OsLevel = root.OsLevel, Kernel = root.Kernel ?? p.Kernel, Created = true,
            };
            s.VolumeGroups.Add(vg);
            Save(s);
            context.Logger.LogInformation("Cloning the boot disk of {Partition} ({Disk}) onto {Target} while it runs", partition, root.Disks[0], disks[0]);
            Fault(Steps.Clone, FaultTiming.During);
            CopyLive(p, "vda", disks[0], synchronous: false, context);
            context.Logger.LogInformation("Freezing the file systems of {Partition} for the instant the copy ends", partition);
            Agent.Freeze(p.Domain);
            try
            {
                Libvirt.AbortJob(p.Domain, "vda");
            }
            finally
            {
                Agent.Thaw(p.Domain);
            }
            new GuestImage(DiskPath(disks[0])) { Log = _log }.Check();
            var c = new CloneRecord { Partition = p.Name, Vg = serial, SourceLevel = root.OsLevel!, DurationSeconds = clock.Elapsed.TotalSeconds, Created = started };
            s.Clones.Add(c);
            return ToModel(s, c);
        });
        Fault(Steps.Clone, FaultTiming.After);
        return clone;
    }

    private void CheckSameSize(string source, string target, string purpose)
    {
        if (_sizes.GetValueOrDefault(source) != _sizes.GetValueOrDefault(target))
            throw new LiveUpdateException("DiskSizeMismatch", ErrorKind.InvalidArgument,
                $"Disk {target} ({_sizes.GetValueOrDefault(target)} MB) differs in size from {source} ({_sizes.GetValueOrDefault(source)} MB); a block {purpose} needs a disk of the same size.", target);
    }

    /// <summary>Starts a block copy of a running domain's disk onto a described disk and waits until it is ready (everything copied, mirroring).</summary>
    private void CopyLive(VmPartition p, string target, string disk, bool synchronous, OperationContext context)
    {
        var flags = LibvirtConnection.BlockCopyReuseExternal | LibvirtConnection.BlockCopyTransientJob | (synchronous ? LibvirtConnection.BlockCopySynchronousWrites : 0);
        if (Libvirt.Job(p.Domain, target) is not null) Libvirt.AbortJob(p.Domain, target);
        Libvirt.BlockCopy(p.Domain, target, DomainXml.CopyTarget(DiskPath(disk), IsBlock(disk)), flags);
        WaitReady(p, target, disk, context);
    }

    /// <summary>
    /// Waits until a block job has copied everything and mirrors (ready). A synchronous mirror of a guest that writes
    /// has a write or two in flight at any instant, so readiness is waited for, never read off one sample.
    /// </summary>
    private void WaitReady(VmPartition p, string target, string disk, OperationContext context, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromMinutes(30);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var job = Libvirt.Job(p.Domain, target)
                ?? throw new LiveUpdateException("BlockCopyFailed", ErrorKind.DeviceError, $"The block copy of {p.Name} {target} onto {disk} ended by itself.", disk);
            if (job.Total > 0 && job.Remaining == 0) return;
            if (clock.Elapsed > limit)
                throw new LiveUpdateException(timeout is null ? "BlockCopyFailed" : "MirrorNotSynchronized", ErrorKind.OperationStopped,
                    $"The block copy of {p.Name} {target} onto {disk} did not get ready within {limit.TotalSeconds:0} s.", disk);
            if (job.Total > 0) context.Report("Copying " + p.Name + " " + target, disk, (int)(100 * job.Copied / job.Total));
            Thread.Sleep(20);
        }
    }

    public RootVgMirror MirrorRootVg(string partition, IReadOnlyList<string> disks, OperationContext context)
    {
        var mirror = Change(context, s =>
        {
            var existing = s.MirrorOf(partition);
            var p = s.Partition(partition)!;
            if (existing is not null)
            {
                // Redoing the step repairs a mirror whose job ended (someone aborted it): it is copied again until ready.
                foreach (var (source, target) in existing.Pairs.Where(kv => !existing.Ended.Contains(kv.Key) && Libvirt.Running(p.Domain)))
                    if (Libvirt.Job(p.Domain, TargetOf(p, source)) is null) CopyLive(p, TargetOf(p, source), target, synchronous: true, context);
                    else WaitReady(p, TargetOf(p, source), target, context);
                existing.Ready = true;
                return ToModel(s, existing);
            }
            var root = s.Vg(p.RootVg)!;
            var data = root.Disks.Skip(1).ToList();
            if (disks.Count != data.Count)
                throw new LiveUpdateException("MirrorDiskCount", ErrorKind.InvalidArgument, $"The mirror of {partition} takes one disk for each of its data disks ({string.Join(", ", data)}), not {disks.Count}.", partition);
            for (var i = 0; i < data.Count; i++) CheckSameSize(data[i], disks[i], "mirror");
            Fault(Steps.Mirror, FaultTiming.Before);
            var clock = Stopwatch.StartNew();
            var serial = s.NewSerial();
            var m = new VmMirror { Partition = p.Name, Vg = serial, SourceVg = root.Serial, Created = DateTimeOffset.Now, Ready = false };
            for (var i = 0; i < data.Count; i++) m.Pairs[data[i]] = disks[i];
            s.VolumeGroups.Add(new VmVolumeGroup { Serial = serial, Name = "mirror_rootvg", Role = "MirrorCopy", Partition = p.Name, Disks = disks.ToList(), MountPoints = root.MountPoints.ToList(), Created = true });
            s.Mirrors.Add(m);
            Save(s);
            Fault(Steps.Mirror, FaultTiming.During);
            context.Logger.LogInformation("Mirroring {Disks} of {Partition} synchronously onto {Mirror}: from now on no write completes before it is on both", string.Join(", ", data), partition, string.Join(", ", disks));
            foreach (var (source, target) in m.Pairs) CopyLive(p, TargetOf(p, source), target, synchronous: true, context);
            m.Ready = true;
            m.DurationSeconds = clock.Elapsed.TotalSeconds;
            return ToModel(s, m);
        });
        Fault(Steps.Mirror, FaultTiming.After);
        return mirror;
    }

    /// <summary>The guest device (vdb, …) through which a running domain holds a data disk.</summary>
    private static string TargetOf(VmPartition p, string disk) => p.Attached.FirstOrDefault(kv => Same(kv.Value, disk)).Key
        ?? throw new LiveUpdateException("DiskNotAttached", ErrorKind.InvalidOperation, $"Disk {disk} is not attached to {p.Name}.", disk);

    public VolumeGroup ImportMirror(string partition, string surrogate, OperationContext context)
    {
        var vg = Change(context, s =>
        {
            var m = s.MirrorOf(partition)!;
            var mirror = s.Vg(m.Vg)!;
            if (m.State == nameof(MirrorState.Imported) && Same(m.ImportedInto, surrogate)) return ToModel(s, mirror);
            var p = s.Partition(partition)!;
            Fault(Steps.Import, FaultTiming.Before);
            // The mirror stays a synchronous job of the original's QEMU until the blackout: a disk that a running job
            // writes cannot be plugged into the surrogate (its guest would cache blocks that change under it).
            foreach (var (source, target) in m.Pairs.Where(kv => !m.Ended.Contains(kv.Key)))
            {
                if (Libvirt.Job(p.Domain, TargetOf(p, source)) is null)
                    throw new LiveUpdateException("MirrorNotSynchronized", ErrorKind.InvalidOperation, $"The mirror of {partition}'s {source} is not synchronized: its job has ended.", partition);
                WaitReady(p, TargetOf(p, source), target, context, TimeSpan.FromSeconds(30));
            }
            context.Logger.LogInformation("Importing the mirror of {Partition} on {Disks} into {Surrogate}: it stays synchronous and is plugged in at the blackout", partition, string.Join(", ", mirror.Disks), surrogate);
            Fault(Steps.Import, FaultTiming.During);
            m.State = nameof(MirrorState.Imported);
            m.ImportedInto = surrogate;
            mirror.Partition = surrogate;
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
            s.Clones.Remove(c);
        }
        var p = s.Partition(partition);
        if (p is not null && Libvirt.Running(p.Domain) && Libvirt.Job(p.Domain, "vda") is not null) Libvirt.AbortJob(p.Domain, "vda");
        foreach (var vg in s.VolumeGroups.Where(v => v.Role == nameof(VolumeGroupRole.AltInstRoot) && Same(v.Partition, partition)).ToList()) s.VolumeGroups.Remove(vg);
        foreach (var d in disks) WipeIfOurs(s, d, context);
    });

    public void RemoveMirror(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(context, s =>
    {
        var m = s.MirrorOf(partition);
        context.Logger.LogInformation("Removing the mirror of {Partition} and wiping {Disks}", partition, string.Join(", ", disks));
        if (m is not null) DropMirror(s, m);
        foreach (var d in disks) WipeIfOurs(s, d, context);
    });

    private void DropMirror(VmState s, VmMirror m)
    {
        var p = s.Partition(m.Partition);
        if (p is not null && Libvirt.Running(p.Domain))
            foreach (var (source, _) in m.Pairs)
            {
                var target = p.Attached.FirstOrDefault(kv => Same(kv.Value, source)).Key;
                if (target is not null && Libvirt.Job(p.Domain, target) is not null) Libvirt.AbortJob(p.Domain, target);
            }
        var vg = s.Vg(m.Vg);
        if (vg is not null) s.VolumeGroups.Remove(vg);
        s.Mirrors.Remove(m);
    }

    public void RemoveVolumeGroup(string partition, string volumeGroup, OperationContext context) => Change(context, s =>
    {
        var vg = s.Vg(partition, volumeGroup);
        if (vg is null) return;
        context.Logger.LogInformation("Removing volume group {VolumeGroup} of {Partition} and freeing {Disks}", vg.Name, partition, string.Join(", ", vg.Disks));
        s.VolumeGroups.Remove(vg);
        foreach (var d in vg.Disks) WipeIfOurs(s, d, context);
    });

    /// <summary>Clears the start of a disk that our state held (and no volume group holds any more) so that it is free again.</summary>
    private void WipeIfOurs(VmState s, string disk, OperationContext context)
    {
        if (s.VgOnDisk(disk) is not null) return;
        if (s.Partitions.Any(p => p.Attached.Values.Contains(disk, StringComparer.OrdinalIgnoreCase) && Libvirt.Running(p.Domain))) return;
        if (!s.DiskIdentity.ContainsKey(disk)) return;
        context.Logger.LogDebug("Wiping the start of {Disk}", disk);
        using var f = new FileStream(DiskPath(disk), FileMode.Open, FileAccess.Write);
        var zeros = new byte[1024 * 1024];
        for (var i = 0; i < 4 && f.Position < f.Length; i++) f.Write(zeros, 0, (int)Math.Min(zeros.Length, f.Length - f.Position));
        f.Flush(true);
    }
}
