using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

public sealed partial class VirtualMachineBackend
{
    public SystemInventory Inventory()
    {
        var s = _store.Load();
        var running = s.Partitions.Where(p => Libvirt.Running(p.Domain)).ToList();
        long memTotal = 0;
        foreach (var line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal)) memTotal = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        var cpus = (double)Environment.ProcessorCount;
        var system = new ManagedSystem(Description.Name!, "libvirt " + (Kvm ? "KVM" : "QEMU TCG"), Description.Uri!, KindName, _store.Root, cpus,
            Math.Round(cpus - running.Sum(p => p.Processors), 2), memTotal, memTotal - running.Sum(p => p.MemoryMB), s.Partitions.Count, DateTimeOffset.Now);
        return new SystemInventory(system,
            s.Partitions.OrderBy(p => p.Id).Select(p => ToModel(s, p)).ToList(),
            Description.Disks!.Select(d => ToModel(s, d)).ToList(),
            s.VolumeGroups.Where(v => v.Role != "MirrorCopy").Select(v => ToModel(s, v)).ToList(),
            s.Applications.Select(a => ToModel(s, a)).ToList(),
            s.Clones.Select(c => ToModel(s, c)).ToList(),
            s.Mirrors.Where(m => m.Ready).Select(m => ToModel(s, m)).ToList());
    }

    private LogicalPartition ToModel(VmState s, VmPartition p)
    {
        var root = s.Vg(p.RootVg);
        var mirrorDisks = s.Mirrors.Where(m => m.Ready && m.SourceVg == p.RootVg && m.State == nameof(MirrorState.Synchronized)).SelectMany(m => s.Vg(m.Vg)?.Disks ?? new List<string>());
        return new LogicalPartition(p.Name, p.Id, p.Uuid, p.HostName, Cidr.Host(p.Address),
            Libvirt.Running(p.Domain) ? PartitionState.Running : PartitionState.NotActivated,
            OsLevel.TryParse(root?.OsLevel, out var l) ? l! : new OsLevel(1, 0, 0), p.Processors, p.MemoryMB,
            root is null ? Array.Empty<string>() : root.Disks.Concat(mirrorDisks).ToArray(), p.SurrogateOf, Description.Name!, p.Kernel);
    }

    private PhysicalVolume ToModel(VmState s, VmHostDescription.DiskDescription d)
    {
        var vg = s.VgOnDisk(d.Name!);
        var mirror = vg is null ? null : s.Mirrors.FirstOrDefault(m => m.Vg == vg.Serial && m.State == nameof(MirrorState.Synchronized));
        var vgName = vg is null ? null : mirror is not null ? s.Vg(mirror.SourceVg)?.Name ?? "rootvg" : vg.Name;
        return new PhysicalVolume(d.Name!, _sizes.GetValueOrDefault(d.Name!), Pvid(d.Name!), vgName, vg?.Partition, vg is null ? DiskState.Free : DiskState.InUse, DiskPath(d.Name!));
    }

    private string Pvid(string disk) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Description.Id + "/" + disk)))
        .Substring(0, 16).ToLowerInvariant();

    private VolumeGroup ToModel(VmState s, VmVolumeGroup v)
    {
        var size = v.Disks.Sum(d => _sizes.GetValueOrDefault(d));
        var used = v.Disks.Sum(d => Allocated(d));
        var mirror = s.Mirrors.FirstOrDefault(m => m.Ready && m.SourceVg == v.Serial && m.State == nameof(MirrorState.Synchronized));
        var active = v.Partition is not null && s.Partition(v.Partition) is { } p && p.RootVg == v.Serial && Libvirt.Running(p.Domain) || v.Role == nameof(VolumeGroupRole.Mirror);
        var lvs = new List<LogicalVolume>();
        if (v.Disks.Count > 0) lvs.Add(new LogicalVolume("root", "/", "ext4", _sizes.GetValueOrDefault(v.Disks[0]), Allocated(v.Disks[0])));
        for (var i = 1; i < v.Disks.Count; i++)
            lvs.Add(new LogicalVolume(Path.GetFileName(v.MountPoints.ElementAtOrDefault(i - 1) ?? "data" + i), v.MountPoints.ElementAtOrDefault(i - 1) ?? "", "ext4", _sizes.GetValueOrDefault(v.Disks[i]), Allocated(v.Disks[i])));
        if (v.Role == nameof(VolumeGroupRole.Mirror) || v.Role == "MirrorCopy")
            lvs = v.Disks.Select((d, i) => new LogicalVolume(Path.GetFileName(v.MountPoints.ElementAtOrDefault(i) ?? "data"), v.MountPoints.ElementAtOrDefault(i) ?? "", "ext4", _sizes.GetValueOrDefault(d), Allocated(d))).ToList();
        return new VolumeGroup(v.Name, Pvid("vg" + v.Serial), v.Partition, Enum.TryParse<VolumeGroupRole>(v.Role, out var role) ? role : VolumeGroupRole.Mirror,
            active ? VolumeGroupState.Active : VolumeGroupState.VariedOff, v.Disks.ToArray(), mirror is null ? Array.Empty<string>() : s.Vg(mirror.Vg)?.Disks.ToArray() ?? Array.Empty<string>(),
            size, used, OsLevel.TryParse(v.OsLevel, out var level) ? level : null, lvs);
    }

    /// <summary>The space a disk's image holds (its allocated blocks); a block device counts whole.</summary>
    private long Allocated(string disk)
    {
        if (IsBlock(disk)) return _sizes.GetValueOrDefault(disk);
        var r = _runner.Probe(VmPrerequisites.Tool("stat"), new[] { "-c", "%b %B", DiskPath(disk) });
        var f = r.StandardOutput.Trim().Split(' ');
        return r.Succeeded && f.Length == 2 ? long.Parse(f[0], CultureInfo.InvariantCulture) * long.Parse(f[1], CultureInfo.InvariantCulture) / (1024 * 1024) : 0;
    }

    private ApplicationInstance ToModel(VmState s, VmApplication a)
    {
        var d = Description.App(a.Name);
        var alive = a.MovingTo is null && AppAlive(s, a);
        return new ApplicationInstance(a.Name, a.Partition, alive ? ApplicationState.Running : ApplicationState.Stopped, d.DataPath ?? "",
            s.VgOnDisk(a.DataDisk)?.Name ?? "rootvg", Cidr.Host(d.ServiceAddress!), alive ? RecordCount(s, a) : 0,
            HealthLabel(d), TimeSpan.FromSeconds(d.HealthTimeoutSeconds));
    }

    /// <summary>
    /// The records an application holds, for a listing: 0 where they cannot be read now. An application checked over
    /// TCP answers while its guest's agent may not, and a listing never fails on one guest's agent.
    /// </summary>
    private int RecordCount(VmState s, VmApplication a)
    {
        try
        {
            return Records(s, a).Count;
        }
        catch (LiveUpdateException e)
        {
            _log.LogDebug("The records of {Application} cannot be read now: {Reason}", a.Name, e.Message);
            return 0;
        }
    }

    private RootVgClone ToModel(VmState s, CloneRecord c)
    {
        var vg = s.Vg(c.Vg);
        OsLevel.TryParse(c.SourceLevel, out var source);
        OsLevel.TryParse(vg?.OsLevel, out var level);
        return new RootVgClone(c.Partition, vg?.Name ?? "altinst_rootvg", vg?.Disks.ToArray() ?? Array.Empty<string>(), source ?? new OsLevel(1, 0, 0), level ?? source ?? new OsLevel(1, 0, 0),
            Enum.Parse<CloneState>(c.State), c.AppliedBundles.ToArray(), c.BootedAs, TimeSpan.FromSeconds(c.DurationSeconds), c.Created);
    }

    private RootVgMirror ToModel(VmState s, VmMirror m) => new(m.Partition, s.Vg(m.SourceVg)?.Name ?? "rootvg", s.Vg(m.Vg)?.Disks.ToArray() ?? Array.Empty<string>(),
        Enum.Parse<MirrorState>(m.State), m.ImportedInto is null ? null : "mirror_rootvg", m.ImportedInto, TimeSpan.FromSeconds(m.DurationSeconds), m.Created);

    /// <summary>KVM where /dev/kvm works on this machine (probed once and cached), QEMU's TCG elsewhere.</summary>
    internal bool Kvm => VmAccelerator.Kvm;
}
