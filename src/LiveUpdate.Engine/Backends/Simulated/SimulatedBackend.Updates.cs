using System;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>Updates: filesets installed into the clone; old_rootvg turned back into a clone and returned.</summary>
public sealed partial class SimulatedBackend
{
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

    public RootVgClone AdoptOldRootVg(string partition, OperationContext context) => AdoptOldRootVg(partition, "old_rootvg", context);

    public RootVgClone AdoptOldRootVg(string partition, string volumeGroup, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var existing = s.CloneOf(partition);
        if (existing is not null) return ToModel(s, existing);
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        var old = s.Vg(partition, volumeGroup)!;
        context.Logger.LogInformation("Turning {VolumeGroup} of {Partition} on {Disks} ({Level}) into its altinst_rootvg", old.Name, partition, string.Join(",", old.Disks), old.OsLevel);
        old.Name = "altinst_rootvg";
        old.Role = nameof(VolumeGroupRole.AltInstRoot);
        old.Active = false;
        var clone = new CloneRecord
        {
            Partition = partition, Vg = old.Id, SourceLevel = root.OsLevel!, State = nameof(CloneState.Updated),
            AppliedBundles = { volumeGroup + " at " + old.OsLevel }, Created = s.Clock, AdoptedFrom = volumeGroup,
        };
        s.Clones.Add(clone);
        return ToModel(s, clone);
    });

    public void RestoreOldRootVg(string partition, OperationContext context) => Change(s => s.DomainOf(partition), s =>
    {
        var c = s.CloneOf(partition);
        if (c is null) return;
        var vg = s.Vg(c.Vg)!;
        var name = c.AdoptedFrom ?? "old_rootvg";
        context.Logger.LogInformation("Returning altinst_rootvg of {Partition} on {Disks} to {VolumeGroup}", partition, string.Join(",", vg.Disks), name);
        vg.Name = name;
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
}
