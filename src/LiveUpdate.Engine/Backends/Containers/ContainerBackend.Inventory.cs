using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>Inventory: the model read off the state, the mounted volume groups and the partitions' roots.</summary>
public sealed partial class ContainerBackend
{
    public SystemInventory Inventory()
    {
        var s = _store.Load();
        var running = s.Partitions.Where(PartitionAlive).ToList();
        var (memTotal, _) = MemoryMB();
        var totalProcessors = (double)Environment.ProcessorCount;
        var system = new ManagedSystem(Description.Name!, "Linux " + System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
            MachineId(), KindName, _store.Root, totalProcessors, Math.Round(totalProcessors - running.Sum(p => p.Processors), 2),
            memTotal, memTotal - running.Sum(p => p.MemoryMB), s.Partitions.Count, DateTimeOffset.Now);
        var partitions = s.Partitions.OrderBy(p => p.Id).Select(p => ToModel(s, p)).ToList();
        var disks = Description.Disks!.Select(d => ToModel(s, d)).ToList();
        var vgs = s.VolumeGroups.Where(v => v.Role != "MirrorCopy").Select(v => ToModel(s, v)).ToList();
        var apps = s.Applications.Select(a => ToModel(s, a)).ToList();
        var clones = s.Clones.Select(c => ToModel(s, c)).ToList();
        var mirrors = s.Mirrors.Select(m => ToModel(s, m)).ToList();
        return new SystemInventory(system, partitions, disks, vgs, apps, clones, mirrors);
    }

    private static (long Total, long Available) MemoryMB()
    {
        long total = 0, available = 0;
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            var parts = line.Split(new[] { ' ', ':' }, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2) continue;
            if (parts[0] == "MemTotal") total = long.Parse(parts[1], CultureInfo.InvariantCulture) / 1024;
            if (parts[0] == "MemAvailable") available = long.Parse(parts[1], CultureInfo.InvariantCulture) / 1024;
        }
        return (total, available);
    }

    private static string MachineId()
    {
        try
        {
            return File.ReadAllText("/etc/machine-id").Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private LogicalPartition ToModel(ContainerState s, ContainerPartition p)
    {
        var root = s.Vg(p.RootVg);
        var level = root is null ? null : ReadLevel(root);
        var mirrorDisks = s.Mirrors.Where(m => m.SourceVg == p.RootVg && m.State == nameof(MirrorState.Synchronized)).SelectMany(m => s.Vg(m.Vg)?.Disks ?? new List<string>());
        return p.ToModel(PartitionAlive(p), OsLevel.TryParse(level, out var l) ? l! : new OsLevel(1, 0, 0),
            root is null ? Array.Empty<string>() : root.Disks.Concat(mirrorDisks).ToArray(), Description.Name!, HostDescription.Host(p.Address));
    }

    private PhysicalVolume ToModel(ContainerState s, HostDescription.DiskDescription d)
    {
        var vg = s.VgOnDisk(d.Name!);
        var mirror = vg is null ? null : s.Mirrors.FirstOrDefault(m => m.Vg == vg.Serial && m.State == nameof(MirrorState.Synchronized));
        string? vgName = vg is null ? null : mirror is not null ? s.Vg(mirror.SourceVg)?.Name ?? "rootvg" : vg.Name;
        string? owner = vg?.Partition;
        var state = vg is null ? DiskState.Free : DiskState.InUse;
        if (vg is null && _foreign.TryGetValue(d.Name!, out var type) && !_force)
        {
            vgName = $"({type})";
            state = DiskState.InUse;
        }
        s.LoopDevices.TryGetValue(d.Name!, out var loop);
        var location = d.Device ?? $"{loop} ({d.File})";
        return new PhysicalVolume(d.Name!, _sizes.GetValueOrDefault(d.Name!), Pvid(d.Name!), vgName, owner, state, d.Location ?? location);
    }

    private string Pvid(string disk) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Description.Id + "/" + disk)))
        .Substring(0, 16).ToLowerInvariant();

    private VolumeGroup ToModel(ContainerState s, ContainerVg v)
    {
        var mount = Mnt(v.Serial);
        var mounted = HostTools.IsMountPoint(mount);
        var (size, used) = mounted ? HostTools.Usage(mount) : (v.Disks.Sum(d => _sizes.GetValueOrDefault(d)), 0L);
        var mirror = s.Mirrors.FirstOrDefault(m => m.SourceVg == v.Serial && m.State == nameof(MirrorState.Synchronized));
        var active = v.Partition is not null && s.Partition(v.Partition) is { } p && p.RootVg == v.Serial && PartitionAlive(p)
                     || v.Role == nameof(VolumeGroupRole.Mirror);
        var level = ReadLevel(v);
        return new VolumeGroup(v.Name, Label(v.Serial), v.Partition, Enum.Parse<VolumeGroupRole>(v.Role),
            active ? VolumeGroupState.Active : VolumeGroupState.VariedOff, v.Disks.ToArray(),
            mirror is null ? Array.Empty<string>() : (s.Vg(mirror.Vg)?.Disks ?? new List<string>()).ToArray(), size, used,
            OsLevel.TryParse(level, out var l) ? l : null,
            v.Lvs.Select(lv => new LogicalVolume(lv.Name, lv.MountPoint, "btrfs", size, lv.MountPoint == "/" ? used : 0)).ToArray());
    }

    private ApplicationInstance ToModel(ContainerState s, ContainerApplication a)
    {
        var d = AppDescription(a.Name);
        var vg = s.Vg(a.DataVg);
        var service = HostDescription.Host(d.ServiceAddress!) + (d.Port is null ? "" : ":" + d.Port.Value.ToString(CultureInfo.InvariantCulture));
        return new ApplicationInstance(a.Name, a.Partition, AppAlive(s, a) ? ApplicationState.Running : ApplicationState.Stopped,
            d.DataPath!, vg?.Name ?? "", service, CountRecords(s, a), CheckLabel(d), TimeSpan.FromSeconds(d.HealthTimeoutSeconds));
    }

    private long CountRecords(ContainerState s, ContainerApplication a)
    {
        try
        {
            return CountLines(ReadRecords(s, a.DataVg, a.Name));
        }
        catch (Exception e) when (e is IOException or LiveUpdateException)
        {
            return 0;
        }
    }

    /// <summary>The most of an application's records file that the backend reads.</summary>
    private const long RecordsLimit = 256L * 1024 * 1024;

    /// <summary>An application's records file as a volume group holds it (read without following a link); null when there is none.</summary>
    private byte[]? ReadRecords(ContainerState s, string vgSerial, string app)
    {
        var d = AppDescription(app);
        var vg = s.Vg(vgSerial);
        if (d.RecordsFile is null || vg is null) return null;
        var root = Path.Combine(Mnt(vg.Serial), "root");
        if (!Directory.Exists(root)) return null;
        using var tree = SafeTree.Open(root);
        return tree.Read(d.RecordsFile, RecordsLimit);
    }

    private static long CountLines(byte[]? data)
    {
        if (data is null) return 0;
        long count = 0;
        var start = 0;
        for (var i = 0; i <= data.Length; i++)
        {
            if (i < data.Length && data[i] != (byte)'\n') continue;
            if (i > start) count++;
            start = i + 1;
        }
        return count;
    }

    private string? ReadLevel(ContainerVg v)
    {
        var root = Path.Combine(Mnt(v.Serial), "root");
        if (!Directory.Exists(root)) return v.OsLevel;
        try
        {
            using var tree = SafeTree.Open(root);
            var text = tree.ReadText(OsLevelFile, 4096)?.Split('\n')[0].Trim();
            if (OsLevel.TryParse(text, out _)) v.OsLevel = text;
        }
        catch (Exception e) when (e is IOException or LiveUpdateException)
        {
            // The cached level stands.
        }
        return v.OsLevel;
    }

    /// <summary>The first line of a volume group's OS level file as it stands, or null when there is none.</summary>
    private string? RawLevel(ContainerVg v)
    {
        try
        {
            using var tree = SafeTree.Open(Path.Combine(Mnt(v.Serial), "root"));
            return tree.ReadText(OsLevelFile, 4096)?.Split('\n')[0].Trim();
        }
        catch (LiveUpdateException e)
        {
            return e.Message;
        }
    }

    private RootVgClone ToModel(ContainerState s, CloneRecord c)
    {
        var vg = s.Vg(c.Vg)!;
        var level = ReadLevel(vg) ?? c.SourceLevel;
        return c.ToModel(vg.Name, vg.Disks, level);
    }

    private RootVgMirror ToModel(ContainerState s, ContainerMirror m) =>
        m.ToModel(s.Vg(m.SourceVg)?.Name ?? "rootvg", s.Vg(m.Vg)?.Disks ?? new List<string>(), m.ImportedInto is null ? null : s.Vg(m.Vg)?.Name);
}
