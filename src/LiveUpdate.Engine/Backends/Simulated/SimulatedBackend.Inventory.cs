using System;
using System.Collections.Generic;
using System.Linq;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>Inventory: the model of the frame, built per domain and kept until the domain changes.</summary>
public sealed partial class SimulatedBackend
{
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

    private LogicalPartition ToModel(LabState s, SimulatedPartition p) => ToModel(s, p, s.Vg(p.RootVg));

    private static LogicalPartition ToModel(LabState s, SimulatedPartition p, VgRecord? root) =>
        p.ToModel(p.Running, OsLevel.Parse(root?.OsLevel ?? "0001-00-00"),
            root is null ? Array.Empty<string>() : root.Disks.Concat(root.MirrorDisks).ToArray(), s.Name, p.Address);

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

    private static ApplicationInstance ToModel(LabState s, SimulatedApplication a) => ToModel(a, s.Vg(a.DataVg));

    private static ApplicationInstance ToModel(SimulatedApplication a, VgRecord? dataVg) => new(a.Name, a.Partition,
        a.Running ? ApplicationState.Running : ApplicationState.Stopped, a.DataPath, dataVg?.Name ?? "",
        a.ServiceAddress, a.NextSequence - 1, a.HealthCheck, TimeSpan.FromSeconds(a.HealthTimeoutSeconds));

    private static RootVgClone ToModel(LabState s, CloneRecord c)
    {
        var vg = s.Vg(c.Vg)!;
        return c.ToModel(vg.Name, vg.Disks, vg.OsLevel!);
    }

    private static RootVgMirror ToModel(LabState s, SimulatedMirror m) =>
        m.ToModel(s.Vg(m.SourceVg)?.Name ?? "rootvg", m.Disks, m.ImportedVg is null ? null : s.Vg(m.ImportedVg)?.Name);
}
