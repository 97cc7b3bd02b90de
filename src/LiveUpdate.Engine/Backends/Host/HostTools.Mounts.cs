using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>Mounts: the mount table, btrfs mounts, bind mounts, unmounting.</summary>
internal sealed partial class HostTools
{
    public static IReadOnlyList<MountEntry> Mounts()
    {
        var list = new List<MountEntry>();
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            var dash = line.IndexOf(" - ", StringComparison.Ordinal);
            if (dash < 0) continue;
            var left = line.Substring(0, dash).Split(' ');
            var right = line.Substring(dash + 3).Split(' ');
            if (left.Length < 5 || right.Length < 2) continue;
            list.Add(new MountEntry(Unescape(left[4]), Unescape(right[1]), right[0], Unescape(left[3])));
        }
        return list;
    }

    private static string Unescape(string s) => s.Contains('\\')
        ? System.Text.RegularExpressions.Regex.Replace(s, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString())
        : s;

    public static bool IsMountPoint(string dir) => Mounts().Any(m => m.MountPoint == dir.TrimEnd('/'));

    public static IReadOnlyList<MountEntry> MountsUnder(string dir)
    {
        var prefix = dir.TrimEnd('/') + "/";
        return Mounts().Where(m => m.MountPoint == dir.TrimEnd('/') || m.MountPoint.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    public static IReadOnlyList<MountEntry> MountsOfDevice(string device) => Mounts().Where(m => m.Source == device).ToList();

    public void MountBtrfs(IReadOnlyList<string> devices, string dir)
    {
        Directory.CreateDirectory(dir);
        if (IsMountPoint(dir)) return;
        var options = "subvolid=5" + string.Concat(devices.Select(d => ",device=" + d));
        foreach (var d in devices) Probe("btrfs", "device", "scan", d);
        RunFor("Mounting a volume group", "mount", "-t", "btrfs", "-o", options, devices[0], dir);
    }

    /// <summary>
    /// Makes a folder a shared mount of its own. A container copies the host's mounts into its namespace (out of its
    /// sight, but holding them); under a shared parent those copies follow when the host unmounts a file system, which
    /// would otherwise stay busy, with its disks, for as long as the container runs.
    /// </summary>
    public void SharedMountRoot(string dir)
    {
        Directory.CreateDirectory(dir);
        if (!IsMountPoint(dir)) Run("mount", "--bind", dir, dir);
        Run("mount", "--make-shared", dir);
    }

    public void Bind(string source, string target)
    {
        Directory.CreateDirectory(target);
        if (IsMountPoint(target)) return;
        Run("mount", "--bind", source, target);
        Run("mount", "--make-private", target);
    }

    public void Unmount(string dir)
    {
        foreach (var m in MountsUnder(dir).OrderByDescending(m => m.MountPoint.Length))
            RunFor("Unmounting " + m.MountPoint, "umount", m.MountPoint);
    }
}
