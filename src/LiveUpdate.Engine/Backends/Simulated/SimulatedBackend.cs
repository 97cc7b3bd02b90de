using System;
using System.Globalization;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>
/// A simulated IBM Power system that lives in a folder: <c>system.state</c> holds the frame, its partitions,
/// disks, volume groups and applications; <c>disks/&lt;hdisk&gt;/</c> holds the real files of the volume group on
/// that disk (a mirror copy has a full copy of its own). Time is virtual: every primitive advances the clock by the
/// <see cref="TimingModel"/>, and while it passes each running application appends numbered records to its data
/// file on every copy of its volume group.
/// </summary>
public sealed partial class SimulatedBackend : ILiveUpdateBackend
{
    public const string KindName = "Simulated";
    internal const string InventoryFile = "/usr/lib/objrepos/lpp.inventory";
    internal const string OsLevelFile = "/usr/lib/objrepos/oslevel";

    private readonly LabStore _store;

    private SimulatedBackend(string root)
    {
        _store = new LabStore(root);
    }

    /// <summary>Opens an existing lab; refuses a folder that is not one or whose state cannot be trusted.</summary>
    public static SimulatedBackend Open(string path, bool verify = true)
    {
        var root = Path.GetFullPath(path);
        if (!Directory.Exists(root))
            throw new LiveUpdateException("NotALab", ErrorKind.ObjectNotFound, $"The lab folder '{path}' does not exist.", path);
        if (!LabStore.IsLab(root))
            throw new LiveUpdateException("NotALab", ErrorKind.InvalidArgument, $"'{path}' is not a LiveUpdate lab: it has no {LabStore.StateFileName}.", path);
        var backend = new SimulatedBackend(root);
        if (verify) backend._store.Load(); // verify now, so a bad lab is refused at connect time
        return backend;
    }

    /// <summary>True when the folder holds a simulated lab.</summary>
    public static bool IsLab(string path) => LabStore.IsLab(Path.GetFullPath(path));

    public void RemoveLab(OperationContext context)
    {
        using (_store.Lock(TimeSpan.FromSeconds(30)))
        {
            // Everything of a simulated lab lives in its folder, so even a lab whose state cannot be trusted can go.
            context.Logger.LogInformation("Removing lab {Path}", _store.Root);
            Directory.Delete(_store.Root, recursive: true);
        }
    }

    internal static SimulatedBackend CreateEmpty(string root) => new(root);

    public string Kind => KindName;
    public string Location => _store.Root;
    public TimingModel Timing => _store.Load().Timing;

    /// <summary>Fault injection for tests (see <see cref="FaultInjector"/>).</summary>
    public FaultInjector? Faults { get; set; }

    public IDisposable Lock(TimeSpan wait) => _store.Lock(wait);

    public void Dispose() { }

    internal LabState LoadState() => _store.Load();

    internal void SaveState(LabState state)
    {
        using (_store.Lock(TimeSpan.FromSeconds(30))) _store.Save(state);
    }

    /// <summary>
    /// One change of the lab, all or nothing, within one domain (a partition and its surrogate). Saving the state is
    /// the commit point: an application's record counts as acknowledged once the state that counts it is saved.
    /// Records that a change appended before it failed (or before its process died, which <c>.uncommitted</c> tells
    /// the next change) were never acknowledged and are cut from the data files again, so the files always hold
    /// exactly the acknowledged records.
    /// </summary>
    private T Change<T>(Func<LabState, string> domainOf, Func<LabState, T> change)
    {
        using (_store.Lock(TimeSpan.FromSeconds(30)))
        {
            var marker = Path.Combine(_store.Root, UncommittedMarker);
            if (File.Exists(marker)) Reconcile(_store.Load(), File.ReadAllText(marker).Trim(), marker);
            var state = _store.Load();
            var domain = domainOf(state);
            File.WriteAllText(marker, domain);
            T result;
            try
            {
                state.CurrentDomain = domain;
                CatchUp(state, domain);
                result = change(state);
                state.CurrentDomain = null;
                Stale(domain);
                _store.Save(state, new[] { domain });
            }
            catch
            {
                _store.Invalidate();
                Reconcile(_store.Load(), domain, marker);
                throw;
            }
            File.Delete(marker);
            return result;
        }
    }

    internal const string UncommittedMarker = ".uncommitted";

    private void Reconcile(LabState committed, string domain, string marker)
    {
        foreach (var app in committed.Applications.Where(a => string.Equals(committed.DomainOf(a.Partition), domain, StringComparison.OrdinalIgnoreCase)))
        {
            var acknowledged = app.NextSequence - 1;
            foreach (var folder in CopiesOf(committed, app.DataVg))
            {
                var file = Under(folder, app.DataPath);
                if (!File.Exists(file)) continue;
                var lines = File.ReadAllLines(file);
                var keep = lines.TakeWhile(l => l.Length >= 8 && long.Parse(l.Substring(0, 8), CultureInfo.InvariantCulture) <= acknowledged).ToList();
                if (keep.Count != lines.Length) StateFile.WriteAtomically(file, string.Concat(keep.Select(l => l + "\n")));
            }
        }
        File.Delete(marker);
    }

    private void Change(Func<LabState, string> domainOf, Action<LabState> change) => Change<object?>(domainOf, s => { change(s); return null; });

    private string Folder(string disk) => Path.Combine(_store.Root, "disks", disk);
    private string Content(VgRecord vg) => Folder(vg.ContentDisk);
    private static string Under(string root, string absolute) => Path.Combine(root, absolute.TrimStart('/').Replace('/', Path.DirectorySeparatorChar));

    private void Fault(string step, FaultTiming timing) => Faults?.At(step, timing);
}

internal static class FunctionalExtensions
{
    public static T Also<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }
}
