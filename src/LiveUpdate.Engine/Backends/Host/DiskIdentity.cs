using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>
/// What a described disk really is: the block device its path resolves to (major:minor), or for a disk file the file
/// itself (device and inode) and the loop device that maps it, if one does; for a loop device, its backing file.
/// </summary>
internal sealed record DiskIdentity(string Name, string Described, string? Device, string? Number, string? File, string? FileId)
{
    /// <summary>Everything that names the same storage: the device number and the backing (or disk) file's id.</summary>
    public IEnumerable<string> Keys => new[] { Number is null ? null : "dev " + Number, FileId is null ? null : "file " + FileId }.Where(k => k is not null)!;
}

/// <summary>
/// Resolves described disks to what they really are and refuses, before anything is written, a description in which
/// a path leaves /dev after its links are resolved, a device is not a block device, a disk file lies outside the
/// description's folder, two disks are one storage, or a disk (or a partition of it, or a file system it is a member
/// of) is mounted anywhere on the host but in the backend's own mount folder, held by another device (device mapper,
/// md) or used as swap. -Force never lifts these.
/// </summary>
internal static class DiskIdentities
{
    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr sys_realpath(string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void sys_free(IntPtr p);

    /// <summary>The path with every link resolved (realpath(3)); null when it does not exist.</summary>
    public static string? RealPath(string path)
    {
        var p = sys_realpath(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return null;
        try
        {
            return Marshal.PtrToStringUTF8(p);
        }
        finally
        {
            sys_free(p);
        }
    }

    private static LiveUpdateException Refused(string id, ErrorKind kind, string disk, string why) =>
        new(id, kind, $"Disk {disk} {why}; nothing was changed.", disk);

    /// <summary>A disk given as a device path.</summary>
    public static DiskIdentity OfDevice(string name, string device)
    {
        var real = RealPath(device) ?? throw Refused("DiskNotFound", ErrorKind.ObjectNotFound, name, $"({device}) does not exist");
        if (!real.StartsWith("/dev/", StringComparison.Ordinal))
            throw Refused("DiskOutsideDev", ErrorKind.InvalidArgument, name, $"({device}) resolves to {real}, which is not under /dev");
        var st = Native.Stat(real) ?? throw Refused("DiskNotFound", ErrorKind.ObjectNotFound, name, $"({real}) cannot be read");
        if (!st.IsBlockDevice) throw Refused("DiskNotBlockDevice", ErrorKind.InvalidArgument, name, $"({real}) is not a block device");
        var backing = BackingFile(st.DeviceNumber);
        return new DiskIdentity(name, device, real, st.DeviceNumber, backing, backing is null ? null : FileId(backing));
    }

    /// <summary>A disk given as a file in the description's folder (attached as a loop device; its loop device, if one maps it already).</summary>
    public static DiskIdentity OfFile(string name, string folder, string file)
    {
        var path = Path.Combine(folder, file);
        var real = RealPath(path) ?? throw Refused("DiskNotFound", ErrorKind.ObjectNotFound, name, $"({path}) does not exist");
        var top = RealPath(folder) ?? folder;
        if (!real.StartsWith(top.TrimEnd('/') + "/", StringComparison.Ordinal))
            throw Refused("DiskFileOutsideFolder", ErrorKind.InvalidArgument, name, $"({file}) resolves to {real}, outside the description's folder {top}");
        var st = Native.Stat(real) ?? throw Refused("DiskNotFound", ErrorKind.ObjectNotFound, name, $"({real}) cannot be read");
        if (!st.IsRegular) throw Refused("DiskFileInvalid", ErrorKind.InvalidArgument, name, $"({real}) is not a regular file");
        var loop = LoopOf(real);
        return new DiskIdentity(name, file, loop?.Device, loop?.Number, real, $"{st.Device}/{st.Inode}");
    }

    private static string? FileId(string path) => Native.Stat(path) is { } s ? $"{s.Device}/{s.Inode}" : null;

    /// <summary>The backing file of a loop device, by device number; null for any other device.</summary>
    public static string? BackingFile(string number)
    {
        try
        {
            var f = $"/sys/dev/block/{number}/loop/backing_file";
            return System.IO.File.Exists(f) ? System.IO.File.ReadAllText(f).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static (string Device, string Number)? LoopOf(string file)
    {
        if (!Directory.Exists("/sys/block")) return null;
        foreach (var dir in Directory.GetDirectories("/sys/block", "loop*"))
        {
            var backing = Path.Combine(dir, "loop/backing_file");
            try
            {
                if (System.IO.File.Exists(backing) && System.IO.File.ReadAllText(backing).Trim() == file)
                    return ("/dev/" + Path.GetFileName(dir), System.IO.File.ReadAllText(Path.Combine(dir, "dev")).Trim());
            }
            catch (IOException)
            {
                // A loop device detached meanwhile.
            }
        }
        return null;
    }

    /// <summary>Refuses two disks that are one storage.</summary>
    public static void RequireDistinct(IReadOnlyList<DiskIdentity> disks)
    {
        var seen = new Dictionary<string, DiskIdentity>(StringComparer.Ordinal);
        foreach (var d in disks)
            foreach (var key in d.Keys)
            {
                if (seen.TryGetValue(key, out var other) && other.Name != d.Name)
                    throw new LiveUpdateException("DiskSameStorage", ErrorKind.InvalidArgument,
                        $"Disks {other.Name} ({other.Described}) and {d.Name} ({d.Described}) are the same storage ({key}); a description names each disk once. Nothing was changed.", d.Name);
                seen[key] = d;
            }
    }

    /// <summary>Where the storage of the host is in use: device number → what uses it (a mount point, a holder, swap).</summary>
    public static IReadOnlyDictionary<string, string> InUse(string? ownMounts)
    {
        var used = new Dictionary<string, string>(StringComparer.Ordinal);
        var own = ownMounts?.TrimEnd('/') + "/";
        var mounts = HostTools.Mounts();
        var btrfsMembers = BtrfsMembers();
        foreach (var m in mounts)
        {
            if (ownMounts is not null && (m.MountPoint + "/").StartsWith(own, StringComparison.Ordinal)) continue;
            var what = m.MountPoint == "/" ? "the host's root file system" : $"mounted at {m.MountPoint}";
            var numbers = new List<string>();
            if (m.Source.StartsWith("/dev/", StringComparison.Ordinal) && Native.Stat(m.Source) is { IsBlockDevice: true } st) numbers.Add(st.DeviceNumber);
            if (m.FileSystem == "btrfs") numbers.AddRange(btrfsMembers.Where(g => g.Contains(numbers.FirstOrDefault() ?? "-")).SelectMany(g => g));
            foreach (var n in numbers.Distinct())
            {
                used.TryAdd(n, what);
                if (ParentDisk(n) is { } parent) used.TryAdd(parent, $"a partition of it is {what}");
            }
        }
        foreach (var line in System.IO.File.Exists("/proc/swaps") ? System.IO.File.ReadAllLines("/proc/swaps").Skip(1) : Array.Empty<string>())
        {
            var dev = line.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (dev is not null && Native.Stat(dev) is { IsBlockDevice: true } st) used.TryAdd(st.DeviceNumber, "used as swap");
        }
        return used;
    }

    /// <summary>Refuses a disk that the host uses: mounted (but in the backend's own mount folder), a partition of it mounted, held by another device, swap.</summary>
    public static void RequireUnused(DiskIdentity d, IReadOnlyDictionary<string, string> inUse)
    {
        if (d.Number is null) return;
        if (inUse.TryGetValue(d.Number, out var what))
            throw new LiveUpdateException(what.Contains("root", StringComparison.Ordinal) ? "DiskHoldsHostRoot" : "DiskMounted", ErrorKind.ResourceBusy,
                $"Disk {d.Name} ({d.Device}) is {what}; LiveUpdate uses only disks that nothing on the host has mounted. Unmount it first. Nothing was changed.", d.Name);
        var holders = $"/sys/dev/block/{d.Number}/holders";
        if (Directory.Exists(holders) && Directory.EnumerateFileSystemEntries(holders).FirstOrDefault() is { } holder)
            throw new LiveUpdateException("DiskHeld", ErrorKind.ResourceBusy,
                $"Disk {d.Name} ({d.Device}) is held by {Path.GetFileName(holder)} (device mapper, md or LVM); LiveUpdate uses only disks that nothing else holds. Nothing was changed.", d.Name);
    }

    /// <summary>The device numbers of the members of each mounted btrfs file system.</summary>
    private static List<HashSet<string>> BtrfsMembers()
    {
        var groups = new List<HashSet<string>>();
        if (!Directory.Exists("/sys/fs/btrfs")) return groups;
        foreach (var fs in Directory.GetDirectories("/sys/fs/btrfs"))
        {
            var devices = Path.Combine(fs, "devices");
            if (!Directory.Exists(devices)) continue;
            var set = new HashSet<string>(StringComparer.Ordinal);
            foreach (var dev in Directory.GetFileSystemEntries(devices))
            {
                try
                {
                    set.Add(System.IO.File.ReadAllText(Path.Combine(dev, "dev")).Trim());
                }
                catch (IOException)
                {
                    // Gone meanwhile.
                }
            }
            groups.Add(set);
        }
        return groups;
    }

    /// <summary>The whole disk of a partition, by device number; null when the device is not a partition.</summary>
    private static string? ParentDisk(string number)
    {
        try
        {
            var dir = $"/sys/dev/block/{number}";
            if (!System.IO.File.Exists(Path.Combine(dir, "partition"))) return null;
            var parent = Path.Combine(dir, "..", "dev");
            return System.IO.File.Exists(parent) ? System.IO.File.ReadAllText(parent).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
