using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Backends.Simulated;

/// <summary>What a new simulated lab holds.</summary>
public sealed record LabOptions
{
    /// <summary>How many partitions to create: lpar1, lpar2, ... (each with its own rootvg disk and two applications).</summary>
    public int PartitionCount { get; init; } = 1;
    public string OsLevel { get; init; } = "7300-02-01";
    public double PartitionProcessors { get; init; } = 4;
    public long PartitionMemoryMB { get; init; } = 16384;
    /// <summary>Frame size; null means room for every partition and one surrogate each.</summary>
    public double? FrameProcessors { get; init; }
    public long? FrameMemoryMB { get; init; }
    public long RootDiskSizeMB { get; init; } = 30720;
    /// <summary>Sizes of the free disks; null means 30 GiB, 30 GiB, 10 GiB, 60 GiB for one partition, two of 30 GiB per partition otherwise.</summary>
    public IReadOnlyList<long>? FreeDiskSizesMB { get; init; }
    public double RecordsPerSecond { get; init; } = 2;
}

/// <summary>Creates a simulated Power system in a folder.</summary>
public static class LabBuilder
{
    public static readonly string[] BaseFilesets =
    {
        "bos.rte 7.3.2.1", "bos.mp64 7.3.2.1", "bos.net.tcp.client_core 7.3.2.1", "bos.perf.tools 7.3.2.0",
        "bos.liveupdate.rte 7.3.2.0", "devices.vdevice.IBM.l-lan.rte 7.3.2.0", "openssh.base.server 9.2.112.2200",
    };

    private static readonly (string Name, string Mount, long Size, long Used)[] RootLvs =
    {
        ("hd5", "N/A", 64, 64), ("hd6", "N/A", 2048, 0), ("hd8", "N/A", 64, 1), ("hd4", "/", 1024, 310),
        ("hd2", "/usr", 5120, 3650), ("hd9var", "/var", 1024, 280), ("hd3", "/tmp", 1024, 40), ("hd1", "/home", 1024, 120),
        ("hd10opt", "/opt", 1024, 420), ("hd11admin", "/admin", 128, 1), ("lg_dumplv", "N/A", 1024, 0), ("livedump", "/var/adm/ras/livedump", 256, 1),
    };

    public static SimulatedBackend Create(string path, LabOptions options)
    {
        var root = Path.GetFullPath(path);
        if (File.Exists(root))
            throw new LiveUpdateException("LabPathIsFile", ErrorKind.InvalidArgument, $"'{path}' is a file, not a folder.", path);
        if (LabStore.IsLab(root))
            throw new LiveUpdateException("LabExists", ErrorKind.ResourceExists, $"'{path}' already holds a lab; connect to it with Connect-LiveUpdateSystem or remove it first.", path);
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
            throw new LiveUpdateException("LabPathNotEmpty", ErrorKind.ResourceExists, $"'{path}' is not empty; a lab needs a new or empty folder.", path);
        if (options.PartitionCount < 1)
            throw new LiveUpdateException("PartitionCountInvalid", ErrorKind.InvalidArgument, "A lab needs at least one partition.", options.PartitionCount);
        if (!Model.OsLevel.TryParse(options.OsLevel, out var level))
            throw new LiveUpdateException("OsLevelInvalid", ErrorKind.InvalidArgument, $"'{options.OsLevel}' is not an OS level such as 7300-02-01.", options.OsLevel);

        Folders.RequireSafe(root, "a lab folder");
        Folders.CreateOwnerOnly(root);
        var backend = SimulatedBackend.CreateEmpty(root);
        var s = new LabState
        {
            TotalProcessors = options.FrameProcessors ?? Math.Max(16, options.PartitionProcessors * options.PartitionCount * 2),
            TotalMemoryMB = options.FrameMemoryMB ?? Math.Max(65536, options.PartitionMemoryMB * options.PartitionCount * 2),
        };
        var diskNumber = 0;
        DiskRecord NewDisk(long size) => new()
        {
            Name = "hdisk" + diskNumber, SizeMB = size, Pvid = $"00f84c7e{0xa0000000L + diskNumber * 7919L:x8}",
            Location = $"U9080.HEX.78A1B2C-V{1 + diskNumber / 64}-C{2 + diskNumber % 64}-T1-L8{diskNumber++:x3}00000000000",
        };
        for (var i = 1; i <= options.PartitionCount; i++)
        {
            var name = "lpar" + i;
            var disk = NewDisk(options.RootDiskSizeMB);
            s.Disks.Add(disk);
            var vg = new VgRecord
            {
                Id = s.NewId("00f8"), Name = "rootvg", Partition = name, Role = nameof(VolumeGroupRole.Root), Active = true,
                Disks = new List<string> { disk.Name }, ContentDisk = disk.Name, OsLevel = level!.ToString(), Filesets = BaseFilesets.ToList(),
                LogicalVolumes = RootLvs.Select(l => new LvRecord { Name = l.Name, MountPoint = l.Mount, Type = l.Mount == "N/A" ? (l.Name == "hd6" ? "paging" : "boot") : "jfs2", SizeMB = l.Size, UsedMB = l.Used }).ToList(),
            };
            s.VolumeGroups.Add(vg);
            var address = $"198.18.{i / 250}.{i % 250 + 1}";
            s.Partitions.Add(new SimulatedPartition
            {
                Id = i, Name = name, Uuid = Guid.NewGuid().ToString(), HostName = $"{name}.lab.example", Address = address,
                Processors = options.PartitionProcessors, MemoryMB = options.PartitionMemoryMB, RootVg = vg.Id,
            });
            var suffix = i == 1 ? "" : "-" + name;
            s.Applications.Add(new SimulatedApplication
            {
                Name = "db2inst1" + suffix, Partition = name, DataPath = "/home/db2inst1/sqllib/records.log", DataVg = vg.Id,
                ServiceAddress = address + ":50000", RecordsPerSecond = options.RecordsPerSecond, HealthCheck = "db2 connect to SAMPLE",
                HealthTimeoutSeconds = 60, StopMilliseconds = 150, StartMilliseconds = 220,
            });
            s.Applications.Add(new SimulatedApplication
            {
                Name = "ihs" + suffix, Partition = name, DataPath = "/var/ihs/logs/orders.log", DataVg = vg.Id,
                ServiceAddress = address + ":443", RecordsPerSecond = options.RecordsPerSecond * 1.5, HealthCheck = "GET https://localhost/health",
                HealthTimeoutSeconds = 30, StopMilliseconds = 60, StartMilliseconds = 110,
            });
            WriteRootFiles(Path.Combine(root, "disks", disk.Name), name, address, vg);
        }
        var free = options.FreeDiskSizesMB ?? (options.PartitionCount == 1
            ? new long[] { 30720, 30720, 10240, 61440 }
            : Enumerable.Repeat(30720L, options.PartitionCount * 2).ToArray());
        foreach (var size in free) s.Disks.Add(NewDisk(size));

        foreach (var app in s.Applications) app.LastTick = s.Clock;
        backend.SaveState(s);
        WriteSampleBundles(Path.Combine(root, "updates"), level!);
        return backend;
    }

    private static void WriteRootFiles(string content, string partition, string address, VgRecord vg)
    {
        void Write(string absolute, string text)
        {
            var file = Path.Combine(content, absolute.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllText(file, text);
        }
        Write("/etc/hosts", $"127.0.0.1 loopback localhost\n{address} {partition}.lab.example {partition}\n");
        Write("/etc/motd", $"*******************************************************************************\n*  {partition}: simulated IBM AIX partition managed by LiveUpdate               *\n*******************************************************************************\n");
        var fs = new StringBuilder();
        foreach (var lv in vg.LogicalVolumes.Where(l => l.MountPoint.StartsWith("/", StringComparison.Ordinal)))
            fs.Append($"{lv.MountPoint}:\n\tdev\t\t= /dev/{lv.Name}\n\tvfs\t\t= jfs2\n\tlog\t\t= /dev/hd8\n\tmount\t\t= automatic\n\n");
        Write("/etc/filesystems", fs.ToString());
        Write("/etc/environment", "PATH=/usr/bin:/etc:/usr/sbin:/usr/ucb:/usr/bin/X11:/sbin:/usr/java8_64/jre/bin\nTZ=UTC\nLANG=en_US\n");
        Write("/home/db2inst1/sqllib/db2nodes.cfg", $"0 {partition} 0\n");
        Write("/home/db2inst1/sqllib/records.log", "");
        Write("/var/ihs/conf/httpd.conf", "Listen 443\nServerName " + partition + ".lab.example\nDocumentRoot /var/ihs/htdocs\n");
        Write("/var/ihs/logs/orders.log", "");
        Write("/opt/IBM/db2/V11.5/README", "IBM Db2 11.5 instance files\n");
        SimulatedBackend.WriteOsFiles(content, vg);
    }

    /// <summary>
    /// Writes the sample bundles: a service pack to the next level (requires the lab's level) and a technology
    /// level that requires that service pack (so it cannot be applied directly).
    /// </summary>
    public static IReadOnlyList<string> WriteSampleBundles(string folder, OsLevel level)
    {
        Directory.CreateDirectory(folder);
        var sp = new OsLevel(level.Release, level.TechnologyLevel, level.ServicePack + 1);
        var tl = new OsLevel(level.Release, level.TechnologyLevel + 1, 1);
        var v = $"{level.Release / 1000}.{level.Release / 100 % 10}.{sp.TechnologyLevel}.{sp.ServicePack}";
        var vt = $"{level.Release / 1000}.{level.Release / 100 % 10}.{tl.TechnologyLevel}.{tl.ServicePack}";
        byte[] Payload(string name, string version) => Encoding.UTF8.GetBytes($"backup-format fileset image\nname={name}\nversion={version}\n" + new string('x', 4096));
        BundlePayload Fileset(string name, string version) => new(name, version, "fileset", $"{name}.{version}.bff", Payload(name, version));
        // Made as New-LiveUpdateBundle makes bundles, so the labs show what the module verifies.
        var first = BundleBuilder.Create(Path.Combine(folder, sp.ToString()), new BundleDefinition($"AIX {sp} service pack", sp, level, true, new[]
        {
            Fileset("bos.rte", v), Fileset("bos.mp64", v), Fileset("bos.net.tcp.client_core", v),
        }));
        var second = BundleBuilder.Create(Path.Combine(folder, tl.ToString()), new BundleDefinition($"AIX {tl} technology level", tl, sp, true, new[]
        {
            Fileset("bos.rte", vt), Fileset("bos.mp64", vt), Fileset("bos.liveupdate.rte", vt),
        }));
        return new[] { first, second };
    }
}
