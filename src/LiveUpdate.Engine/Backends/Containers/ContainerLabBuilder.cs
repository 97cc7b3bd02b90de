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

/// <summary>What a new Linux lab holds.</summary>
public sealed record ContainerLabOptions
{
    public int PartitionCount { get; init; } = 1;
    public string OsLevel { get; init; } = "7300-02-01";
    /// <summary>Size of every disk file (sparse); btrfs needs about 120 MB at least.</summary>
    public long DiskSizeMB { get; init; } = 384;
    /// <summary>Free disks besides one root disk per partition.</summary>
    public int FreeDisks { get; init; } = 3;
}

/// <summary>
/// Creates a Linux lab in a folder: loop-device disks (sparse files in <c>disks/</c>), a small busybox root file
/// system at an OS level on each partition's root volume group, partitions as system containers on a bridge in a
/// network namespace of the lab's own, the sample application <c>recordd</c> (a network service that appends numbered
/// records and acknowledges each one after fsync), and sample update bundles to the next levels.
/// </summary>
public static class ContainerLabBuilder
{
    public const string SamplePort = "7000";

    /// <summary>The busybox applets the partitions' root file system links.</summary>
    private static readonly string[] Applets =
    {
        "sh", "ash", "cat", "chmod", "cp", "cut", "date", "df", "dirname", "basename", "du", "echo", "env", "false", "find", "grep", "gunzip",
        "gzip", "head", "hostname", "id", "ip", "kill", "ln", "ls", "mkdir", "mktemp", "mount", "mv", "nc", "printf", "ps", "pwd", "readlink",
        "rm", "rmdir", "sed", "setsid", "sleep", "sort", "stat", "sync", "tail", "tar", "test", "[", "touch", "tr", "true", "umount", "uname",
        "uniq", "usleep", "vi", "wc", "xargs", "awk", "which", "arping", "ping", "free", "uptime", "pidof", "expr", "seq", "less", "more", "dd",
    };

    public static ContainerBackend Create(string path, ContainerLabOptions options, OperationContext context)
    {
        var root = Path.GetFullPath(path);
        Prerequisites.Check(ContainerBackend.Tools, lab: true);
        if (File.Exists(root))
            throw new LiveUpdateException("LabPathIsFile", ErrorKind.InvalidArgument, $"'{path}' is a file, not a folder.", path);
        if (HostDescription.Exists(root))
            throw new LiveUpdateException("LabExists", ErrorKind.ResourceExists, $"'{path}' already holds a lab; connect to it with Connect-LiveUpdateSystem or remove it first.", path);
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
            throw new LiveUpdateException("LabPathNotEmpty", ErrorKind.ResourceExists, $"'{path}' is not empty; a lab needs a new or empty folder.", path);
        if (options.PartitionCount is < 1 or > 50)
            throw new LiveUpdateException("PartitionCountInvalid", ErrorKind.InvalidArgument, "A Linux lab holds 1 to 50 partitions.", options.PartitionCount);
        if (!Model.OsLevel.TryParse(options.OsLevel, out var level))
            throw new LiveUpdateException("OsLevelInvalid", ErrorKind.InvalidArgument, $"'{options.OsLevel}' is not an OS level such as 7300-02-01.", options.OsLevel);
        if (options.DiskSizeMB < 128)
            throw new LiveUpdateException("DiskSizeInvalid", ErrorKind.InvalidArgument, "A Linux lab disk holds a btrfs file system and needs at least 128 MB.", options.DiskSizeMB);

        Folders.RequireSafe(root, "a lab folder");
        var id = LabScaffold.NewId();
        var description = Describe(id, options);
        Folders.CreateOwnerOnly(root);
        var tools = new HostTools { Log = context.Logger, Cancellation = context.Cancellation };
        try
        {
            Folders.CreateOwnerOnly(Path.Combine(root, "disks"));
            foreach (var d in description.Disks!)
            {
                LabScaffold.CreateDiskFile(Path.Combine(root, d.File!), options.DiskSizeMB);
            }
            context.Logger.LogInformation("Lab {Id}: {Disks} disks of {Size} MB in {Path}", id, description.Disks!.Count, options.DiskSizeMB, root);
            foreach (var p in description.Partitions!)
            {
                var disk = description.Disks!.First(d => d.Name == p.RootDisks![0]);
                var device = tools.AttachLoop(Path.Combine(root, disk.File!));
                tools.MakeBtrfs(new[] { device }, $"lu.{id}.root.{p.Name}");
                tools.SharedMountRoot(Path.Combine(root, "mnt"));
                var mount = Path.Combine(root, "mnt", "build-" + p.Name);
                tools.MountBtrfs(new[] { device }, mount);
                try
                {
                    WriteRootFileSystem(tools, mount, p, description, level!);
                }
                finally
                {
                    tools.Unmount(mount);
                    Directory.Delete(mount);
                }
            }
            description.Save(root);
            WriteSampleBundles(Path.Combine(root, "updates"), level!, tools);
            return ContainerBackend.Open(root, force: false, context);
        }
        catch
        {
            context.Logger.LogWarning("Creating the lab failed; removing what it had made");
            try
            {
                if (HostDescription.Exists(root)) ContainerBackend.OpenForRemoval(root).RemoveLab(context);
                else
                {
                    tools.Unmount(Path.Combine(root, "mnt"));
                    foreach (var d in description.Disks!)
                    {
                        var loop = tools.LoopOf(Path.Combine(root, d.File!));
                        if (loop is not null) tools.DetachLoop(loop);
                    }
                    Directory.Delete(root, recursive: true);
                }
            }
            catch (Exception cleanup) when (cleanup is LiveUpdateException or IOException)
            {
                context.Logger.LogWarning("Cleaning up the failed lab left something behind: {Reason}", cleanup.Message);
            }
            throw;
        }
    }

    internal static HostDescription Describe(string id, ContainerLabOptions options)
    {
        var d = new HostDescription
        {
            Name = "linuxlab-" + id,
            Id = id,
            Lab = true,
            Network = new HostDescription.NetworkDescription
            {
                Namespace = "lu" + id, CreateNamespace = true, Bridge = "lubr0", CreateBridge = true, Gateway = "198.18.0.254/24", SurrogateAddressFrom = 100,
            },
            Disks = new List<HostDescription.DiskDescription>(),
            Partitions = new List<HostDescription.PartitionDescription>(),
            Applications = new List<HostDescription.ApplicationDescription>(),
        };
        var count = options.PartitionCount + options.FreeDisks;
        for (var i = 0; i < count; i++)
            d.Disks.Add(new HostDescription.DiskDescription { Name = "hdisk" + i, File = $"disks/hdisk{i}.img" });
        for (var i = 1; i <= options.PartitionCount; i++)
        {
            var name = "lpar" + i;
            d.Partitions.Add(new HostDescription.PartitionDescription
            {
                Name = name, Id = i, HostName = name, Address = $"198.18.0.{i}/24", RootDisks = new List<string> { "hdisk" + (i - 1) },
                Processors = 0.5, MemoryMB = 256,
                LogicalVolumes = new List<HostDescription.LogicalVolumeDescription>
                {
                    new() { Name = "root", MountPoint = "/" },
                    new() { Name = "srv", MountPoint = "/srv" },
                },
            });
            var service = $"198.18.0.{10 + i}";
            d.Applications.Add(new HostDescription.ApplicationDescription
            {
                Name = i == 1 ? "recordd" : "recordd-" + name, Partition = name,
                Start = new List<string> { "/opt/recordd/recordd-ctl", "start" },
                Stop = new HostDescription.StopDescription { Signal = "TERM", PidFile = "/run/recordd.pid", TimeoutSeconds = 10 },
                Health = new List<string> { "/opt/recordd/recordd-ctl", "health", service },
                HealthTimeoutSeconds = 30, DataPath = "/srv/recordd", RecordsFile = "/srv/recordd/records.log",
                ServiceAddress = service + "/24", Port = int.Parse(SamplePort),
            });
        }
        return d;
    }

    private static void WriteRootFileSystem(HostTools tools, string mount, HostDescription.PartitionDescription p, HostDescription d, OsLevel level)
    {
        var root = Path.Combine(mount, "root");
        tools.CreateSubvolume(root);
        foreach (var dir in new[] { "bin", "sbin", "usr/bin", "usr/sbin", "usr/lib", "etc/liveupdate", "proc", "sys", "dev", "run", "tmp", "var/log", "var/lib/dpkg/info", "var/lib/dpkg/updates", "root", "opt/recordd", "srv" })
            Directory.CreateDirectory(Path.Combine(root, dir));
        File.Copy(Prerequisites.Find("busybox")!, Path.Combine(root, "bin/busybox"));
        foreach (var applet in Applets) File.CreateSymbolicLink(Path.Combine(root, "bin", applet), "busybox");
        // The partition's own dpkg (busybox's), which installs the Debian packages of an update inside the clone.
        File.CreateSymbolicLink(Path.Combine(root, "usr/bin/dpkg"), "../../bin/busybox");
        tools.CreateSubvolume(Path.Combine(root, "srv"));
        Directory.CreateDirectory(Path.Combine(root, "srv/recordd"));
        File.WriteAllText(Path.Combine(root, "srv/recordd/records.log"), "");
        LabScaffold.Write(root, "usr/lib/os-release", "NAME=\"LiveUpdate Lab Linux\"\nID=liveupdate-lab\nPRETTY_NAME=\"LiveUpdate Lab Linux (busybox)\"\n");
        File.CreateSymbolicLink(Path.Combine(root, "etc/os-release"), "../usr/lib/os-release");
        LabScaffold.Write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        LabScaffold.Write(root, "etc/group", "root:x:0:\n");
        LabScaffold.Write(root, "etc/hostname", p.HostName + "\n");
        LabScaffold.Write(root, "etc/hosts", $"127.0.0.1 localhost\n{HostDescription.Host(p.Address!)} {p.HostName}\n");
        LabScaffold.Write(root, "etc/motd", $"{p.Name}: a LiveUpdate lab partition\n");
        LabScaffold.Write(root, ContainerBackend.OsLevelFile, level + "\n");
        LabScaffold.Write(root, ContainerBackend.PackagesFile, $"busybox 1.35 base\nrecordd 1 base\n");
        LabScaffold.Write(root, "var/lib/dpkg/status", "");
        LabScaffold.Write(root, "var/lib/dpkg/available", "");
        LabScaffold.Write(root, "opt/recordd/VERSION", "1\n");
        LabScaffold.Write(root, "sbin/init", InitScript, executable: true);
        LabScaffold.Write(root, "opt/recordd/recordd-ctl", LabScaffold.ControlScript, executable: true);
        LabScaffold.Write(root, "opt/recordd/recordd-handler", LabScaffold.HandlerScript, executable: true);
    }

    /// <summary>PID 1 of a lab partition: brings up loopback, says it has booted, and waits for SIGTERM.</summary>
    internal const string InitScript = """
        #!/bin/sh
        # PID 1 of a LiveUpdate lab partition.
        export PATH=/usr/sbin:/usr/bin:/sbin:/bin
        ip link set lo up 2>/dev/null
        [ -r /etc/hostname ] && hostname "$(cat /etc/hostname)"
        trap 'exit 0' TERM INT
        : > /run/liveupdate.booted
        while :; do sleep 3600 & wait $!; done
        """;

    /// <summary>
    /// Writes the sample bundles: a service pack to the next level (an overlay that brings recordd version 2 and a
    /// Debian package whose maintainer script runs in the clone), and a technology level that requires it.
    /// </summary>
    public static IReadOnlyList<string> WriteSampleBundles(string folder, OsLevel level) => WriteSampleBundles(folder, level, new HostTools());

    internal static IReadOnlyList<string> WriteSampleBundles(string folder, OsLevel level, HostTools tools)
    {
        Directory.CreateDirectory(folder);
        var sp = new OsLevel(level.Release, level.TechnologyLevel, level.ServicePack + 1);
        var tl = new OsLevel(level.Release, level.TechnologyLevel + 1, 1);
        // Made as New-LiveUpdateBundle makes bundles, so the labs show what the module verifies.
        var first = BundleBuilder.Create(Path.Combine(folder, sp.ToString()), new BundleDefinition($"Lab Linux {sp} service pack", sp, level, true, new[]
        {
            new BundlePayload("recordd", "2", "overlay", "recordd-2.tar.gz", LabScaffold.Overlay(new Dictionary<string, string>
            {
                ["opt/recordd/VERSION"] = "2\n",
                ["etc/motd"] = $"A LiveUpdate lab partition at {sp}\n",
            })),
            new BundlePayload("lab-base", sp.ToString(), "deb", $"lab-base_{sp}_all.deb", LabScaffold.Deb(tools, "lab-base", sp.ToString().Replace('-', '.'), sp)),
        }));
        var second = BundleBuilder.Create(Path.Combine(folder, tl.ToString()), new BundleDefinition($"Lab Linux {tl} technology level", tl, sp, true, new[]
        {
            new BundlePayload("recordd", "3", "overlay", "recordd-3.tar.gz", LabScaffold.Overlay(new Dictionary<string, string>
            {
                ["opt/recordd/VERSION"] = "3\n",
                ["etc/motd"] = $"A LiveUpdate lab partition at {tl}\n",
            })),
        }));
        return new[] { first, second };
    }
}
