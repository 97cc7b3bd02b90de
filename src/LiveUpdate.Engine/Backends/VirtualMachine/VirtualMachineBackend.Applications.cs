using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

public sealed partial class VirtualMachineBackend
{
    internal const string MountHelper = "/sbin/lu-mount", UmountHelper = "/sbin/lu-umount", MoveOutHelper = "/sbin/lu-move-out", MoveInHelper = "/sbin/lu-move-in";

    /// <summary>The serial a data disk carries in the guest: the same for the original's disk and its mirror, so the guest mounts whichever it is given.</summary>
    internal static string SerialOf(int index) => "data" + (index + 1).ToString(CultureInfo.InvariantCulture);

    /// <summary>Whether the application answers on its partition: its health command there, or a TCP connection to the partition's own address and the port.</summary>
    private bool AppAlive(VmState s, VmApplication a)
    {
        var p = s.Partition(a.Partition);
        if (p is null || !Libvirt.Running(p.Domain)) return false;
        var d = Description.App(a.Name);
        try
        {
            return Healthy(p, d, d.Health is null ? Cidr.Host(p.Address) : "127.0.0.1");
        }
        catch (LiveUpdateException)
        {
            return false;
        }
    }

    /// <summary>
    /// One health check: the application's health command in the guest (its last argument the address to ask), or where
    /// it has none, a TCP connection to the partition's address and the application's port from the host, in the lab's
    /// namespace (no process is started in the guest).
    /// </summary>
    private bool Healthy(VmPartition p, VmHostDescription.ApplicationDescription d, string address)
    {
        if (d.Health is null) return NamespacedTcp.Answers(LabNamespace, address, d.Port!.Value, TimeSpan.FromMilliseconds(500));
        var argv = address == Cidr.Host(d.ServiceAddress!) ? d.Health : d.Health.Take(d.Health.Count - 1).Append(address).ToList();
        return Agent.Exec(p.Domain, argv, TimeSpan.FromSeconds(10)).Succeeded;
    }

    /// <summary>The health check as a user reads it.</summary>
    internal static string HealthLabel(VmHostDescription.ApplicationDescription d) => d.Health is { } h ? string.Join(" ", h) : $"tcp port {d.Port}";

    private TimeSpan StartApplication(VmState s, VmApplication a, VmPartition p, OperationContext context, bool takeAddress = true)
    {
        var d = Description.App(a.Name);
        var clock = Stopwatch.StartNew();
        if (takeAddress) Agent.Run(p.Domain, new[] { "/bin/ip", "addr", "replace", ServiceCidr(d), "dev", "eth0" }, $"Giving {a.Name} its address on {p.Name}");
        Agent.Run(p.Domain, d.Start!, $"Starting {a.Name} on {p.Name}");
        WaitHealthy(a.Name, p, d, context);
        a.Running = true;
        return clock.Elapsed;
    }

    /// <summary>Checks until the application answers on its service address; fails after its health timeout.</summary>
    private void WaitHealthy(string app, VmPartition p, VmHostDescription.ApplicationDescription d, OperationContext context)
    {
        var clock = Stopwatch.StartNew();
        // A health command asks the service address; the built-in check connects to the partition's own address, so
        // that it reaches this partition whichever one a neighbour cache still holds for the service address.
        var address = d.Health is null ? Cidr.Host(p.Address) : Cidr.Host(d.ServiceAddress!);
        while (true)
        {
            if (Healthy(p, d, address)) return;
            if (clock.Elapsed.TotalSeconds > d.HealthTimeoutSeconds)
                throw new LiveUpdateException("HealthCheckFailed", ErrorKind.OperationStopped, $"{app} did not answer '{HealthLabel(d)}' on {p.Name} within {d.HealthTimeoutSeconds:0} s.", app);
            context.Cancellation.ThrowIfCancellationRequested();
            Thread.Sleep(d.Health is null ? 2 : 5);
        }
    }

    private static string ServiceCidr(VmHostDescription.ApplicationDescription d) => Cidr.Host(d.ServiceAddress!) + "/32";

    /// <summary>Compares the records the source held when it stopped (its disk, read offline) with those on the destination.</summary>
    private (long Acknowledged, bool Verified, long OnDestination) Verify(VmState s, VmApplication a, VmPartition src, VmPartition dst, string sourceDisk, bool forward)
    {
        var d = Description.App(a.Name);
        if (d.RecordsFile is null) return (0, true, 0);
        var there = Agent.Exec(dst.Domain, new[] { "/bin/cat", d.RecordsFile }).Output;
        if (!forward) return (there.Split('\n').Count(l => l.Length > 0), true, there.Split('\n').Count(l => l.Length > 0));
        var index = s.Vg(dst.RootVg)!.Disks.FindIndex(x => Same(x, a.DataDisk)) - 1;
        var mount = s.Vg(dst.RootVg)!.MountPoints.ElementAtOrDefault(index) ?? "/";
        var relative = d.RecordsFile.StartsWith(mount + "/", StringComparison.Ordinal) ? d.RecordsFile.Substring(mount.Length) : d.RecordsFile;
        var before = new GuestImage(DiskPath(sourceDisk)) { Log = _log }.ReadText(relative, 64L * 1024 * 1024) ?? "";
        var ack = before.Split('\n').Count(l => l.Length > 0);
        var dest = there.Split('\n').Count(l => l.Length > 0);
        return (ack, there.StartsWith(before, StringComparison.Ordinal), dest);
    }

    /// <summary>The records of an application where it runs now (through the agent), or on its data disk offline.</summary>
    private List<long> Records(VmState s, VmApplication a)
    {
        var d = Description.App(a.Name);
        var text = "";
        if (d.RecordsFile is null) return new List<long>();
        var p = s.Partition(a.Partition);
        if (p is not null && Libvirt.Running(p.Domain) && p.Attached.Values.Contains(a.DataDisk, StringComparer.OrdinalIgnoreCase))
            text = Agent.Exec(p.Domain, new[] { "/bin/cat", d.RecordsFile }).Output;
        else
        {
            var mount = Description.Partition(a.Partition)?.DataMountPoints?.FirstOrDefault() ?? "/";
            text = new GuestImage(DiskPath(a.DataDisk)) { Log = _log }.ReadText(d.RecordsFile.StartsWith(mount + "/", StringComparison.Ordinal) ? d.RecordsFile.Substring(mount.Length) : d.RecordsFile, 64L * 1024 * 1024) ?? "";
        }
        var list = new List<long>();
        foreach (var line in text.Split('\n'))
        {
            var first = line.Split(' ', 2)[0];
            if (first.Length > 0 && long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) list.Add(n);
        }
        return list;
    }

    public ApplicationRecords ReadApplicationRecords(string application) => Change(OperationContext.None, s =>
    {
        var a = s.App(application)!;
        var sequences = Records(s, a);
        a.HighWater = Math.Max(a.HighWater, AppAlive(s, a) ? sequences.Count : 0);
        return new ApplicationRecords(a.HighWater, sequences);
    });

    public ApplicationInstance RecoverApplication(string application, OperationContext context) => Change(context, s =>
    {
        var a = s.App(application)!;
        var d = Description.App(a.Name);
        var home = s.Partition(a.Partition);
        var dest = a.MovingTo is null ? null : s.Partition(a.MovingTo);
        if (home is not null && a.MovingTo is null && AppAlive(s, a)) return ToModel(s, a);
        if (dest is not null && Libvirt.Running(dest.Domain) && dest.Attached.Values.Contains(a.DataDisk, StringComparer.OrdinalIgnoreCase))
        {
            // The move got as far as the destination: its copy of the data is the newest.
            context.Logger.LogWarning("{Application} was left mid-move; it continues on {Destination}", a.Name, dest.Name);
            if (home is not null && Libvirt.Running(home.Domain)) Agent.Exec(home.Domain, new[] { "/bin/ip", "addr", "del", ServiceCidr(d), "dev", "eth0" });
            var there = s.Vg(dest.RootVg)!;
            var at = there.Disks.FindIndex(x => Same(x, a.DataDisk)) - 1;
            if (at >= 0 && there.MountPoints.Count > at) Agent.Run(dest.Domain, new[] { MountHelper, SerialOf(at), there.MountPoints[at] }, $"Mounting {a.DataDisk} on {dest.Name}");
            Agent.Run(dest.Domain, new[] { "/bin/ip", "addr", "replace", ServiceCidr(d), "dev", "eth0" }, "Moving the service address");
            a.Partition = dest.Name;
            a.MovingTo = null;
            a.MovePhase = null;
            if (!AppAlive(s, a)) StartApplication(s, a, dest, context);
            return ToModel(s, a);
        }
        if (dest is not null && Libvirt.Running(dest.Domain)) Agent.Exec(dest.Domain, new[] { "/bin/ip", "addr", "del", ServiceCidr(d), "dev", "eth0" });
        if (home is null)
            throw new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound, $"{a.Name} belongs to {a.Partition}, which no longer exists.", a.Name);
        if (!Libvirt.Running(home.Domain)) Boot(s, home, context);
        var vg = s.Vg(home.RootVg)!;
        var index = vg.Disks.FindIndex(x => Same(x, a.DataDisk)) - 1;
        if (index >= 0 && !home.Attached.Values.Contains(a.DataDisk, StringComparer.OrdinalIgnoreCase))
        {
            var free = FreeTarget(home);
            Libvirt.Attach(home.Domain, DomainXml.Disk(DiskPath(a.DataDisk), free, SerialOf(index), IsBlock(a.DataDisk)).ToString(), Flags(home));
            home.Attached[free] = a.DataDisk;
        }
        if (index >= 0) Agent.Exec(home.Domain, new[] { MountHelper, SerialOf(index), vg.MountPoints[index] });
        context.Logger.LogWarning("{Application} was left stopped on {Partition}; starting it again", a.Name, home.Name);
        Agent.Run(home.Domain, new[] { "/bin/ip", "addr", "replace", ServiceCidr(d), "dev", "eth0" }, "Taking the service address back");
        a.MovingTo = null;
        a.MovePhase = null;
        if (!AppAlive(s, a)) StartApplication(s, a, home, context);
        return ToModel(s, a);
    });
}
