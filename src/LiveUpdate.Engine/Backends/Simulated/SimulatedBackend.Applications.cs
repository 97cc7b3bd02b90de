using System;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>Applications: moved by restarting them on the mirrored data, recovered, their records read.</summary>
public sealed partial class SimulatedBackend
{
    public ApplicationMigration MoveApplication(string application, string destination, OperationContext context) => Change(s => s.DomainOf(s.App(application)!.Partition), s =>
    {
        var a = s.App(application)!;
        var dst = s.Partition(destination)!;
        var source = a.Partition;
        var from = s.Vg(a.DataVg)!;
        var to = CopiesOfVg(s, a.DataVg).FirstOrDefault(v => string.Equals(v.Partition, dst.Name, StringComparison.OrdinalIgnoreCase))
            ?? throw new LiveUpdateException("MirrorNotImported", ErrorKind.InvalidOperation,
                $"Partition {dst.Name} has no copy of the volume group that holds the data of {a.Name}; import the mirror first (Import-MirrorVg).", destination);
        Fault(Steps.Move, FaultTiming.Before);
        var stop = TimeSpan.FromMilliseconds(a.StopMilliseconds > 0 ? a.StopMilliseconds : s.Timing.StopMilliseconds);
        var sync = TimeSpan.FromMilliseconds(s.Timing.SyncMilliseconds);
        var start = TimeSpan.FromMilliseconds((a.StartMilliseconds > 0 ? a.StartMilliseconds : s.Timing.StartMilliseconds) + s.Timing.HealthMilliseconds);
        context.Logger.LogInformation("Stopping {Application} on {Source}: the blackout starts", a.Name, source);
        context.BlackoutStarted(a.Name, source, dst.Name);
        a.Running = false;
        Advance(s, stop);
        var acknowledged = a.NextSequence - 1;
        Fault(Steps.Move, FaultTiming.During);
        // The copy on the destination received every write; verify it before the application starts there.
        var sourceFile = Under(Content(from), a.DataPath);
        var targetFile = Under(Content(to), a.DataPath);
        if (!File.Exists(targetFile) || (File.Exists(sourceFile) && !File.ReadAllBytes(sourceFile).AsSpan().SequenceEqual(File.ReadAllBytes(targetFile))))
        {
            context.Logger.LogWarning("The copy of {Application}'s data on {Destination} differs; copying it again", a.Name, dst.Name);
            Directory.CreateDirectory(Path.GetDirectoryName(targetFile)!);
            if (File.Exists(sourceFile)) File.Copy(sourceFile, targetFile, overwrite: true);
        }
        var records = ReadRecords(to, a.DataPath);
        var verified = records.Count == acknowledged && records.Select((n, i) => n == i + 1).All(x => x);
        Advance(s, sync);
        a.Partition = dst.Name;
        a.DataVg = to.Id;
        context.Logger.LogInformation("Starting {Application} on {Destination} with {Records} records and waiting for {Check}", a.Name, dst.Name, records.Count, a.HealthCheck);
        if (Faults?.Fire(Steps.Health, FaultTiming.During) == true)
        {
            // The application does not answer within its timeout: the blackout lasts as long as the wait.
            var waited = TimeSpan.FromSeconds(a.HealthTimeoutSeconds);
            Advance(s, start + waited);
            a.Running = true;
            context.Logger.LogWarning("{Application} did not answer '{Check}' on {Destination} within {Timeout}s", a.Name, a.HealthCheck, dst.Name, a.HealthTimeoutSeconds);
            context.BlackoutEnded(a.Name, dst.Name, stop + sync + start + waited, answered: false);
            return new ApplicationMigration(a.Name, source, dst.Name, "HealthCheckFailed", stop + sync + start + waited, stop, sync, start + waited,
                acknowledged, records.Count, verified, false);
        }
        Advance(s, start);
        a.Running = true;
        context.Logger.LogInformation("{Application} answers on {Destination}: the blackout ends", a.Name, dst.Name);
        context.BlackoutEnded(a.Name, dst.Name, stop + sync + start);
        return new ApplicationMigration(a.Name, source, dst.Name, verified ? "Moved" : "DataMismatch", stop + sync + start, stop, sync, start,
            acknowledged, records.Count, verified, false);
    }).Also(_ => Fault(Steps.Move, FaultTiming.After));

    public ApplicationRecords ReadApplicationRecords(string application) => Change(s => s.DomainOf(s.App(application)!.Partition), s =>
    {
        var a = s.App(application)!;
        return new ApplicationRecords(a.NextSequence - 1, ReadRecords(s.Vg(a.DataVg)!, a.DataPath));
    });

    public ApplicationInstance RecoverApplication(string application, OperationContext context) => Change(s => s.DomainOf(s.App(application)!.Partition), s =>
    {
        var a = s.App(application)!;
        if (!a.Running)
        {
            context.Logger.LogWarning("{Application} was left stopped on {Partition}; starting it again", a.Name, a.Partition);
            Advance(s, TimeSpan.FromMilliseconds(a.StartMilliseconds > 0 ? a.StartMilliseconds : s.Timing.StartMilliseconds));
            a.Running = true;
        }
        return ToModel(s, a);
    });
}
