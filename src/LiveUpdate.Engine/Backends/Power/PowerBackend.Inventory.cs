using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Backends.Power;

// Inventory and state: what the HMC and each running partition report, read at once over the multiplexed
// connections. What was read stays valid while the flow holds the lock, or for two seconds, until the backend itself
// changes the HMC or that partition (each change drops what it may have made stale).
public sealed partial class PowerBackend
{
    private sealed record HmcPartition(string Name, int Id, string Env, string State, string Profile, string OsVersion, string Address, string Uuid);

    private sealed class HmcFacts
    {
        public List<HmcPartition> Partitions { get; init; } = new();
        public double TotalProcessors { get; init; }
        public double AvailableProcessors { get; init; }
        public long TotalMemoryMB { get; init; }
        public long AvailableMemoryMB { get; init; }
        public Dictionary<string, (double Processors, long MemoryMB)> Use { get; init; } = new(StringComparer.OrdinalIgnoreCase);
    }

    private sealed class PartitionFacts
    {
        public List<AixDisk> Disks { get; init; } = new();
        public List<string> VolumeGroups { get; init; } = new();
        public HashSet<string> Active { get; init; } = new(StringComparer.Ordinal);
        public AixVolumeGroup RootVg { get; init; } = null!;
        public List<AixLogicalVolume> RootLvs { get; init; } = new();
        public Dictionary<string, AixVolumeGroup> DataVgs { get; init; } = new(StringComparer.Ordinal);
        public OsLevel Level { get; init; } = null!;
        public string HostName { get; init; } = "";
        public Dictionary<string, bool> Owned { get; init; } = new(StringComparer.Ordinal);
        public Dictionary<string, bool> Healthy { get; init; } = new(StringComparer.OrdinalIgnoreCase);
    }

    private static readonly TimeSpan FactsLife = TimeSpan.FromSeconds(2);
    private (HmcFacts Facts, DateTime At)? _hmcFacts;
    private readonly ConcurrentDictionary<string, (PartitionFacts Facts, DateTime At)> _partitionFacts = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, long> _sizes = new(StringComparer.Ordinal);

    private long _generation;
    private const string HmcScope = "\u0001HMC";
    private readonly ConcurrentDictionary<(string Scope, string Key), (object Value, DateTime At)> _reads = new();

    /// <summary>Everything read is stale: the HMC, the VIOS and every partition.</summary>
    private void Invalidate()
    {
        lock (_cacheGate)
        {
            Interlocked.Increment(ref _generation);
            _hmcFacts = null;
            _partitionFacts.Clear();
            _reads.Clear();
        }
    }

    /// <summary>What was read from the HMC and the VIOS is stale (the partitions' own reads stay).</summary>
    private void InvalidateHmc()
    {
        lock (_cacheGate)
        {
            Interlocked.Increment(ref _generation);
            _hmcFacts = null;
            foreach (var k in _reads.Keys.Where(k => k.Scope == HmcScope)) _reads.TryRemove(k, out _);
        }
    }

    private void Invalidate(string partition)
    {
        lock (_cacheGate)
        {
            Interlocked.Increment(ref _generation);
            _partitionFacts.TryRemove(partition, out _);
            foreach (var k in _reads.Keys.Where(k => Same(k.Scope, partition))) _reads.TryRemove(k, out _);
        }
    }

    /// <summary>A read reused while it is fresh (see <see cref="Fresh"/>) and nothing was changed since it was made.</summary>
    private T Read<T>(string scope, string key, Func<T> read) where T : class
    {
        if (_reads.TryGetValue((scope, key), out var c) && Fresh(c.At)) return (T)c.Value;
        var at = DateTime.UtcNow;
        var generation = Interlocked.Read(ref _generation);
        var value = read();
        lock (_cacheGate)
            if (Interlocked.Read(ref _generation) == generation) _reads[(scope, key)] = (value, at);
        return value;
    }

    private bool Fresh(DateTime at) => Volatile.Read(ref _lockDepth) > 0 || DateTime.UtcNow - at < FactsLife;

    private IReadOnlyList<HmcPartition> HmcPartitions(bool required = false) =>
        Read(HmcScope, "lssyscfg", () => ParsePartitions(Hmc(HmcCommands.Partitions(Sys)), required));

    private static List<HmcPartition> ParsePartitions(RemoteResult r, bool required) => HmcCommands.Values(r, 8, required, "the partitions")
        .Select(f => new HmcPartition(f[0], HmcCommands.Integer(r, f[1], string.Join(",", f)), f[2], f[3], f[4], f[5], f[6], f[7])).ToList();

    private HmcFacts ReadHmc()
    {
        if (_hmcFacts is { } cached && Fresh(cached.At)) return cached.Facts;
        var at = DateTime.UtcNow;
        var generation = Interlocked.Read(ref _generation);
        IReadOnlyList<HmcPartition> lpars = Array.Empty<HmcPartition>();
        var r = Parallel(
            () =>
            {
                lpars = HmcPartitions(required: true);
                return null!;
            },
            () => Hmc(HmcCommands.ProcessorsOfSystem(Sys)),
            () => Hmc(HmcCommands.MemoryOfSystem(Sys)),
            () => Hmc(HmcCommands.ProcessorsOfPartitions(Sys)),
            () => Hmc(HmcCommands.MemoryOfPartitions(Sys)));
        var proc = HmcCommands.Values(r[1], 2, true, "the processors of " + Sys)[0];
        var mem = HmcCommands.Values(r[2], 2, true, "the memory of " + Sys)[0];
        var use = new Dictionary<string, (double, long)>(StringComparer.OrdinalIgnoreCase);
        var mems = HmcCommands.Values(r[4], 2).ToDictionary(f => f[0], f => (long)HmcCommands.Number(r[4], f[1], string.Join(",", f)), StringComparer.OrdinalIgnoreCase);
        foreach (var f in HmcCommands.Values(r[3], 4))
        {
            var line = string.Join(",", f);
            var units = f[1] == "ded" ? HmcCommands.Number(r[3], f[3], line) : HmcCommands.Number(r[3], f[2], line);
            use[f[0]] = (units, mems.GetValueOrDefault(f[0]));
        }
        var facts = new HmcFacts
        {
            Partitions = lpars.ToList(),
            TotalProcessors = HmcCommands.Number(r[1], proc[0], string.Join(",", proc)),
            AvailableProcessors = HmcCommands.Number(r[1], proc[1], string.Join(",", proc)),
            TotalMemoryMB = (long)HmcCommands.Number(r[2], mem[0], string.Join(",", mem)),
            AvailableMemoryMB = (long)HmcCommands.Number(r[2], mem[1], string.Join(",", mem)),
            Use = use,
        };
        lock (_cacheGate)
            if (Interlocked.Read(ref _generation) == generation) _hmcFacts = (facts, at);
        return facts;
    }

    private PartitionFacts ReadPartition(string name)
    {
        if (_partitionFacts.TryGetValue(name, out var cached) && Fresh(cached.At)) return cached.Facts;
        var at = DateTime.UtcNow;
        var generation = Interlocked.Read(ref _generation);
        IReadOnlyList<AixDisk> seen = Array.Empty<AixDisk>();
        var r = Parallel(
            () =>
            {
                seen = DisksOn(name);
                return null!;
            },
            () => On(name, AixCommands.VolumeGroups()),
            () => On(name, AixCommands.ActiveVolumeGroups()),
            () => On(name, AixCommands.VolumeGroup("rootvg")),
            () => On(name, AixCommands.LogicalVolumes("rootvg")),
            () => On(name, AixCommands.OsLevel()),
            () => On(name, AixCommands.HostName()));
        var disks = seen.ToList();
        var active = AixCommands.ParseNames(r[2]).ToHashSet(StringComparer.Ordinal);
        var host = r[6].Check("reading the host name").Lines();
        if (host.Count != 1 || !PowerDescription.IsName(host[0].Trim())) throw RemoteOutput.Unexpected(r[6], host.FirstOrDefault() ?? "", "a host name");
        var apps = Description.Applications!.Where(a => Same(AppPartition(a), name)).ToList();
        var dataVgs = active.Where(v => v != "rootvg" && v != "altinst_rootvg").ToList();
        var extra = new List<Func<(string Kind, string Key, object Value)>>();
        foreach (var d in disks.Where(d => !_sizes.ContainsKey(d.Pvid)))
            extra.Add(() => ("size", d.Pvid, AixCommands.ParseDiskSize(On(name, AixCommands.DiskSize(d.Name)))));
        foreach (var d in disks.Where(d => d.VolumeGroup is null))
            extra.Add(() => ("owned", d.Name, AixCommands.ParseDiskOwned(On(name, AixCommands.DiskOwner(d.Name)))));
        foreach (var vg in dataVgs)
            extra.Add(() => ("vg", vg, AixCommands.ParseVolumeGroup(On(name, AixCommands.VolumeGroup(vg)))));
        foreach (var a in apps)
            extra.Add(() => ("health", a.Name!, On(name, a.Health!.ToArray()).Succeeded));
        var more = extra.Count == 0 ? Array.Empty<(string, string, object)>() : Parallel(extra.ToArray());
        var facts = new PartitionFacts
        {
            Disks = disks,
            VolumeGroups = AixCommands.ParseNames(r[1]).ToList(),
            Active = active,
            RootVg = AixCommands.ParseVolumeGroup(r[3]),
            RootLvs = AixCommands.ParseLogicalVolumes(r[4]).ToList(),
            Level = AixCommands.ParseOsLevel(r[5]),
            HostName = host[0].Trim(),
        };
        foreach (var (kind, key, value) in more)
        {
            if (kind == "size") _sizes[key] = (long)value;
            else if (kind == "owned") facts.Owned[key] = (bool)value;
            else if (kind == "vg") facts.DataVgs[key] = (AixVolumeGroup)value;
            else facts.Healthy[key] = (bool)value;
        }
        lock (_cacheGate)
            if (Interlocked.Read(ref _generation) == generation) _partitionFacts[name] = (facts, at);
        return facts;
    }

    /// <summary>Where an application runs (or last ran): its record, else the description.</summary>
    private string AppPartition(PowerDescription.ApplicationDescription a) => State().App(a.Name!)?.Partition ?? a.Partition!;

    public SystemInventory Inventory()
    {
        var hmc = ReadHmc();
        var s = State();
        var names = Description.Partitions!.Select(p => p.Name!).Concat(s.Surrogates.Select(x => x.Name))
            .Where(n => hmc.Partitions.Any(l => Same(l.Name, n))).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var running = names.Where(n => hmc.Partitions.First(l => Same(l.Name, n)).State == "Running").ToList();
        var facts = running.Count == 0 ? new Dictionary<string, PartitionFacts>()
            : running.Zip(Parallel(running.Select(n => (Func<PartitionFacts>)(() => ReadPartition(n))).ToArray()))
                .ToDictionary(x => x.First, x => x.Second, StringComparer.OrdinalIgnoreCase);
        var partitions = names.Select(n => ToModel(hmc.Partitions.First(l => Same(l.Name, n)), hmc, facts.GetValueOrDefault(n), s))
            .OrderBy(p => p.SurrogateOf is null ? 0 : 1).ThenBy(p => p.Id).ToList();
        var system = new ManagedSystem(Sys, _machineType, _serial, KindName, Location, hmc.TotalProcessors, hmc.AvailableProcessors, hmc.TotalMemoryMB,
            hmc.AvailableMemoryMB, partitions.Count, DateTimeOffset.Now);
        var views = running.OrderBy(n => s.Surrogate(n) is null ? 0 : 1).Select(n => (Name: n, Facts: facts[n])).ToList();
        var disks = Disks(views, s);
        var vgs = views.SelectMany(v => VolumeGroups(v.Name, v.Facts, s)).ToList();
        var apps = Description.Applications!.Select(a => ToModel(a, s, facts)).ToList();
        var clones = views.Where(v => s.Surrogate(v.Name) is null).Select(v => CloneOf(v.Name, v.Facts, s, facts)).Where(c => c is not null).Select(c => c!).ToList();
        var mirrors = views.Where(v => s.Surrogate(v.Name) is null).Select(v => MirrorOf(v.Name, v.Facts, s)).Where(m => m is not null).Select(m => m!).ToList();
        return new SystemInventory(system, partitions, disks, vgs, apps, clones, mirrors);
    }

    private LogicalPartition ToModel(HmcPartition l, HmcFacts hmc, PartitionFacts? f, PowerState s)
    {
        var sur = s.Surrogate(l.Name);
        var level = f?.Level ?? LevelFromHmc(l.OsVersion);
        var use = hmc.Use.GetValueOrDefault(l.Name);
        string address;
        try
        {
            address = Endpoint(l.Name, hmc.Partitions).Host;
        }
        catch (LiveUpdateException)
        {
            address = l.Address;
        }
        return new LogicalPartition(l.Name, l.Id, l.Uuid, f?.HostName ?? "", address, l.State == "Running" ? PartitionState.Running : PartitionState.NotActivated,
            level, use.Processors, use.MemoryMB, f?.Disks.Where(d => d.VolumeGroup == "rootvg").Select(d => d.Name).ToList() ?? new List<string>(),
            sur?.Of, Sys);
    }

    private static OsLevel LevelFromHmc(string osVersion)
    {
        var last = osVersion.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        return OsLevel.TryParse(last, out var level) ? level! : new OsLevel(1, 0, 0);
    }

    private List<PhysicalVolume> Disks(List<(string Name, PartitionFacts Facts)> views, PowerState s)
    {
        var byPvid = new Dictionary<string, List<(string Partition, AixDisk Disk, PartitionFacts Facts)>>(StringComparer.Ordinal);
        foreach (var (name, f) in views)
            foreach (var d in f.Disks)
                (byPvid.TryGetValue(d.Pvid, out var list) ? list : byPvid[d.Pvid] = new()).Add((name, d, f));
        var appDisks = s.Applications.SelectMany(a => a.DataPvids.Select(p => (Pvid: p, App: a))).ToDictionary(x => x.Pvid, x => x.App, StringComparer.Ordinal);
        var result = new List<PhysicalVolume>();
        foreach (var (pvid, seen) in byPvid)
        {
            var first = seen[0];
            var owner = seen.Where(x => x.Disk.VolumeGroup is not null).OrderByDescending(x => x.Disk.Active).FirstOrDefault();
            var vg = owner.Disk?.VolumeGroup;
            var partition = owner.Disk is null ? null : owner.Partition;
            var claim = s.Claim(pvid);
            if (vg is null && appDisks.TryGetValue(pvid, out var app))
                vg = Description.Applications!.First(a => Same(a.Name, app.Name)).VolumeGroup;
            var inUse = vg is not null || claim is not null || seen.Any(x => x.Facts.Owned.GetValueOrDefault(x.Disk.Name));
            result.Add(new PhysicalVolume(first.Disk.Name, _sizes.GetValueOrDefault(pvid), pvid, vg, partition, inUse ? DiskState.InUse : DiskState.Free,
                "seen by " + Join(seen.Select(x => x.Partition))));
        }
        return result.OrderBy(d => d.Name.Length).ThenBy(d => d.Name, StringComparer.Ordinal).ToList();
    }

    private IEnumerable<VolumeGroup> VolumeGroups(string partition, PartitionFacts f, PowerState s)
    {
        foreach (var name in f.VolumeGroups)
        {
            var disks = f.Disks.Where(d => d.VolumeGroup == name).Select(d => d.Name).ToList();
            var role = name switch
            {
                "rootvg" => VolumeGroupRole.Root,
                "altinst_rootvg" => VolumeGroupRole.AltInstRoot,
                _ when name.StartsWith("old_rootvg", StringComparison.Ordinal) => VolumeGroupRole.OldRoot,
                _ => VolumeGroupRole.Data,
            };
            var state = f.Active.Contains(name) ? VolumeGroupState.Active : VolumeGroupState.VariedOff;
            var info = name == "rootvg" ? f.RootVg : f.DataVgs.GetValueOrDefault(name);
            var size = info is null ? disks.Sum(d => _sizes.GetValueOrDefault(f.Disks.First(x => x.Name == d).Pvid)) : (long)info.TotalPps * info.PpSizeMB;
            var used = info is null ? 0 : (long)info.UsedPps * info.PpSizeMB;
            OsLevel? level = role switch
            {
                VolumeGroupRole.Root => f.Level,
                VolumeGroupRole.AltInstRoot => s.CloneLevels.TryGetValue(partition, out var cl) && OsLevel.TryParse(cl, out var c) ? c : f.Level,
                VolumeGroupRole.OldRoot => OsLevel.TryParse(s.OldRoots.FirstOrDefault(o => Same(o.Partition, partition) && o.Name == name)?.Level, out var o) ? o : null,
                _ => null,
            };
            var mirrorPvids = s.ClaimsOf(s.Surrogate(partition)?.Of ?? partition, "Mirror").Select(c => c.Pvid).ToHashSet();
            var mirrors = name == "rootvg" ? f.Disks.Where(d => d.VolumeGroup == name && mirrorPvids.Contains(d.Pvid)).Select(d => d.Name).ToList() : new List<string>();
            var lvs = name == "rootvg" && info is not null
                ? f.RootLvs.Select(l => new LogicalVolume(l.Name, l.MountPoint, l.Type, (long)l.Lps * info.PpSizeMB, 0)).ToList()
                : new List<LogicalVolume>();
            yield return new VolumeGroup(name, info?.Id ?? "", partition, role, state, disks, mirrors, size, used, level, lvs);
        }
    }

    private ApplicationInstance ToModel(PowerDescription.ApplicationDescription a, PowerState s, Dictionary<string, PartitionFacts> facts)
    {
        var rec = s.App(a.Name!);
        var where = rec?.Partition ?? a.Partition!;
        var running = rec?.MovingTo is null && facts.TryGetValue(where, out var f) && f.Healthy.GetValueOrDefault(a.Name!);
        return new ApplicationInstance(a.Name!, where, running ? ApplicationState.Running : ApplicationState.Stopped, a.MountPoint!, a.VolumeGroup!,
            a.ServiceAddress!, rec?.HighWater ?? 0, RemoteCommand.Quote(a.Health!), TimeSpan.FromSeconds(a.HealthTimeoutSeconds));
    }

    private RootVgClone? CloneOf(string partition, PartitionFacts f, PowerState s, Dictionary<string, PartitionFacts> facts)
    {
        var rec = s.CloneOf(partition);
        var disks = f.Disks.Where(d => d.VolumeGroup == "altinst_rootvg").Select(d => d.Name).ToList();
        var sur = s.SurrogateOf(partition);
        if (disks.Count == 0 && rec?.BootedAs is { } booted && facts.TryGetValue(booted, out var sf))
        {
            var clonePvids = s.ClaimsOf(partition, "Clone").Select(c => c.Pvid).ToHashSet();
            disks = sf.Disks.Where(d => d.VolumeGroup == "rootvg" && clonePvids.Contains(d.Pvid)).Select(d => d.Name).ToList();
        }
        if (disks.Count == 0) return null;
        var source = OsLevel.TryParse(rec?.SourceLevel, out var src) ? src! : f.Level;
        var level = s.CloneLevels.TryGetValue(partition, out var cl) && OsLevel.TryParse(cl, out var c) ? c! : source;
        var state = rec?.BootedAs is not null && sur is not null ? CloneState.Booted
            : rec is not null && Enum.TryParse<CloneState>(rec.State, out var st) && st != CloneState.Booted ? st : CloneState.Cloned;
        return new RootVgClone(partition, "altinst_rootvg", disks, source, level, state, rec?.AppliedBundles.ToList() ?? new List<string>(),
            state == CloneState.Booted ? rec!.BootedAs : null, TimeSpan.FromSeconds(rec?.DurationSeconds ?? 0), rec?.Created ?? DateTimeOffset.MinValue);
    }

    private RootVgMirror? MirrorOf(string partition, PartitionFacts f, PowerState s)
    {
        var pvids = s.ClaimsOf(partition, "Mirror").Select(c => c.Pvid).ToHashSet();
        var disks = f.Disks.Where(d => d.VolumeGroup == "rootvg" && pvids.Contains(d.Pvid)).Select(d => d.Name).ToList();
        if (disks.Count == 0) return null;
        var rec = s.MirrorOf(partition);
        var imported = rec?.State == nameof(MirrorState.Imported) && rec.ImportedInto is not null;
        var dataVgs = Description.Applications!.Where(a => Same(a.Partition, partition)).Select(a => a.VolumeGroup!).ToList();
        return new RootVgMirror(partition, "rootvg", disks, imported ? MirrorState.Imported : MirrorState.Synchronized,
            imported ? (dataVgs.Count == 0 ? "(no data volume group)" : Join(dataVgs)) : null, imported ? rec!.ImportedInto : null,
            TimeSpan.FromSeconds(rec?.DurationSeconds ?? 0), rec?.Created ?? DateTimeOffset.MinValue);
    }
}
