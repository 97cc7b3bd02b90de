using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>Storage: btrfs volume groups on the described disks, the clone (btrfs send and receive onto fresh disks), removal and wiping.</summary>
public sealed partial class ContainerBackend
{
    private void EnsureMounted(ContainerState s, ContainerVg vg)
    {
        var dir = Mnt(vg.Serial);
        if (HostTools.IsMountPoint(dir)) return;
        _tools.SharedMountRoot(Path.Combine(_store.Root, "mnt"));
        _tools.MountBtrfs(vg.Disks.Select(d => Device(s, d)).ToList(), dir);
    }

    /// <summary>
    /// Makes sure a disk may be overwritten: named in the description, in no volume group, used by nothing on the host,
    /// and blank or holding a file system the backend made (recorded with its UUID), or forced.
    /// </summary>
    private void CheckWritable(ContainerState s, string disk, string purpose)
    {
        DiskOf(disk);
        var vg = s.VgOnDisk(disk);
        if (vg is not null)
            throw new LiveUpdateException("DiskInUse", ErrorKind.ResourceUnavailable, $"Disk {disk} belongs to {vg.Name}{(vg.Partition is null ? "" : " of " + vg.Partition)}; the {purpose} needs a free disk.", disk);
        var dev = Device(s, disk);
        if (Native.Stat(dev) is { IsBlockDevice: true } st)
            DiskIdentities.RequireUnused(new DiskIdentity(disk, dev, dev, st.DeviceNumber, null, null), DiskIdentities.InUse(Path.Combine(_store.Root, "mnt")));
        var sig = _tools.Signature(dev);
        if (sig is null || IsOurs(s, disk, sig.Value.Uuid)) return;
        if (_force)
        {
            _tools.Log.LogWarning("Disk {Disk} holds {Type} ({Label}); overwriting it because the connection was made with -Force", disk, sig.Value.Type, Printable(sig.Value.Label));
            return;
        }
        throw new LiveUpdateException("DiskHoldsFileSystem", ErrorKind.ResourceUnavailable,
            $"Disk {disk} holds a {sig.Value.Type} file system{(sig.Value.Label is null ? "" : $" labelled '{Printable(sig.Value.Label)}'")} that LiveUpdate did not make; connect with -Force to overwrite it.", disk);
    }

    /// <summary>Wipes a disk unless it belongs to a volume group or holds a file system the backend did not make (a warning then).</summary>
    private void WipeIfOurs(ContainerState s, string disk, OperationContext context)
    {
        if (Description.Disks!.All(d => !Same(d.Name, disk)) || s.VgOnDisk(disk) is not null) return;
        var dev = Device(s, disk);
        var sig = _tools.Signature(dev);
        if (sig is null)
        {
            foreach (var m in HostTools.MountsOfDevice(dev).OrderByDescending(m => m.MountPoint.Length)) _tools.Unmount(m.MountPoint);
            Forget(s, disk);
            return;
        }
        if (!IsOurs(s, disk, sig.Value.Uuid) && !_force)
        {
            context.Logger.LogWarning("Disk {Disk} holds {Type} that LiveUpdate did not make; it is left as it is", disk, sig.Value.Type);
            return;
        }
        context.Logger.LogInformation("Wiping disk {Disk} ({Device})", disk, dev);
        _tools.Wipe(dev);
        Forget(s, disk);
    }

    /// <summary>The disk is blank again: no file system of the backend's is on it any more.</summary>
    private void Forget(ContainerState s, string disk)
    {
        s.Made.RemoveAll(m => Same(m.Disk, disk));
        _foreign.Remove(disk);
    }

    private void DestroyVg(ContainerState s, ContainerVg vg, OperationContext context)
    {
        var dir = Mnt(vg.Serial);
        _tools.Unmount(dir);
        s.VolumeGroups.Remove(vg);
        foreach (var d in vg.Disks)
        {
            var dev = Device(s, d);
            context.Logger.LogInformation("Wiping disk {Disk} ({Device}) of {VolumeGroup}", d, dev, vg.Name);
            _tools.Wipe(dev);
            Forget(s, d);
        }
        if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any()) Directory.Delete(dir);
    }

    private string NewFileSystem(ContainerState s, IReadOnlyList<string> disks, string purpose, OperationContext context)
    {
        foreach (var d in disks) CheckWritable(s, d, purpose);
        var serial = s.NewSerial();
        var devices = disks.Select(d => Device(s, d)).ToList();
        // Recorded before it is made, with the UUID it gets: whatever happens next, the disks are known to be ours.
        var uuid = Guid.NewGuid().ToString();
        for (var i = 0; i < disks.Count; i++)
        {
            s.Made.RemoveAll(m => Same(m.Disk, disks[i]));
            s.Made.Add(new MadeFileSystem { Disk = disks[i], Uuid = uuid, Device = Native.Stat(devices[i])?.DeviceNumber ?? "" });
        }
        Save(s);
        foreach (var dev in devices) _tools.Wipe(dev);
        context.Logger.LogInformation("Making a btrfs file system {Label} on {Disks} for the {Purpose}", Label(serial), string.Join(", ", disks), purpose);
        _tools.MakeBtrfs(devices, Label(serial), uuid);
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
    private void PlaceVolume(string mount, ContainerLv lv, string snapshot, string? replaced = null)
    {
        var target = PlaceOf(mount, lv);
        if (replaced is not null && Directory.Exists(target) && !Directory.Exists(replaced))
        {
            _tools.Log.LogInformation("Renaming {Volume} to {Replaced}; it is deleted once the application answers", target, replaced);
            Directory.Move(target, replaced);
        }
        else _tools.DeleteSubvolume(target);
        _tools.Snapshot(snapshot, target, readOnly: false);
    }

    /// <summary>
    /// The path of a logical volume on a mounted volume group, checked first: reached from the mount without a link
    /// and a subvolume (a btrfs subvolume's top is inode 256), so that no btrfs command is pointed through a link the
    /// partition planted in its tree.
    /// </summary>
    private static string Volume(string mount, ContainerLv lv)
    {
        var path = LvPath(mount, lv);
        var relative = Path.GetRelativePath(mount, path);
        using var tree = SafeTree.Open(mount);
        var entry = tree.Lstat(relative);
        if (entry is null)
            throw new LiveUpdateException("LogicalVolumeMissing", ErrorKind.ObjectNotFound,
                $"The logical volume {lv.Name} ({lv.MountPoint}) is not at {relative} of its volume group; create it with: btrfs subvolume create {path}", lv.Name);
        if (!entry.Value.IsDirectory || entry.Value.Inode != 256)
            throw new LiveUpdateException("LogicalVolumeNotSubvolume", ErrorKind.InvalidData,
                $"{relative} of the volume group mounted at {mount} is not the subvolume of logical volume {lv.Name} ({(entry.Value.IsLink ? "a link" : entry.Value.IsDirectory ? "a plain folder" : "a file")} stands there); LiveUpdate copies and replaces only subvolumes, never through a link.", lv.Name);
        return path;
    }

    /// <summary>Where a logical volume is put in place: its parent reached without a link; a link or file at the name itself is removed (never followed).</summary>
    private static string PlaceOf(string mount, ContainerLv lv)
    {
        var path = LvPath(mount, lv);
        var relative = Path.GetRelativePath(mount, path);
        using var tree = SafeTree.Open(mount);
        var entry = tree.Lstat(relative);
        if (entry is { IsDirectory: false }) tree.Delete(relative);
        return path;
    }

    private void DeleteChildren(string dir)
    {
        if (!Directory.Exists(dir)) return;
        foreach (var sub in Directory.GetDirectories(dir)) _tools.DeleteSubvolume(sub);
    }


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
                _tools.Snapshot(Volume(src, lv), snap, readOnly: true);
                _tools.SendReceive(snap, null, CloneDir(dst));
                PlaceVolume(dst, lv, Path.Combine(CloneDir(dst), $"{lv.Name}@{tag}"));
                _tools.DeleteSubvolume(snap);
                context.Report("Cloning rootvg of " + partition, lv.Name, 100 * ++done / root.Lvs.Count);
            }
            DeleteChildren(CloneDir(dst));
            var vg = new ContainerVg
            {
                Serial = serial, Name = "altinst_rootvg", Role = nameof(VolumeGroupRole.AltInstRoot), Partition = p.Name, Disks = disks.ToList(),
                Lvs = root.Lvs.Select(l => new ContainerLv { Name = l.Name, MountPoint = l.MountPoint }).ToList(), Created = true, Label = Label(serial), OsLevel = ReadLevel(root),
            };
            s.VolumeGroups.Add(vg);
            var c = new CloneRecord { Partition = p.Name, Vg = serial, SourceLevel = ReadLevel(root)!, DurationSeconds = clock.Elapsed.TotalSeconds, Created = started };
            s.Clones.Add(c);
            return ToModel(s, c);
        });
        Fault(Steps.Clone, FaultTiming.After);
        return clone;
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

    public void RemoveVolumeGroup(string partition, string volumeGroup, OperationContext context) => Change(context, s =>
    {
        var vg = s.Vg(partition, volumeGroup);
        if (vg is null) return;
        context.Logger.LogInformation("Removing volume group {VolumeGroup} of {Partition} and freeing {Disks}", vg.Name, partition, string.Join(", ", vg.Disks));
        DestroyVg(s, vg, context);
    });
}
