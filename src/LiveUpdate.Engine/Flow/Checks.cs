using System;
using System.Collections.Generic;
using System.Linq;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Flow;

/// <summary>
/// The validations of the flow, each a function over an inventory that returns the error it finds or null. The
/// step functions throw the first error; the preview collects them all. Both use the same functions, so a preview
/// cannot pass what the update would refuse.
/// </summary>
internal static class Checks
{
    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    public static LogicalPartition? FindPartition(SystemInventory inv, string name) => inv.Partitions.FirstOrDefault(p => Same(p.Name, name));

    public static LiveUpdateException? Partition(SystemInventory inv, string name, out LogicalPartition? partition, bool mustRun = true)
    {
        partition = FindPartition(inv, name);
        if (partition is null)
            return new LiveUpdateException("PartitionNotFound", ErrorKind.ObjectNotFound,
                $"There is no partition named '{name}' on {inv.System.Name}. Known partitions: {string.Join(", ", inv.Partitions.Select(p => p.Name))}.", name);
        if (mustRun && partition.State != PartitionState.Running)
            return new LiveUpdateException("PartitionNotRunning", ErrorKind.InvalidOperation, $"Partition {partition.Name} is {partition.State}, not Running.", name);
        return null;
    }

    public static LiveUpdateException? Original(LogicalPartition p) => p.IsSurrogate
        ? new LiveUpdateException("PartitionIsSurrogate", ErrorKind.InvalidOperation, $"Partition {p.Name} is the surrogate of {p.SurrogateOf}; live-update {p.SurrogateOf} instead.", p.Name)
        : null;

    /// <summary>What rootvg holds; 0 while the partition's volume groups cannot be read (a partition that is shut down).</summary>
    public static long RootVgUsedMB(SystemInventory inv, LogicalPartition p) =>
        inv.VolumeGroups.FirstOrDefault(v => Same(v.Partition, p.Name) && v.Role == VolumeGroupRole.Root)?.UsedMB ?? 0;

    /// <summary>Disks for a clone or a mirror: known, distinct, free and together large enough.</summary>
    public static LiveUpdateException? Disks(SystemInventory inv, IReadOnlyList<string> names, long requiredMB, string purpose)
    {
        if (names.Count == 0)
            return new LiveUpdateException("DiskNotSpecified", ErrorKind.InvalidArgument, $"Name at least one disk for the {purpose}.", null);
        var dup = names.GroupBy(n => n, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
            return new LiveUpdateException("DiskNamedTwice", ErrorKind.InvalidArgument, $"Disk {dup.Key} is named twice for the {purpose}.", dup.Key);
        long total = 0;
        foreach (var name in names)
        {
            var d = inv.Disks.FirstOrDefault(x => Same(x.Name, name));
            if (d is null)
                return new LiveUpdateException("DiskNotFound", ErrorKind.ObjectNotFound, $"There is no disk named '{name}'.", name);
            if (d.State != DiskState.Free)
                return new LiveUpdateException("DiskInUse", ErrorKind.ResourceUnavailable,
                    $"Disk {d.Name} belongs to volume group {d.VolumeGroup}{(d.Partition is null ? "" : " of " + d.Partition)}; the {purpose} needs free disks.", d.Name);
            total += d.SizeMB;
        }
        if (total < requiredMB)
            return new LiveUpdateException("DiskTooSmall", ErrorKind.InvalidArgument,
                $"The {purpose} needs {requiredMB} MB; {string.Join(",", names)} hold{(names.Count == 1 ? "s" : "")} only {total} MB.", string.Join(",", names));
        return null;
    }

    public static LiveUpdateException? DisjointDisks(IReadOnlyList<string> clone, IReadOnlyList<string> mirror)
    {
        var both = clone.Intersect(mirror, StringComparer.OrdinalIgnoreCase).FirstOrDefault();
        return both is null ? null : new LiveUpdateException("DiskNamedTwice", ErrorKind.InvalidArgument,
            $"Disk {both} is named for both the clone and the mirror; they need different disks.", both);
    }

    /// <summary>Picks the smallest free disks that fit, skipping those already taken.</summary>
    public static IReadOnlyList<string>? ChooseDisk(SystemInventory inv, long requiredMB, IEnumerable<string> taken)
    {
        var skip = new HashSet<string>(taken, StringComparer.OrdinalIgnoreCase);
        var d = inv.Disks.Where(x => x.State == DiskState.Free && !skip.Contains(x.Name) && x.SizeMB >= requiredMB)
            .OrderBy(x => x.SizeMB).ThenBy(x => x.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault();
        return d is null ? null : new[] { d.Name };
    }

    public static LiveUpdateException NoDisk(string purpose, long requiredMB, string partition) => new("NoSuitableDisk", ErrorKind.ResourceUnavailable,
        $"No free disk of at least {requiredMB} MB is left for the {purpose} of {partition}.", partition);

    public static LiveUpdateException? Bundle(UpdateBundle bundle, string currentLevel, string partition)
    {
        var current = OsLevel.Parse(currentLevel);
        if (bundle.TargetLevel <= current)
            return new LiveUpdateException("BundleLevelNotNewer", ErrorKind.InvalidOperation,
                $"Bundle '{bundle.Name}' targets {bundle.TargetLevel}, which is not above {current}, the level of {partition}.", bundle.Source);
        if (bundle.RequiresLevel is not null && current < bundle.RequiresLevel)
            return new LiveUpdateException("BundleRequirementNotMet", ErrorKind.InvalidOperation,
                $"Bundle '{bundle.Name}' requires {bundle.RequiresLevel}; {partition} is at {current}.", bundle.Source);
        if (!bundle.LiveUpdateCapable)
            return new LiveUpdateException("BundleNotLiveUpdateCapable", ErrorKind.InvalidOperation,
                $"Bundle '{bundle.Name}' is not live-update capable (it needs a reboot); install it with a regular update.", bundle.Source);
        return null;
    }

    public static LiveUpdateException? OpenBundle(string path, out UpdateBundle? bundle)
    {
        bundle = null;
        try
        {
            bundle = UpdateBundle.Verify(path);
            return null;
        }
        catch (LiveUpdateException e)
        {
            return e;
        }
    }

    public static LiveUpdateException? Frame(SystemInventory inv, LogicalPartition p)
    {
        var s = inv.System;
        if (s.AvailableProcessors + 1e-9 < p.Processors || s.AvailableMemoryMB < p.MemoryMB)
            return new LiveUpdateException("InsufficientFrameResources", ErrorKind.ResourceUnavailable,
                $"The surrogate of {p.Name} needs {p.Processors} processors and {p.MemoryMB} MB; {s.Name} has {s.AvailableProcessors} processors and {s.AvailableMemoryMB} MB free.", p.Name);
        return null;
    }

    // The way out (what to run about what is left) comes from the engine, which knows the partition's operations.

    public static LiveUpdateException? NoClone(SystemInventory inv, LogicalPartition p, string? wayOut = null)
    {
        var c = inv.Clones.FirstOrDefault(x => Same(x.Partition, p.Name));
        return c is null ? null : new LiveUpdateException("CloneExists", ErrorKind.ResourceExists,
            $"Partition {p.Name} already has an {c.VolumeGroup} on {string.Join(",", c.Disks)} ({c.State}).{(wayOut is null ? "" : " " + wayOut)}", p.Name);
    }

    public static LiveUpdateException? NoMirror(SystemInventory inv, LogicalPartition p, string? wayOut = null)
    {
        var m = inv.Mirrors.FirstOrDefault(x => Same(x.Partition, p.Name));
        return m is null ? null : new LiveUpdateException("MirrorExists", ErrorKind.ResourceExists,
            $"The rootvg of {p.Name} is already mirrored onto {string.Join(",", m.Disks)}.{(wayOut is null ? "" : " " + wayOut)}", p.Name);
    }

    public static LiveUpdateException? NoSurrogate(SystemInventory inv, LogicalPartition p, string? wayOut = null)
    {
        var s = inv.Partitions.FirstOrDefault(x => Same(x.SurrogateOf, p.Name));
        return s is null ? null : new LiveUpdateException("SurrogateExists", ErrorKind.ResourceExists,
            $"Partition {p.Name} already has a surrogate, {s.Name}.{(wayOut is null ? "" : " " + wayOut)}", p.Name);
    }
}
