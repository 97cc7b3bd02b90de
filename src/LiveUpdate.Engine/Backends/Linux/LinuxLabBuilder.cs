using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Microsoft.Extensions.Logging;

namespace LiveUpdate.Engine.Backends.Linux;

/// <summary>What a new Linux lab holds.</summary>
public sealed record LinuxLabOptions
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
public static class LinuxLabBuilder
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

    public static LinuxBackend Create(string path, LinuxLabOptions options, OperationContext context)
    {
        var root = Path.GetFullPath(path);
        Prerequisites.Check(lab: true);
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

        var id = NewId();
        var description = Describe(id, options);
        Directory.CreateDirectory(root);
        var tools = new HostTools { Log = context.Logger, Cancellation = context.Cancellation };
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "disks"));
            foreach (var d in description.Disks!)
            {
                using var f = new FileStream(Path.Combine(root, d.File!), FileMode.CreateNew, FileAccess.Write);
                f.SetLength(options.DiskSizeMB * 1024 * 1024);
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
            return LinuxBackend.Open(root, force: false, context);
        }
        catch
        {
            context.Logger.LogWarning("Creating the lab failed; removing what it had made");
            try
            {
                if (HostDescription.Exists(root)) LinuxBackend.OpenForRemoval(root).RemoveLab(context);
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

    private static string NewId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        var bytes = RandomNumberGenerator.GetBytes(6);
        return new string(bytes.Select(b => alphabet[b % alphabet.Length]).ToArray());
    }

    internal static HostDescription Describe(string id, LinuxLabOptions options)
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

    private static void Write(string root, string relative, string text, bool executable = false)
    {
        var file = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, text.Replace("\r\n", "\n"));
        if (executable && !OperatingSystem.IsWindows()) File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    private static void WriteRootFileSystem(HostTools tools, string mount, HostDescription.PartitionDescription p, HostDescription d, OsLevel level)
    {
        var root = Path.Combine(mount, "root");
        tools.CreateSubvolume(root);
        foreach (var dir in new[] { "bin", "sbin", "usr/bin", "usr/sbin", "usr/lib", "etc/liveupdate", "proc", "sys", "dev", "run", "tmp", "var/log", "var/lib/dpkg/info", "var/lib/dpkg/updates", "root", "opt/recordd", "srv" })
            Directory.CreateDirectory(Path.Combine(root, dir));
        File.Copy(Prerequisites.Find("busybox")!, Path.Combine(root, "bin/busybox"));
        foreach (var applet in Applets) File.CreateSymbolicLink(Path.Combine(root, "bin", applet), "busybox");
        tools.CreateSubvolume(Path.Combine(root, "srv"));
        Directory.CreateDirectory(Path.Combine(root, "srv/recordd"));
        File.WriteAllText(Path.Combine(root, "srv/recordd/records.log"), "");
        Write(root, "usr/lib/os-release", "NAME=\"LiveUpdate Lab Linux\"\nID=liveupdate-lab\nPRETTY_NAME=\"LiveUpdate Lab Linux (busybox)\"\n");
        File.CreateSymbolicLink(Path.Combine(root, "etc/os-release"), "../usr/lib/os-release");
        Write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        Write(root, "etc/group", "root:x:0:\n");
        Write(root, "etc/hostname", p.HostName + "\n");
        Write(root, "etc/hosts", $"127.0.0.1 localhost\n{HostDescription.Host(p.Address!)} {p.HostName}\n");
        Write(root, "etc/motd", $"{p.Name}: a LiveUpdate lab partition\n");
        Write(root, LinuxBackend.OsLevelFile, level + "\n");
        Write(root, LinuxBackend.PackagesFile, $"busybox 1.35 base\nrecordd 1 base\n");
        Write(root, "var/lib/dpkg/status", "");
        Write(root, "var/lib/dpkg/available", "");
        Write(root, "opt/recordd/VERSION", "1\n");
        Write(root, "sbin/init", InitScript, executable: true);
        Write(root, "opt/recordd/recordd-ctl", ControlScript, executable: true);
        Write(root, "opt/recordd/recordd-handler", HandlerScript, executable: true);
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

    /// <summary>Starts, stops and checks recordd: busybox nc serving each connection with the handler.</summary>
    internal const string ControlScript = """
        #!/bin/sh
        # recordd: appends numbered records on request and acknowledges each one after fsync.
        #   start            serve on port 7000 in the background (process group of its own, pid in /run/recordd.pid)
        #   health ADDRESS   exit 0 when recordd answers PING on ADDRESS
        export PATH=/usr/sbin:/usr/bin:/sbin:/bin
        PIDFILE=/run/recordd.pid
        case "$1" in
        start)
            mkdir -p /srv/recordd
            touch /srv/recordd/records.log
            rmdir /run/recordd.lock 2>/dev/null
            setsid nc -ll -p 7000 -e /opt/recordd/recordd-handler </dev/null >/dev/null 2>&1 &
            echo $! > $PIDFILE
            ;;
        health)
            reply=$(printf 'PING\n' | nc -w 1 "${2:-127.0.0.1}" 7000 2>/dev/null)
            case "$reply" in PONG*) exit 0;; *) exit 1;; esac
            ;;
        *)
            echo "usage: $0 start|health ADDRESS" >&2
            exit 2
            ;;
        esac
        """;

    /// <summary>One connection: PING answers PONG with the record count and version; APPEND CLIENT N appends, fsyncs, acknowledges.</summary>
    internal const string HandlerScript = """
        #!/bin/sh
        DATA=/srv/recordd/records.log
        read -r cmd client n || exit 0
        case "$cmd" in
        PING)
            set -- $(wc -l < $DATA 2>/dev/null)
            echo "PONG ${1:-0} $(cat /opt/recordd/VERSION 2>/dev/null)"
            ;;
        APPEND)
            until mkdir /run/recordd.lock 2>/dev/null; do usleep 1000; done
            set -- $(wc -l < $DATA 2>/dev/null)
            seq=$(( ${1:-0} + 1 ))
            printf '%08d %s %s %s\n' "$seq" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$client" "$n" >> $DATA
            sync $DATA
            rmdir /run/recordd.lock
            echo "ACK $seq $client $n"
            ;;
        *)
            echo "ERR unknown command"
            ;;
        esac
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
        var first = UpdateBundle.Create(Path.Combine(folder, sp.ToString()), $"Lab Linux {sp} service pack", sp, level, true, new[]
        {
            ("recordd", "2", "overlay", "recordd-2.tar.gz", Overlay(new Dictionary<string, string>
            {
                ["opt/recordd/VERSION"] = "2\n",
                ["etc/motd"] = $"A LiveUpdate lab partition at {sp}\n",
            })),
            ("lab-base", sp.ToString(), "deb", $"lab-base_{sp}_all.deb", Deb(tools, "lab-base", sp.ToString().Replace('-', '.'), sp)),
        });
        var second = UpdateBundle.Create(Path.Combine(folder, tl.ToString()), $"Lab Linux {tl} technology level", tl, sp, true, new[]
        {
            ("recordd", "3", "overlay", "recordd-3.tar.gz", Overlay(new Dictionary<string, string>
            {
                ["opt/recordd/VERSION"] = "3\n",
                ["etc/motd"] = $"A LiveUpdate lab partition at {tl}\n",
            })),
        });
        return new[] { first, second };
    }

    private static byte[] Overlay(IReadOnlyDictionary<string, string> files)
    {
        using var buffer = new MemoryStream();
        using (var gz = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        using (var tar = new TarWriter(gz, TarEntryFormat.Gnu, leaveOpen: true))
        {
            foreach (var (name, text) in files)
            {
                var entry = new GnuTarEntry(TarEntryType.RegularFile, name)
                {
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)),
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    ModificationTime = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
                };
                tar.WriteEntry(entry);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>A tiny Debian package: a file, and a maintainer script that proves it ran inside the clone with /proc bound.</summary>
    private static byte[] Deb(HostTools tools, string name, string version, OsLevel level)
    {
        var work = Path.Combine(Path.GetTempPath(), "liveupdate-deb-" + Guid.NewGuid().ToString("N"));
        try
        {
            var pkg = Path.Combine(work, "pkg");
            Write(pkg, "DEBIAN/control", $"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: LiveUpdate Lab <lab@example.invalid>\nDescription: LiveUpdate lab base files at {level}\n");
            Write(pkg, "DEBIAN/postinst", $"#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  test -r /proc/self/status\n  echo \"{name} {version} configured\" >> /var/log/lab-base.log\nfi\n", executable: true);
            Write(pkg, $"usr/share/lab-base/release", level + "\n");
            var deb = Path.Combine(work, name + ".deb");
            tools.Run("dpkg-deb", "--root-owner-group", "--build", pkg, deb);
            return File.ReadAllBytes(deb);
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }
}
