using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Host;

/// <summary>Mounts: the mount table, btrfs mounts, bind mounts, unmounting.</summary>
internal sealed partial class HostTools
{
    public static IReadOnlyList<MountEntry> Mounts() => Mounts("/proc/self/mountinfo");

    /// <summary>The mount table of a mountinfo file (/proc/PID/mountinfo).</summary>
    public static IReadOnlyList<MountEntry> Mounts(string mountinfo)
    {
        var list = new List<MountEntry>();
        foreach (var line in File.ReadAllLines(mountinfo))
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
        Folders.CreateOwnerOnly(dir);
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

    /// <summary>The folder under which the backend mounts its file systems: copies of those mounts that other mount namespaces hold are detached before a disk is wiped.</summary>
    public string? OwnMountRoot { get; set; }

    /// <summary>
    /// Detaches (lazily) the copies of the backend's own mounts of a device that other mount namespaces still hold. A
    /// namespace made while the mount existed, with private propagation (unshare(1) by default), keeps its copy when
    /// the host unmounts it, and with it the file system and its disk, which can then be neither wiped nor detached.
    /// Only mounts under <paramref name="under"/> (by default <see cref="OwnMountRoot"/>) are touched.
    /// </summary>
    public void DetachCopies(string device, string? under = null)
    {
        var root = under ?? OwnMountRoot;
        if (root is null) return;
        var prefix = root.TrimEnd('/') + "/";
        var own = NamespaceOf("self");
        var seen = new HashSet<string>(StringComparer.Ordinal) { own ?? "" };
        foreach (var pid in Processes())
        {
            var ns = NamespaceOf(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (ns is null || !seen.Add(ns)) continue;
            IReadOnlyList<MountEntry> mounts;
            try
            {
                mounts = Mounts($"/proc/{pid}/mountinfo");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            foreach (var m in mounts.Where(m => m.Source == device && (m.MountPoint + "/").StartsWith(prefix, StringComparison.Ordinal)).OrderByDescending(m => m.MountPoint.Length))
            {
                Log.LogWarning("A copy of the mount {MountPoint} lingers in the mount namespace of process {Pid} ({Command}); detaching it there", m.MountPoint, pid, CommandLine(pid));
                Probe("nsenter", $"--mount=/proc/{pid}/ns/mnt", "--", Prerequisites.Tool("umount"), "--lazy", m.MountPoint);
            }
        }
    }

    private static string? NamespaceOf(string pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/mnt").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Unmount(string dir)
    {
        foreach (var m in MountsUnder(dir).OrderByDescending(m => m.MountPoint.Length))
            RunFor("Unmounting " + m.MountPoint, "umount", m.MountPoint);
    }
}
