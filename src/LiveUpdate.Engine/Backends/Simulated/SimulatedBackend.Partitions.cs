using System;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>Partitions: the surrogate's creation, boot and removal, and the take-over of the original's identity.</summary>
public sealed partial class SimulatedBackend
{
    public LogicalPartition StartSurrogate(string partition, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var p = s.Partition(partition)!;
        var c = s.CloneOf(partition)!;
        var vg = s.Vg(c.Vg)!;
        Fault(Steps.Boot, FaultTiming.Before);
        var name = Steps.SurrogateName(p.Name);
        context.Logger.LogInformation("Creating partition {Surrogate} ({Processors} processors, {MemoryMB} MB) and booting it from {Disks} at {Level}",
            name, p.Processors, p.MemoryMB, string.Join(",", vg.Disks), vg.OsLevel);
        var sur = new SimulatedPartition
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
            m.Unimport();
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
        c?.Unboot();
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
        OldRootVgs.Age(s.VolumeGroups.Where(v => v.Role == nameof(VolumeGroupRole.OldRoot) && v != origRoot
                && (string.Equals(v.Partition, o.Name, StringComparison.OrdinalIgnoreCase) || string.Equals(v.Partition, sur.Name, StringComparison.OrdinalIgnoreCase))),
            v => v.Name, (v, name) => v.Name = name);
        origRoot.Name = OldRootVgs.Newest;
        origRoot.Role = nameof(VolumeGroupRole.OldRoot);
        origRoot.Active = false;
        s.Partitions.Remove(o);
        var oldName = sur.Name;
        sur.TakeIdentityOf(o);
        foreach (var a in s.Applications.Where(a => string.Equals(a.Partition, oldName, StringComparison.OrdinalIgnoreCase))) a.Partition = o.Name;
        foreach (var v in s.VolumeGroups.Where(v => string.Equals(v.Partition, oldName, StringComparison.OrdinalIgnoreCase))) v.Partition = o.Name;
        origRoot.Partition = o.Name;
        Advance(s, s.Timing.Shutdown);
        return ToModel(s, sur);
    }).Also(_ => Fault(Steps.TakeOver, FaultTiming.After));
}
