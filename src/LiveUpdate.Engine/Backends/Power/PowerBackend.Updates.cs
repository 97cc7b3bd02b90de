using System.Collections.Generic;
using System;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Power;

// Updates: the bundle's filesets reach the partition, are checked there, and are installed into the clone only
// (alt_rootvg_op -C); the clone's level is read back from the clone itself (chroot /alt_inst). The way back after a
// finished update (Undo-LiveUpdate) renames the kept old_rootvg to altinst_rootvg and back (alt_rootvg_op -v).
public sealed partial class PowerBackend
{
    public RootVgClone InstallUpdate(string partition, UpdateBundle bundle, OperationContext context)
    {
        Update(context, s =>
        {
            var c = s.CloneOf(partition) ?? throw new LiveUpdateException("CloneNotFound", ErrorKind.ObjectNotFound, $"Partition {partition} has no clone of its own.", partition);
            PackageKinds.Require(bundle, Kind, "filesets (installp images) into the clone", "fileset");
            if (bundle.Packages.Any(p => !PowerDescription.IsName(p.Name) || !PowerDescription.IsName(Path.GetFileName(p.File))))
                throw new LiveUpdateException("BundleManifestInvalid", ErrorKind.InvalidData, $"Bundle '{bundle.Name}' names a fileset or file that cannot be passed to AIX as it is.", bundle.Source);
            var disk = DisksOn(partition).FirstOrDefault(d => d.VolumeGroup == "altinst_rootvg")?.Name
                ?? throw new LiveUpdateException("CloneNotFound", ErrorKind.ObjectNotFound, $"lspv on {partition} shows no altinst_rootvg.", partition);
            Fault(Steps.Install, FaultTiming.Before);
            var folder = $"{Description.StagingFolder}/{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(bundle.Name + bundle.TargetLevel))).Substring(0, 12).ToLowerInvariant()}";
            Stage(partition, bundle, folder, context);
            Fault(Steps.Install, FaultTiming.During);
            var started = c.State == "Installing";
            c.State = "Installing";
            Save(s);
            var running = AixCommands.ParseOsLevel(On(partition, AixCommands.OsLevel()));
            var cloneLevel = OsLevel.TryParse(s.CloneLevels.GetValueOrDefault(partition), out var cl) ? cl! : running;
            context.Logger.LogInformation("Installing {Bundle} ({Packages} filesets) into altinst_rootvg on {Disk} of {Partition}; the running rootvg is not touched",
                bundle.Name, bundle.Packages.Count, disk, partition);
            Change(partition, AixCommands.Wake(disk, started || cloneLevel > running), "waking the clone up (alt_rootvg_op -W)");
            try
            {
                Change(partition, AixCommands.InstallIntoClone(bundle.Packages.Select(p => p.Name), folder, disk), "installing into the clone (alt_rootvg_op -C)");
                var level = AixCommands.ParseOsLevel(On(partition, AixCommands.InClone("/usr/bin/oslevel", "-s")));
                var sets = AixCommands.ParseFilesets(On(partition, AixCommands.InClone(new[] { "/usr/bin/lslpp", "-Lc" }.Concat(bundle.Packages.Select(p => p.Name)).ToArray())));
                var wrong = bundle.Packages.FirstOrDefault(p => sets.GetValueOrDefault(p.Name) != p.Version);
                if (wrong is not null)
                    throw new LiveUpdateException("InstallNotVerified", ErrorKind.InvalidData,
                        $"After the install, the clone of {partition} holds {wrong.Name} at {sets.GetValueOrDefault(wrong.Name) ?? "no level"}, not {wrong.Version}.", partition);
                if (level != bundle.TargetLevel)
                    throw new LiveUpdateException("CloneLevelMismatch", ErrorKind.InvalidData,
                        $"The clone of {partition} reports {level} after {bundle.Name} was installed; the bundle targets {bundle.TargetLevel}.", partition);
                s.CloneLevels[partition] = level.ToString();
            }
            finally
            {
                Change(partition, AixCommands.Sleep(disk), "putting the clone to sleep (alt_rootvg_op -S)");
            }
            Change(partition, AixCommands.RemoveFolder(folder), "removing the staged bundle");
            c.State = nameof(CloneState.Updated);
            if (!c.AppliedBundles.Contains(bundle.Name)) c.AppliedBundles.Add(bundle.Name);
        });
        Fault(Steps.Install, FaultTiming.After);
        return Inventory().Clones.First(x => Same(x.Partition, partition));
    }

    /// <summary>Copies the bundle's files to the partition and checks each one there against its SHA-256.</summary>
    private void Stage(string partition, UpdateBundle bundle, string folder, OperationContext context)
    {
        Change(partition, AixCommands.MakeFolder(folder), "making the staging folder");
        foreach (var p in bundle.Packages)
        {
            var target = folder + "/" + Path.GetFileName(p.File);
            var data = File.ReadAllBytes(bundle.PackagePath(p));
            Change(partition, AixCommands.WriteFile(target), "copying " + p.File, data);
            var digest = AixCommands.ParseDigest(On(partition, AixCommands.Digest(target)));
            if (!string.Equals(digest, p.Sha256, StringComparison.OrdinalIgnoreCase))
                throw new LiveUpdateException("BundleCopyCorrupt", ErrorKind.InvalidData,
                    $"{p.File} arrived on {partition} with SHA-256 {digest}; the bundle says {p.Sha256}. Nothing was installed.", partition);
        }
        context.Logger.LogInformation("{Packages} files of {Bundle} copied to {Folder} on {Partition}, every SHA-256 checked there", bundle.Packages.Count, bundle.Name, folder, partition);
    }

    public RootVgClone AdoptOldRootVg(string partition, OperationContext context)
    {
        Update(context, s =>
        {
            var old = DisksOn(partition).Where(d => d.VolumeGroup == "old_rootvg").ToList();
            var rec = s.OldRoots.FirstOrDefault(o => Same(o.Partition, partition) && o.Name == "old_rootvg");
            if (old.Count == 0 || rec is null)
                throw new LiveUpdateException("OldRootVgMissing", ErrorKind.ObjectNotFound, $"Partition {partition} has no old_rootvg kept by a live update.", partition);
            context.Logger.LogInformation("Adopting old_rootvg on {Disks} of {Partition} ({Level}) as its altinst_rootvg", Join(old.Select(d => d.Name)), partition, rec.Level);
            Change(partition, AixCommands.RenameAltRootVg("altinst_rootvg", old[0].Name), "renaming old_rootvg to altinst_rootvg (alt_rootvg_op -v)");
            s.Claims.RemoveAll(c => c.Purpose == "OldRoot" && old.Any(d => d.Pvid == c.Pvid));
            foreach (var d in old) Claim(s, partition, d, "Clone");
            s.Clones.RemoveAll(c => Same(c.Partition, partition));
            s.Clones.Add(new CloneRecord { Partition = partition, Vg = "altinst_rootvg", SourceLevel = rec.Level, State = nameof(CloneState.Updated), AppliedBundles = { "old_rootvg at " + rec.Level }, Created = DateTimeOffset.Now });
            s.CloneLevels[partition] = rec.Level;
            s.OldRoots.Remove(rec);
        });
        return Inventory().Clones.First(x => Same(x.Partition, partition));
    }

    public void RestoreOldRootVg(string partition, OperationContext context) => Update(context, s =>
    {
        var clone = DisksOn(partition).Where(d => d.VolumeGroup == "altinst_rootvg").ToList();
        if (clone.Count == 0) return;
        Change(partition, AixCommands.RenameAltRootVg("old_rootvg", clone[0].Name), "renaming altinst_rootvg back to old_rootvg (alt_rootvg_op -v)");
        foreach (var d in clone)
        {
            s.Claims.RemoveAll(c => c.Pvid == d.Pvid);
            s.Claims.Add(new DiskClaim { Pvid = d.Pvid, Disk = d.Name, Partition = partition, Purpose = "OldRoot" });
        }
        s.OldRoots.RemoveAll(o => Same(o.Partition, partition) && o.Name == "old_rootvg");
        s.OldRoots.Add(new OldRootRecord { Partition = partition, Name = "old_rootvg", Pvids = clone.Select(d => d.Pvid).ToList(), Level = s.CloneLevels.GetValueOrDefault(partition) ?? "" });
        s.Clones.RemoveAll(c => Same(c.Partition, partition));
        s.CloneLevels.Remove(partition);
    });
}
