using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>What New-LiveUpdateHostDescription is told; everything else it reads off the root.</summary>
public sealed record HostDraftOptions
{
    public string? Name { get; init; }
    public string? Id { get; init; }
    public string Partition { get; init; } = "lpar1";
    public string? HostName { get; init; }
    /// <summary>The partition's address with its prefix.</summary>
    public string Address { get; init; } = "";
    /// <summary>The disks of the root volume group: device paths under /dev, or disk files in the folder.</summary>
    public IReadOnlyList<string> RootDisks { get; init; } = Array.Empty<string>();
    /// <summary>Free disks for the clone and the mirror.</summary>
    public IReadOnlyList<string> FreeDisks { get; init; } = Array.Empty<string>();
    public string Bridge { get; init; } = "br0";
    public bool CreateBridge { get; init; }
    public string? Namespace { get; init; }
    public bool CreateNamespace { get; init; }
    public string? Gateway { get; init; }
}

/// <summary>
/// Writes a starting host description from an existing btrfs root: the disks as given, the logical volumes read off
/// the file system (the subvolume <c>root</c> and every subvolume nested in it), the host name from the root's
/// <c>/etc/hostname</c>. Applications are added to the file by hand, as about_LiveUpdate_Container shows.
/// </summary>
public static class HostDescriptionDraft
{
    /// <summary>Writes the description; returns it with what the user still has to do.</summary>
    public static (HostDescription Description, IReadOnlyList<string> Notes) Write(string folder, HostDraftOptions o, OperationContext context)
    {
        var root = Path.GetFullPath(folder);
        Prerequisites.Check(ContainerBackend.Tools, lab: false);
        Folders.RequireSafe(root, "a host's folder");
        if (HostDescription.Exists(root))
            throw new LiveUpdateException("HostDescriptionExists", ErrorKind.ResourceExists, $"'{folder}' already holds {HostDescription.FileName}; edit it, or remove it first.", folder);
        if (o.RootDisks.Count == 0)
            throw new LiveUpdateException("RootDiskMissing", ErrorKind.InvalidArgument, "Name the disks of the partition's root volume group (-RootDisk).", null);
        var notes = new List<string>();
        var disks = new List<HostDescription.DiskDescription>();
        var number = 0;
        foreach (var given in o.RootDisks.Concat(o.FreeDisks))
            disks.Add(given.StartsWith("/dev/", StringComparison.Ordinal)
                ? new HostDescription.DiskDescription { Name = "hdisk" + number++, Device = given }
                : new HostDescription.DiskDescription { Name = "hdisk" + number++, File = Path.IsPathRooted(given) ? Path.GetRelativePath(root, given) : given });
        var d = new HostDescription
        {
            Name = o.Name ?? Environment.MachineName.ToLowerInvariant(),
            Id = o.Id ?? LabScaffold.NewId(),
            Network = new HostDescription.NetworkDescription
            {
                Namespace = o.Namespace, CreateNamespace = o.CreateNamespace, Bridge = o.Bridge, CreateBridge = o.CreateBridge, Gateway = o.Gateway,
            },
            Disks = disks,
            Partitions = new List<HostDescription.PartitionDescription>(),
            Applications = new List<HostDescription.ApplicationDescription>(),
        };
        var ids = disks.Select(x => x.Device is not null ? DiskIdentities.OfDevice(x.Name!, x.Device) : DiskIdentities.OfFile(x.Name!, root, x.File!)).ToList();
        DiskIdentities.RequireDistinct(ids);
        var inUse = DiskIdentities.InUse(Path.Combine(root, "mnt"));
        foreach (var id in ids) DiskIdentities.RequireUnused(id, inUse);
        var tools = new HostTools { Log = context.Logger, Cancellation = context.Cancellation };
        Folders.CreateOwnerOnly(root);
        var lvs = new List<HostDescription.LogicalVolumeDescription>();
        string? hostName;
        using (var look = RootLook.Open(tools, root, ids.Take(o.RootDisks.Count).ToList()))
        {
            var subvolumes = look.Subvolumes();
            if (!subvolumes.Contains("root"))
                throw new LiveUpdateException("RootVgLayoutInvalid", ErrorKind.InvalidData,
                    "The root disks hold a btrfs without the subvolume 'root' at its top, which the backend boots as the partition's /; see about_LiveUpdate_Container for the layout.", o.RootDisks[0]);
            lvs.Add(new HostDescription.LogicalVolumeDescription { Name = "root", MountPoint = "/" });
            foreach (var sub in subvolumes.Where(x => x.StartsWith("root/", StringComparison.Ordinal)).OrderBy(x => x, StringComparer.Ordinal))
            {
                var name = Path.GetFileName(sub);
                while (lvs.Any(l => l.Name == name)) name += "1";
                lvs.Add(new HostDescription.LogicalVolumeDescription { Name = name, MountPoint = sub.Substring(4) });
            }
            using var tree = SafeTree.Open(look.Root);
            hostName = o.HostName ?? tree.ReadText("etc/hostname", 256)?.Trim();
            var level = tree.ReadText(ContainerBackend.OsLevelFile, 4096)?.Split('\n')[0].Trim();
            if (!OsLevel.TryParse(level, out _))
                notes.Add($"The root has no valid /{ContainerBackend.OsLevelFile}; create it with the partition's level before connecting (e.g. echo 1-0-0 > <root>/{ContainerBackend.OsLevelFile}).");
            if (tree.Resolve("/sbin/init") is null) notes.Add("The root has no /sbin/init; the backend boots the partition with it, and it must create /run/liveupdate.booted.");
        }
        if (lvs.Count == 1) notes.Add("The root has no logical volume but root: an application's data must lie on one of its own (btrfs subvolume create <root>/<data path>).");
        d.Partitions.Add(new HostDescription.PartitionDescription
        {
            Name = o.Partition, Id = 1, HostName = string.IsNullOrEmpty(hostName) ? o.Partition : hostName, Address = o.Address,
            RootDisks = disks.Take(o.RootDisks.Count).Select(x => x.Name!).ToList(), LogicalVolumes = lvs,
        });
        notes.Add("Add the partition's applications under \"applications\" as about_LiveUpdate_Container shows, then run Test-LiveUpdateHost.");
        d.Validate(Path.Combine(root, HostDescription.FileName));
        d.Save(root);
        return (d, notes);
    }
}
