using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>
/// A simulated IBM Power system that lives in a folder: <c>system.state</c> holds the frame, its partitions,
/// disks, volume groups and applications; <c>disks/&lt;hdisk&gt;/</c> holds the real files of the volume group on
/// that disk (a mirror copy has a full copy of its own). Time is virtual: every primitive advances the clock by the
/// <see cref="TimingModel"/>, and while it passes each running application appends numbered records to its data
/// file on every copy of its volume group.
/// </summary>
public sealed class SimulatedBackend : ILiveUpdateBackend
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

    // ---------------------------------------------------------------- inventory

    // The inventory is built per domain and kept: a change rebuilds the model of its own domain only, so reading the
    // inventory after a change costs little more than copying references, however many partitions the frame holds.
    private sealed record DomainModel(List<LogicalPartition> Partitions, List<VolumeGroup> VolumeGroups, List<ApplicationInstance> Applications,
        List<RootVgClone> Clones, List<RootVgMirror> Mirrors);

    private readonly object _modelGate = new();
    private readonly Dictionary<string, DomainModel> _models = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _staleDomains = new(StringComparer.OrdinalIgnoreCase);
    private LabState? _modelsOf;
    private long _modelsGeneration = -1;
    private SystemInventory? _inventory;

    public DateTimeOffset Clock => _store.Load().Clock;

    public SystemInventory Inventory()
    {
        var s = _store.Load();
        lock (_modelGate)
        {
            if (_inventory is not null && ReferenceEquals(_modelsOf, s) && _modelsGeneration == s.Generation) return _inventory;
            var all = s.Partitions.Where(p => p.SurrogateOf is null).Select(p => p.Name).ToList();
            if (!ReferenceEquals(_modelsOf, s))
            {
                _models.Clear();
                _staleDomains.Clear();
            }
            var vgs = s.VolumeGroups.ToDictionary(v => v.Id);
            var diskSize = s.Disks.ToDictionary(d => d.Name, d => d.SizeMB, StringComparer.OrdinalIgnoreCase);
            foreach (var domain in all.Where(d => !_models.ContainsKey(d) || _staleDomains.Contains(d)).ToList())
                _models[domain] = BuildDomain(s, domain, vgs, diskSize);
            foreach (var gone in _models.Keys.Except(all, StringComparer.OrdinalIgnoreCase).ToList()) _models.Remove(gone);
            _staleDomains.Clear();
            var models = all.Select(d => _models[d]).ToList();
            var diskOwner = new Dictionary<string, VgRecord>(StringComparer.OrdinalIgnoreCase);
            foreach (var v in s.VolumeGroups)
                foreach (var d in v.Disks.Concat(v.MirrorDisks)) diskOwner.TryAdd(d, v);
            var running = s.Partitions.Where(p => p.Running).ToList();
            var system = new ManagedSystem(s.Name, s.MachineType, s.SerialNumber, KindName, _store.Root,
                s.TotalProcessors, Math.Round(s.TotalProcessors - running.Sum(p => p.Processors), 2),
                s.TotalMemoryMB, s.TotalMemoryMB - running.Sum(p => p.MemoryMB), s.Partitions.Count, s.Clock);
            _inventory = new SystemInventory(system,
                models.SelectMany(m => m.Partitions).OrderBy(p => p.Id).ToList(),
                s.Disks.Select(d => ToModel(d, diskOwner.GetValueOrDefault(d.Name))).ToList(),
                models.SelectMany(m => m.VolumeGroups).ToList(),
                models.SelectMany(m => m.Applications).ToList(),
                models.SelectMany(m => m.Clones).ToList(),
                models.SelectMany(m => m.Mirrors).ToList());
            (_modelsOf, _modelsGeneration) = (s, s.Generation);
            return _inventory;
        }
    }

    private DomainModel BuildDomain(LabState s, string domain, Dictionary<string, VgRecord> vgs, IReadOnlyDictionary<string, long> diskSize)
    {
        bool Mine(string? partition) => string.Equals(s.DomainOf(partition), domain, StringComparison.OrdinalIgnoreCase);
        var partitions = s.Partitions.Where(p => string.Equals(p.SurrogateOf ?? p.Name, domain, StringComparison.OrdinalIgnoreCase)).ToList();
        var names = new HashSet<string>(partitions.Select(p => p.Name), StringComparer.OrdinalIgnoreCase);
        return new DomainModel(
            partitions.Select(p => ToModel(s, p, vgs.GetValueOrDefault(p.RootVg))).ToList(),
            s.VolumeGroups.Where(v => v.Partition is not null && names.Contains(v.Partition)).Select(v => ToModel(v, diskSize)).ToList(),
            s.Applications.Where(a => names.Contains(a.Partition)).Select(a => ToModel(a, vgs.GetValueOrDefault(a.DataVg))).ToList(),
            s.Clones.Where(c => Mine(c.Partition)).Select(c => ToModel(s, c)).ToList(),
            s.Mirrors.Where(m => Mine(m.Partition)).Select(m => ToModel(s, m)).ToList());
    }

    private void Stale(string domain)
    {
        lock (_modelGate) _staleDomains.Add(domain);
    }

    internal SystemInventory ToInventory(LabState s)
    {
        // Index once, so that building the inventory stays linear in the size of the system.
        var vgs = s.VolumeGroups.ToDictionary(v => v.Id);
        var diskOwner = new Dictionary<string, VgRecord>(StringComparer.OrdinalIgnoreCase);
        foreach (var v in s.VolumeGroups)
            foreach (var d in v.Disks.Concat(v.MirrorDisks)) diskOwner.TryAdd(d, v);
        var diskSize = s.Disks.ToDictionary(d => d.Name, d => d.SizeMB, StringComparer.OrdinalIgnoreCase);
        var partitions = s.Partitions.OrderBy(p => p.Id).Select(p => ToModel(s, p, vgs.GetValueOrDefault(p.RootVg))).ToList();
        var disks = s.Disks.Select(d => ToModel(d, diskOwner.GetValueOrDefault(d.Name))).ToList();
        var volumeGroups = s.VolumeGroups.Select(v => ToModel(v, diskSize)).ToList();
        var apps = s.Applications.Select(a => ToModel(a, vgs.GetValueOrDefault(a.DataVg))).ToList();
        var clones = s.Clones.Select(c => ToModel(s, c)).ToList();
        var mirrors = s.Mirrors.Select(m => ToModel(s, m)).ToList();
        var running = s.Partitions.Where(p => p.Running).ToList();
        var system = new ManagedSystem(s.Name, s.MachineType, s.SerialNumber, KindName, _store.Root,
            s.TotalProcessors, Math.Round(s.TotalProcessors - running.Sum(p => p.Processors), 2),
            s.TotalMemoryMB, s.TotalMemoryMB - running.Sum(p => p.MemoryMB), s.Partitions.Count, s.Clock);
        return new SystemInventory(system, partitions, disks, volumeGroups, apps, clones, mirrors);
    }

    private LogicalPartition ToModel(LabState s, PartitionRecord p) => ToModel(s, p, s.Vg(p.RootVg));

    private static LogicalPartition ToModel(LabState s, PartitionRecord p, VgRecord? root) =>
        new(p.Name, p.Id, p.Uuid, p.HostName, p.Address,
            p.Running ? PartitionState.Running : PartitionState.NotActivated,
            OsLevel.Parse(root?.OsLevel ?? "0001-00-00"), p.Processors, p.MemoryMB,
            root is null ? Array.Empty<string>() : root.Disks.Concat(root.MirrorDisks).ToArray(),
            p.SurrogateOf, s.Name);

    private static PhysicalVolume ToModel(DiskRecord d, VgRecord? vg) =>
        new(d.Name, d.SizeMB, d.Pvid, vg?.Name, vg?.Partition, vg is null ? DiskState.Free : DiskState.InUse, d.Location);

    private static VolumeGroup ToModel(LabState s, VgRecord v) =>
        ToModel(v, s.Disks.ToDictionary(d => d.Name, d => d.SizeMB, StringComparer.OrdinalIgnoreCase));

    private static VolumeGroup ToModel(VgRecord v, IReadOnlyDictionary<string, long> diskSize)
    {
        var size = v.Disks.Sum(n => diskSize.TryGetValue(n, out var mb) ? mb : 0);
        return new VolumeGroup(v.Name, v.Id, v.Partition, Enum.Parse<VolumeGroupRole>(v.Role),
            v.Active ? VolumeGroupState.Active : VolumeGroupState.VariedOff,
            v.Disks.ToArray(), v.MirrorDisks.ToArray(), size, v.LogicalVolumes.Sum(l => l.SizeMB),
            v.OsLevel is null ? null : OsLevel.Parse(v.OsLevel),
            v.LogicalVolumes.Select(l => new LogicalVolume(l.Name, l.MountPoint, l.Type, l.SizeMB, l.UsedMB)).ToArray());
    }

    private static ApplicationInstance ToModel(LabState s, AppRecord a) => ToModel(a, s.Vg(a.DataVg));

    private static ApplicationInstance ToModel(AppRecord a, VgRecord? dataVg) => new(a.Name, a.Partition,
        a.Running ? ApplicationState.Running : ApplicationState.Stopped, a.DataPath, dataVg?.Name ?? "",
        a.ServiceAddress, a.NextSequence - 1, a.HealthCheck, TimeSpan.FromSeconds(a.HealthTimeoutSeconds));

    private static RootVgClone ToModel(LabState s, CloneRecord c)
    {
        var vg = s.Vg(c.Vg)!;
        return new RootVgClone(c.Partition, vg.Name, vg.Disks.ToArray(), OsLevel.Parse(c.SourceLevel), OsLevel.Parse(vg.OsLevel!),
            Enum.Parse<CloneState>(c.State), c.AppliedBundles.ToArray(), c.BootedAs, TimeSpan.FromSeconds(c.DurationSeconds), c.Created);
    }

    private static RootVgMirror ToModel(LabState s, MirrorRecord m) => new(m.Partition, s.Vg(m.SourceVg)?.Name ?? "rootvg",
        m.Disks.ToArray(), Enum.Parse<MirrorState>(m.State), m.ImportedVg is null ? null : s.Vg(m.ImportedVg)?.Name, m.ImportedInto,
        TimeSpan.FromSeconds(m.DurationSeconds), m.Created);

    // ---------------------------------------------------------------- time and application writes

    /// <summary>
    /// Moves the virtual clock on. The applications of the domain being changed append the records that fall due at
    /// once; those of other domains catch up when a change next works in their domain, with the same records at the
    /// same times, so the cost of a change does not grow with the number of partitions.
    /// </summary>
    internal void Advance(LabState s, TimeSpan span)
    {
        if (span <= TimeSpan.Zero) return;
        s.Clock += span;
        if (s.CurrentDomain is not null) CatchUp(s, s.CurrentDomain);
    }

    /// <summary>Writes the records that the domain's running applications acknowledged up to the clock.</summary>
    private void CatchUp(LabState s, string domain)
    {
        var members = new HashSet<string>(s.Partitions.Where(p => string.Equals(p.SurrogateOf ?? p.Name, domain, StringComparison.OrdinalIgnoreCase)).Select(p => p.Name),
            StringComparer.OrdinalIgnoreCase);
        foreach (var app in s.Applications.Where(a => members.Contains(a.Partition)))
        {
            var start = app.LastTick;
            var span = s.Clock - start;
            app.LastTick = s.Clock;
            if (!app.Running || span <= TimeSpan.Zero) continue;
            app.Accrued += span.TotalSeconds * app.RecordsPerSecond;
            var count = (long)Math.Floor(app.Accrued);
            if (count <= 0) continue;
            app.Accrued -= count;
            var text = new StringBuilder();
            for (long i = 0; i < count; i++)
            {
                var at = start + TimeSpan.FromTicks(span.Ticks * (i + 1) / count);
                text.Append(FormatRecord(app.NextSequence++, at, app.Name, app.Partition));
            }
            foreach (var folder in CopiesOf(s, app.DataVg))
            {
                var file = Under(folder, app.DataPath);
                Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                File.AppendAllText(file, text.ToString());
            }
        }
    }

    internal static string FormatRecord(long sequence, DateTimeOffset at, string app, string partition) =>
        string.Format(CultureInfo.InvariantCulture, "{0:D8} {1:yyyy-MM-ddTHH:mm:ss.fffZ} {2} {3}\n", sequence, at.UtcDateTime, app, partition);

    /// <summary>Every folder that receives a write to the volume group: its own, its mirror copies, its replicas'.</summary>
    private IEnumerable<string> CopiesOf(LabState s, string vgId) =>
        CopiesOfVg(s, vgId).SelectMany(vg => new[] { Content(vg) }.Concat(vg.MirrorDisks.Select(Folder)));

    /// <summary>Reads the sequence numbers of an application's data file on one volume group.</summary>
    internal IReadOnlyList<long> ReadRecords(VgRecord vg, string dataPath)
    {
        var file = Under(Content(vg), dataPath);
        if (!File.Exists(file)) return Array.Empty<long>();
        return File.ReadLines(file).Where(l => l.Length >= 8).Select(l => long.Parse(l.Substring(0, 8), CultureInfo.InvariantCulture)).ToList();
    }

    private static void CopyTree(string from, string to, Action<double>? progress = null)
    {
        if (Directory.Exists(to)) Directory.Delete(to, recursive: true);
        Directory.CreateDirectory(to);
        if (!Directory.Exists(from)) return;
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        var files = Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories).Select(f => new FileInfo(f)).ToList();
        var total = Math.Max(1, files.Sum(f => f.Length));
        long copied = 0;
        foreach (var file in files)
        {
            File.Copy(file.FullName, Path.Combine(to, Path.GetRelativePath(from, file.FullName)), overwrite: true);
            copied += file.Length;
            progress?.Invoke((double)copied / total);
        }
    }

    /// <summary>Reports a copy of <paramref name="megabytes"/> that takes <paramref name="duration"/> on the virtual clock.</summary>
    private static Action<double> CopyProgress(OperationContext context, string activity, long megabytes, TimeSpan duration)
    {
        var last = -1;
        context.Report(activity, $"0 of {megabytes} MB", 0, duration);
        return share =>
        {
            var percent = (int)(share * 100);
            if (percent == last) return;
            last = percent;
            context.Report(activity, $"{(long)(share * megabytes)} of {megabytes} MB", percent, TimeSpan.FromTicks((long)(duration.Ticks * (1 - share))));
        };
    }

    private static void CopyDone(OperationContext context, string activity, long megabytes)
        => context.Report(activity, $"{megabytes} of {megabytes} MB", 100, TimeSpan.Zero, completed: true);

    private void Wipe(string disk)
    {
        var folder = Folder(disk);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    // ---------------------------------------------------------------- storage

    public RootVgClone CloneRootVg(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        Fault(Steps.Clone, FaultTiming.Before);
        var usedMB = root.LogicalVolumes.Sum(l => l.SizeMB);
        context.Logger.LogInformation("Copying rootvg of {Partition} ({UsedMB} MB) to {Disks} as altinst_rootvg", p.Name, usedMB, string.Join(",", disks));
        foreach (var d in disks) Wipe(d);
        var copying = $"Copying rootvg of {p.Name} to {string.Join(", ", disks)}";
        CopyTree(Content(root), Folder(disks[0]), CopyProgress(context, copying, usedMB, s.Timing.Copy(usedMB)));
        CopyDone(context, copying, usedMB);
        Fault(Steps.Clone, FaultTiming.During);
        var vg = new VgRecord
        {
            Id = s.NewId("00f8"), Name = "altinst_rootvg", Partition = p.Name, Role = nameof(VolumeGroupRole.AltInstRoot), Active = false,
            Disks = disks.ToList(), ContentDisk = disks[0], OsLevel = root.OsLevel, Filesets = root.Filesets.ToList(),
            LogicalVolumes = root.LogicalVolumes.Select(l => new LvRecord { Name = l.Name, MountPoint = l.MountPoint, Type = l.Type, SizeMB = l.SizeMB, UsedMB = l.UsedMB }).ToList(),
        };
        var duration = s.Timing.Copy(usedMB);
        var started = s.Clock;
        Advance(s, duration);
        s.VolumeGroups.Add(vg);
        var clone = new CloneRecord { Partition = p.Name, Vg = vg.Id, SourceLevel = root.OsLevel!, DurationSeconds = duration.TotalSeconds, Created = started };
        s.Clones.Add(clone);
        return ToModel(s, clone);
    }).Also(_ => Fault(Steps.Clone, FaultTiming.After));

    public RootVgMirror MirrorRootVg(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        Fault(Steps.Mirror, FaultTiming.Before);
        var usedMB = root.LogicalVolumes.Sum(l => l.SizeMB);
        context.Logger.LogInformation("Mirroring rootvg of {Partition} onto {Disks} and synchronising {UsedMB} MB", p.Name, string.Join(",", disks), usedMB);
        foreach (var d in disks) Wipe(d);
        var syncing = $"Synchronising the rootvg mirror of {p.Name} on {string.Join(", ", disks)}";
        CopyTree(Content(root), Folder(disks[0]), CopyProgress(context, syncing, usedMB, s.Timing.MirrorSync(usedMB)));
        CopyDone(context, syncing, usedMB);
        Fault(Steps.Mirror, FaultTiming.During);
        root.MirrorDisks = disks.ToList();
        var duration = s.Timing.MirrorSync(usedMB);
        var mirror = new MirrorRecord { Partition = p.Name, SourceVg = root.Id, Disks = disks.ToList(), DurationSeconds = duration.TotalSeconds, Created = s.Clock };
        s.Mirrors.Add(mirror);
        Advance(s, duration); // writes during the sync already reach both copies
        return ToModel(s, mirror);
    }).Also(_ => Fault(Steps.Mirror, FaultTiming.After));

    public VolumeGroup ImportMirror(string partition, string surrogate, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var m = s.MirrorOf(partition)!;
        var root = s.Vg(m.SourceVg)!;
        Fault(Steps.Import, FaultTiming.Before);
        context.Logger.LogInformation("Splitting the rootvg mirror of {Partition} on {Disks} and importing it into {Surrogate}; writes stay replicated until the blackout", partition, string.Join(",", m.Disks), surrogate);
        var vg = new VgRecord
        {
            Id = s.NewId("00f8"), Name = "mirror_rootvg", Partition = surrogate, Role = nameof(VolumeGroupRole.Mirror), Active = true,
            Disks = m.Disks.ToList(), ContentDisk = m.Disks[0], OsLevel = root.OsLevel, Filesets = root.Filesets.ToList(),
            LogicalVolumes = root.LogicalVolumes.Select(l => new LvRecord { Name = "fs" + l.Name, MountPoint = l.MountPoint, Type = l.Type, SizeMB = l.SizeMB, UsedMB = l.UsedMB }).ToList(),
        };
        root.MirrorDisks.Clear();
        Fault(Steps.Import, FaultTiming.During);
        root.ReplicaVgs.Add(vg.Id);
        vg.ReplicaVgs.Add(root.Id);
        s.VolumeGroups.Add(vg);
        m.State = nameof(MirrorState.Imported);
        m.ImportedVg = vg.Id;
        m.ImportedInto = surrogate;
        Advance(s, s.Timing.Import);
        return ToModel(s, vg);
    }).Also(_ => Fault(Steps.Import, FaultTiming.After));

    public void RemoveClone(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var c = s.CloneOf(partition);
        var vg = c is null ? null : s.Vg(c.Vg);
        context.Logger.LogInformation("Removing altinst_rootvg of {Partition} and wiping {Disks}", partition, string.Join(",", disks));
        if (vg is not null)
        {
            foreach (var d in vg.Disks) Wipe(d);
            s.VolumeGroups.Remove(vg);
        }
        if (c is not null) s.Clones.Remove(c);
        foreach (var d in disks.Where(d => !InUse(s, d))) Wipe(d);
    });

    private static bool InUse(LabState s, string disk) => s.VolumeGroups.Any(v =>
        v.Disks.Contains(disk, StringComparer.OrdinalIgnoreCase) || v.MirrorDisks.Contains(disk, StringComparer.OrdinalIgnoreCase));

    public void RemoveMirror(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var m = s.MirrorOf(partition);
        context.Logger.LogInformation("Removing the rootvg mirror of {Partition} and wiping {Disks}", partition, string.Join(",", disks));
        if (m is null)
        {
            foreach (var d in disks.Where(d => !InUse(s, d))) Wipe(d);
            return;
        }
        var root = s.Vg(m.SourceVg);
        var imported = m.ImportedVg is null ? null : s.Vg(m.ImportedVg);
        if (root is not null)
        {
            root.MirrorDisks.RemoveAll(d => m.Disks.Contains(d));
            if (imported is not null) root.ReplicaVgs.Remove(imported.Id);
        }
        if (imported is not null) s.VolumeGroups.Remove(imported);
        foreach (var d in m.Disks) Wipe(d);
        s.Mirrors.Remove(m);
        foreach (var d in disks.Where(d => !InUse(s, d))) Wipe(d);
    });

    public void RemoveVolumeGroup(string partition, string volumeGroup, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var vg = s.Vg(partition, volumeGroup);
        if (vg is null) return;
        context.Logger.LogInformation("Removing volume group {VolumeGroup} of {Partition} and freeing {Disks}", vg.Name, partition, string.Join(",", vg.Disks));
        foreach (var d in vg.Disks.Concat(vg.MirrorDisks)) Wipe(d);
        s.VolumeGroups.Remove(vg);
    });

    // ---------------------------------------------------------------- updates

    public RootVgClone InstallUpdate(string partition, UpdateBundle bundle, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var c = s.CloneOf(partition)!;
        var vg = s.Vg(c.Vg)!;
        Fault(Steps.Install, FaultTiming.Before);
        var content = Content(vg);
        var filesets = vg.Filesets.ToDictionary(f => f.Split(' ')[0], f => f, StringComparer.Ordinal);
        var done = 0;
        foreach (var package in bundle.Packages)
        {
            context.Logger.LogInformation("Installing {Package} {Version} into altinst_rootvg of {Partition}", package.Name, package.Version, partition);
            var target = Under(content, "/usr/sys/inst.images/" + Path.GetFileName(package.File));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(bundle.PackagePath(package), target, overwrite: true);
            filesets[package.Name] = package.Name + " " + package.Version;
            if (++done == (bundle.Packages.Count + 1) / 2) Fault(Steps.Install, FaultTiming.During);
            context.Report("Installing " + bundle.Name, package.Name, 100 * done / bundle.Packages.Count);
        }
        context.Report("Installing " + bundle.Name, $"{done} packages installed", 100, TimeSpan.Zero, completed: true);
        vg.Filesets = filesets.Values.OrderBy(f => f, StringComparer.Ordinal).ToList();
        vg.OsLevel = bundle.TargetLevel.ToString();
        WriteOsFiles(content, vg);
        c.State = nameof(CloneState.Updated);
        if (!c.AppliedBundles.Contains(bundle.Name)) c.AppliedBundles.Add(bundle.Name);
        Advance(s, s.Timing.Install(bundle.Packages.Count, bundle.PayloadBytes));
        return ToModel(s, c);
    }).Also(_ => Fault(Steps.Install, FaultTiming.After));

    public RootVgClone AdoptOldRootVg(string partition, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var existing = s.CloneOf(partition);
        if (existing is not null) return ToModel(s, existing);
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        var old = s.Vg(partition, "old_rootvg")!;
        context.Logger.LogInformation("Turning old_rootvg of {Partition} on {Disks} ({Level}) into its altinst_rootvg", partition, string.Join(",", old.Disks), old.OsLevel);
        old.Name = "altinst_rootvg";
        old.Role = nameof(VolumeGroupRole.AltInstRoot);
        old.Active = false;
        var clone = new CloneRecord
        {
            Partition = partition, Vg = old.Id, SourceLevel = root.OsLevel!, State = nameof(CloneState.Updated),
            AppliedBundles = { "old_rootvg at " + old.OsLevel }, Created = s.Clock,
        };
        s.Clones.Add(clone);
        return ToModel(s, clone);
    });

    public void RestoreOldRootVg(string partition, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var c = s.CloneOf(partition);
        if (c is null) return;
        var vg = s.Vg(c.Vg)!;
        context.Logger.LogInformation("Returning altinst_rootvg of {Partition} on {Disks} to old_rootvg", partition, string.Join(",", vg.Disks));
        vg.Name = "old_rootvg";
        vg.Role = nameof(VolumeGroupRole.OldRoot);
        vg.Active = false;
        vg.Partition = partition;
        s.Clones.Remove(c);
    });

    internal static void WriteOsFiles(string content, VgRecord vg)
    {
        var inventory = Under(content, InventoryFile);
        Directory.CreateDirectory(Path.GetDirectoryName(inventory)!);
        File.WriteAllText(inventory, string.Join("\n", vg.Filesets) + "\n");
        File.WriteAllText(Under(content, OsLevelFile), vg.OsLevel + "\n");
    }

    // ---------------------------------------------------------------- partitions

    public LogicalPartition StartSurrogate(string partition, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var p = s.Partition(partition)!;
        var c = s.CloneOf(partition)!;
        var vg = s.Vg(c.Vg)!;
        Fault(Steps.Boot, FaultTiming.Before);
        var name = Steps.SurrogateName(p.Name);
        context.Logger.LogInformation("Creating partition {Surrogate} ({Processors} processors, {MemoryMB} MB) and booting it from {Disks} at {Level}",
            name, p.Processors, p.MemoryMB, string.Join(",", vg.Disks), vg.OsLevel);
        var sur = new PartitionRecord
        {
            Id = s.Partitions.Max(x => x.Id) + 1, Name = name, Uuid = Guid.NewGuid().ToString(), HostName = p.HostName + "-sur",
            Address = SurrogateAddress(p.Address), Running = true, Processors = p.Processors, MemoryMB = p.MemoryMB, RootVg = vg.Id, SurrogateOf = p.Name,
        };
        s.Partitions.Add(sur);
        Fault(Steps.Boot, FaultTiming.During);
        vg.Partition = sur.Name;
        vg.Name = "rootvg";
        vg.Role = nameof(VolumeGroupRole.Root);
        vg.Active = true;
        c.State = nameof(CloneState.Booted);
        c.BootedAs = sur.Name;
        Advance(s, s.Timing.Boot);
        return ToModel(s, sur);
    }).Also(_ => Fault(Steps.Boot, FaultTiming.After));


    private static string SurrogateAddress(string address)
    {
        var parts = address.Split('.');
        return parts.Length == 4 && parts[0] == "198" && parts[1] == "18" ? $"198.19.{parts[2]}.{parts[3]}" : "198.19.255.254";
    }

    public void RemoveSurrogate(string surrogate, OperationContext context) => Change(s => s.DomainOf(surrogate), s =>
    {
        var sur = s.Partition(surrogate);
        if (sur is null) return;
        context.Logger.LogInformation("Shutting down and removing partition {Surrogate}", surrogate);
        var original = sur.SurrogateOf!;
        var m = s.MirrorOf(original);
        if (m is not null && string.Equals(m.ImportedInto, sur.Name, StringComparison.OrdinalIgnoreCase))
        {
            // Export the imported mirror and mirror rootvg onto its disks again.
            var root = s.Vg(m.SourceVg)!;
            var imported = m.ImportedVg is null ? null : s.Vg(m.ImportedVg);
            if (imported is not null)
            {
                root.ReplicaVgs.Remove(imported.Id);
                s.VolumeGroups.Remove(imported);
            }
            CopyTree(Content(root), Folder(m.Disks[0]));
            root.MirrorDisks = m.Disks.ToList();
            m.State = nameof(MirrorState.Synchronized);
            m.ImportedInto = null;
            m.ImportedVg = null;
        }
        var c = s.CloneOf(original);
        var vg = s.Vg(sur.RootVg);
        if (vg is not null)
        {
            vg.Partition = original;
            vg.Name = "altinst_rootvg";
            vg.Role = nameof(VolumeGroupRole.AltInstRoot);
            vg.Active = false;
        }
        if (c is not null)
        {
            c.State = c.AppliedBundles.Count > 0 ? nameof(CloneState.Updated) : nameof(CloneState.Cloned);
            c.BootedAs = null;
        }
        s.Partitions.Remove(sur);
        Advance(s, s.Timing.Shutdown);
    });

    public LogicalPartition TakeOver(string original, string surrogate, OperationContext context) => Change(s => s.DomainOf(original), s =>
    {
        var o = s.Partition(original)!;
        var sur = s.Partition(surrogate)!;
        Fault(Steps.TakeOver, FaultTiming.Before);
        var surRoot = s.Vg(sur.RootVg)!;
        var origRoot = s.Vg(o.RootVg)!;
        var m = s.MirrorOf(original);
        var mirrorVg = m?.ImportedVg is null ? null : s.Vg(m.ImportedVg);
        context.Logger.LogInformation("{Surrogate} takes over the name and identity of {Partition}; the old rootvg on {Disks} is kept as old_rootvg",
            surrogate, original, string.Join(",", origRoot.Disks));
        // Bring the applications' data from the mirror into the new rootvg (online, as migratelv would).
        foreach (var app in s.Applications.Where(a => string.Equals(a.Partition, sur.Name, StringComparison.OrdinalIgnoreCase) && mirrorVg is not null && a.DataVg == mirrorVg.Id))
        {
            var from = Under(Content(mirrorVg!), app.DataPath);
            var to = Under(Content(surRoot), app.DataPath);
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            if (File.Exists(from)) File.Copy(from, to, overwrite: true);
            app.DataVg = surRoot.Id;
        }
        Fault(Steps.TakeOver, FaultTiming.During);
        origRoot.ReplicaVgs.Clear();
        origRoot.MirrorDisks.Clear();
        if (mirrorVg is not null)
        {
            foreach (var d in mirrorVg.Disks) Wipe(d);
            s.VolumeGroups.Remove(mirrorVg);
        }
        if (m is not null) s.Mirrors.Remove(m);
        var clone = s.CloneOf(original);
        if (clone is not null) s.Clones.Remove(clone);
        // Rootvgs kept by earlier updates stay too, one generation older each: old_rootvg becomes old_rootvg1,
        // old_rootvg1 becomes old_rootvg2, and so on.
        var kept = s.VolumeGroups.Where(v => v.Role == nameof(VolumeGroupRole.OldRoot) && v != origRoot
                && (string.Equals(v.Partition, o.Name, StringComparison.OrdinalIgnoreCase) || string.Equals(v.Partition, sur.Name, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(v => v.Name == "old_rootvg" ? 0 : int.Parse(v.Name.Substring("old_rootvg".Length), CultureInfo.InvariantCulture)).ToList();
        for (var i = 0; i < kept.Count; i++) kept[i].Name = "old_rootvg" + (i + 1).ToString(CultureInfo.InvariantCulture);
        origRoot.Name = "old_rootvg";
        origRoot.Role = nameof(VolumeGroupRole.OldRoot);
        origRoot.Active = false;
        s.Partitions.Remove(o);
        var oldName = sur.Name;
        sur.Name = o.Name;
        sur.Id = o.Id;
        sur.Uuid = o.Uuid;
        sur.HostName = o.HostName;
        sur.Address = o.Address;
        sur.SurrogateOf = null;
        foreach (var a in s.Applications.Where(a => string.Equals(a.Partition, oldName, StringComparison.OrdinalIgnoreCase))) a.Partition = o.Name;
        foreach (var v in s.VolumeGroups.Where(v => string.Equals(v.Partition, oldName, StringComparison.OrdinalIgnoreCase))) v.Partition = o.Name;
        origRoot.Partition = o.Name;
        Advance(s, s.Timing.Shutdown);
        return ToModel(s, sur);
    }).Also(_ => Fault(Steps.TakeOver, FaultTiming.After));

    // ---------------------------------------------------------------- applications

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

    private static IEnumerable<VgRecord> CopiesOfVg(LabState s, string vgId)
    {
        var seen = new HashSet<string>();
        var queue = new Queue<string>(new[] { vgId });
        while (queue.Count > 0)
        {
            var vg = s.Vg(queue.Dequeue());
            if (vg is null || !seen.Add(vg.Id)) continue;
            yield return vg;
            foreach (var r in vg.ReplicaVgs) queue.Enqueue(r);
        }
    }
}

internal static class FunctionalExtensions
{
    public static T Also<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }
}
