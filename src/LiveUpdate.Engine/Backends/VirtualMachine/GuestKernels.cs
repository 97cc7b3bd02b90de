using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>A kernel package read into a private folder: its regular files and folders, and its links (never created on the host).</summary>
internal sealed record KernelPackage(string? Version, string Root, IReadOnlyList<string> Folders, IReadOnlyList<string> Files, IReadOnlyList<(string Path, string Target)> Links)
{
    public string Vmlinuz => "/boot/vmlinuz-" + Version;
    public string Initrd => "/boot/initrd.img-" + Version;
}

/// <summary>
/// Debian's kernels for the guests: fetched through their metapackages (the newest served version) into a
/// root-owned cache once per machine, read from the package without unpacking a link on the host, and a small
/// initramfs per kernel (busybox, the virtio modules in dependency order, mount the root, switch_root).
/// </summary>
internal static class GuestKernels
{
    public const string CacheFolder = "/var/cache/liveupdate/kernels";
    /// <summary>lpar1's kernel (bookworm's 6.1 ABI) and the one the sample bundle brings (bookworm-security's 6.12).</summary>
    public const string OlderMeta = "linux-image-cloud-amd64", NewerMeta = "linux-image-6.12-cloud-amd64";
    private static readonly string[] Modules = { "virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_scsi", "sd_mod" };
    private static readonly Regex Version = new(@"^[0-9][A-Za-z0-9.+~-]{0,60}$", RegexOptions.CultureInvariant);
    private static readonly Regex PackageName = new(@"^linux-image-[0-9][a-z0-9.+-]{0,60}$", RegexOptions.CultureInvariant);

    /// <summary>The package a metapackage depends on now (apt-cache depends), e.g. linux-image-6.1.0-57-cloud-amd64.</summary>
    public static string Resolve(string meta, ILogger log)
    {
        var r = new CommandRunner().Probe(VmPrerequisites.Tool("apt-cache"), new[] { "depends", meta }, log);
        var name = r.StandardOutput.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("Depends: linux-image-", StringComparison.Ordinal))
            .Select(l => l.Substring("Depends: ".Length)).FirstOrDefault(PackageName.IsMatch);
        return name ?? throw new LiveUpdateException("KernelNotAvailable", ErrorKind.ObjectNotFound,
            $"Debian's registry serves no kernel for {meta} here (apt-cache depends {meta}); run apt-get update.", meta);
    }

    /// <summary>The cached package of a metapackage's kernel, downloaded once per machine.</summary>
    public static string Fetch(string meta, ILogger log)
    {
        PrepareCache();
        var name = Resolve(meta, log);
        var cached = Cached(name);
        if (cached is not null) return cached;
        log.LogInformation("Downloading {Package} into {Cache}", name, CacheFolder);
        new CommandRunner().Run(VmPrerequisites.Tool("env"), new[] { "-C", CacheFolder, VmPrerequisites.Tool("apt-get"), "download", "-q", name }, log, purpose: "Downloading " + name);
        return Cached(name) ?? throw new LiveUpdateException("KernelNotAvailable", ErrorKind.ObjectNotFound, $"apt-get download {name} left no package in {CacheFolder}.", name);
    }

    private static string? Cached(string name) => Directory.GetFiles(CacheFolder, name + "_*_amd64.deb").OrderBy(f => f, StringComparer.Ordinal).LastOrDefault();

    private static void PrepareCache()
    {
        foreach (var dir in new[] { Path.GetDirectoryName(CacheFolder)!, CacheFolder })
        {
            if (!Directory.Exists(dir)) VmFiles.PrivateFolder(dir);
            var info = new DirectoryInfo(dir);
            if (info.LinkTarget is not null || (info.UnixFileMode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0 || Owner(dir) != 0)
                throw new LiveUpdateException("CacheFolderUnsafe", ErrorKind.PermissionDenied, $"The kernel cache {dir} is a link, not root's or writable by others; it is not trusted.", dir);
        }
    }

    private static int Owner(string path) => int.Parse(new CommandRunner().Run(VmPrerequisites.Tool("stat"), new[] { "-c", "%u", path }).StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Reads a kernel package (dpkg-deb --fsys-tarfile, parsed here) into <paramref name="scratch"/>: folders and
    /// regular files only; links are recorded, not made; anything else is refused. A package that dpkg-deb cannot read
    /// or that holds no kernel is <c>KernelPackageCorrupt</c>.
    /// </summary>
    public static KernelPackage Read(string deb, string scratch, ILogger log, bool requireKernel = true)
    {
        Directory.CreateDirectory(scratch);
        var folders = new List<string>();
        var files = new List<string>();
        var links = new List<(string, string)>();
        var psi = new ProcessStartInfo(VmPrerequisites.Tool("dpkg-deb")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("--fsys-tarfile");
        psi.ArgumentList.Add(deb);
        log.LogDebug("{Command}", CommandRunner.Format(psi.FileName, psi.ArgumentList));
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        try
        {
            using var tar = new TarReader(p.StandardOutput.BaseStream, leaveOpen: true);
            TarEntry? e;
            while ((e = tar.GetNextEntry()) is not null)
            {
                var rel = "/" + e.Name.TrimStart('.', '/').TrimEnd('/');
                if (rel == "/") continue;
                if (!GuestImage.IsSafePath(rel)) throw Corrupt(deb, $"it holds an entry with an unsafe name ({rel.Length} characters)");
                var host = Path.Combine(scratch, rel.TrimStart('/'));
                switch (e.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(host);
                        folders.Add(rel);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                        Directory.CreateDirectory(Path.GetDirectoryName(host)!);
                        using (var f = new FileStream(host, FileMode.CreateNew, FileAccess.Write)) e.DataStream?.CopyTo(f);
                        VmFiles.Mode(host, e.Mode & (UnixFileMode)0x1ED);
                        files.Add(rel);
                        break;
                    case TarEntryType.SymbolicLink:
                        links.Add((rel, e.LinkName));
                        break;
                    case TarEntryType.HardLink:
                        var source = Path.Combine(scratch, e.LinkName.TrimStart('.', '/'));
                        if (!files.Contains("/" + e.LinkName.TrimStart('.', '/'))) throw Corrupt(deb, "a hard link points outside the package");
                        File.Copy(source, host);
                        files.Add(rel);
                        break;
                    default:
                        throw Corrupt(deb, $"it holds a {e.EntryType} entry");
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or IOException)
        {
            throw Corrupt(deb, e.Message);
        }
        finally
        {
            p.StandardOutput.BaseStream.CopyTo(Stream.Null);
            p.WaitForExit();
        }
        if (p.ExitCode != 0) throw Corrupt(deb, "dpkg-deb: " + err.Result.Trim());
        var vmlinuz = files.Where(f => f.StartsWith("/boot/vmlinuz-", StringComparison.Ordinal)).ToList();
        if (vmlinuz.Count == 0 && !requireKernel) return new KernelPackage(null, scratch, folders, files, links);
        if (vmlinuz.Count != 1) throw Corrupt(deb, $"it holds {vmlinuz.Count} kernels in /boot, not one");
        var version = vmlinuz[0].Substring("/boot/vmlinuz-".Length);
        if (!Version.IsMatch(version) || !folders.Contains("/lib/modules/" + version)) throw Corrupt(deb, $"kernel {version} comes without /lib/modules/{version}");
        return new KernelPackage(version, scratch, folders, files, links);
    }

    private static LiveUpdateException Corrupt(string deb, string why) =>
        new("KernelPackageCorrupt", ErrorKind.InvalidData, $"The kernel package {Path.GetFileName(deb)} cannot be installed: {why.TrimEnd('.')}.", deb);

    /// <summary>Writes the initramfs of a kernel read by <see cref="Read"/> to <paramref name="output"/>.</summary>
    public static void BuildInitramfs(KernelPackage k, string output, ILogger log)
    {
        var run = new CommandRunner();
        var version = k.Version ?? throw new ArgumentException("not a kernel package", nameof(k));
        run.Run(VmPrerequisites.Tool("depmod"), new[] { "-b", k.Root, version }, log, purpose: "Ordering the kernel's modules");
        var deps = run.Run(VmPrerequisites.Tool("modprobe"), new[] { "-d", k.Root, "-S", version, "--show-depends", "-a" }.Concat(Modules).ToArray(), log).StandardOutput;
        var cpio = new Cpio();
        cpio.Folder("bin");
        cpio.Folder("dev");
        cpio.Folder("proc");
        cpio.Folder("sys");
        cpio.Folder("newroot");
        cpio.Folder("lib");
        cpio.Folder("lib/modules");
        cpio.File("bin/busybox", File.ReadAllBytes(VmPrerequisites.Tool("busybox")), 0x1ED);
        foreach (var applet in new[] { "sh", "mount", "insmod", "switch_root", "sleep", "cat", "echo", "poweroff", "mkdir" }) cpio.Link("bin/" + applet, "busybox");
        var order = new List<string>();
        foreach (var line in deps.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("insmod ", StringComparison.Ordinal)))
        {
            var module = line.Substring(7).Trim();
            if (!module.StartsWith(k.Root + "/", StringComparison.Ordinal)) continue;
            var name = Path.GetFileName(module);
            if (name.EndsWith(".xz", StringComparison.Ordinal))
            {
                var plain = module.Substring(0, module.Length - 3);
                if (!File.Exists(plain)) run.Run(VmPrerequisites.Tool("xz"), new[] { "-d", "-k", module }, log);
                module = plain;
                name = name.Substring(0, name.Length - 3);
            }
            if (order.Contains(name)) continue;
            order.Add(name);
            cpio.File("lib/modules/" + name, File.ReadAllBytes(module), 0x1A4);
        }
        cpio.File("modules.order", Encoding.ASCII.GetBytes(string.Join("\n", order) + "\n"), 0x1A4);
        cpio.File("init", Encoding.ASCII.GetBytes(GuestScripts.Initramfs), 0x1ED);
        cpio.File("probe", Encoding.ASCII.GetBytes(GuestScripts.Probe), 0x1ED);
        using var f = new FileStream(output, FileMode.Create, FileAccess.Write);
        using var gz = new GZipStream(f, CompressionLevel.Fastest);
        cpio.WriteTo(gz);
    }
}

/// <summary>A "newc" cpio archive, the format the kernel unpacks as an initramfs.</summary>
internal sealed class Cpio
{
    private readonly List<(string Name, int Mode, byte[] Data)> _entries = new();

    public void Folder(string name) => _entries.Add((name, 0x41ED, Array.Empty<byte>()));
    public void File(string name, byte[] data, int permissions) => _entries.Add((name, 0x8000 | permissions, data));
    public void Link(string name, string target) => _entries.Add((name, 0xA1FF, Encoding.ASCII.GetBytes(target)));

    public void WriteTo(Stream s)
    {
        var ino = 1;
        foreach (var (name, mode, data) in _entries) Entry(s, ino++, name, mode, data);
        Entry(s, 0, "TRAILER!!!", 0, Array.Empty<byte>());
    }

    private static void Entry(Stream s, int ino, string name, int mode, byte[] data)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name + "\0");
        var header = "070701" + string.Concat(new[] { ino, mode, 0, 0, (mode & 0x4000) != 0 ? 2 : 1, 0, data.Length, 0, 0, 0, 0, nameBytes.Length, 0 }.Select(v => v.ToString("x8", System.Globalization.CultureInfo.InvariantCulture)));
        var h = Encoding.ASCII.GetBytes(header);
        s.Write(h);
        s.Write(nameBytes);
        Pad(s, h.Length + nameBytes.Length);
        s.Write(data);
        Pad(s, data.Length);
    }

    private static void Pad(Stream s, int length)
    {
        var pad = (4 - length % 4) % 4;
        for (var i = 0; i < pad; i++) s.WriteByte(0);
    }
}
