using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>The containers: whether a partition and an application run, commands inside a partition, booting and stopping.</summary>
public sealed partial class ContainerBackend
{
    private bool PartitionAlive(ContainerPartition p) =>
        p.NspawnPid > 0 && HostTools.Alive(p.NspawnPid) && HostTools.CommandLine(p.NspawnPid).Contains("--machine=" + Machine(p), StringComparison.Ordinal)
        && p.LeaderPid > 0 && HostTools.Alive(p.LeaderPid);

    /// <summary>The host process id of an application's main process, from its pid file inside the partition; 0 when it does not run.</summary>
    private int AppPid(ContainerState s, ContainerApplication a)
    {
        var p = s.Partition(a.Partition);
        var d = AppDescription(a.Name);
        if (p is null || !PartitionAlive(p)) return 0;
        var pidFile = d.Stop?.PidFile;
        if (pidFile is null) return -1;
        try
        {
            // The partition's root as its init sees it, its own mounts included; no link in it is followed.
            string text;
            using (var tree = SafeTree.Open($"/proc/{p.LeaderPid}/root", crossMounts: true)) text = (tree.ReadText(pidFile, 64) ?? "").Trim();
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var inner)) return 0;
            var host = HostTools.HostPid(p.LeaderPid, inner);
            return host > 0 && HostTools.Alive(host) ? host : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LiveUpdateException)
        {
            return 0;
        }
    }

    private bool AppAlive(ContainerState s, ContainerApplication a)
    {
        var pid = AppPid(s, a);
        if (pid > 0) return true;
        if (pid == 0) return false;
        // No pid file: the health command decides.
        var p = s.Partition(a.Partition)!;
        return Check(p, AppDescription(a.Name)) is null;
    }

    /// <summary>Runs a command inside a partition: every namespace of its init and its root.</summary>
    private CommandResult Exec(ContainerPartition p, IReadOnlyList<string> argv, bool probe = false, string? purpose = null)
    {
        var args = new List<string> { "--target", p.LeaderPid.ToString(CultureInfo.InvariantCulture), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", "--" };
        args.AddRange(argv);
        var runner = new CommandRunner();
        var nsenter = Prerequisites.Tool("nsenter");
        return probe ? runner.Probe(nsenter, args, _tools.Log, TimeSpan.FromSeconds(30), cancellation: _tools.Cancellation)
            : runner.Run(nsenter, args, _tools.Log, TimeSpan.FromSeconds(120), purpose, cancellation: _tools.Cancellation);
    }


    private void Boot(ContainerState s, ContainerPartition p, OperationContext context)
    {
        if (PartitionAlive(p)) return;
        var vg = s.Vg(p.RootVg)!;
        EnsureMounted(s, vg);
        var root = LvPath(Mnt(vg.Serial), vg.Lvs.First(l => l.MountPoint == "/"));
        StopStrays(p);
        var ns = Namespace(p);
        _tools.AddNamespace(ns);
        _tools.Ip(ns, "link", "set", "lo", "up");
        var link = HostLink(p);
        if (!_tools.LinkExists(ns, Eth))
        {
            _tools.DeleteLink(BridgeNamespace, link);
            _tools.Ip(BridgeNamespace, "link", "add", link, "type", "veth", "peer", "name", Eth, "netns", ns);
        }
        _tools.Ip(BridgeNamespace, "link", "set", link, "master", Description.Network!.Bridge!, "up");
        _tools.Ip(ns, "link", "set", Eth, "up");
        // An address added in the same network is a secondary; when the primary goes (the take-over replaces the
        // surrogate's address with the original's), the kernel must promote it, not drop it with its route.
        _tools.Run("nsenter", "--net=/run/netns/" + ns, "--", Prerequisites.Tool("sysctl"), "-q", "-w",
            "net.ipv4.conf.all.promote_secondaries=1", $"net.ipv4.conf.{Eth}.promote_secondaries=1");
        _tools.AddAddress(ns, Eth, p.Address);
        Folders.CreateOwnerOnly(RunDir);
        var pidFile = Path.Combine(RunDir, p.Token + ".pid");
        var logFile = Path.Combine(RunDir, p.Token + ".log");
        File.Delete(pidFile);
        context.Logger.LogInformation("Booting partition {Partition} from {Root} (container {Machine}, network namespace {Namespace}, {Address})",
            p.Name, root, Machine(p), ns, p.Address);
        _tools.RunFor("Booting partition " + p.Name, "start-stop-daemon", "--start", "--background", "--make-pidfile", "--pidfile", pidFile, "--output", logFile,
            "--exec", Prerequisites.Tool("systemd-nspawn"), "--",
            "--quiet", "--register=no", "--keep-unit", "--machine=" + Machine(p), "--directory=" + root, "--hostname=" + p.HostName,
            "--network-namespace-path=/run/netns/" + ns, "--kill-signal=SIGTERM", "--console=passive", "--resolv-conf=off", "--timezone=off",
            "--link-journal=no", "/sbin/init");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            if (p.NspawnPid == 0 && File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid)) p.NspawnPid = pid;
            if (p.NspawnPid > 0 && p.LeaderPid == 0 || p.LeaderPid > 0 && !HostTools.Alive(p.LeaderPid))
                p.LeaderPid = HostTools.Children(p.NspawnPid).FirstOrDefault();
            if (p.LeaderPid > 0 && Booted(p.LeaderPid)) break;
            if (p.NspawnPid > 0 && !HostTools.Alive(p.NspawnPid) || clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                var log = File.Exists(logFile) ? File.ReadAllText(logFile).Trim() : "";
                StopContainer(p);
                throw new LiveUpdateException("PartitionBootFailed", ErrorKind.DeviceError,
                    $"Partition {p.Name} did not boot within 30 s{(log.Length == 0 ? "" : ": " + log)}", p.Name);
            }
            Thread.Sleep(10);
        }
        context.Logger.LogInformation("Partition {Partition} runs: container process {Pid}, init {Leader}", p.Name, p.NspawnPid, p.LeaderPid);
    }

    /// <summary>True when the partition's init has made its booted marker (a link there does not count).</summary>
    private static bool Booted(int leader)
    {
        try
        {
            using var tree = SafeTree.Open($"/proc/{leader}/root", crossMounts: true);
            return tree.Exists(BootedMarker);
        }
        catch (LiveUpdateException)
        {
            return false;
        }
    }

    /// <summary>
    /// Stops a partition's container and everything in it (also one that a failed step left unrecorded). A container
    /// process that has exited is done with: it holds no mount, namespace or file any more, whenever its parent (often
    /// the host's init, as start-stop-daemon leaves it) gets round to reaping it.
    /// </summary>
    private void StopContainer(ContainerPartition p)
    {
        if (p.NspawnPid > 0 && HostTools.CommandLine(p.NspawnPid).Contains("--machine=" + Machine(p), StringComparison.Ordinal))
            HostTools.StopProcess(p.NspawnPid, TimeSpan.FromSeconds(15));
        StopStrays(p);
        p.NspawnPid = 0;
        p.LeaderPid = 0;
        if (Directory.Exists(RunDir)) File.Delete(Path.Combine(RunDir, p.Token + ".pid"));
    }

    private void StopStrays(ContainerPartition p)
    {
        var tag = "--machine=" + Machine(p);
        foreach (var pid in HostTools.Processes().Where(x => HostTools.Alive(x) && HostTools.CommandLine(x).Split(' ').Contains(tag)).ToList())
            HostTools.StopProcess(pid, TimeSpan.FromSeconds(15));
    }

    private void ShutDown(ContainerPartition p, OperationContext context)
    {
        context.Logger.LogInformation("Shutting down partition {Partition}", p.Name);
        StopContainer(p);
        _tools.DeleteNamespace(Namespace(p));
        _tools.DeleteLink(BridgeNamespace, HostLink(p));
    }
}
