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
            var binds = new[] { "proc", "sys", "dev", "dev/pts" };
            try
            {
                foreach (var b in binds) _tools.Bind("/" + b, Path.Combine(root, b));
                var done = 0;
                foreach (var package in bundle.Packages)
                {
                    context.Logger.LogInformation("Installing {Package} {Version} ({Kind}) into altinst_rootvg of {Partition}", package.Name, package.Version, package.Kind, partition);
                    if (package.Kind == "overlay") UnpackOverlay(root, bundle.PackagePath(package), package);
                    else InstallDeb(root, bundle.PackagePath(package), package);
                    if (++done == (bundle.Packages.Count + 1) / 2) Fault(Steps.Install, FaultTiming.During);
                    context.Report("Installing " + bundle.Name, package.Name, 100 * done / bundle.Packages.Count);
                }
            }
            finally
            {
                foreach (var b in binds.Reverse())
                {
                    var target = Path.Combine(root, b);
                    if (HostTools.IsMountPoint(target)) _tools.Unmount(target);
                }
            }
            var packages = Path.Combine(root, PackagesFile);
            Directory.CreateDirectory(Path.GetDirectoryName(packages)!);
            var lines = File.Exists(packages) ? File.ReadAllLines(packages).Where(l => l.Length > 0).ToDictionary(l => l.Split(' ')[0], l => l) : new Dictionary<string, string>();
            foreach (var package in bundle.Packages) lines[package.Name] = $"{package.Name} {package.Version} {package.Kind}";
            File.WriteAllText(packages, string.Join("\n", lines.Values.OrderBy(l => l, StringComparer.Ordinal)) + "\n");
            StateFile.WriteAtomically(Path.Combine(root, OsLevelFile), bundle.TargetLevel + "\n");
            vg.OsLevel = bundle.TargetLevel.ToString();
            c.State = nameof(CloneState.Updated);
            if (!c.AppliedBundles.Contains(bundle.Name)) c.AppliedBundles.Add(bundle.Name);
            Refresh(s, partition, context);
            return ToModel(s, c);
        });
        Fault(Steps.Install, FaultTiming.After);
        return clone;
    }

    /// <summary>Unpacks an overlay archive with the clone's own tar inside a chroot, so no path in it can reach outside the clone.</summary>
    private void UnpackOverlay(string root, string archive, BundlePackage package)
    {
        var tar = new[] { "bin/tar", "usr/bin/tar" }.FirstOrDefault(t => File.Exists(Path.Combine(root, t)) || IsLink(Path.Combine(root, t)));
        if (tar is null)
            throw new LiveUpdateException("OverlayNeedsTar", ErrorKind.NotInstalled, $"The clone has no tar to unpack the overlay {package.Name} inside its own root.", package.Name);
        var gz = false;
        using (var f = File.OpenRead(archive)) gz = f.ReadByte() == 0x1f && f.ReadByte() == 0x8b;
        var args = new List<string> { root, "/" + tar, "-x", "-f", "-", "-C", "/" };
        if (gz) args.Insert(3, "-z");
        _tools.RunWithInput(archive, "chroot", args.ToArray());
    }

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    /// <summary>Installs a Debian package into the clone: with the clone's own dpkg in a chroot where it has one, else the host's dpkg with --root.</summary>
    private void InstallDeb(string root, string deb, BundlePackage package)
    {
        var admin = Path.Combine(root, "var/lib/dpkg");
        foreach (var dir in new[] { admin, Path.Combine(admin, "info"), Path.Combine(admin, "updates"), Path.Combine(root, "var/log"), Path.Combine(root, "tmp") }) Directory.CreateDirectory(dir);
        foreach (var file in new[] { "status", "available" })
            if (!File.Exists(Path.Combine(admin, file))) File.WriteAllText(Path.Combine(admin, file), "");
        if (File.Exists(Path.Combine(root, "usr/bin/dpkg")))
        {
            var inside = "/tmp/liveupdate-" + Path.GetFileName(deb);
            File.Copy(deb, Under(root, inside), overwrite: true);
            try
            {
                _tools.RunFor($"Installing {package.Name} in the clone", "chroot", root, "/usr/bin/dpkg", "--install", inside);
            }
            finally
            {
                File.Delete(Under(root, inside));
            }
            return;
        }
        _tools.RunFor($"Installing {package.Name} into the clone", "dpkg", "--root=" + root, "--log=" + Path.Combine(root, "var/log/dpkg.log"), "--install", deb);
    }

    public RootVgClone AdoptOldRootVg(string partition, OperationContext context) => Change(context, s =>
    {
        var existing = s.CloneOf(partition);
        if (existing is not null) return ToModel(s, existing);
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        var old = s.Vg(partition, "old_rootvg")!;
        EnsureMounted(s, old);
        DeleteChildren(MirrorDir(Mnt(old.Serial)));
        context.Logger.LogInformation("Turning old_rootvg of {Partition} on {Disks} ({Level}) into its altinst_rootvg", partition, string.Join(", ", old.Disks), ReadLevel(old));
        old.Name = "altinst_rootvg";
        old.Role = nameof(VolumeGroupRole.AltInstRoot);
        var clone = new CloneRecord
        {
            Partition = partition, Vg = old.Serial, SourceLevel = ReadLevel(root)!, State = nameof(CloneState.Updated),
            AppliedBundles = { "old_rootvg at " + ReadLevel(old) }, Created = DateTimeOffset.Now,
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
        vg.Name = "old_rootvg";
        vg.Role = nameof(VolumeGroupRole.OldRoot);
        vg.Partition = partition;
        s.Clones.Remove(c);
    });
}
