using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.Engine.Backends.Linux;

/// <summary>The few system calls the backend needs that .NET does not offer.</summary>
internal static class Native
{
    [DllImport("libc", SetLastError = true)]
    private static extern uint geteuid();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int sys_kill(int pid, int signal);

    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    public static bool IsRoot => OperatingSystem.IsLinux() && geteuid() == 0;

    /// <summary>Sends a signal to a process (pid &gt; 0) or a process group (pid &lt; 0); false when there is none.</summary>
    public static bool Kill(int pid, int signal) => sys_kill(pid, signal) == 0;

    public static int Signal(string name) => name.ToUpperInvariant().Replace("SIG", "") switch
    {
        "HUP" => 1, "INT" => 2, "QUIT" => 3, "KILL" => 9, "USR1" => 10, "USR2" => 12, "TERM" => 15,
        _ => throw new LiveUpdateException("SignalUnknown", ErrorKind.InvalidArgument, $"'{name}' is not a signal this backend sends (HUP, INT, QUIT, KILL, USR1, USR2, TERM).", name),
    };
}

/// <summary>
/// What the Linux backend needs on the host: Linux, root, and its tools. <see cref="Check"/> names everything that is
/// missing and the Debian package that brings it.
/// </summary>
public static class Prerequisites
{
    /// <summary>Each tool with the Debian package that installs it.</summary>
    public static readonly IReadOnlyList<(string Tool, string Package)> Tools = new[]
    {
        ("btrfs", "btrfs-progs"), ("mkfs.btrfs", "btrfs-progs"), ("systemd-nspawn", "systemd-container"),
        ("nsenter", "util-linux"), ("wipefs", "util-linux"), ("blkid", "util-linux"), ("losetup", "mount"), ("mount", "mount"),
        ("umount", "mount"), ("blockdev", "util-linux"), ("ip", "iproute2"), ("start-stop-daemon", "dpkg"), ("tar", "tar"),
        ("dpkg", "dpkg"), ("chroot", "coreutils"), ("hostname", "hostname"), ("sysctl", "procps"),
    };

    /// <summary>What only the lab needs: busybox for the partitions' small root file system, dpkg-deb for the sample bundle.</summary>
    public static readonly IReadOnlyList<(string Tool, string Package)> LabTools = new[] { ("busybox", "busybox-static"), ("dpkg-deb", "dpkg") };

    private static readonly string[] SearchPath = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" };

    /// <summary>The full path of a tool, or null.</summary>
    public static string? Find(string tool)
    {
        foreach (var dir in SearchPath)
        {
            var path = Path.Combine(dir, tool);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>Why the backend cannot run here, or null when it can.</summary>
    public static LiveUpdateException? Problem(bool lab)
    {
        if (!OperatingSystem.IsLinux())
            return new LiveUpdateException("LinuxRequired", ErrorKind.NotEnabled, "The Linux backend runs only on Linux.", null);
        if (!Native.IsRoot)
            return new LiveUpdateException("RootRequired", ErrorKind.PermissionDenied,
                "The Linux backend manages disks, mounts, containers and network namespaces and must run as root.", null);
        var needed = lab ? Tools.Concat(LabTools) : Tools;
        var missing = needed.Where(t => Find(t.Tool) is null).ToList();
        if (missing.Count > 0)
        {
            var packages = string.Join(" ", missing.Select(m => m.Package).Distinct());
            return new LiveUpdateException("ToolMissing", ErrorKind.NotInstalled,
                $"The Linux backend needs {string.Join(", ", missing.Select(m => $"{m.Tool} (package {m.Package})"))}; install with: apt-get install {packages}",
                string.Join(",", missing.Select(m => m.Tool)));
        }
        return null;
    }

    /// <summary>Throws the problem, if there is one.</summary>
    public static void Check(bool lab)
    {
        var problem = Problem(lab);
        if (problem is not null) throw problem;
    }

    internal static string Tool(string name) => Find(name) ?? throw Problem(false) ?? new LiveUpdateException("ToolMissing", ErrorKind.NotInstalled, $"'{name}' is not installed.", name);
}
