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
    internal const string MountHelper = "/sbin/lu-mount", UmountHelper = "/sbin/lu-umount";

    /// <summary>The serial a data disk carries in the guest: the same for the original's disk and its mirror, so the guest mounts whichever it is given.</summary>
    internal static string SerialOf(int index) => "data" + (index + 1).ToString(CultureInfo.InvariantCulture);

    private bool AppAlive(VmState s, VmApplication a)
    {
        var p = s.Partition(a.Partition);
        if (p is null || !Libvirt.Running(p.Domain)) return false;
        var d = Description.App(a.Name);
        try
        {
            return Agent.Exec(p.Domain, d.Health!.Take(d.Health!.Count - 1).Append("127.0.0.1").ToList(), TimeSpan.FromSeconds(10)).Succeeded;
        }
        catch (LiveUpdateException)
        {
            return false;
        }
    }

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

    private void WaitHealthy(string app, VmPartition p, VmHostDescription.ApplicationDescription d, OperationContext context)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (Agent.Exec(p.Domain, d.Health!, TimeSpan.FromSeconds(10)).Succeeded) return;
            if (clock.Elapsed.TotalSeconds > d.HealthTimeoutSeconds)
                throw new LiveUpdateException("HealthCheckFailed", ErrorKind.OperationStopped, $"{app} did not answer '{string.Join(" ", d.Health!)}' on {p.Name} within {d.HealthTimeoutSeconds:0} s.", app);
            context.Cancellation.ThrowIfCancellationRequested();
            Thread.Sleep(5);
        }
    }

    private static string ServiceCidr(VmHostDescription.ApplicationDescription d) => Cidr.Host(d.ServiceAddress!) + "/32";

    /// <summary>
    /// Moves a data disk's contents from one running partition to the other: ends its mirror job where one runs
    /// (nothing left to copy: it was synchronous), or unplugs the disk, then plugs the disk with the newest data into
    /// the destination under the same serial and mounts it there. Returns the bytes the end of the job still had to copy.
    /// </summary>
    private long MoveDataDisk(VmState s, VmMirror m, VmPartition from, VmPartition to, string disk, string copy, OperationContext context)
    {
        var fromVg = s.Vg(from.RootVg)!;
        var toVg = s.Vg(to.RootVg)!;
        var target = TargetOf(from, disk);
        var index = fromVg.Disks.FindIndex(x => Same(x, disk)) - 1;
        var mount = fromVg.MountPoints[index];
        Agent.Run(from.Domain, new[] { UmountHelper, mount }, $"Unmounting {mount} on {from.Name}");
        long remaining = 0;
        string moving;
        if (!m.Ended.Contains(disk) && Libvirt.Job(from.Domain, target) is { } job)
        {
            remaining = (long)job.Remaining;
            Libvirt.AbortJob(from.Domain, target);
            m.Ended.Add(disk);
            moving = copy;
            context.Logger.LogInformation("Mirror of {Disk} ended with {Bytes} bytes left to copy; {Copy} goes to {Destination}", disk, remaining, copy, to.Name);
        }
        else
        {
            // The disk itself goes back (the way back after the blackout): it holds the newest data.
            Libvirt.Detach(from.Domain, DomainXml.Disk(DiskPath(disk), target, SerialOf(index), IsBlock(disk)).ToString(), Flags(from));
            from.Attached.Remove(target);
            moving = disk;
        }
        var free = FreeTarget(to);
        Libvirt.Attach(to.Domain, DomainXml.Disk(DiskPath(moving), free, SerialOf(index), IsBlock(moving)).ToString(), Flags(to));
        to.Attached[free] = moving;
        Agent.Run(to.Domain, new[] { MountHelper, SerialOf(index), mount }, $"Mounting {moving} at {mount} on {to.Name}");
        // The volume groups follow the data: the destination's rootvg holds the disk now; a disk left behind is the stale copy.
        var mirror = s.Vg(m.Vg);
        string? replaced = null;
        if (toVg.Disks.Count > index + 1)
        {
            replaced = toVg.Disks[index + 1];
            toVg.Disks[index + 1] = moving;
        }
        else
        {
            toVg.Disks.Add(moving);
            if (toVg.MountPoints.Count <= index) toVg.MountPoints.Add(mount);
        }
        if (moving == disk)
        {
            fromVg.Disks.RemoveAt(index + 1);
            if (fromVg.MountPoints.Count > index) fromVg.MountPoints.RemoveAt(index);
        }
        mirror?.Disks.Remove(moving);
        if (replaced is not null && !Same(replaced, moving) && mirror is not null && s.VgOnDisk(replaced) is null) mirror.Disks.Add(replaced);
        return remaining;
    }

    /// <summary>The next free device name for a data disk: sdX on a virtio-scsi controller, else vdX.</summary>
    private string FreeTarget(VmPartition p)
    {
        var scsi = DomainXml.HasScsi(Libvirt.Xml(p.Domain));
        var names = Enumerable.Range(0, 20).Select(i => scsi ? "sd" + (char)('a' + i) : "vd" + (char)('b' + i));
        var used = DomainXml.Disks(Libvirt.Xml(p.Domain)).Keys.Concat(p.Attached.Keys).ToHashSet(StringComparer.OrdinalIgnoreCase);
        return names.First(t => !used.Contains(t));
    }

    private uint Flags(VmPartition p) => LibvirtConnection.AffectLive | (p.Defined || Description.Lab ? LibvirtConnection.AffectConfig : 0);

    public ApplicationMigration MoveApplication(string application, string destination, OperationContext context)
    {
        var moved = Change(context, s =>
        {
            var a = s.App(application)!;
            var d = Description.App(a.Name);
            var src = s.Partition(a.Partition)!;
            var dst = s.Partition(destination)!;
            var m = s.Mirrors.FirstOrDefault(x => Same(x.Partition, src.Name) && Same(x.ImportedInto, dst.Name) || Same(x.Partition, dst.Name) && Same(x.ImportedInto, src.Name))
                ?? throw new LiveUpdateException("MirrorNotImported", ErrorKind.InvalidOperation, $"Partition {dst.Name} has no imported mirror shared with {src.Name}, which would carry the data of {a.Name}; run Import-MirrorVg first.", destination);
            var disk = a.DataDisk;
            var forward = Same(m.Partition, src.Name);
            var copy = forward ? m.Pairs[disk] : disk;
            Fault(Steps.Move, FaultTiming.Before);
            var clock = Stopwatch.StartNew();
            context.Logger.LogInformation("Stopping {Application} on {Source}: the blackout starts", a.Name, src.Name);
            a.MovingTo = dst.Name;
            a.MovePhase = "Stopping";
            Agent.Run(src.Domain, d.Stop!, $"Stopping {a.Name} on {src.Name}");
            a.MovePhase = "Stopped";
            Save(s);
            var stop = clock.Elapsed;
            Fault(Steps.Move, FaultTiming.During);
            var bytes = MoveDataDisk(s, m, src, dst, disk, copy, context);
            m.BlackoutBytes += bytes;
            a.DataDisk = forward ? copy : disk;
            a.MovePhase = "Started";
            Save(s);
            // Make before break: the destination takes the address and announces it, then the source lets go.
            Agent.Run(dst.Domain, new[] { "/bin/ip", "addr", "replace", ServiceCidr(d), "dev", "eth0" }, "Moving the service address");
            Agent.Exec(dst.Domain, new[] { "/bin/arping", "-U", "-c", "1", "-I", "eth0", Cidr.Host(d.ServiceAddress!) });
            Agent.Exec(src.Domain, new[] { "/bin/ip", "addr", "del", ServiceCidr(d), "dev", "eth0" });
            var sync = clock.Elapsed - stop;
            var healthy = true;
            if (Faults?.Fire(Steps.Health, FaultTiming.During) == true)
            {
                Agent.Run(dst.Domain, d.Start!, $"Starting {a.Name} on {dst.Name}");
                context.Logger.LogWarning("{Application} did not answer '{Check}' on {Destination} (injected)", a.Name, string.Join(" ", d.Health!), dst.Name);
                healthy = false;
            }
            else
            {
                try
                {
                    StartApplication(s, a, dst, context, takeAddress: false);
                }
                catch (LiveUpdateException e) when (e.ErrorId is "HealthCheckFailed" or "GuestCommandFailed")
                {
                    context.Logger.LogWarning("{Application} did not become healthy on {Destination}: {Reason}", a.Name, dst.Name, e.Message);
                    healthy = false;
                }
            }
            var blackout = clock.Elapsed;
            context.Logger.LogInformation("{Application} answers on {Destination}: the blackout ends after {Milliseconds} ms ({Bytes} bytes were left to copy)", a.Name, dst.Name, (long)blackout.TotalMilliseconds, bytes);
            a.Partition = dst.Name;
            a.Running = true;
            a.MovingTo = null;
            a.MovePhase = null;
            // After the blackout: the source's own copy leaves it, so that the way back can plug the newest data in.
            if (forward && src.Attached.FirstOrDefault(kv => Same(kv.Value, disk)).Key is { } stale)
            {
                Libvirt.Detach(src.Domain, DomainXml.Disk(DiskPath(disk), stale, null, IsBlock(disk)).ToString(), Flags(src));
                src.Attached.Remove(stale);
            }
            var (acknowledged, verified, onDestination) = Verify(s, a, src, dst, disk, forward);
            a.HighWater = Math.Max(a.HighWater, acknowledged);
            var status = !healthy ? "HealthCheckFailed" : verified ? "Moved" : "DataMismatch";
            return new ApplicationMigration(a.Name, src.Name, dst.Name, status, blackout, stop, sync, blackout - stop - sync, acknowledged, onDestination, verified, false, bytes);
        });
        Fault(Steps.Move, FaultTiming.After);
        return moved;
    }

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
