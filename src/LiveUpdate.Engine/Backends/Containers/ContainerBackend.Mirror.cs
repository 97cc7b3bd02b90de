using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;


namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>The mirror: a replicated copy kept current by incremental btrfs send of every logical volume, imported into the surrogate.</summary>
public sealed partial class ContainerBackend
{
    public RootVgMirror MirrorRootVg(string partition, IReadOnlyList<string> disks, OperationContext context)
    {
        var mirror = Change(context, s =>
        {
            var existing = s.MirrorOf(partition);
            if (existing is not null) return ToModel(s, existing);
            var p = s.Partition(partition)!;
            var root = s.Vg(p.RootVg)!;
            Fault(Steps.Mirror, FaultTiming.Before);
            var clock = Stopwatch.StartNew();
            var started = DateTimeOffset.Now;
            EnsureMounted(s, root);
            var serial = NewFileSystem(s, disks, "mirror of rootvg", context);
            var m = new ContainerMirror { Partition = p.Name, Vg = serial, SourceVg = root.Serial, Created = started };
            var vg = new ContainerVg
            {
                Serial = serial, Name = "mirror_rootvg", Role = "MirrorCopy", Partition = p.Name, Disks = disks.ToList(),
                Lvs = root.Lvs.Select(l => new ContainerLv { Name = l.Name, MountPoint = l.MountPoint }).ToList(), Created = true, Label = Label(serial),
            };
            Fault(Steps.Mirror, FaultTiming.During);
            // Leftovers of an earlier mirror on the source are of no use to this one.
            DeleteChildren(MirrorDir(Mnt(root.Serial)));
            context.Logger.LogInformation("Replicating rootvg of {Partition} onto {Disks}; every later step sends the changes", partition, string.Join(", ", disks));
            foreach (var lv in root.Lvs) SyncChain(s, m, lv, new[] { root, vg }, context);
            s.VolumeGroups.Add(vg);
            m.DurationSeconds = clock.Elapsed.TotalSeconds;
            s.Mirrors.Add(m);
            return ToModel(s, m);
        });
        Fault(Steps.Mirror, FaultTiming.After);
        return mirror;
    }

    private static string GenerationName(ContainerMirror m, ContainerLv lv, int g) => $"{lv.Name}@m{m.Vg}.{g}";

    private static int? GenerationOf(ContainerMirror m, ContainerLv lv, string name)
    {
        var prefix = $"{lv.Name}@m{m.Vg}.";
        return name.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(name.Substring(prefix.Length), out var g) ? g : null;
    }

    /// <summary>
    /// Sends the live copy of a logical volume on the first volume group of <paramref name="chain"/> along the chain
    /// (source, mirror, destination) as a new generation: each hop incremental from the newest generation both ends
    /// hold, a full send where they share none. Afterwards every volume group of the chain holds the new generation
    /// and, unless <paramref name="prune"/> is false (the blackout, which leaves that to <see cref="PruneChain"/> once
    /// the application answers again), no older one. Leftovers of an interrupted transfer are removed first, so a redo
    /// is safe; older generations left behind are ignored by the next transfer's choice of parent, which removes them.
    /// </summary>
    private int SyncChain(ContainerState s, ContainerMirror m, ContainerLv lv, IReadOnlyList<ContainerVg> chain, OperationContext context, bool prune = true)
    {
        foreach (var vg in chain) EnsureMounted(s, vg);
        var g = m.NextGeneration++;
        var name = GenerationName(m, lv, g);
        foreach (var vg in chain) _tools.DeleteSubvolume(Path.Combine(MirrorDir(Mnt(vg.Serial)), name));
        var first = Mnt(chain[0].Serial);
        _tools.Snapshot(Volume(first, lv), Path.Combine(MirrorDir(first), name), readOnly: true);
        for (var i = 1; i < chain.Count; i++)
        {
            var from = MirrorDir(Mnt(chain[i - 1].Serial));
            var to = MirrorDir(Mnt(chain[i].Serial));
            Directory.CreateDirectory(to);
            var parent = Generations(m, lv, from).Intersect(Generations(m, lv, to).Where(x => _tools.IsCompleteReceived(Path.Combine(to, GenerationName(m, lv, x))) || IsOriginal(to, m, lv, x)))
                .Where(x => x != g).DefaultIfEmpty(0).Max();
            _tools.SendReceive(Path.Combine(from, name), parent == 0 ? null : Path.Combine(from, GenerationName(m, lv, parent)), to);
        }
        if (prune) PruneChain(m, lv, chain, g);
        m.Generations[lv.Name] = g;
        m.LastSync = DateTimeOffset.Now;
        return g;
    }

    /// <summary>Deletes every generation of a logical volume but <paramref name="keep"/> on the volume groups of a chain.</summary>
    private void PruneChain(ContainerMirror m, ContainerLv lv, IReadOnlyList<ContainerVg> chain, int keep)
    {
        foreach (var vg in chain)
        {
            var dir = MirrorDir(Mnt(vg.Serial));
            foreach (var old in Generations(m, lv, dir).Where(x => x != keep)) _tools.DeleteSubvolume(Path.Combine(dir, GenerationName(m, lv, old)));
        }
    }

    private bool IsOriginal(string dir, ContainerMirror m, ContainerLv lv, int g) => _tools.IsSubvolume(Path.Combine(dir, GenerationName(m, lv, g)));

    private static IEnumerable<int> Generations(ContainerMirror m, ContainerLv lv, string dir) => !Directory.Exists(dir)
        ? Enumerable.Empty<int>()
        : Directory.GetDirectories(dir).Select(Path.GetFileName).Select(n => GenerationOf(m, lv, n!)).Where(x => x is not null).Select(x => x!.Value).ToList();

    /// <summary>The volume group that holds the live copy of a logical volume of a mirrored rootvg.</summary>
    private ContainerVg LiveVg(ContainerState s, ContainerMirror m, ContainerLv lv)
    {
        if (m.MovedLvs.Contains(lv.Name) && m.ImportedInto is not null && s.Partition(m.ImportedInto) is { } sur) return s.Vg(sur.RootVg)!;
        return s.Vg(m.SourceVg)!;
    }

    /// <summary>Brings the mirror up to date with every logical volume (kept current until the blackout).</summary>
    private void Refresh(ContainerState s, string partition, OperationContext context)
    {
        var m = s.MirrorOf(partition);
        if (m is null) return;
        var mirror = s.Vg(m.Vg);
        if (mirror is null) return;
        foreach (var lv in mirror.Lvs)
        {
            var live = LiveVg(s, m, lv);
            var chain = new List<ContainerVg> { live, mirror };
            if (m.ImportedInto is not null && lv.MountPoint != "/" && s.Partition(m.ImportedInto) is { } sur && s.Vg(sur.RootVg) is { } dest && dest != live) chain.Add(dest);
            if (live.Serial != m.SourceVg && lv.MountPoint == "/") continue;
            SyncChain(s, m, lv, chain, context);
        }
        Save(s);
    }

    public VolumeGroup ImportMirror(string partition, string surrogate, OperationContext context)
    {
        var vg = Change(context, s =>
        {
            var m = s.MirrorOf(partition)!;
            var mirror = s.Vg(m.Vg)!;
            if (m.State == nameof(MirrorState.Imported) && Same(m.ImportedInto, surrogate)) return ToModel(s, mirror);
            var sur = s.Partition(surrogate)!;
            var dest = s.Vg(sur.RootVg)!;
            Fault(Steps.Import, FaultTiming.Before);
            context.Logger.LogInformation("Importing the rootvg mirror of {Partition} on {Disks} into {Surrogate}: its data volumes reach {Surrogate}'s rootvg and stay current until the blackout",
                partition, string.Join(", ", mirror.Disks), surrogate, surrogate);
            DeleteChildren(MirrorDir(Mnt(dest.Serial)));
            var source = s.Vg(m.SourceVg)!;
            foreach (var lv in mirror.Lvs)
            {
                var chain = lv.MountPoint == "/" ? new[] { source, mirror } : new[] { source, mirror, dest };
                SyncChain(s, m, lv, chain, context);
                Save(s);
            }
            Fault(Steps.Import, FaultTiming.During);
            m.State = nameof(MirrorState.Imported);
            m.ImportedInto = sur.Name;
            mirror.Partition = sur.Name;
            mirror.Role = nameof(VolumeGroupRole.Mirror);
            return ToModel(s, mirror);
        });
        Fault(Steps.Import, FaultTiming.After);
        return vg;
    }

    public void RemoveMirror(string partition, IReadOnlyList<string> disks, OperationContext context) => Change(context, s =>
    {
        var m = s.MirrorOf(partition);
        context.Logger.LogInformation("Removing the rootvg mirror of {Partition} and wiping {Disks}", partition, string.Join(", ", disks));
        if (m is not null) DropMirror(s, m, context);
        foreach (var d in disks) WipeIfOurs(s, d, context);
    });

    private void DropMirror(ContainerState s, ContainerMirror m, OperationContext context)
    {
        foreach (var vg in new[] { s.Vg(m.SourceVg), m.ImportedInto is null ? null : s.Vg(s.Partition(m.ImportedInto)?.RootVg) })
        {
            if (vg is null) continue;
            EnsureMounted(s, vg);
            DeleteChildren(MirrorDir(Mnt(vg.Serial)));
        }
        var mirror = s.Vg(m.Vg);
        if (mirror is not null) DestroyVg(s, mirror, context);
        s.Mirrors.Remove(m);
    }
}
