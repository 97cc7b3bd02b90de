using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Linux;

/// <summary>One line of /proc/self/mountinfo.</summary>
internal sealed record MountEntry(string MountPoint, string Source, string FileSystem, string Root);

/// <summary>
/// The host's tools in the model's service: loop devices, btrfs file systems and subvolumes, mounts, network
/// namespaces, containers. Every command goes through the <see cref="CommandRunner"/> with an argument vector.
/// </summary>
internal sealed class HostTools
{
    private readonly CommandRunner _runner = new();

    public ILogger Log { get; set; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    public CancellationToken Cancellation { get; set; }

    public CommandResult Run(string tool, params string[] args) => _runner.Run(Prerequisites.Tool(tool), args, Log, cancellation: Cancellation);
    public CommandResult RunFor(string purpose, string tool, params string[] args) => _runner.Run(Prerequisites.Tool(tool), args, Log, purpose: purpose, cancellation: Cancellation);
    public CommandResult Probe(string tool, params string[] args) => _runner.Probe(Prerequisites.Tool(tool), args, Log, cancellation: Cancellation);
    public CommandResult RunWithInput(string inputFile, string tool, params string[] args) =>
        _runner.Run(Prerequisites.Tool(tool), args, Log, standardInputFile: inputFile, cancellation: Cancellation);

    // ------------------------------------------------------------------ loop devices and signatures

    /// <summary>The loop device that already maps a file, or a new one.</summary>
    public string AttachLoop(string file)
    {
        var existing = LoopOf(file);
        if (existing is not null) return existing;
        return Run("losetup", "--find", "--show", file).StandardOutput.Trim();
    }

    public string? LoopOf(string file)
    {
        var r = Probe("losetup", "--noheadings", "--output", "NAME", "--associated", file);
        return r.Succeeded ? r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).FirstOrDefault() : null;
    }

    public void DetachLoop(string device)
    {
        var r = Probe("losetup", "--detach", device);
        if (!r.Succeeded && File.Exists("/sys/block/" + Path.GetFileName(device) + "/loop/backing_file"))
            throw new CommandFailedException(r.Command, r.ExitCode, r.StandardError, "Detaching a loop device");
    }

    /// <summary>The file system (or other) signature on a device: type and label; null when it holds none.</summary>
    public (string Type, string? Label, string? Uuid)? Signature(string device)
    {
        var r = Probe("blkid", "--probe", "--output", "export", device);
        if (r.ExitCode == 2) return null;
        if (!r.Succeeded) throw new CommandFailedException(r.Command, r.ExitCode, r.StandardError, "Reading the signature of " + device);
        var values = r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
        var type = values.GetValueOrDefault("TYPE") ?? values.GetValueOrDefault("PTTYPE") ?? "unknown";
        return (type, values.GetValueOrDefault("LABEL"), values.GetValueOrDefault("UUID"));
    }

    public long SizeBytes(string device) => long.Parse(Run("blockdev", "--getsize64", device).StandardOutput.Trim(), CultureInfo.InvariantCulture);

    /// <summary>Removes every signature from a device and makes the kernel forget it as a btrfs member.</summary>
    public void Wipe(string device)
    {
        foreach (var m in MountsOfDevice(device).OrderByDescending(m => m.MountPoint.Length)) Unmount(m.MountPoint);
        Probe("btrfs", "device", "scan", "--forget", device);
        Run("wipefs", "--all", "--quiet", device);
    }

    // ------------------------------------------------------------------ mounts

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

    // ------------------------------------------------------------------ btrfs

    public void MakeBtrfs(IReadOnlyList<string> devices, string label)
    {
        var args = new List<string> { "--force", "--quiet", "--label", label, "--data", "single", "--metadata", devices.Count > 1 ? "raid1" : "dup" };
        args.AddRange(devices);
        _runner.Run(Prerequisites.Tool("mkfs.btrfs"), args, Log, purpose: "Making a file system", cancellation: Cancellation);
    }

    public bool IsSubvolume(string path) => Directory.Exists(path) && Probe("btrfs", "subvolume", "show", path).Succeeded;

    /// <summary>True when a subvolume was received completely (btrfs sets its received UUID only at the end).</summary>
    public bool IsCompleteReceived(string path)
    {
        if (!Directory.Exists(path)) return false;
        var r = Probe("btrfs", "subvolume", "show", path);
        if (!r.Succeeded) return false;
        var line = r.StandardOutput.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("Received UUID:", StringComparison.Ordinal));
        return line is not null && !line.Trim().EndsWith("-", StringComparison.Ordinal);
    }

    public void CreateSubvolume(string path)
    {
        if (IsSubvolume(path)) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        Run("btrfs", "subvolume", "create", path);
    }

    public void Snapshot(string source, string target, bool readOnly)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (readOnly) Run("btrfs", "subvolume", "snapshot", "-r", source, target);
        else Run("btrfs", "subvolume", "snapshot", source, target);
    }

    /// <summary>Deletes a subvolume (and any subvolume nested in it); a plain directory there is removed too.</summary>
    public void DeleteSubvolume(string path)
    {
        if (!Directory.Exists(path)) return;
        if (!IsSubvolume(path))
        {
            Directory.Delete(path, recursive: true);
            return;
        }
        // Nested subvolumes first: a subvolume cannot be deleted while it holds one.
        var list = Probe("btrfs", "subvolume", "list", "-o", path);
        if (list.Succeeded)
        {
            var mount = Mounts().Where(m => path.StartsWith(m.MountPoint.TrimEnd('/') + "/", StringComparison.Ordinal)).OrderByDescending(m => m.MountPoint.Length).FirstOrDefault();
            foreach (var line in list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                var at = line.IndexOf(" path ", StringComparison.Ordinal);
                if (at < 0 || mount is null || mount.Root != "/") continue;
                var nested = Path.Combine(mount.MountPoint, line.Substring(at + 6).Trim());
                if (nested != path && nested.StartsWith(path + "/", StringComparison.Ordinal)) DeleteSubvolume(nested);
            }
        }
        Run("btrfs", "subvolume", "delete", "--commit-after", path);
    }

    /// <summary><c>btrfs send [-p parent] snapshot | btrfs receive dir</c>: two processes, no shell.</summary>
    public void SendReceive(string snapshot, string? parent, string targetDir)
    {
        Directory.CreateDirectory(targetDir);
        var send = new List<string> { "send", "--quiet" };
        if (parent is not null) { send.Add("-p"); send.Add(parent); }
        send.Add(snapshot);
        var btrfs = Prerequisites.Tool("btrfs");
        _runner.Pipe(btrfs, send, btrfs, new[] { "receive", targetDir }, Log, purpose: "Copying " + Path.GetFileName(snapshot), cancellation: Cancellation);
    }

    public static (long SizeMB, long UsedMB) Usage(string mountPoint)
    {
        try
        {
            var d = new DriveInfo(mountPoint);
            var size = d.TotalSize / (1024 * 1024);
            return (size, Math.Max(0, (d.TotalSize - d.TotalFreeSpace) / (1024 * 1024)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return (0, 0);
        }
    }

    // ------------------------------------------------------------------ network

    public static bool NamespaceExists(string name) => File.Exists("/run/netns/" + name);

    public void AddNamespace(string name)
    {
        if (NamespaceExists(name)) return;
        Run("ip", "netns", "add", name);
    }

    public void DeleteNamespace(string name)
    {
        if (!NamespaceExists(name)) return;
        Run("ip", "netns", "delete", name);
    }

    /// <summary><c>ip [-n ns] args</c>.</summary>
    public CommandResult Ip(string? ns, params string[] args) => ns is null ? Run("ip", args) : Run("ip", new[] { "-n", ns }.Concat(args).ToArray());
    public CommandResult ProbeIp(string? ns, params string[] args) => ns is null ? Probe("ip", args) : Probe("ip", new[] { "-n", ns }.Concat(args).ToArray());

    public bool LinkExists(string? ns, string link) => ProbeIp(ns, "link", "show", "dev", link).Succeeded;

    /// <summary>
    /// Deletes a link if it is there. The kernel removes the peer of a veth pair by itself, later, when the namespace of
    /// the other end goes, so a link seen a moment ago may be gone by the time it is deleted: that is success too.
    /// </summary>
    public void DeleteLink(string? ns, string link)
    {
        if (!LinkExists(ns, link)) return;
        var r = ProbeIp(ns, "link", "delete", link);
        if (!r.Succeeded && LinkExists(ns, link)) Ip(ns, "link", "delete", link);
    }

    public bool HasAddress(string? ns, string link, string cidr)
    {
        var r = ProbeIp(ns, "-o", "addr", "show", "dev", link);
        return r.Succeeded && r.StandardOutput.Split(' ', '\n').Contains(cidr);
    }

    public void AddAddress(string? ns, string link, string cidr)
    {
        if (!HasAddress(ns, link, cidr)) Ip(ns, "addr", "add", cidr, "dev", link);
    }

    public void DeleteAddress(string? ns, string link, string cidr)
    {
        if (HasAddress(ns, link, cidr)) Ip(ns, "addr", "del", cidr, "dev", link);
    }

    // ------------------------------------------------------------------ processes

    public static bool Alive(int pid) => pid > 0 && Directory.Exists("/proc/" + pid) && !IsZombie(pid);

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close > 0 && stat.Length > close + 2 && stat[close + 2] == 'Z';
        }
        catch (IOException)
        {
            return true;
        }
    }

    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    public static IEnumerable<int> Processes() => Directory.EnumerateDirectories("/proc")
        .Select(Path.GetFileName).Where(n => n is not null && n.All(char.IsDigit)).Select(n => int.Parse(n!, CultureInfo.InvariantCulture));

    public static IReadOnlyList<int> Children(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<int>();
        }
    }

    public static string? PidNamespace(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/pid").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The host process id of a process that has <paramref name="innerPid"/> in the pid namespace of <paramref name="leader"/>.</summary>
    public static int HostPid(int leader, int innerPid)
    {
        var ns = PidNamespace(leader);
        if (ns is null) return 0;
        foreach (var pid in Processes())
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines($"/proc/{pid}/status");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            var nspid = lines.FirstOrDefault(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
            if (nspid is null) continue;
            var ids = nspid.Substring(6).Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries);
            if (ids.Length >= 2 && ids[^1] == innerPid.ToString(CultureInfo.InvariantCulture) && PidNamespace(pid) == ns) return pid;
        }
        return 0;
    }

    public static int ProcessGroup(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
            return int.Parse(fields[2], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
        {
            return 0;
        }
    }

    public static IReadOnlyList<int> GroupMembers(int pgid) => Processes().Where(p => ProcessGroup(p) == pgid && Alive(p)).ToList();

    /// <summary>Signals a process group and waits until none of it is left; kills what remains after the timeout.</summary>
    public void StopGroup(int pgid, int signal, TimeSpan timeout)
    {
        if (pgid <= 1) return;
        Native.Kill(-pgid, signal);
        var clock = Stopwatch.StartNew();
        while (GroupMembers(pgid).Count > 0)
        {
            if (clock.Elapsed > timeout)
            {
                Log.LogWarning("Process group {Group} did not stop within {Seconds} s; killing it", pgid, timeout.TotalSeconds);
                Native.Kill(-pgid, Native.SIGKILL);
                clock.Restart();
                while (GroupMembers(pgid).Count > 0 && clock.Elapsed < TimeSpan.FromSeconds(5)) Thread.Sleep(5);
                return;
            }
            Thread.Sleep(2);
        }
    }

    /// <summary>Stops a process: the signal, then SIGKILL after the timeout; waits until it is gone.</summary>
    public static void StopProcess(int pid, TimeSpan timeout)
    {
        if (!Alive(pid)) return;
        Native.Kill(pid, Native.SIGTERM);
        var clock = Stopwatch.StartNew();
        while (Alive(pid) && clock.Elapsed < timeout) Thread.Sleep(10);
        if (!Alive(pid)) return;
        Native.Kill(pid, Native.SIGKILL);
        clock.Restart();
        while (Alive(pid) && clock.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(10);
    }
}
