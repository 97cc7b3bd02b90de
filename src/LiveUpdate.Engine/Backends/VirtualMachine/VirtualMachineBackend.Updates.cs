using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

public sealed partial class VirtualMachineBackend
{
    /// <summary>
    /// Installs a bundle into the clone's boot disk offline: every package is read and checked first (a kernel
    /// package that cannot be read changes nothing), then one debugfs run writes the files, the kernel's boot files
    /// (its vmlinuz and a new initramfs) and the package list and OS level. The clone is never mounted on the host.
    /// </summary>
    public RootVgClone InstallUpdate(string partition, UpdateBundle bundle, OperationContext context)
    {
        var clone = Change(context, s =>
        {
            var c = s.CloneOf(partition)!;
            var vg = s.Vg(c.Vg)!;
            PackageKinds.Require(bundle, Kind, "overlays (tar, tar.gz) and Debian packages", "overlay", "deb");
            if (c.BootedAs is not null)
                throw new LiveUpdateException("CloneInUse", ErrorKind.InvalidOperation, $"The clone of {partition} runs as {c.BootedAs}; an update goes into a clone that does not run.", partition);
            Fault(Steps.Install, FaultTiming.Before);
            var scratch = Path.Combine(Scratch, "install-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            VmFiles.PrivateFolder(scratch);
            try
            {
                var edits = new List<ImageEdit>();
                string? kernel = null;
                var done = 0;
                foreach (var package in bundle.Packages)
                {
                    context.Logger.LogInformation("Reading {Package} {Version} ({Kind}) for altinst_rootvg of {Partition}", package.Name, package.Version, package.Kind, partition);
                    var dir = Path.Combine(scratch, "p" + done);
                    if (package.Kind == "overlay") edits.AddRange(ReadOverlay(bundle.PackagePath(package), dir));
                    else
                    {
                        var k = GuestKernels.Read(bundle.PackagePath(package), dir, context.Logger, requireKernel: package.Name.StartsWith("linux-image-", StringComparison.Ordinal));
                        edits.AddRange(k.Folders.Select(f => (ImageEdit)new ImageEdit.Folder(f)));
                        edits.AddRange(k.Files.Select(f => (ImageEdit)new ImageEdit.File(f, Path.Combine(dir, f.TrimStart('/')))));
                        edits.AddRange(k.Links.Select(l => (ImageEdit)new ImageEdit.Link(l.Path, l.Target)));
                        if (k.Version is not null)
                        {
                            var initrd = Path.Combine(scratch, "initrd.img-" + k.Version);
                            GuestKernels.BuildInitramfs(k, initrd, context.Logger);
                            edits.Add(new ImageEdit.File(k.Initrd, initrd));
                            kernel = k.Version;
                        }
                    }
                    context.Report("Installing " + bundle.Name, package.Name, 50 * ++done / bundle.Packages.Count);
                }
                var image = new GuestImage(DiskPath(vg.Disks[0])) { Log = context.Logger };
                var listed = (image.ReadText(PackagesFile) ?? "").Split('\n').Where(l => l.Length > 0).ToDictionary(l => l.Split(' ')[0], l => l);
                foreach (var package in bundle.Packages) listed[package.Name] = $"{package.Name} {package.Version} {package.Kind}";
                var packages = Path.Combine(scratch, "packages");
                File.WriteAllText(packages, string.Join("\n", listed.Values.OrderBy(l => l, StringComparer.Ordinal)) + "\n");
                var level = Path.Combine(scratch, "oslevel");
                File.WriteAllText(level, bundle.TargetLevel + "\n");
                edits.Add(new ImageEdit.Folder("/etc"));
                edits.Add(new ImageEdit.Folder("/etc/liveupdate"));
                edits.Add(new ImageEdit.File(PackagesFile, packages));
                Fault(Steps.Install, FaultTiming.During);
                context.Logger.LogInformation("Writing {Count} changes into {Disk} offline{Kernel}", edits.Count, vg.Disks[0], kernel is null ? "" : $" (kernel {kernel} and its boot files)");
                // The OS level goes last: a clone whose edit broke off never claims the new level.
                edits.Add(new ImageEdit.File(OsLevelFile, level));
                image.Apply(Order(edits), scratch);
                vg.OsLevel = bundle.TargetLevel.ToString();
                vg.Kernel = NewestKernel(image) ?? vg.Kernel;
            }
            finally
            {
                Directory.Delete(scratch, recursive: true);
            }
            c.State = nameof(CloneState.Updated);
            if (!c.AppliedBundles.Contains(bundle.Name)) c.AppliedBundles.Add(bundle.Name);
            context.Report("Installing " + bundle.Name, "done", 100);
            return ToModel(s, c);
        });
        Fault(Steps.Install, FaultTiming.After);
        return clone;
    }

    /// <summary>Folders first (parents before children), then files and links in the order given.</summary>
    private static IReadOnlyList<ImageEdit> Order(IEnumerable<ImageEdit> edits)
    {
        var list = edits.ToList();
        var folders = list.OfType<ImageEdit.Folder>().Select(f => f.Path).Distinct().OrderBy(p => p.Count(ch => ch == '/')).ThenBy(p => p, StringComparer.Ordinal)
            .Select(p => (ImageEdit)new ImageEdit.Folder(p));
        return folders.Concat(list.Where(e => e is not ImageEdit.Folder)).ToList();
    }

    /// <summary>An overlay archive's folders and regular files, read into a private folder (anything else in it is refused).</summary>
    private static IEnumerable<ImageEdit> ReadOverlay(string archive, string dir)
    {
        Directory.CreateDirectory(dir);
        var edits = new List<ImageEdit>();
        using var file = File.OpenRead(archive);
        Stream stream = archive.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) || archive.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var tar = new TarReader(stream);
        TarEntry? e;
        var n = 0;
        while ((e = tar.GetNextEntry()) is not null)
        {
            var rel = "/" + e.Name.TrimStart('.', '/').TrimEnd('/');
            if (rel == "/") continue;
            if (!GuestImage.IsSafePath(rel))
                throw new LiveUpdateException("OverlayEntryUnsafe", ErrorKind.InvalidData, $"Overlay {Path.GetFileName(archive)} holds an entry with an unsafe name.", archive);
            var parts = rel.Split('/', StringSplitOptions.RemoveEmptyEntries);
            for (var i = 1; i < parts.Length; i++) edits.Add(new ImageEdit.Folder("/" + string.Join("/", parts.Take(i))));
            if (e.EntryType == TarEntryType.Directory) edits.Add(new ImageEdit.Folder(rel));
            else if (e.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
            {
                var host = Path.Combine(dir, "f" + n++);
                using (var f = new FileStream(host, FileMode.CreateNew, FileAccess.Write)) e.DataStream?.CopyTo(f);
                VmFiles.Mode(host, e.Mode & (UnixFileMode)0x1ED);
                edits.Add(new ImageEdit.File(rel, host));
            }
            else throw new LiveUpdateException("OverlayEntryUnsafe", ErrorKind.InvalidData, $"Overlay {Path.GetFileName(archive)} holds a {e.EntryType} entry; overlays carry folders and regular files only.", archive);
        }
        return edits;
    }

    public RootVgClone AdoptOldRootVg(string partition, OperationContext context) => Change(context, s =>
    {
        var existing = s.CloneOf(partition);
        if (existing is not null) return ToModel(s, existing);
        var p = s.Partition(partition)!;
        var root = s.Vg(p.RootVg)!;
        var old = s.Vg(partition, "old_rootvg")!;
        context.Logger.LogInformation("Turning old_rootvg of {Partition} on {Disks} ({Level}) into its altinst_rootvg", partition, string.Join(", ", old.Disks), old.OsLevel);
        old.Name = "altinst_rootvg";
        old.Role = nameof(VolumeGroupRole.AltInstRoot);
        var clone = new CloneRecord
        {
            Partition = partition, Vg = old.Serial, SourceLevel = root.OsLevel!, State = nameof(CloneState.Updated),
            AppliedBundles = { "old_rootvg at " + old.OsLevel }, Created = DateTimeOffset.Now,
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
        vg.Name = "old_rootvg";
        vg.Role = nameof(VolumeGroupRole.OldRoot);
        vg.Partition = partition;
        s.Clones.Remove(c);
    });
}
