using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

using LiveUpdate.Engine.Backends.Host;

namespace LiveUpdate.Engine.Backends.Containers;

/// <summary>Updates: overlays and Debian packages installed into the clone; old_rootvg turned back into a clone and returned.</summary>
public sealed partial class ContainerBackend
{
    public RootVgClone InstallUpdate(string partition, UpdateBundle bundle, OperationContext context)
    {
        var clone = Change(context, s =>
        {
            var c = s.CloneOf(partition)!;
            var vg = s.Vg(c.Vg)!;
            var unsupported = bundle.Packages.FirstOrDefault(p => p.Kind is not ("overlay" or "deb"));
            if (unsupported is not null)
                throw new LiveUpdateException("PackageKindNotSupported", ErrorKind.InvalidData,
                    $"Bundle '{bundle.Name}' holds package {unsupported.Name} of kind '{unsupported.Kind}'; the Linux backend installs packages of kind overlay (a tar or tar.gz archive) and deb.", bundle.Source);
            Fault(Steps.Install, FaultTiming.Before);
            EnsureMounted(s, vg);
            var root = LvPath(Mnt(vg.Serial), vg.Lvs.First(l => l.MountPoint == "/"));
            var done = 0;
            foreach (var package in bundle.Packages)
            {
                context.Logger.LogInformation("Installing {Package} {Version} ({Kind}) into altinst_rootvg of {Partition}",
                    Printable(package.Name), Printable(package.Version), Printable(package.Kind), partition);
                if (package.Kind == "overlay") UnpackOverlay(root, bundle.PackagePath(package), package, vg.Serial);
                else InstallDeb(root, bundle.PackagePath(package), package, vg.Serial);
                if (++done == (bundle.Packages.Count + 1) / 2) Fault(Steps.Install, FaultTiming.During);
                context.Report("Installing " + bundle.Name, package.Name, 100 * done / bundle.Packages.Count);
            }
            using (var tree = SafeTree.Open(root))
            {
                var lines = new SortedDictionary<string, string>(StringComparer.Ordinal);
                foreach (var line in (ReadOwnFile(tree, PackagesFile, context) ?? "").Split('\n').Where(l => l.Length > 0)) lines[line.Split(' ')[0]] = line;
                foreach (var package in bundle.Packages) lines[Printable(package.Name)] = PackageLine(package.Name, package.Version, package.Kind);
                tree.WriteText(PackagesFile, string.Concat(lines.Values.Select(l => l + "\n")));
                tree.WriteText(OsLevelFile, bundle.TargetLevel + "\n");
            }
            vg.OsLevel = bundle.TargetLevel.ToString();
            c.State = nameof(CloneState.Updated);
            if (!c.AppliedBundles.Contains(bundle.Name)) c.AppliedBundles.Add(bundle.Name);
            Refresh(s, partition, context);
            return ToModel(s, c);
        });
        Fault(Steps.Install, FaultTiming.After);
        return clone;
    }

    /// <summary>
    /// A file the backend keeps in a partition's tree (its packages list): what stands there in its place that is not
    /// a regular file (a link the partition planted) counts as no file, and the next write replaces it.
    /// </summary>
    private static string? ReadOwnFile(SafeTree tree, string path, OperationContext context)
    {
        try
        {
            return tree.ReadText(path);
        }
        catch (LiveUpdateException e) when (e.ErrorId == "UnsafePath")
        {
            context.Logger.LogWarning("{Reason} It is replaced by a file of LiveUpdate's own.", e.Message);
            return null;
        }
    }

    /// <summary>
    /// A line of <c>/etc/liveupdate/packages</c>: name, version and kind separated by spaces, each with every space,
    /// backslash and control character written as <c>\xNN</c>, so that no value can add a line or a field.
    /// </summary>
    internal static string PackageLine(string name, string version, string kind) => $"{Printable(name)} {Printable(version)} {Printable(kind)}";

    /// <summary>A value from a bundle or a partition as it may be written to a file or the log: spaces, backslashes and control characters escaped.</summary>
    internal static string Printable(string? value)
    {
        if (value is null) return "";
        if (!value.Any(ch => ch <= ' ' || ch == '\\' || ch == (char)0x7f || char.IsControl(ch))) return value;
        var b = new System.Text.StringBuilder(value.Length + 8);
        foreach (var ch in value)
            b.Append(ch <= ' ' || ch == '\\' || ch == (char)0x7f || char.IsControl(ch) ? $"\\x{(int)ch:x2}" : ch.ToString());
        return b.ToString();
    }

    /// <summary>The name of a container that runs a package's installation in a clone (caught by the sweep of the host's removal).</summary>
    private string InstallMachine(string serial) => $"lu{Description.Id}pi{serial}";

    /// <summary>
    /// Unpacks an overlay archive with the clone's own tar in a container of the clone (its standard input is the
    /// verified archive), so no path or link in it, and no link in the clone, can reach the host.
    /// </summary>
    private void UnpackOverlay(string root, string archive, BundlePackage package, string serial)
    {
        string? tar;
        using (var tree = SafeTree.Open(root)) tar = new[] { "bin/tar", "usr/bin/tar" }.FirstOrDefault(t => tree.Lstat(t) is not null);
        if (tar is null)
            throw new LiveUpdateException("OverlayNeedsTar", ErrorKind.NotInstalled, $"The clone has no tar (/bin/tar or /usr/bin/tar) to unpack the overlay {Printable(package.Name)} inside its own root.", package.Name);
        var gz = false;
        using (var f = File.OpenRead(archive)) gz = f.ReadByte() == 0x1f && f.ReadByte() == 0x8b;
        var args = new List<string> { "/" + tar, "-x", "-f", "-", "-C", "/" };
        if (gz) args.Insert(2, "-z");
        _tools.RunInTree(root, InstallMachine(serial), args, $"Unpacking {Printable(package.Name)} in the clone", standardInputFile: archive);
    }

    /// <summary>
    /// Installs a Debian package with the clone's own dpkg in a container of the clone: the package is copied into a
    /// new folder at the clone's root (no link followed), installed from there and removed again.
    /// </summary>
    private void InstallDeb(string root, string deb, BundlePackage package, string serial)
    {
        var folder = ".liveupdate-install-" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
        var inside = folder + "/package.deb";
        using var tree = SafeTree.Open(root);
        var dpkg = new[] { "usr/bin/dpkg", "bin/dpkg" }.FirstOrDefault(t => tree.Lstat(t) is not null)
            ?? throw new LiveUpdateException("DebNeedsDpkg", ErrorKind.NotInstalled,
                $"The clone has no dpkg (/usr/bin/dpkg) to install {Printable(package.Name)} inside its own root; a package is never installed into a clone by the host's dpkg.", package.Name);
        try
        {
            tree.CopyIn(deb, inside, (UnixFileMode)0x180);
            _tools.RunInTree(root, InstallMachine(serial), new[] { "/" + dpkg, "--install", "/" + inside }, $"Installing {Printable(package.Name)} in the clone");
        }
        finally
        {
            tree.Delete(inside);
            tree.Delete(folder);
        }
    }

    public RootVgClone AdoptOldRootVg(string partition, OperationContext context) => AdoptOldRootVg(partition, "old_rootvg", context);

    public RootVgClone AdoptOldRootVg(string partition, string volumeGroup, OperationContext context) => Change(context, s =>
    {
        var existing = s.CloneOf(partition);
        if (existing is not null) return ToModel(s, existing);
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        var old = s.Vg(partition, volumeGroup)!;
        EnsureMounted(s, old);
        DeleteChildren(MirrorDir(Mnt(old.Serial)));
        context.Logger.LogInformation("Turning {VolumeGroup} of {Partition} on {Disks} ({Level}) into its altinst_rootvg", old.Name, partition, string.Join(", ", old.Disks), ReadLevel(old));
        old.Name = "altinst_rootvg";
        old.Role = nameof(VolumeGroupRole.AltInstRoot);
        var clone = new CloneRecord
        {
            Partition = partition, Vg = old.Serial, SourceLevel = ReadLevel(root)!, State = nameof(CloneState.Updated),
            AppliedBundles = { volumeGroup + " at " + ReadLevel(old) }, Created = DateTimeOffset.Now, AdoptedFrom = volumeGroup,
        };
        s.Clones.Add(clone);
        return ToModel(s, clone);
    });

    public void RestoreOldRootVg(string partition, OperationContext context) => Change(context, s =>
    {
        var c = s.CloneOf(partition);
        if (c is null) return;
        var vg = s.Vg(c.Vg)!;
        context.Logger.LogInformation("Returning altinst_rootvg of {Partition} on {Disks} to old_rootvg", partition, string.Join(", ", vg.Disks));
        if (c.BootedAs is not null && s.Partition(c.BootedAs) is { } sur) RemoveSurrogate(s, sur, context);
        EnsureMounted(s, vg);
        DeleteChildren(MirrorDir(Mnt(vg.Serial)));
        _tools.Unmount(Mnt(vg.Serial));
        vg.Name = c.AdoptedFrom ?? "old_rootvg";
        vg.Role = nameof(VolumeGroupRole.OldRoot);
        vg.Partition = partition;
        s.Clones.Remove(c);
    });
}
