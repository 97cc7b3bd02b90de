using System;
using System.Collections.Generic;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

public sealed partial class VirtualMachineBackend
{
    /// <summary>The exit code of lu-move-in where the application's start command failed (the disk is mounted, the address not taken).</summary>
    private const int StartFailedExit = 86;

    /// <summary>A data disk's move between two running partitions, worked out before the blackout starts.</summary>
    private sealed record DiskMove(string Disk, string Target, int Index, string Mount, string Free)
    {
        public string Serial => SerialOf(Index);
    }

    /// <summary>Where a data disk sits in the source (its device and mount point) and the free device it takes in the destination.</summary>
    private DiskMove PlanMove(VmState s, VmPartition from, VmPartition to, string disk)
    {
        var fromVg = s.Vg(from.RootVg)!;
        var index = fromVg.Disks.FindIndex(x => Same(x, disk)) - 1;
        return new DiskMove(disk, TargetOf(from, disk), index, fromVg.MountPoints[index], FreeTarget(to));
    }

    /// <summary>
    /// Moves a data disk that no application holds from one running partition to the other: unmounts it in the source,
    /// hands it over (<see cref="HandOver"/>) and mounts it in the destination.
    /// </summary>
    private long MoveDataDisk(VmState s, VmMirror m, VmPartition from, VmPartition to, string disk, string copy, OperationContext context)
    {
        var plan = PlanMove(s, from, to, disk);
        Agent.Run(from.Domain, new[] { UmountHelper, plan.Mount }, $"Unmounting {plan.Mount} on {from.Name}");
        var (bytes, moving) = HandOver(s, m, from, to, plan, copy, context, new Timeline());
        Agent.Run(to.Domain, new[] { MountHelper, plan.Serial, plan.Mount }, $"Mounting {moving} at {plan.Mount} on {to.Name}");
        return bytes;
    }

    /// <summary>
    /// Hands an unmounted data disk's contents over: ends its mirror job where one runs (nothing is left to copy: it was
    /// synchronous), or unplugs the disk itself from the source (the way back: it holds the newest data), then plugs the
    /// disk with the newest data into the destination under the same serial at once. Returns the bytes the end of the
    /// job still had to copy, and the disk that went over.
    /// </summary>
    private (long Bytes, string Moving) HandOver(VmState s, VmMirror m, VmPartition from, VmPartition to, DiskMove plan, string copy, OperationContext context, Timeline t)
    {
        long remaining = 0;
        string moving;
        if (!m.Ended.Contains(plan.Disk) && Libvirt.Job(from.Domain, plan.Target) is { } job)
        {
            remaining = (long)job.Remaining;
            Libvirt.AbortJob(from.Domain, plan.Target);
            m.Ended.Add(plan.Disk);
            moving = copy;
            t.Mark("mirror job ended");
            context.Logger.LogInformation("Mirror of {Disk} ended with {Bytes} bytes left to copy; {Copy} goes to {Destination}", plan.Disk, remaining, copy, to.Name);
        }
        else
        {
            Libvirt.Detach(from.Domain, DomainXml.Disk(DiskPath(plan.Disk), plan.Target, plan.Serial, IsBlock(plan.Disk)).ToString(), Flags(from));
            from.Attached.Remove(plan.Target);
            moving = plan.Disk;
            t.Mark("disk unplugged from the source");
        }
        // The job has ended: nothing writes the disk any more, and it may go into the destination's guest.
        Libvirt.Attach(to.Domain, DomainXml.Disk(DiskPath(moving), plan.Free, plan.Serial, IsBlock(moving)).ToString(), Flags(to));
        to.Attached[plan.Free] = moving;
        t.Mark("disk plugged into the destination");
        AssignDisk(s, m, from, to, plan, moving);
        return (remaining, moving);
    }

    /// <summary>The volume groups follow the data: the destination's rootvg holds the disk now; a disk left behind is the stale copy.</summary>
    private static void AssignDisk(VmState s, VmMirror m, VmPartition from, VmPartition to, DiskMove plan, string moving)
    {
        var fromVg = s.Vg(from.RootVg)!;
        var toVg = s.Vg(to.RootVg)!;
        var index = plan.Index;
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
            if (toVg.MountPoints.Count <= index) toVg.MountPoints.Add(plan.Mount);
        }
        if (moving == plan.Disk)
        {
            fromVg.Disks.RemoveAt(index + 1);
            if (fromVg.MountPoints.Count > index) fromVg.MountPoints.RemoveAt(index);
        }
        mirror?.Disks.Remove(moving);
        if (replaced is not null && !Same(replaced, moving) && mirror is not null && s.VgOnDisk(replaced) is null) mirror.Disks.Add(replaced);
    }

    /// <summary>The next free device name for a data disk: sdX on a virtio-scsi controller, else vdX.</summary>
    private string FreeTarget(VmPartition p)
    {
        var xml = Libvirt.Xml(p.Domain);
        var scsi = DomainXml.HasScsi(xml);
        var names = Enumerable.Range(0, 20).Select(i => scsi ? "sd" + (char)('a' + i) : "vd" + (char)('b' + i));
        var used = DomainXml.Disks(xml).Keys.Concat(p.Attached.Keys).ToHashSet(StringComparer.OrdinalIgnoreCase);
        return names.First(t => !used.Contains(t));
    }

    private static string[] ReleaseCommand(VmHostDescription.ApplicationDescription d) => new[] { "/bin/ip", "addr", "del", ServiceCidr(d), "dev", "eth0" };

    private uint Flags(VmPartition p) => LibvirtConnection.AffectLive | (p.Defined || Description.Lab ? LibvirtConnection.AffectConfig : 0);

    /// <summary>
    /// The blackout: one command in the source stops the application and unmounts its data disk, the mirror job ends
    /// and the copy is plugged into the destination, one command there mounts it, starts the application and takes the
    /// service address (make before break), and the health check ends it. Its parts are logged at Debug level. The
    /// source lets the address go and its stale disk leaves it after the blackout.
    /// </summary>
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
            var plan = PlanMove(s, src, dst, disk);
            Fault(Steps.Move, FaultTiming.Before);
            var t = new Timeline();
            context.Logger.LogInformation("Stopping {Application} on {Source}: the blackout starts", a.Name, src.Name);
            a.MovingTo = dst.Name;
            a.MovePhase = "Stopping";
            Agent.Run(src.Domain, new[] { MoveOutHelper, plan.Mount }.Concat(d.Stop!).ToList(), $"Stopping {a.Name} on {src.Name} and unmounting {plan.Mount}");
            t.Mark("stop and unmount (one guest command)");
            a.MovePhase = "Stopped";
            Save(s);
            t.Mark("state saved (stopped)");
            var stop = t.Elapsed;
            Fault(Steps.Move, FaultTiming.During);
            var (bytes, _) = HandOver(s, m, src, dst, plan, copy, context, t);
            m.BlackoutBytes += bytes;
            a.DataDisk = forward ? copy : disk;
            a.MovePhase = "Started";
            Save(s);
            t.Mark("state saved (moved)");
            var sync = t.Elapsed - stop;
            var healthy = MoveIn(a, d, src, dst, plan, context, t, out var release);
            var blackout = t.Elapsed;
            context.Logger.LogInformation("{Application} answers on {Destination}: the blackout ends after {Milliseconds} ms ({Bytes} bytes were left to copy)", a.Name, dst.Name, (long)blackout.TotalMilliseconds, bytes);
            context.Logger.LogDebug("Blackout of {Application}: {Timeline}", a.Name, t.ToString());
            a.Partition = dst.Name;
            a.Running = true;
            a.MovingTo = null;
            a.MovePhase = null;
            // After the blackout: the source has let the service address go, and its own copy leaves it so that the
            // way back can plug the newest data in.
            if (release is not null)
            {
                var released = Agent.Wait(src.Domain, release.Value, ReleaseCommand(d));
                if (!released.Succeeded) context.Logger.LogWarning("{Source} did not let the service address {Address} go: {Reason}", src.Name, d.ServiceAddress, released.Error.Trim());
            }
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

    /// <summary>
    /// The destination's half of the blackout: one command mounts the data disk, starts the application and takes the
    /// service address; then the health check. False where the application did not start or answer in time.
    /// </summary>
    private bool MoveIn(VmApplication a, VmHostDescription.ApplicationDescription d, VmPartition src, VmPartition dst, DiskMove plan, OperationContext context, Timeline t, out long? release)
    {
        release = null;
        var argv = new[] { MoveInHelper, plan.Serial, plan.Mount, ServiceCidr(d), Cidr.Host(d.ServiceAddress!) }.Concat(d.Start!).ToList();
        var r = Agent.Exec(dst.Domain, argv, cancellation: context.Cancellation);
        t.Mark("mount + start + address (one guest command)");
        if (r.Succeeded)
        {
            // Make before break: the destination holds the address and has announced it; the source lets it go now,
            // while the health check runs (its end is collected after the blackout).
            release = Agent.Start(src.Domain, ReleaseCommand(d));
            t.Mark("source told to let the address go");
        }
        if (!r.Succeeded && r.ExitCode != StartFailedExit)
            throw new LiveUpdateException("GuestCommandFailed", ErrorKind.InvalidOperation,
                $"Mounting {plan.Disk} at {plan.Mount} on {dst.Name}: '{GuestAgent.Quote(argv)}' exited with {r.ExitCode}: {r.Error.Trim()}", dst.Name);
        if (!r.Succeeded)
        {
            context.Logger.LogWarning("{Application} did not start on {Destination}: {Reason}", a.Name, dst.Name, r.Error.Trim());
            return false;
        }
        if (Faults?.Fire(Steps.Health, FaultTiming.During) == true)
        {
            context.Logger.LogWarning("{Application} did not answer '{Check}' on {Destination} (injected)", a.Name, HealthLabel(d), dst.Name);
            return false;
        }
        try
        {
            WaitHealthy(a.Name, dst, d, context);
            t.Mark("health check");
            return true;
        }
        catch (LiveUpdateException e) when (e.ErrorId is "HealthCheckFailed" or "GuestCommandFailed")
        {
            context.Logger.LogWarning("{Application} did not become healthy on {Destination}: {Reason}", a.Name, dst.Name, e.Message);
            return false;
        }
    }
}
