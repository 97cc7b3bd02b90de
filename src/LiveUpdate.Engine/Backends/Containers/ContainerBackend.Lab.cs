using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>
/// Removal. A lab: everything, its folder and disk files included. A host (Remove-LiveUpdateHost): everything the
/// backend made and nothing else: its containers, mounts, network namespaces and links (and the bridge or namespace
/// it created), the loop devices it attached, the clone and mirror file systems it made, its state, journals, locks
/// and lock files; the description, the disks' partitions and old_rootvg, and every other file stay.
/// </summary>
public sealed partial class ContainerBackend
{
    /// <summary>The files and folders the backend makes in a host's folder.</summary>
    internal static readonly string[] MadeInFolder = { "mnt", "run", "journal", "locks" };

    public void RemoveLab(OperationContext context)
    {
        if (!Description.Lab)
            throw new LiveUpdateException("HostNotALab", ErrorKind.InvalidOperation,
                $"'{_store.Root}' describes a host, not a lab: Remove-LiveUpdateLab would delete its folder. Remove-LiveUpdateHost removes what LiveUpdate made on the host and leaves the description, the disks and the partitions' file systems.", _store.Root);
        using (_store.Lock(StoreWait))
        {
            Use(context);
            var s = LoadForRemoval(context);
            context.Logger.LogInformation("Removing lab {Path}", _store.Root);
            TearDown(s, context, detachAll: true);
        }
        Directory.Delete(_store.Root, recursive: true);
    }

    /// <summary>Removes everything the backend made on a host that is not a lab, and nothing else.</summary>
    public void RemoveHost(OperationContext context)
    {
        if (Description.Lab)
            throw new LiveUpdateException("LabNotAHost", ErrorKind.InvalidOperation, $"'{_store.Root}' is a lab; Remove-LiveUpdateLab removes it with its folder.", _store.Root);
        using (_store.Lock(StoreWait))
        {
            Use(context);
            var s = LoadForRemoval(context);
            context.Logger.LogInformation("Removing everything LiveUpdate made on host {Path}", _store.Root);
            if (s is not null) KeepRootsDescribed(s, context);
            if (s is not null) WipeMade(s, context);
            TearDown(s, context, detachAll: false);
            foreach (var dir in MadeInFolder.Select(d => Path.Combine(_store.Root, d)).Where(Directory.Exists)) Directory.Delete(dir, recursive: true);
            foreach (var f in Directory.GetFiles(_store.Root, StateFileName + ".tmp-*").Append(_store.StatePath)) File.Delete(f);
        }
        File.Delete(Path.Combine(_store.Root, HostStore<ContainerState>.LockFileName));
    }

    private ContainerState? LoadForRemoval(OperationContext context)
    {
        try
        {
            return _store.Load();
        }
        catch (LiveUpdateException e)
        {
            context.Logger.LogWarning("The state cannot be read ({Reason}); removing what the description and the host show", e.Message);
            return null;
        }
    }

    /// <summary>
    /// After a live update a partition's root lies on other disks than the description names (the clone's): the
    /// description is brought up to date, so that connecting again boots the partition from its current root.
    /// </summary>
    private void KeepRootsDescribed(ContainerState s, OperationContext context)
    {
        var changed = false;
        foreach (var pd in Description.Partitions!)
        {
            var p = s.Partition(pd.Name!);
            var vg = p is null ? null : s.Vg(p.RootVg);
            if (vg is null || vg.Disks.SequenceEqual(pd.RootDisks!, StringComparer.OrdinalIgnoreCase)) continue;
            context.Logger.LogWarning("The root of {Partition} is on {Disks} now, not on {Described}; the description says so from now on",
                pd.Name, string.Join(", ", vg.Disks), string.Join(", ", pd.RootDisks!));
            pd.RootDisks = vg.Disks.ToList();
            changed = true;
        }
        if (changed) Description.Save(_store.Root);
    }

    /// <summary>Wipes the clone and mirror file systems the backend made; a partition's root and old_rootvg stay.</summary>
    private void WipeMade(ContainerState s, OperationContext context)
    {
        var keep = s.VolumeGroups
            .Where(v => v.Role == nameof(VolumeGroupRole.OldRoot) || s.Partitions.Any(p => p.SurrogateOf is null && p.RootVg == v.Serial))
            .SelectMany(v => v.Disks).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var p in s.Partitions) StopContainer(p);
        foreach (var made in s.Made.Where(m => !keep.Contains(m.Disk)).ToList())
        {
            var d = DiskOf(made.Disk);
            // A disk file whose loop device is gone is wiped as the file itself (blkid and wipefs read files too).
            var target = d.Device ?? _tools.LoopOf(Path.Combine(_store.Root, d.File!)) ?? Path.Combine(_store.Root, d.File!);
            var sig = _tools.Signature(target);
            if (sig is null || !string.Equals(sig.Value.Uuid, made.Uuid, StringComparison.OrdinalIgnoreCase)) continue;
            context.Logger.LogInformation("Wiping disk {Disk} ({Device}): a file system LiveUpdate made for a clone or mirror", made.Disk, target);
            _tools.Wipe(target);
        }
    }

    /// <summary>Stops, unmounts, deletes and detaches what the backend runs on the host.</summary>
    private void TearDown(ContainerState? s, OperationContext context, bool detachAll)
    {
        foreach (var p in s?.Partitions ?? new List<ContainerPartition>()) StopContainer(p);
        var prefix = "--machine=lu" + Description.Id + "p";
        foreach (var pid in HostTools.Processes().Where(x => HostTools.CommandLine(x).Split(' ').Any(a => a.StartsWith(prefix, StringComparison.Ordinal))).ToList())
            HostTools.StopProcess(pid, TimeSpan.FromSeconds(15));
        _tools.Unmount(Path.Combine(_store.Root, "mnt"));
        foreach (var d in Description.Disks!)
            if ((d.Device ?? _tools.LoopOf(Path.Combine(_store.Root, d.File!))) is { } device) _tools.DetachCopies(device);
        foreach (var ns in Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns").Select(Path.GetFileName).Where(n => n!.StartsWith("lu" + Description.Id + "p", StringComparison.Ordinal)).ToList() : new List<string?>())
            _tools.DeleteNamespace(ns!);
        var n = Description.Network!;
        if (n.Namespace is not null && n.CreateNamespace && (s?.NamespaceCreated ?? Description.Lab)) _tools.DeleteNamespace(n.Namespace);
        else if (n.CreateBridge && (s?.BridgeCreated ?? false) && _tools.LinkExists(n.Namespace, n.Bridge!)) _tools.Ip(n.Namespace, "link", "delete", n.Bridge!);
        if (n.Namespace is null || HostTools.NamespaceExists(n.Namespace))
            foreach (var p in s?.Partitions ?? new List<ContainerPartition>()) _tools.DeleteLink(n.Namespace, HostLink(p));
        foreach (var d in Description.Disks!)
        {
            if (d.File is null || !(detachAll || (s?.LoopsAttached.Contains(d.Name!, StringComparer.OrdinalIgnoreCase) ?? false))) continue;
            var loop = _tools.LoopOf(Path.Combine(_store.Root, d.File));
            if (loop is null) continue;
            _tools.Probe("btrfs", "device", "scan", "--forget", loop);
            _tools.DetachLoop(loop);
        }
    }
}
