using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>
/// Test-LiveUpdateHost: a host description checked against the real system before anything runs, one finding per
/// check. It changes nothing: a root that is not mounted yet is looked at read-only and released again.
/// </summary>
public static class HostCheck
{
    public static IReadOnlyList<HostFinding> Run(string folder, OperationContext context)
    {
        var findings = new List<HostFinding>();
        void Add(string check, string target, FindingStatus status, string message) => findings.Add(new HostFinding(check, target, status, message));
        var root = Path.GetFullPath(folder);
        var problem = Prerequisites.Problem(ContainerBackend.Tools, lab: false);
        if (problem is not null)
        {
            Add("Prerequisites", Environment.MachineName, FindingStatus.Failed, problem.Message);
            return findings;
        }
        Add("Prerequisites", Environment.MachineName, FindingStatus.Passed, "Linux, root and every tool the container backend needs");
        if (!HostDescription.Exists(root))
        {
            Add("Description", root, FindingStatus.Failed, $"holds no {HostDescription.FileName}; New-LiveUpdateHostDescription writes a starting one");
            return findings;
        }
        if (Folders.Unsafe(root) is { } unsafeWhy) Add("Folder", root, FindingStatus.Failed, $"another user could plant files here: {unsafeWhy}");
        else Add("Folder", root, FindingStatus.Passed, "only its owner can write it");
        HostDescription d;
        try
        {
            d = HostDescription.Load(root);
            Add("Description", HostDescription.FileName, FindingStatus.Passed, $"valid: {d.Disks!.Count} disks, {d.Partitions!.Count} partitions, {d.Applications?.Count ?? 0} applications");
        }
        catch (LiveUpdateException e)
        {
            Add("Description", HostDescription.FileName, FindingStatus.Failed, e.Message);
            return findings;
        }
        var tools = new HostTools { Log = context.Logger, Cancellation = context.Cancellation };
        var disks = CheckDisks(root, d, Add);
        CheckNetwork(d, tools, Add);
        var state = LoadState(root);
        foreach (var p in d.Partitions!)
        {
            if (!p.RootDisks!.All(disks.ContainsKey))
            {
                Add("Partition", p.Name!, FindingStatus.Failed, "its root disks could not be resolved (see above); its root was not looked at");
                continue;
            }
            CheckPartition(root, d, p, p.RootDisks!.Select(x => disks[x]).ToList(), state, tools, Add);
        }
        return findings;
    }

    private static Dictionary<string, DiskIdentity> CheckDisks(string root, HostDescription d, Action<string, string, FindingStatus, string> add)
    {
        var ids = new Dictionary<string, DiskIdentity>(StringComparer.OrdinalIgnoreCase);
        foreach (var disk in d.Disks!)
        {
            try
            {
                var id = disk.Device is not null ? DiskIdentities.OfDevice(disk.Name!, disk.Device) : DiskIdentities.OfFile(disk.Name!, root, disk.File!);
                ids[disk.Name!] = id;
            }
            catch (LiveUpdateException e)
            {
                add("Disk", disk.Name!, FindingStatus.Failed, $"{e.ErrorId}: {e.Message}");
            }
        }
        try
        {
            DiskIdentities.RequireDistinct(ids.Values.ToList());
        }
        catch (LiveUpdateException e)
        {
            add("Disk", e.Target?.ToString() ?? "", FindingStatus.Failed, $"{e.ErrorId}: {e.Message}");
            return new Dictionary<string, DiskIdentity>();
        }
        var inUse = DiskIdentities.InUse(Path.Combine(root, "mnt"));
        foreach (var id in ids.Values.ToList())
        {
            try
            {
                DiskIdentities.RequireUnused(id, inUse);
                var what = id.File is null ? $"{id.Device} ({id.Number})" : $"{id.File}{(id.Device is null ? " (not attached yet)" : $" on {id.Device}")}";
                add("Disk", id.Name, FindingStatus.Passed, $"{what}, in use by nothing else");
            }
            catch (LiveUpdateException e)
            {
                add("Disk", id.Name, FindingStatus.Failed, $"{e.ErrorId}: {e.Message}");
                ids.Remove(id.Name);
            }
        }
        return ids;
    }

    private static void CheckNetwork(HostDescription d, HostTools tools, Action<string, string, FindingStatus, string> add)
    {
        var n = d.Network!;
        if (n.Namespace is not null && !HostTools.NamespaceExists(n.Namespace) && !n.CreateNamespace)
            add("Network", n.Namespace, FindingStatus.Failed, "the network namespace does not exist and createNamespace is false");
        else if (n.Namespace is not null && !HostTools.NamespaceExists(n.Namespace))
            add("Network", n.Namespace, FindingStatus.Passed, "the backend creates this network namespace");
        var bridgeThere = (n.Namespace is null || HostTools.NamespaceExists(n.Namespace)) && tools.LinkExists(n.Namespace, n.Bridge!);
        if (!bridgeThere && !n.CreateBridge) add("Network", n.Bridge!, FindingStatus.Failed, "the bridge does not exist and createBridge is false");
        else add("Network", n.Bridge!, FindingStatus.Passed, bridgeThere ? "the bridge exists" : "the backend creates this bridge");
    }

    private static ContainerState? LoadState(string root)
    {
        try
        {
            var store = new HostStore<ContainerState>(root, ContainerBackend.StateFileName, ContainerBackend.StateHeader);
            return store.Exists ? store.Load() : null;
        }
        catch (LiveUpdateException)
        {
            return null;
        }
    }

    private static void CheckPartition(string folder, HostDescription d, HostDescription.PartitionDescription p, IReadOnlyList<DiskIdentity> disks,
        ContainerState? state, HostTools tools, Action<string, string, FindingStatus, string> add)
    {
        // A connected host: its root is looked at where the backend keeps it mounted.
        var known = state?.Partition(p.Name!) is { } sp ? state.Vg(sp.RootVg) : null;
        var mounted = known is null ? null : Path.Combine(folder, "mnt", "vg" + known.Serial);
        RootLook? look = null;
        try
        {
            string top;
            if (mounted is not null && HostTools.IsMountPoint(mounted)) top = mounted;
            else
            {
                look = RootLook.Open(tools, folder, disks);
                top = look.Mount;
            }
            add("RootVg", p.Name!, FindingStatus.Passed, $"a btrfs on {string.Join(", ", p.RootDisks!)}");
            using var mount = SafeTree.Open(top);
            foreach (var lv in p.LogicalVolumes!.OrderBy(l => l.MountPoint!.Length))
            {
                var relative = lv.MountPoint == "/" ? "root" : "root/" + lv.MountPoint!.TrimStart('/');
                var entry = mount.Lstat(relative);
                if (entry is { IsDirectory: true, Inode: 256 }) add("LogicalVolume", $"{p.Name}:{lv.Name}", FindingStatus.Passed, $"the subvolume {relative}");
                else add("LogicalVolume", $"{p.Name}:{lv.Name}", FindingStatus.Failed, entry is null
                    ? $"there is no subvolume {relative} at the top of the file system; create it with: btrfs subvolume create <top>/{relative}"
                    : $"{relative} is {(entry.Value.IsLink ? "a link" : entry.Value.IsDirectory ? "a plain folder" : "a file")}, not a subvolume (btrfs subvolume create)");
            }
            if (mount.Lstat("root") is not { IsDirectory: true }) return;
            using var tree = SafeTree.Open(Path.Combine(top, "root"));
            CheckInit(tree, p, add);
            var level = tree.ReadText(ContainerBackend.OsLevelFile, 4096)?.Split('\n')[0].Trim();
            if (level is null) add("OsLevel", p.Name!, FindingStatus.Failed, $"there is no /{ContainerBackend.OsLevelFile}; create it with the partition's level, e.g. echo 1-0-0 > <root>/{ContainerBackend.OsLevelFile}");
            else if (!OsLevel.TryParse(level, out _)) add("OsLevel", p.Name!, FindingStatus.Failed, $"/{ContainerBackend.OsLevelFile} says '{ContainerBackend.Printable(level)}', not a level such as 7300-02-01");
            else add("OsLevel", p.Name!, FindingStatus.Passed, level);
            foreach (var a in (d.Applications ?? new()).Where(a => string.Equals(a.Partition, p.Name, StringComparison.OrdinalIgnoreCase)))
                CheckApplication(tree, a, add);
        }
        catch (LiveUpdateException e)
        {
            add("RootVg", p.Name!, FindingStatus.Failed, $"{e.ErrorId}: {e.Message}");
        }
        finally
        {
            look?.Dispose();
        }
    }

    private static void CheckInit(SafeTree tree, HostDescription.PartitionDescription p, Action<string, string, FindingStatus, string> add)
    {
        var init = tree.Resolve("/sbin/init");
        var entry = init is null ? null : tree.Lstat(init);
        if (entry is not { IsRegular: true } || (entry.Value.Mode & 0x49) == 0)
        {
            add("Init", p.Name!, FindingStatus.Failed, "there is no executable /sbin/init: the backend boots the partition with it (systemd-nspawn ... /sbin/init)");
            return;
        }
        var head = tree.Read(init!, 16L * 1024 * 1024) ?? Array.Empty<byte>();
        var text = System.Text.Encoding.UTF8.GetString(head);
        if (text.Contains(ContainerBackend.BootedMarker, StringComparison.Ordinal))
            add("Init", p.Name!, FindingStatus.Passed, $"/sbin/init{(init == "/sbin/init" ? "" : " (" + init + ")")} makes /{ContainerBackend.BootedMarker}");
        else
            add("Init", p.Name!, FindingStatus.Warning, $"/sbin/init{(init == "/sbin/init" ? "" : " (" + init + ")")} does not name /{ContainerBackend.BootedMarker}; the backend waits up to 30 s for that file at boot (a unit or script of the partition must create it)");
    }

    private static void CheckApplication(SafeTree tree, HostDescription.ApplicationDescription a, Action<string, string, FindingStatus, string> add)
    {
        var commands = new List<(string What, List<string>? Argv)> { ("start", a.Start), ("health", a.Health), ("stop", a.Stop?.Command) };
        foreach (var (what, argv) in commands.Where(c => c.Argv is { Count: > 0 }))
        {
            var path = argv![0];
            var resolved = path.StartsWith("/", StringComparison.Ordinal) ? tree.Resolve(path) : null;
            var entry = resolved is null ? null : tree.Lstat(resolved);
            if (!path.StartsWith("/", StringComparison.Ordinal))
                add("Application", $"{a.Name}:{what}", FindingStatus.Failed, $"'{path}' is not an absolute path in the partition");
            else if (entry is not { IsRegular: true } || (entry.Value.Mode & 0x49) == 0)
                add("Application", $"{a.Name}:{what}", FindingStatus.Failed, $"{path} is not an executable file in the partition's root");
            else add("Application", $"{a.Name}:{what}", FindingStatus.Passed, path + (resolved == path ? "" : $" ({resolved})"));
        }
        if (a.Health is null) add("Application", $"{a.Name}:health", FindingStatus.Warning,
            $"no health command: the backend checks that {HostDescription.Host(a.ServiceAddress!)}:{a.Port} accepts a TCP connection, which a service may do before it answers requests");
        if (!tree.Exists(a.DataPath!)) add("Application", $"{a.Name}:data", FindingStatus.Warning, $"{a.DataPath} does not exist in the partition yet");
        else add("Application", $"{a.Name}:data", FindingStatus.Passed, a.DataPath!);
    }
}
