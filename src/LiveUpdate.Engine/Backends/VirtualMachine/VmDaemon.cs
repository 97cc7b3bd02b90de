using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>
/// The libvirt daemon a VM lab talks to: the one that answers, or — in a lab, when none does — one the lab starts in
/// a network namespace of its own (no systemd: <c>virtlogd</c> then <c>libvirtd</c>, the <c>libvirt-qemu</c> user that
/// the QEMU driver looks up, and a <c>qemu.conf</c> that runs QEMU as root without a security driver), recorded so that
/// removing the lab stops exactly what it started and undoes what it wrote.
/// </summary>
internal static class VmDaemon
{
    private const string QemuConf = "/etc/libvirt/qemu.conf";
    private const string LogDir = "/var/log/libvirt";
    private const string LibvirtdPidFile = "/run/libvirtd.pid";
    private const string VirtlogdPidFile = "/run/virtlogd.pid";

    /// <summary>Connects to the described URI; a lab starts a daemon first where none answers and records it in <paramref name="record"/>.</summary>
    public static LibvirtConnection Connect(VmHostDescription d, bool mayStart, Action<VmDaemonRecord> record, ILogger log)
    {
        var conn = LibvirtConnection.TryOpen(d.Uri!, out var why);
        if (conn is not null) return conn;
        if (!mayStart || d.Uri != "qemu:///system")
            throw new LiveUpdateException("LibvirtUnavailable", ErrorKind.ResourceUnavailable, $"No libvirt daemon answers at {d.Uri} ({why}), and this system's description does not let LiveUpdate start one.", d.Uri);
        var missing = new[] { "libvirtd", "virtlogd", "qemu-system-x86_64" }.Where(t => Prerequisites.Find(t) is null).ToList();
        if (missing.Count > 0 || !File.Exists("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so") && !Directory.Exists("/usr/lib/libvirt/connection-driver"))
            throw new LiveUpdateException("LibvirtUnavailable", ErrorKind.NotInstalled,
                $"No libvirt daemon answers at {d.Uri} ({why}) and none can be started: {(missing.Count > 0 ? string.Join(", ", missing) + " missing" : "the QEMU driver is missing")} (apt-get install {VmPrerequisites.Packages}).", d.Uri);
        var r = new VmDaemonRecord { Namespace = d.DaemonNamespace };
        Start(r, log);
        record(r);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            conn = LibvirtConnection.TryOpen(d.Uri!, out why);
            if (conn is not null) return conn;
            Thread.Sleep(100);
        }
        throw new LiveUpdateException("LibvirtUnavailable", ErrorKind.ResourceUnavailable, $"The libvirt daemon the lab started does not answer at {d.Uri}: {why}", d.Uri);
    }

    private static void Start(VmDaemonRecord r, ILogger log)
    {
        var run = new CommandRunner();
        var ns = r.Namespace ?? throw new LiveUpdateException("LibvirtUnavailable", ErrorKind.InvalidData, "The lab's description names no namespace for its libvirt daemon.", null);
        if (!HostTools.NamespaceExists(ns))
        {
            run.Run(VmPrerequisites.Tool("ip"), new[] { "netns", "add", ns }, log);
            run.Run(VmPrerequisites.Tool("ip"), new[] { "-n", ns, "link", "set", "lo", "up" }, log);
            r.NamespaceCreated = true;
        }
        if (!Directory.Exists(LogDir))
        {
            Directory.CreateDirectory(LogDir);
            r.LogDirCreated = true;
        }
        if (run.Probe(VmPrerequisites.Tool("getent"), new[] { "group", "libvirt-qemu" }).ExitCode != 0)
        {
            run.Run(VmPrerequisites.Tool("groupadd"), new[] { "--system", "libvirt-qemu" }, log);
            r.GroupCreated = true;
        }
        if (run.Probe(VmPrerequisites.Tool("getent"), new[] { "passwd", "libvirt-qemu" }).ExitCode != 0)
        {
            run.Run(VmPrerequisites.Tool("useradd"), new[] { "--system", "--no-create-home", "-g", "libvirt-qemu", "-d", "/var/lib/libvirt", "-s", "/usr/sbin/nologin", "libvirt-qemu" }, log);
            r.UserCreated = true;
        }
        if (!File.Exists(QemuConf))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(QemuConf)!);
            StateFile.WriteAtomically(QemuConf, "# Written by a LiveUpdate VM lab (removed with it): QEMU as root, no security driver.\nuser = \"root\"\ngroup = \"root\"\nsecurity_driver = \"none\"\n");
            r.QemuConfWritten = true;
        }
        log.LogInformation("No libvirt daemon answers: starting virtlogd and libvirtd in network namespace {Namespace}", ns);
        run.Run(VmPrerequisites.Tool("ip"), new[] { "netns", "exec", ns, VmPrerequisites.Tool("virtlogd"), "-d" }, log);
        r.VirtlogdPid = WaitPid(VirtlogdPidFile);
        run.Run(VmPrerequisites.Tool("ip"), new[] { "netns", "exec", ns, VmPrerequisites.Tool("libvirtd"), "-d" }, log);
        r.LibvirtdPid = WaitPid(LibvirtdPidFile);
    }

    private static int WaitPid(string file)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && HostTools.Alive(pid)) return pid;
            Thread.Sleep(20);
        }
        return 0;
    }

    /// <summary>The network namespace (by name under /run/netns) in which the running libvirtd lives, or null for the host's own or none.</summary>
    public static string? DaemonNamespace()
    {
        if (!File.Exists(LibvirtdPidFile) || !int.TryParse(File.ReadAllText(LibvirtdPidFile).Trim(), out var pid) || !HostTools.Alive(pid)) return null;
        var mine = Inode($"/proc/{pid}/ns/net");
        if (mine is null || mine == Inode("/proc/1/ns/net")) return null;
        return Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns").Where(f => Inode(f) == mine).Select(Path.GetFileName).FirstOrDefault() : null;
    }

    private static string? Inode(string path)
    {
        try
        {
            var r = new CommandRunner().Probe(VmPrerequisites.Tool("stat"), new[] { "-L", "-c", "%d:%i", path });
            return r.Succeeded ? r.StandardOutput.Trim() : null;
        }
        catch (LiveUpdateException)
        {
            return null;
        }
    }

    /// <summary>Stops what the lab started and undoes what it wrote, unless other domains still use the daemon.</summary>
    public static void Stop(VmDaemonRecord r, LibvirtConnection? conn, ILogger log)
    {
        if (conn is not null && conn.Alive && conn.DomainCount() > 0)
        {
            log.LogWarning("The libvirt daemon this lab started still holds {Count} domains of others; it keeps running", conn.DomainCount());
            return;
        }
        conn?.Dispose();
        foreach (var pid in new[] { r.LibvirtdPid, r.VirtlogdPid })
            if (pid > 0 && HostTools.Alive(pid) && (HostTools.CommandLine(pid).Contains("libvirtd") || HostTools.CommandLine(pid).Contains("virtlogd")))
                HostTools.StopProcess(pid, TimeSpan.FromSeconds(15));
        var run = new CommandRunner();
        if (r.NamespaceCreated && r.Namespace is not null && HostTools.NamespaceExists(r.Namespace)) run.Probe(VmPrerequisites.Tool("ip"), new[] { "netns", "delete", r.Namespace }, log);
        if (r.QemuConfWritten && File.Exists(QemuConf)) File.Delete(QemuConf);
        if (r.UserCreated) run.Probe(VmPrerequisites.Tool("userdel"), new[] { "libvirt-qemu" }, log);
        if (r.GroupCreated) run.Probe(VmPrerequisites.Tool("groupdel"), new[] { "libvirt-qemu" }, log);
        foreach (var f in new[] { LibvirtdPidFile, VirtlogdPidFile }) if (File.Exists(f)) File.Delete(f);
    }
}
