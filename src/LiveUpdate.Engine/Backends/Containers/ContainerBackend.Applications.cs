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

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>Applications: started, stopped and health-checked inside their partition, moved with their data volume, recovered, their records read.</summary>
public sealed partial class ContainerBackend
{
    private TimeSpan StartApplication(ContainerState s, ContainerApplication a, ContainerPartition p, OperationContext context)
    {
        var d = AppDescription(a.Name);
        var clock = Stopwatch.StartNew();
        if (!_tools.HasAddress(Namespace(p), Eth, ServiceCidr(d)))
        {
            _tools.AddAddress(Namespace(p), Eth, ServiceCidr(d));
            Announce(p, ServiceCidr(d));
        }
        Exec(p, d.Start!, purpose: $"Starting {a.Name} on {p.Name}");
        var timeout = TimeSpan.FromSeconds(d.HealthTimeoutSeconds);
        while (true)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var answer = Check(p, d);
            if (answer is null) break;
            if (clock.Elapsed > timeout)
                throw new LiveUpdateException("HealthCheckFailed", ErrorKind.OperationStopped,
                    $"{a.Name} did not answer its health check '{CheckLabel(d)}' on {p.Name} within {timeout.TotalSeconds:0.#} s ({answer}).", a.Name);
            Thread.Sleep(5);
        }
        a.Running = true;
        context.Logger.LogInformation("{Application} answers its health check on {Partition} after {Milliseconds} ms", a.Name, p.Name, (long)clock.Elapsed.TotalMilliseconds);
        return clock.Elapsed;
    }

    /// <summary>
    /// Runs an application's health check once on a partition: its health command inside the partition, or where it has
    /// none the built-in check, a TCP connection to its service address and port from the partition's network
    /// namespace (no process is started). Null when it answers, else what went wrong.
    /// </summary>
    private string? Check(ContainerPartition p, HostDescription.ApplicationDescription d)
    {
        if (d.Health is { Count: > 0 })
        {
            var r = Exec(p, d.Health, probe: true);
            return r.Succeeded ? null : $"last exit code {r.ExitCode}";
        }
        return NamespacedTcp.Answers(Namespace(p), HostDescription.Host(d.ServiceAddress!), d.Port!.Value, TimeSpan.FromSeconds(1)) ? null : "no TCP connection";
    }

    /// <summary>The health check as a user reads it.</summary>
    internal static string CheckLabel(HostDescription.ApplicationDescription d) => d.Health is { Count: > 0 }
        ? string.Join(" ", d.Health)
        : $"tcp {HostDescription.Host(d.ServiceAddress!)}:{d.Port}";

    /// <summary>Stops an application and waits until none of its processes is left; the service address stays unless <paramref name="releaseAddress"/>.</summary>
    private void StopApplication(ContainerState s, ContainerApplication a, ContainerPartition p, OperationContext context, bool releaseAddress = true)
    {
        var d = AppDescription(a.Name);
        var timeout = TimeSpan.FromSeconds(d.Stop!.TimeoutSeconds);
        if (PartitionAlive(p))
        {
            if (d.Stop.Command is { Count: > 0 }) Exec(p, d.Stop.Command, purpose: $"Stopping {a.Name} on {p.Name}");
            if (d.Stop.Signal is not null)
            {
                var pid = AppPid(s, a);
                if (pid > 0)
                {
                    var group = HostTools.ProcessGroup(pid);
                    context.Logger.LogInformation("Sending SIG{Signal} to {Application} (process group {Group}) on {Partition}", d.Stop.Signal.ToUpperInvariant().Replace("SIG", ""), a.Name, group, p.Name);
                    // The whole group, so that no worker of the application is still writing when its data is copied;
                    // only a group of the partition's own (its leader in the partition's PID namespace), never the host's.
                    if (group > 1 && HostTools.PidNamespace(group) is { } ns && ns == HostTools.PidNamespace(pid)) _tools.StopGroup(group, Native.Signal(d.Stop.Signal), timeout);
                    else HostTools.StopProcess(pid, timeout);
                }
            }
            if (releaseAddress) _tools.DeleteAddress(Namespace(p), Eth, ServiceCidr(d));
        }
        a.Running = false;
    }

    /// <summary>
    /// A service address is configured as the description gives it, prefix included, so that it has the route to its
    /// own network. In the network of the partition's address it is a secondary address; every partition's link
    /// promotes secondaries (promote_secondaries), so the kernel keeps it when the primary goes at the take-over.
    /// </summary>
    private static string ServiceCidr(HostDescription.ApplicationDescription d) => d.ServiceAddress!;

    /// <summary>Gratuitous ARP for an address from the partition that now holds it, so neighbours update their caches.</summary>
    private void Announce(ContainerPartition p, string cidr)
    {
        var arp = HostTools.GratuitousArp(Eth, HostDescription.Host(cidr));
        if (arp is null)
        {
            // No arping: neighbours on the bridge side forget the old link-layer address.
            if (BridgeNamespace is not null) _tools.ProbeIp(BridgeNamespace, "neigh", "flush", "to", HostDescription.Host(cidr));
            return;
        }
        _tools.Probe("nsenter", new[] { "--net=/run/netns/" + Namespace(p), "--" }.Concat(arp).ToArray());
    }

    /// <summary>What a move works with: where the application runs and goes, the mirror that carries its logical volume, and the chain of copies.</summary>
    private sealed record MoveRoute(ContainerPartition Source, ContainerPartition Destination, ContainerMirror Mirror, ContainerLv Volume,
        ContainerVg From, ContainerVg To, IReadOnlyList<ContainerVg> Chain);

    private MoveRoute RouteOf(ContainerState s, ContainerApplication a, string destination)
    {
        var src = s.Partition(a.Partition)!;
        var dst = s.Partition(destination)!;
        var m = s.Mirrors.FirstOrDefault(x => Same(x.Partition, src.Name) && Same(x.ImportedInto, dst.Name)
                                              || Same(x.Partition, dst.Name) && Same(x.ImportedInto, src.Name))
            ?? throw new LiveUpdateException("MirrorNotImported", ErrorKind.InvalidOperation,
                $"Partition {dst.Name} has no imported mirror shared with {src.Name}, which would carry the data of {a.Name}; run Import-MirrorVg first.", destination);
        var mirror = s.Vg(m.Vg)!;
        var desc = Description.Partitions!.First(x => Same(x.Name, m.Partition));
        var lvName = HostDescription.DataVolume(desc, AppDescription(a.Name).DataPath!)!.Name!;
        var fromVg = s.Vg(a.DataVg)!;
        var toVg = s.Vg(dst.RootVg)!;
        return new MoveRoute(src, dst, m, mirror.Lvs.First(l => l.Name == lvName), fromVg, toVg, new[] { fromVg, mirror, toVg });
    }

    public ApplicationMigration MoveApplication(string application, string destination, OperationContext context)
    {
        var moved = Change(context, s =>
        {
            var a = s.App(application)!;
            var d = AppDescription(a.Name);
            var r = RouteOf(s, a, destination);
            Fault(Steps.Move, FaultTiming.Before);

            // While the application still runs: bring the destination close, so the blackout sends only the last changes.
            SyncChain(s, r.Mirror, r.Volume, r.Chain, context);
            // Where the destination's copy that the blackout replaces goes, to be deleted once the application answers.
            var replaced = Path.Combine(MirrorDir(Mnt(r.To.Serial)), r.Volume.Name + "@replaced");
            _tools.DeleteSubvolume(replaced);
            Save(s);

            var clock = Stopwatch.StartNew();
            context.Logger.LogInformation("Stopping {Application} on {Source}: the blackout starts", a.Name, r.Source.Name);
            a.MovingTo = r.Destination.Name;
            a.MovePhase = "Stopping";
            // The address stays on the source until the destination holds it: meanwhile clients are refused at once
            // (and retry) instead of waiting for a connection attempt to time out.
            StopApplication(s, a, r.Source, context, releaseAddress: false);
            a.MovePhase = "Stopped";
            Save(s);
            var stop = clock.Elapsed;
            Fault(Steps.Move, FaultTiming.During);

            var copy = CopyLastChanges(s, a, r, replaced, context);
            // Make before break: the destination takes the address and announces it (gratuitous ARP), then the source lets go.
            _tools.AddAddress(Namespace(r.Destination), Eth, ServiceCidr(d));
            Announce(r.Destination, ServiceCidr(d));
            _tools.DeleteAddress(Namespace(r.Source), Eth, ServiceCidr(d));
            var sync = clock.Elapsed - stop;
            a.MovePhase = "Started";
            Save(s);
            context.Logger.LogInformation("Starting {Application} on {Destination} with {Records} records and waiting for '{Check}'", a.Name, r.Destination.Name, copy.OnDestination, CheckLabel(d));
            var healthy = StartMoved(s, a, r.Destination, context);
            var blackout = clock.Elapsed;
            context.Logger.LogInformation("{Application} answers on {Destination}: the blackout ends after {Milliseconds} ms", a.Name, r.Destination.Name, (long)blackout.TotalMilliseconds);
            FinishMove(a, r, copy.Generation, replaced, context);
            var status = !healthy ? "HealthCheckFailed" : copy.Verified ? "Moved" : "DataMismatch";
            return new ApplicationMigration(a.Name, r.Source.Name, r.Destination.Name, status, blackout, stop, sync, blackout - stop - sync,
                copy.Acknowledged, copy.OnDestination, copy.Verified, false);
        });
        Fault(Steps.Move, FaultTiming.After);
        return moved;
    }

    private sealed record CopiedData(int Generation, long Acknowledged, long OnDestination, bool Verified);

    /// <summary>
    /// In the blackout: sends the last changes of the application's logical volume along the chain and puts them in
    /// place on the destination, then compares its records file on both sides. The older generations are deleted after
    /// the application answers again, not here.
    /// </summary>
    private CopiedData CopyLastChanges(ContainerState s, ContainerApplication a, MoveRoute r, string replaced, OperationContext context)
    {
        var g = SyncChain(s, r.Mirror, r.Volume, r.Chain, context, prune: false);
        var source = ReadRecords(s, r.From.Serial, a.Name);
        var acknowledged = CountLines(source);
        a.HighWater = Math.Max(a.HighWater, acknowledged);
        PlaceVolume(Mnt(r.To.Serial), r.Volume, Path.Combine(MirrorDir(Mnt(r.To.Serial)), GenerationName(r.Mirror, r.Volume, g)), replaced);
        var destination = AppDescription(a.Name).RecordsFile is null ? null : ReadRecords(s, r.To.Serial, a.Name);
        var verified = AppDescription(a.Name).RecordsFile is null || (source is null ? destination is null : destination is not null && source.AsSpan().SequenceEqual(destination));
        return new CopiedData(g, acknowledged, CountLines(destination), verified);
    }

    /// <summary>Starts a moved application on its destination and waits for its health check; false when it did not answer.</summary>
    private bool StartMoved(ContainerState s, ContainerApplication a, ContainerPartition dst, OperationContext context)
    {
        var d = AppDescription(a.Name);
        if (Faults?.Fire(Steps.Health, FaultTiming.During) == true)
        {
            // Test facility: the application is started but its health check is made to fail at once.
            Exec(dst, d.Start!, purpose: $"Starting {a.Name} on {dst.Name}");
            context.Logger.LogWarning("{Application} did not answer '{Check}' on {Destination} (injected)", a.Name, CheckLabel(d), dst.Name);
            return false;
        }
        try
        {
            StartApplication(s, a, dst, context);
            return true;
        }
        catch (LiveUpdateException e) when (e.ErrorId is "HealthCheckFailed" or "CommandFailed")
        {
            context.Logger.LogWarning("{Application} did not become healthy on {Destination}: {Reason}", a.Name, dst.Name, e.Message);
            return false;
        }
    }

    /// <summary>
    /// Healthy or not, the application and its newest data are now on the destination (after a failed health check the
    /// flow moves it back, the same way in the other direction); the older generations of its volume go.
    /// </summary>
    private void FinishMove(ContainerApplication a, MoveRoute r, int generation, string replaced, OperationContext context)
    {
        a.Partition = r.Destination.Name;
        a.DataVg = r.To.Serial;
        a.Running = true;
        a.MovingTo = null;
        a.MovePhase = null;
        if (r.To.Serial == r.Mirror.SourceVg) r.Mirror.MovedLvs.Remove(r.Volume.Name);
        else if (!r.Mirror.MovedLvs.Contains(r.Volume.Name)) r.Mirror.MovedLvs.Add(r.Volume.Name);
        try
        {
            PruneChain(r.Mirror, r.Volume, r.Chain, generation);
            _tools.DeleteSubvolume(replaced);
        }
        catch (LiveUpdateException e)
        {
            // Harmless: the next transfer of this volume, or the take-over, removes what is left.
            context.Logger.LogWarning("Older copies of {Volume} were not all deleted: {Reason}", r.Volume.Name, e.Message);
        }
    }

    public ApplicationRecords ReadApplicationRecords(string application) => Change(OperationContext.None, s =>
    {
        var a = s.App(application)!;
        var data = ReadRecords(s, a.DataVg, a.Name);
        var sequences = new List<long>();
        if (data is not null)
        {
            foreach (var line in System.Text.Encoding.UTF8.GetString(data).Split('\n'))
            {
                var first = line.Split(' ', 2)[0];
                if (first.Length > 0 && long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) sequences.Add(n);
            }
        }
        // What the application has appended durably, it may have acknowledged: no copy may hold fewer.
        a.HighWater = Math.Max(a.HighWater, AppAlive(s, a) ? sequences.Count : 0);
        return new ApplicationRecords(a.HighWater, sequences);
    });

    public ApplicationInstance RecoverApplication(string application, OperationContext context) => Change(context, s =>
    {
        var a = s.App(application)!;
        var home = s.Partition(a.Partition);
        var dest = a.MovingTo is null ? null : s.Partition(a.MovingTo);
        if (home is not null && AppAlive(s, a))
        {
            a.MovingTo = null;
            a.MovePhase = null;
            return ToModel(s, a);
        }
        if (dest is not null && PartitionAlive(dest))
        {
            var there = new ContainerApplication { Name = a.Name, Partition = dest.Name, DataVg = dest.RootVg };
            if (AppAlive(s, there) || a.MovePhase == "Started")
            {
                // The move got as far as the destination: its copy of the data is the newest.
                context.Logger.LogWarning("{Application} was left mid-move; it continues on {Destination}", a.Name, dest.Name);
                var m = s.Mirrors.FirstOrDefault(x => Same(x.ImportedInto, dest.Name) || Same(x.ImportedInto, a.Partition));
                if (home is not null && PartitionAlive(home)) _tools.DeleteAddress(Namespace(home), Eth, ServiceCidr(AppDescription(a.Name)));
                a.Partition = dest.Name;
                a.DataVg = dest.RootVg;
                if (m is not null)
                {
                    var lvName = HostDescription.DataVolume(Description.Partitions!.First(x => Same(x.Name, m.Partition)), AppDescription(a.Name).DataPath!)!.Name!;
                    if (dest.RootVg == m.SourceVg) m.MovedLvs.Remove(lvName);
                    else if (!m.MovedLvs.Contains(lvName)) m.MovedLvs.Add(lvName);
                }
                if (!AppAlive(s, a)) StartApplication(s, a, dest, context);
                a.MovingTo = null;
                a.MovePhase = null;
                return ToModel(s, a);
            }
            _tools.DeleteAddress(Namespace(dest), Eth, ServiceCidr(AppDescription(a.Name)));
        }
        if (home is null)
            throw new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound, $"{a.Name} belongs to {a.Partition}, which no longer exists.", a.Name);
        if (!PartitionAlive(home)) Boot(s, home, context);
        context.Logger.LogWarning("{Application} was left stopped on {Partition}; starting it again", a.Name, home.Name);
        StartApplication(s, a, home, context);
        a.MovingTo = null;
        a.MovePhase = null;
        return ToModel(s, a);
    });
}
