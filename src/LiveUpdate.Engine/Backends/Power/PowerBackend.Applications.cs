using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Power;

// Applications: the blackout of one application (stop, unmount, varyoffvg and exportvg on the source; importvg and
// mount on the destination; the service address moves; start and health check), its recovery after a crash, and
// reading its records where it runs.
public sealed partial class PowerBackend
{
    private const long RecordsReadLimit = 16L * 1024 * 1024;

    private PowerDescription.ApplicationDescription App(string name) =>
        Description.Applications!.FirstOrDefault(a => Same(a.Name, name))
        ?? throw new LiveUpdateException("ApplicationNotFound", ErrorKind.ObjectNotFound, $"There is no application named '{name}'.", name);

    /// <summary>The interface a partition's addresses live on (a surrogate's is its original's).</summary>
    private string InterfaceOf(string partition) => Described(State().Surrogate(partition)?.Of ?? partition).Interface!;

    /// <summary>Makes sure a partition sees the disks (by PVID): mapped through the VIOS to its adapter and configured.</summary>
    private IReadOnlyList<AixDisk> Reach(string partition, IReadOnlyList<string> pvids)
    {
        var seen = DisksOn(partition);
        if (pvids.All(p => seen.Any(d => d.Pvid == p))) return seen;
        var sur = State().Surrogate(partition);
        MapDisks(sur?.ViosSlot ?? ServerSlotOf(partition), pvids);
        Change(partition, AixCommands.Configure(), "configuring the data disks (cfgmgr)");
        seen = DisksOn(partition);
        var absent = pvids.FirstOrDefault(p => seen.All(d => d.Pvid != p));
        return absent is null ? seen : throw new LiveUpdateException("DiskNotVisible", ErrorKind.DeviceError, $"{partition} does not see the disk with PVID {absent}.", partition);
    }

    private (long Lines, string Digest) RecordsOn(string partition, PowerDescription.ApplicationDescription a)
    {
        if (a.RecordsFile is null) return (0, "");
        var r = Parallel(() => On(partition, AixCommands.CountLines(a.RecordsFile)), () => On(partition, AixCommands.Digest(a.RecordsFile)));
        return (AixCommands.ParseLineCount(r[0]), AixCommands.ParseDigest(r[1]));
    }

    private bool Healthy(string partition, PowerDescription.ApplicationDescription a, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (On(partition, a.Health!.ToArray()).Succeeded) return true;
            if (clock.Elapsed > timeout) return false;
            Thread.Sleep(20);
        }
    }

    public ApplicationMigration MoveApplication(string application, string destination, OperationContext context)
    {
        var moved = Update(context, s =>
        {
            var a = App(application);
            var rec = s.App(a.Name!) ?? AddApp(s, a);
            var src = rec.Partition;
            Fault(Steps.Move, FaultTiming.Before);
            var srcDisks = DisksOn(src).Where(d => d.VolumeGroup == a.VolumeGroup).ToList();
            if (srcDisks.Count == 0)
                throw new LiveUpdateException("DataVolumeGroupNotFound", ErrorKind.ObjectNotFound, $"lspv on {src} shows no disk of {a.VolumeGroup}, the data of {a.Name}.", a.Name);
            rec.DataPvids = srcDisks.Select(d => d.Pvid).ToList();
            var dstDisk = Reach(destination, rec.DataPvids).First(d => d.Pvid == rec.DataPvids[0]).Name;
            rec.MovingTo = destination;
            rec.Phase = "Stopping";
            Save(s);

            var clock = Stopwatch.StartNew();
            context.Logger.LogInformation("Stopping {Application} on {Source}: the blackout starts", a.Name, src);
            context.BlackoutStarted(a.Name!, src, destination);
            Change(src, a.Stop!.ToArray(), $"stopping {a.Name}");
            var (acknowledged, digest) = RecordsOn(src, a);
            rec.HighWater = Math.Max(rec.HighWater, acknowledged);
            Change(src, AixCommands.Unmount(a.MountPoint!), $"unmounting {a.MountPoint}");
            Change(src, AixCommands.VaryOff(a.VolumeGroup!), $"varying {a.VolumeGroup} off");
            Change(src, AixCommands.Export(a.VolumeGroup!), $"exporting {a.VolumeGroup}");
            var stop = clock.Elapsed;
            rec.Phase = "Exported";
            Save(s);
            Fault(Steps.Move, FaultTiming.During);

            Change(destination, AixCommands.Import(a.VolumeGroup!, dstDisk), $"importing {a.VolumeGroup}");
            Change(destination, AixCommands.Mount(a.MountPoint!), $"mounting {a.MountPoint}");
            rec.Phase = "Imported";
            Save(s);
            var (onDestination, digestThere) = RecordsOn(destination, a);
            var verified = onDestination == acknowledged && digest == digestThere;
            MoveAddress(a, src, destination);
            var sync = clock.Elapsed - stop;
            rec.Phase = "Started";
            Save(s);
            context.Logger.LogInformation("Starting {Application} on {Destination} with {Records} records and waiting for '{Check}'", a.Name, destination, onDestination, RemoteCommand.Quote(a.Health!));
            bool healthy;
            Change(destination, a.Start!.ToArray(), $"starting {a.Name}");
            if (Faults?.Fire(Steps.Health, FaultTiming.During) == true)
            {
                context.Logger.LogWarning("{Application} did not answer '{Check}' on {Destination} (injected)", a.Name, RemoteCommand.Quote(a.Health!), destination);
                healthy = false;
            }
            else healthy = Healthy(destination, a, TimeSpan.FromSeconds(a.HealthTimeoutSeconds));
            var blackout = clock.Elapsed;
            context.BlackoutEnded(a.Name!, destination, blackout, healthy);
            context.Logger.LogInformation("{Application} {Outcome} on {Destination}: the blackout ends after {Milliseconds} ms", a.Name, healthy ? "answers" : "does not answer", destination, (long)blackout.TotalMilliseconds);
            rec.Partition = destination;
            rec.MovingTo = null;
            rec.Phase = null;
            var status = !healthy ? "HealthCheckFailed" : verified ? "Moved" : "DataMismatch";
            return new ApplicationMigration(a.Name!, src, destination, status, blackout, stop, sync, blackout - stop - sync, acknowledged, onDestination, verified, false);
        });
        Fault(Steps.Move, FaultTiming.After);
        return moved;
    }

    /// <summary>The service address leaves the source (if it runs) and joins the destination, which announces it.</summary>
    private void MoveAddress(PowerDescription.ApplicationDescription a, string from, string to)
    {
        if (LparStateCached(from) == "Running")
            Change(from, AixCommands.DeleteAlias(InterfaceOf(from), a.ServiceAddress!, a.Netmask!), $"removing {a.Name}'s address");
        Change(to, AixCommands.AddAlias(InterfaceOf(to), a.ServiceAddress!, a.Netmask!), $"adding {a.Name}'s address");
    }

    private string LparStateCached(string name) => ReadHmc().Partitions.FirstOrDefault(l => Same(l.Name, name))?.State ?? "";

    /// <summary>
    /// After a crash mid-move: an application that had started on its destination continues there; any other goes
    /// back to the partition it ran on, its data volume group taken from wherever it was left (stopped, unmounted,
    /// varied off and exported there), imported or varied on again, mounted, its address back, started.
    /// </summary>
    public ApplicationInstance RecoverApplication(string application, OperationContext context)
    {
        Update(context, s =>
        {
            var a = App(application);
            var rec = s.App(a.Name!) ?? AddApp(s, a);
            var running = new[] { rec.Partition, rec.MovingTo }.Where(p => p is not null && LparState(p) == "Running").Select(p => p!).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            var forward = rec.MovingTo is not null && rec.Phase == "Started" && running.Contains(rec.MovingTo, StringComparer.OrdinalIgnoreCase);
            var target = forward ? rec.MovingTo! : running.Contains(rec.Partition, StringComparer.OrdinalIgnoreCase) ? rec.Partition
                : throw new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound, $"{a.Name} belongs to {rec.Partition}, which does not run.", a.Name);
            if (rec.DataPvids.Count == 0)
                rec.DataPvids = DisksOn(target).Where(d => d.VolumeGroup == a.VolumeGroup).Select(d => d.Pvid).ToList();
            context.Logger.LogWarning("{Application} was left mid-move ({Phase}); it continues on {Partition}", a.Name, rec.Phase ?? "stopped", target);
            foreach (var other in running.Where(p => !Same(p, target)))
                Release(other, a);
            var known = AixCommands.ParseNames(On(target, AixCommands.VolumeGroups()));
            if (!known.Contains(a.VolumeGroup!))
            {
                var disks = Reach(target, rec.DataPvids);
                Change(target, AixCommands.Import(a.VolumeGroup!, disks.First(d => d.Pvid == rec.DataPvids[0]).Name), $"importing {a.VolumeGroup}");
            }
            else if (!AixCommands.ParseNames(On(target, AixCommands.ActiveVolumeGroups())).Contains(a.VolumeGroup!))
                Change(target, AixCommands.VaryOn(a.VolumeGroup!), $"varying {a.VolumeGroup} on");
            if (!AixCommands.ParseMounts(On(target, AixCommands.Mounts())).Contains(a.MountPoint!))
                Change(target, AixCommands.Mount(a.MountPoint!), $"mounting {a.MountPoint}");
            Change(target, AixCommands.AddAlias(InterfaceOf(target), a.ServiceAddress!, a.Netmask!), $"adding {a.Name}'s address");
            if (!On(target, a.Health!.ToArray()).Succeeded)
            {
                Change(target, a.Start!.ToArray(), $"starting {a.Name}");
                if (!Healthy(target, a, TimeSpan.FromSeconds(a.HealthTimeoutSeconds)))
                    throw new LiveUpdateException("HealthCheckFailed", ErrorKind.ResourceUnavailable, $"{a.Name} does not answer on {target} after it was started again.", a.Name);
            }
            rec.Partition = target;
            rec.MovingTo = null;
            rec.Phase = null;
        });
        return Inventory().Applications.First(x => Same(x.Name, application));
    }

    /// <summary>Lets go of an application's data and address on a partition, whatever state a crash left them in.</summary>
    private void Release(string partition, PowerDescription.ApplicationDescription a)
    {
        if (On(partition, a.Health!.ToArray()).Succeeded) Change(partition, a.Stop!.ToArray(), $"stopping {a.Name}");
        if (AixCommands.ParseMounts(On(partition, AixCommands.Mounts())).Contains(a.MountPoint!))
            Change(partition, AixCommands.Unmount(a.MountPoint!), $"unmounting {a.MountPoint}");
        var known = AixCommands.ParseNames(On(partition, AixCommands.VolumeGroups()));
        if (known.Contains(a.VolumeGroup!))
        {
            if (AixCommands.ParseNames(On(partition, AixCommands.ActiveVolumeGroups())).Contains(a.VolumeGroup!))
                Change(partition, AixCommands.VaryOff(a.VolumeGroup!), $"varying {a.VolumeGroup} off");
            Change(partition, AixCommands.Export(a.VolumeGroup!), $"exporting {a.VolumeGroup}");
        }
        Change(partition, AixCommands.DeleteAlias(InterfaceOf(partition), a.ServiceAddress!, a.Netmask!), $"removing {a.Name}'s address");
    }

    public ApplicationRecords ReadApplicationRecords(string application) => Update(OperationContext.None, s =>
    {
        var a = App(application);
        var rec = s.App(a.Name!) ?? AddApp(s, a);
        var sequences = new List<long>();
        if (a.RecordsFile is null) return new ApplicationRecords(rec.HighWater, sequences);
        var r = On(rec.Partition, AixCommands.ReadHead(a.RecordsFile, RecordsReadLimit)).Check($"reading the records of {a.Name}");
        foreach (var line in r.Lines())
        {
            var first = line.Split(' ', 2)[0];
            if (!long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                throw RemoteOutput.Unexpected(r, line, "a record that starts with its number");
            sequences.Add(n);
        }
        // What the application wrote, it may have acknowledged: no copy of its data may hold fewer.
        rec.HighWater = Math.Max(rec.HighWater, sequences.Count);
        return new ApplicationRecords(rec.HighWater, sequences);
    });

    /// <summary>
    /// The plan of a live update in the stanzas of AIX Live Update's lvupdate.data (general, disks, hmc), with what
    /// this backend does beyond it as comments: the surrogate, its temporary address, the data volume groups that move.
    /// </summary>
    public string LiveUpdateData(LiveUpdatePreview preview)
    {
        var s = State();
        var taken = s.Surrogates.Select(x => x.Address).ToHashSet();
        var address = Description.SurrogateAddresses!.FirstOrDefault(a => !taken.Contains(a)) ?? "(none free)";
        var apps = Description.Applications!.Where(a => Same(AppPartition(a), preview.Partition)).ToList();
        var lines = new List<string>
        {
            $"# lvupdate.data for {preview.Partition}: {preview.FromLevel} -> {preview.ToLevel?.ToString() ?? "?"} ({preview.Bundle})",
            "general:",
            "        kext_check = yes",
            "disks:",
            $"        nhdisk  = {string.Join(",", preview.CloneDisks)}",
            $"        mhdisk  = {string.Join(",", preview.MirrorDisks)}",
            "        tohdisk =",
            "        tshdisk =",
            "hmc:",
            "        lpar_id  =",
            $"        management_console = {Description.Hmc!.Address}",
            $"        user = {HmcEndpoint.Auth.User}",
            $"# surrogate: {Flow.Steps.SurrogateName(preview.Partition)} at {address} through {ViosName}, created from the profile of {preview.Partition}",
        };
        lines.AddRange(apps.Select(a => $"# moves: {a.Name} with {a.VolumeGroup} ({a.MountPoint}) and {a.ServiceAddress}"));
        return string.Join("\n", lines);
    }

    public void RemoveLab(OperationContext context)
    {
        if (!Description.Lab)
            throw new LiveUpdateException("NotALab", ErrorKind.InvalidOperation,
                $"'{Location}' describes a real frame ({Sys} on {Description.Hmc!.Address}); Remove-LiveUpdateLab removes labs only. Its local state is this folder.", Location);
        context.Logger.LogInformation("Removing the state folder {Path} of the emulated frame {System}", Location, Sys);
        _ssh.Dispose();
        using (_store.Lock(StoreWait)) { }
        Directory.Delete(Location, recursive: true);
    }
}
