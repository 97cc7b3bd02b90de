using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>What a new VM lab holds.</summary>
public sealed record VmLabOptions
{
    public string OsLevel { get; init; } = "7300-02-01";
    /// <summary>Size of every disk image (sparse): the boot disk holds busybox, the guest agent and up to two kernels.</summary>
    public long DiskSizeMB { get; init; } = 192;
    public long MemoryMB { get; init; } = 128;
    /// <summary>Free disks besides lpar1's boot and data disks (a live update takes two: the clone and the mirror).</summary>
    public int FreeDisks { get; init; } = 4;
    /// <summary>Service packs after the kernel update in the chain of sample bundles (each the next level's).</summary>
    public int FollowingBundles { get; init; } = 24;
}

/// <summary>
/// Creates a VM lab in a folder: sparse disk images, lpar1 as a libvirt domain that boots Debian's older cloud kernel
/// directly from a small root (busybox, the guest agent with its libraries, recordd on a data disk), a network
/// inside the namespace of the lab's libvirt daemon, and sample bundles: 7300-02-02 brings the newer cloud kernel and
/// recordd 2, then a chain of service packs.
/// </summary>
public static class VmLabBuilder
{
    public static VirtualMachineBackend Create(string path, VmLabOptions options, OperationContext context)
    {
        var root = Path.GetFullPath(path);
        VmPrerequisites.Check(lab: true);
        if (File.Exists(root)) throw new LiveUpdateException("LabPathIsFile", ErrorKind.InvalidArgument, $"'{path}' is a file, not a folder.", path);
        if (VmHostDescription.Exists(root)) throw new LiveUpdateException("LabExists", ErrorKind.ResourceExists, $"'{path}' already holds a lab; connect to it or remove it first.", path);
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
            throw new LiveUpdateException("LabPathNotEmpty", ErrorKind.ResourceExists, $"'{path}' is not empty; a lab needs a new or empty folder.", path);
        if (!Model.OsLevel.TryParse(options.OsLevel, out var level))
            throw new LiveUpdateException("OsLevelInvalid", ErrorKind.InvalidArgument, $"'{options.OsLevel}' is not an OS level such as 7300-02-01.", options.OsLevel);
        if (options.DiskSizeMB < 160) throw new LiveUpdateException("DiskSizeInvalid", ErrorKind.InvalidArgument, "A VM lab disk holds a root with two kernels and needs at least 160 MB.", options.DiskSizeMB);
        var log = context.Logger;
        var older = GuestKernels.Fetch(GuestKernels.OlderMeta, log);
        var newer = GuestKernels.Fetch(GuestKernels.NewerMeta, log);
        var id = LabScaffold.NewId();
        var d = Describe(id, options);
        VmFiles.PrivateFolder(root);
        var work = Path.Combine(root, "scratch", "build");
        try
        {
            VmFiles.PrivateFolder(Path.Combine(root, "disks"));
            foreach (var disk in d.Disks!) LabScaffold.CreateDiskFile(Path.Combine(root, disk.File!), options.DiskSizeMB);
            var kernel = GuestKernels.Read(older, Path.Combine(work, "kernel"), log);
            var tree = Path.Combine(work, "root");
            WriteRoot(tree, d.Partitions![0], level!, kernel, log);
            GuestImage.Create(Path.Combine(root, d.Disks[0].File!), tree, "lu-root", log);
            var data = Path.Combine(work, "data");
            Directory.CreateDirectory(Path.Combine(data, "recordd"));
            File.WriteAllText(Path.Combine(data, "recordd", "records.log"), "");
            GuestImage.Create(Path.Combine(root, d.Disks[1].File!), data, "lu-data", log);
            ProbeAccelerator(tree, kernel, log);
            WriteSampleBundles(Path.Combine(root, "updates"), level!, newer, options.FollowingBundles);
            d.Save(root);
            Directory.Delete(work, recursive: true);
            DefineLpar1(root, d, options, context);
            return VirtualMachineBackend.Open(root, context);
        }
        catch
        {
            log.LogWarning("Creating the VM lab failed; removing what it had made");
            try
            {
                if (VmHostDescription.Exists(root)) VirtualMachineBackend.OpenForRemoval(root).RemoveLab(context);
                else if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
            }
            catch (Exception cleanup) when (cleanup is LiveUpdateException or IOException)
            {
                log.LogWarning("Cleaning up the failed lab left something behind: {Reason}", cleanup.Message);
            }
            throw;
        }
    }

    internal static VmHostDescription Describe(string id, VmLabOptions options)
    {
        var net = 16 + System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(id))[0] % 200;
        var service = $"198.19.{net}.100";
        var d = new VmHostDescription
        {
            Name = "vmlab-" + id, Id = id, Lab = true, Uri = "qemu:///system", DaemonNamespace = "lu-libvirt", Bridge = "lu" + id, CreateBridge = true,
            Gateway = $"198.19.{net}.254/24", SurrogateAddressFrom = 50, Disks = new(), Partitions = new(), Applications = new(),
        };
        for (var i = 0; i < 2 + options.FreeDisks; i++) d.Disks.Add(new VmHostDescription.DiskDescription { Name = "hdisk" + i, File = $"disks/hdisk{i}.img" });
        d.Partitions.Add(new VmHostDescription.PartitionDescription
        {
            Name = "lpar1", Domain = $"lu{id}-lpar1", Id = 1, HostName = "lpar1", Address = $"198.19.{net}.1/24", RootDisk = "hdisk0",
            DataDisks = new() { "hdisk1" }, DataMountPoints = new() { "/srv" },
        });
        d.Applications.Add(new VmHostDescription.ApplicationDescription
        {
            Name = "recordd", Partition = "lpar1", Start = new() { "/opt/recordd/recordd-ctl", "start" }, Stop = new() { "/opt/recordd/recordd-stop" },
            // No health command: the backend connects to the service's port from the lab's namespace, which starts
            // no process in the guest (the blackout waits for that check).
            HealthTimeoutSeconds = 30, DataDisk = "hdisk1", DataPath = "/srv/recordd",
            RecordsFile = "/srv/recordd/records.log", ServiceAddress = service + "/32", Port = 7000,
        });
        return d;
    }

    private static void WriteRoot(string tree, VmHostDescription.PartitionDescription p, OsLevel level, KernelPackage kernel, ILogger log)
    {
        foreach (var dir in new[] { "bin", "sbin", "usr/bin", "usr/sbin", "lib", "lib64", "etc/liveupdate", "proc", "sys", "dev", "run", "tmp", "var/log", "root", "opt/recordd", "srv", "boot" })
            Directory.CreateDirectory(Path.Combine(tree, dir));
        File.Copy(VmPrerequisites.Tool("busybox"), Path.Combine(tree, "bin/busybox"));
        VmFiles.Mode(Path.Combine(tree, "bin/busybox"), (UnixFileMode)0x1ED);
        var applets = new Process { StartInfo = { FileName = VmPrerequisites.Tool("busybox"), ArgumentList = { "--list" }, RedirectStandardOutput = true } };
        applets.Start();
        foreach (var a in applets.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries))
            if (Regex.IsMatch(a, "^[a-z0-9_.\\[-]+$") && a != "busybox" && !File.Exists(Path.Combine(tree, "bin", a))) File.CreateSymbolicLink(Path.Combine(tree, "bin", a), "busybox");
        applets.WaitForExit();
        // The guest agent and the libraries its loader needs.
        var ga = VmPrerequisites.Tool("qemu-ga");
        File.Copy(ga, Path.Combine(tree, "usr/sbin/qemu-ga"));
        var ldd = new CommandRunner().Run(VmPrerequisites.Tool("ldd"), new[] { ga }, log).StandardOutput;
        foreach (Match m in Regex.Matches(ldd, @"(/[^\s()]+\.so[^\s()]*)"))
        {
            var lib = m.Groups[1].Value;
            var dest = Path.Combine(tree, lib.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            if (!File.Exists(dest)) File.Copy(new FileInfo(lib).ResolveLinkTarget(true)?.FullName ?? lib, dest);
        }
        File.Copy(Path.Combine(kernel.Root, kernel.Vmlinuz.TrimStart('/')), Path.Combine(tree, kernel.Vmlinuz.TrimStart('/')));
        GuestKernels.BuildInitramfs(kernel, Path.Combine(tree, kernel.Initrd.TrimStart('/')), log);
        LabScaffold.Write(tree, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        LabScaffold.Write(tree, "etc/group", "root:x:0:\n");
        LabScaffold.Write(tree, "etc/hostname", p.HostName + "\n");
        LabScaffold.Write(tree, "etc/hosts", $"127.0.0.1 localhost\n{Cidr.Host(p.Address!)} {p.HostName}\n");
        LabScaffold.Write(tree, VirtualMachineBackend.OsLevelFile.TrimStart('/'), level + "\n");
        LabScaffold.Write(tree, VirtualMachineBackend.PackagesFile.TrimStart('/'), $"busybox 1.35 base\nqemu-guest-agent 7.2 base\nrecordd 1 base\n{Path.GetFileName(kernel.Vmlinuz).Replace("vmlinuz-", "linux-image-")} {kernel.Version} deb\n");
        LabScaffold.Write(tree, "opt/recordd/VERSION", "1\n");
        LabScaffold.Write(tree, "sbin/init", GuestScripts.Init, executable: true);
        LabScaffold.Write(tree, VirtualMachineBackend.MountHelper.TrimStart('/'), GuestScripts.Mount, executable: true);
        LabScaffold.Write(tree, VirtualMachineBackend.UmountHelper.TrimStart('/'), GuestScripts.Umount, executable: true);
        LabScaffold.Write(tree, VirtualMachineBackend.MoveOutHelper.TrimStart('/'), GuestScripts.MoveOut, executable: true);
        LabScaffold.Write(tree, VirtualMachineBackend.MoveInHelper.TrimStart('/'), GuestScripts.MoveIn, executable: true);
        LabScaffold.Write(tree, "opt/recordd/recordd-ctl", LabScaffold.ControlScript, executable: true);
        LabScaffold.Write(tree, "opt/recordd/recordd-handler", LabScaffold.HandlerScript, executable: true);
        LabScaffold.Write(tree, "opt/recordd/recordd-stop", GuestScripts.RecorddStop, executable: true);
    }

    /// <summary>Whether KVM works here: once per machine, a guest with KVM must reach user space within 20 s (on some machines it hangs at boot).</summary>
    private static void ProbeAccelerator(string tree, KernelPackage kernel, ILogger log)
    {
        if (File.Exists(VmAccelerator.CacheFile)) return;
        var verdict = "tcg";
        if (File.Exists("/dev/kvm"))
        {
            var psi = new ProcessStartInfo(VmPrerequisites.Tool("qemu-system-x86_64")) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            foreach (var a in new[] { "-accel", "kvm", "-m", "96", "-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio", "-kernel", Path.Combine(tree, kernel.Vmlinuz.TrimStart('/')),
                         "-initrd", Path.Combine(tree, kernel.Initrd.TrimStart('/')), "-append", "console=ttyS0 rdinit=/probe" })
                psi.ArgumentList.Add(a);
            using var qemu = Process.Start(psi)!;
            var output = qemu.StandardOutput.ReadToEndAsync();
            if (!qemu.WaitForExit(20000)) qemu.Kill(true);
            qemu.WaitForExit();
            if (output.Wait(2000) && output.Result.Contains("LIVEUPDATE-PROBE-OK", StringComparison.Ordinal)) verdict = "kvm";
        }
        log.LogInformation("Guests run with {Accelerator} on this machine (probed once; {Cache})", verdict.ToUpperInvariant(), VmAccelerator.CacheFile);
        File.WriteAllText(VmAccelerator.CacheFile, verdict + "\n");
    }

    private static void DefineLpar1(string root, VmHostDescription d, VmLabOptions options, OperationContext context)
    {
        var p = d.Partitions![0];
        // Where no daemon answers, the lab starts one and records it first, so that removing the lab stops it.
        var store = new HostStore<VmState>(root, VirtualMachineBackend.StateFileName, VirtualMachineBackend.StateHeader);
        LibvirtConnection c;
        using (store.Lock(TimeSpan.FromSeconds(30)))
        {
            var s = store.Load();
            c = VmDaemon.Connect(d, true, r => { s.Daemon = r; store.Save(s); }, context.Logger);
            store.Save(s);
        }
        using var _ = c;
        var image = new GuestImage(Path.Combine(root, d.Disks![0].File!)) { Log = context.Logger };
        var kernel = VirtualMachineBackend.NewestKernel(image)!;
        var boot = Path.Combine(root, "boot", p.Domain!);
        VmFiles.PrivateFolder(boot);
        image.Extract("/boot/vmlinuz-" + kernel, Path.Combine(boot, "vmlinuz"), 256L * 1024 * 1024);
        image.Extract("/boot/initrd.img-" + kernel, Path.Combine(boot, "initrd.img"), 256L * 1024 * 1024);
        Directory.CreateDirectory(Path.Combine(root, "console"));
        var xml = DomainXml.Lab(new DomainSpec(p.Domain!, p.Name!, options.MemoryMB, Path.Combine(boot, "vmlinuz"), Path.Combine(boot, "initrd.img"), p.HostName!, p.Address!,
            "52:54:00:" + string.Join(":", System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(d.Id + "/lpar1")).Take(3).Select(b => b.ToString("x2"))),
            Path.Combine(root, d.Disks[0].File!), new[] { (Path.Combine(root, d.Disks[1].File!), VirtualMachineBackend.SerialOf(0), false) }, d.Bridge!,
            Path.Combine(root, "console", p.Domain + ".log"), VmAccelerator.Kvm));
        c.Define(p.Domain!, DomainXml.WithCommandLine(xml, p.HostName!, p.Address!, p.Name!, new[] { VirtualMachineBackend.SerialOf(0) + ":/srv" }));
    }

    /// <summary>The sample bundles: 7300-02-02 with the newer kernel and recordd 2, then service packs each requiring the one before.</summary>
    public static IReadOnlyList<string> WriteSampleBundles(string folder, OsLevel level, string kernelDeb, int following)
    {
        Directory.CreateDirectory(folder);
        var list = new List<string>();
        var next = new OsLevel(level.Release, level.TechnologyLevel, level.ServicePack + 1);
        var name = Path.GetFileName(kernelDeb).Split('_')[0];
        var version = Path.GetFileName(kernelDeb).Split('_')[1];
        list.Add(UpdateBundle.Create(Path.Combine(folder, next.ToString()), $"Lab VM {next}: kernel {name.Replace("linux-image-", "")} and recordd 2", next, level, true, new[]
        {
            (name, version, "deb", Path.GetFileName(kernelDeb), File.ReadAllBytes(kernelDeb)),
            ("recordd", "2", "overlay", "recordd-2.tar.gz", LabScaffold.Overlay(new Dictionary<string, string> { ["opt/recordd/VERSION"] = "2\n", ["etc/motd"] = $"A LiveUpdate VM lab partition at {next}\n" })),
        }));
        var prev = next;
        for (var i = 0; i < following; i++)
        {
            var sp = new OsLevel(prev.Release, prev.TechnologyLevel, prev.ServicePack + 1);
            list.Add(UpdateBundle.Create(Path.Combine(folder, sp.ToString()), $"Lab VM {sp} service pack", sp, prev, true, new[]
            {
                ("recordd", (3 + i).ToString(System.Globalization.CultureInfo.InvariantCulture), "overlay", $"recordd-{3 + i}.tar.gz",
                    LabScaffold.Overlay(new Dictionary<string, string> { ["opt/recordd/VERSION"] = $"{3 + i}\n", ["etc/motd"] = $"A LiveUpdate VM lab partition at {sp}\n" })),
            }));
            prev = sp;
        }
        return list;
    }
}
