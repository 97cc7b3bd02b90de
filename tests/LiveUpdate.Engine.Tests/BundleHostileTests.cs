using System;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Xunit;
using Xunit.Abstractions;
using IOFile = System.IO.File;

namespace LiveUpdate.Engine.Tests;

/// <summary>
/// Bundles made to hurt the host that verifies them: a copy planted where extractions used to be shared, archive
/// entries that are devices, FIFOs, links or set-user programs, names that leave the bundle, archives that expand to
/// far more than they say, manifests whose names carry newlines, and payloads that are not regular files. Each is
/// refused with its own error id before anything is written, and nothing is ever read from a device or waited on.
/// </summary>
public sealed class BundleHostileTests : IDisposable
{
    private readonly TestFolder _folder = new("liveupdate-hostile");
    private readonly ITestOutputHelper _output;

    public BundleHostileTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Dispose();

    private static byte[] Payload(string name) => Encoding.UTF8.GetBytes($"fileset image {name}\n" + new string('x', 1000));

    private string Copies
    {
        get
        {
            var dir = _folder.Combine("copies");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    private string Good(string name = "good") => BundleBuilder.Create(_folder.Combine(name), new BundleDefinition("AIX 7300-02-02 service pack",
        OsLevel.Parse("7300-02-02"), OsLevel.Parse("7300-02-01"), true, new[]
        {
            new BundlePayload("bos.rte", "7.3.2.2", "fileset", "bos.rte.bff", Payload("bos.rte")),
            new BundlePayload("bos.mp64", "7.3.2.2", "fileset", "bos.mp64.bff", Payload("bos.mp64")),
        }));

    private LiveUpdateException Refused(string path, string errorId, ErrorKind kind = ErrorKind.InvalidData)
    {
        // Every refusal must come promptly: a bundle that makes the check wait (a FIFO, a device) is a failure too.
        var open = Task.Run(() => Assert.Throws<LiveUpdateException>(() => UpdateBundle.Open(path, Copies)));
        Assert.True(open.Wait(TimeSpan.FromSeconds(60)), "the bundle check did not return within 60 s");
        var e = open.Result;
        Assert.True(errorId == e.ErrorId, $"{e.ErrorId}: {e.Message}");
        Assert.Equal(kind, e.Kind);
        Assert.Empty(Directory.GetFileSystemEntries(Copies));
        var verify = Task.Run(() => Assert.Throws<LiveUpdateException>(() => UpdateBundle.Verify(path)));
        Assert.True(verify.Wait(TimeSpan.FromSeconds(60)), "the bundle check did not return within 60 s");
        Assert.Equal(errorId, verify.Result.ErrorId);
        return e;
    }

    /// <summary>A tar of the good bundle's files, then the extra entries.</summary>
    private string Tar(string name, Action<TarWriter> extra, bool gzip = false, string? source = null)
    {
        source ??= Good(name + "-src");
        var path = _folder.Combine(name + (gzip ? ".tar.gz" : ".tar"));
        using var file = IOFile.Create(path);
        using var gz = gzip ? new GZipStream(file, CompressionLevel.Fastest) : null;
        using (var tar = new TarWriter(gz ?? (Stream)file, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var f in Directory.GetFiles(source, "*", SearchOption.AllDirectories).OrderBy(f => f))
                tar.WriteEntry(f, Path.GetRelativePath(source, f).Replace('\\', '/'));
            extra(tar);
        }
        return path;
    }

    private static PaxTarEntry Entry(string name, byte[] data, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite) =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data), Mode = mode };

    [Fact]
    public void Ignores_a_doctored_copy_planted_where_extractions_used_to_be_shared()
    {
        var source = Good("real");
        var zip = _folder.Combine("published.zip");
        ZipFile.CreateFromDirectory(source, zip);
        // The name the extraction folder used to get: anyone who knew the published archive could create it first.
        var sha = Convert.ToHexString(SHA256.HashData(IOFile.ReadAllBytes(zip))).ToLowerInvariant();
        var planted = Path.Combine(Path.GetTempPath(), "liveupdate-bundle-" + sha.Substring(0, 24));
        var doctored = BundleBuilder.Create(_folder.Combine("doctored"), new BundleDefinition("AIX 7300-02-02 service pack",
            OsLevel.Parse("7300-02-02"), OsLevel.Parse("7300-02-01"), true, new[]
            {
                new BundlePayload("bos.rte", "7.3.2.2", "fileset", "bos.rte.bff", Encoding.UTF8.GetBytes("#!/bin/sh\nan unsigned payload\n")),
                new BundlePayload("bos.mp64", "7.3.2.2", "fileset", "bos.mp64.bff", Payload("bos.mp64")),
            }));
        if (Directory.Exists(planted)) Directory.Delete(planted, recursive: true);
        Directory.Move(doctored, planted);
        try
        {
            var plantedBefore = Directory.GetFiles(planted, "*", SearchOption.AllDirectories).Select(IOFile.ReadAllBytes).SelectMany(b => b).ToArray();
            using var b = UpdateBundle.Open(zip);
            Assert.NotEqual(planted, b.Root);
            Assert.False(b.Root.StartsWith(planted, StringComparison.Ordinal));
            foreach (var p in b.Packages)
                Assert.Equal(IOFile.ReadAllBytes(Path.Combine(source, p.File)), IOFile.ReadAllBytes(b.PackagePath(p)));
            Assert.Equal(UpdateBundle.Sha256OfBytes(Payload("bos.rte")), b.Packages.Single(p => p.Name == "bos.rte").Sha256);
            Assert.Equal(plantedBefore, Directory.GetFiles(planted, "*", SearchOption.AllDirectories).Select(IOFile.ReadAllBytes).SelectMany(x => x).ToArray());
        }
        finally
        {
            Directory.Delete(planted, recursive: true);
        }
    }

    [Theory]
    [InlineData(TarEntryType.CharacterDevice)]
    [InlineData(TarEntryType.BlockDevice)]
    [InlineData(TarEntryType.Fifo)]
    public void Refuses_an_archive_entry_that_is_a_device_or_a_fifo(TarEntryType type)
    {
        var node = new PaxTarEntry(type, "payload/node");
        if (type != TarEntryType.Fifo)
        {
            node.DeviceMajor = 8;
            node.DeviceMinor = 0;
        }
        var tar = Tar("device-" + type, t => t.WriteEntry(node));
        var e = Refused(tar, "BundleEntryTypeNotAllowed");
        Assert.Contains("payload/node", e.Message);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("../../outside")]
    [InlineData("bos.rte.bff")]
    public void Refuses_an_archive_entry_that_is_a_link(string target)
    {
        var tar = Tar("link", t => t.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "payload/extra.bff") { LinkName = target }));
        Refused(tar, "BundleEntryTypeNotAllowed");
        var hard = Tar("hardlink", t => t.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "payload/extra.bff") { LinkName = target }), gzip: true);
        Refused(hard, "BundleEntryTypeNotAllowed");
    }

    [Fact]
    public void Refuses_a_zip_entry_that_is_a_link()
    {
        var zip = _folder.Combine("link.zip");
        ZipFile.CreateFromDirectory(Good("zl"), zip);
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Update))
        {
            var link = z.CreateEntry("payload/passwd");
            link.ExternalAttributes = unchecked((int)(0xA1FFu << 16));
            using var s = link.Open();
            s.Write(Encoding.ASCII.GetBytes("/etc/passwd"));
        }
        Refused(zip, "BundleEntryTypeNotAllowed");
    }

    [Theory]
    [InlineData(UnixFileMode.SetUser)]
    [InlineData(UnixFileMode.SetGroup)]
    public void Refuses_a_set_user_or_set_group_entry(UnixFileMode bit)
    {
        var source = Good("suid-src");
        var tar = _folder.Combine("suid.tar");
        using (var file = IOFile.Create(tar))
        using (var w = new TarWriter(file, TarEntryFormat.Pax))
        {
            w.WriteEntry(Path.Combine(source, "manifest.json"), "manifest.json");
            w.WriteEntry(Entry("payload/bos.rte.bff", Payload("bos.rte"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | bit));
            w.WriteEntry(Path.Combine(source, "payload/bos.mp64.bff"), "payload/bos.mp64.bff");
        }
        Refused(tar, "BundleEntryModeNotAllowed");
    }

    [Theory]
    [InlineData("../evil.bff")]
    [InlineData("/etc/cron.d/evil")]
    [InlineData("payload/../../evil")]
    [InlineData("payload/new\nline")]
    public void Refuses_an_entry_whose_name_leaves_the_bundle_or_carries_control_characters(string name)
    {
        // A GNU entry: pax would escape nothing and a newline would break its own header.
        var tar = Tar("name", t => t.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(new byte[] { 1, 2, 3 }) }));
        Refused(tar, "BundleEntryNameInvalid");
    }

    [Fact]
    public void Refuses_an_entry_that_appears_twice()
    {
        // A second manifest later in the archive would replace the first one on extraction.
        var tar = Tar("twice", t => t.WriteEntry(Entry("manifest.json", Encoding.UTF8.GetBytes("{}"))));
        Refused(tar, "BundleEntryDuplicate");
    }

    [Fact]
    public void Refuses_an_archive_of_too_many_entries_before_reading_them()
    {
        var zip = _folder.Combine("many.zip");
        ZipFile.CreateFromDirectory(Good("many"), zip);
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Update))
            for (var i = 0; i < 10001; i++) z.CreateEntry($"d{i}/");
        Refused(zip, "BundleTooManyEntries", ErrorKind.LimitsExceeded);
    }

    [Fact]
    public void Refuses_a_small_zip_that_expands_to_a_gigabyte_before_writing_or_trusting_anything()
    {
        var source = Good("bomb");
        var zip = _folder.Combine("bomb.zip");
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            z.CreateEntryFromFile(Path.Combine(source, "manifest.json"), "manifest.json");
            z.CreateEntryFromFile(Path.Combine(source, "payload/bos.mp64.bff"), "payload/bos.mp64.bff");
            // bos.rte.bff as the manifest lists it, but a gigabyte of zeros.
            using var s = z.CreateEntry("payload/bos.rte.bff", CompressionLevel.SmallestSize).Open();
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 1024; i++) s.Write(zeros);
        }
        Assert.True(new FileInfo(zip).Length < 2L << 20, $"the archive holds {new FileInfo(zip).Length} bytes");
        var clock = Stopwatch.StartNew();
        var e = Refused(zip, "BundleEntryTooLarge", ErrorKind.LimitsExceeded);
        _output.WriteLine($"refused in {clock.ElapsedMilliseconds} ms: {e.Message}");
        Assert.Contains("1073741824", e.Message);
    }

    [Fact]
    public void Stops_reading_an_entry_that_expands_beyond_what_its_header_declares()
    {
        var source = Good("liar");
        var zip = _folder.Combine("liar.zip");
        var declared = new FileInfo(Path.Combine(source, "payload/bos.rte.bff")).Length;
        using (var z = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            z.CreateEntryFromFile(Path.Combine(source, "manifest.json"), "manifest.json");
            z.CreateEntryFromFile(Path.Combine(source, "payload/bos.mp64.bff"), "payload/bos.mp64.bff");
            using var s = z.CreateEntry("payload/bos.rte.bff", CompressionLevel.Fastest).Open();
            s.Write(new byte[16 << 20]);
        }
        // The headers now claim the entry holds as many bytes as the manifest says; the data expands to 16 MiB.
        var bytes = IOFile.ReadAllBytes(zip);
        PatchSizes(bytes, "payload/bos.rte.bff", (uint)declared);
        IOFile.WriteAllBytes(zip, bytes);
        var e = Assert.Throws<LiveUpdateException>(() => UpdateBundle.Open(zip, Copies));
        Assert.Contains(e.ErrorId, new[] { "BundleEntryTooLarge", "BundleCorrupt", "BundleChecksumMismatch" });
        Assert.Empty(Directory.GetFileSystemEntries(Copies));
    }

    /// <summary>Sets the uncompressed size of an entry in its local header and in the central directory.</summary>
    private static void PatchSizes(byte[] zip, string name, uint size)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name);
        for (var i = 0; i + 46 < zip.Length; i++)
        {
            var local = zip[i] == 0x50 && zip[i + 1] == 0x4b && zip[i + 2] == 3 && zip[i + 3] == 4;
            var central = zip[i] == 0x50 && zip[i + 1] == 0x4b && zip[i + 2] == 1 && zip[i + 3] == 2;
            var nameAt = local ? i + 30 : central ? i + 46 : -1;
            if (nameAt < 0 || nameAt + nameBytes.Length > zip.Length || !zip.AsSpan(nameAt, nameBytes.Length).SequenceEqual(nameBytes)) continue;
            BitConverter.GetBytes(size).CopyTo(zip, local ? i + 22 : i + 24);
        }
    }

    [Fact]
    public void Refuses_a_bundle_larger_than_the_free_space_of_its_copy_before_copying()
    {
        var path = Good("big");
        UpdateBundle.FreeSpaceOverride = _ => 1024; // this thread's copies see 1 KiB free
        try
        {
            var e = Assert.Throws<LiveUpdateException>(() => UpdateBundle.Open(path, Copies));
            Assert.Equal("BundleTooLarge", e.ErrorId);
            Assert.Equal(ErrorKind.LimitsExceeded, e.Kind);
            Assert.Contains("free", e.Message);
            Assert.Empty(Directory.GetFileSystemEntries(Copies));
        }
        finally
        {
            UpdateBundle.FreeSpaceOverride = null;
        }
        using var ok = UpdateBundle.Open(path, Copies);
        Assert.True(ok.HasCopy);
    }

    [Fact]
    public void Refuses_a_manifest_larger_than_a_mebibyte_without_parsing_it()
    {
        var tar = _folder.Combine("fat.tar");
        using (var file = IOFile.Create(tar))
        using (var w = new TarWriter(file, TarEntryFormat.Pax))
            w.WriteEntry(Entry("manifest.json", Encoding.UTF8.GetBytes("{\"name\": \"" + new string('a', 2 << 20) + "\"}")));
        Refused(tar, "BundleManifestTooLarge", ErrorKind.LimitsExceeded);
    }

    [Theory]
    [InlineData("version", "7.3.2.2\nbos.evil 9.9.9.9")]
    [InlineData("version", "7.3.2.2 extra")]
    [InlineData("name", "bos.rte\r\nInjected: yes")]
    [InlineData("name", "bos rte")]
    [InlineData("name", "-rf")]
    [InlineData("kind", "shell")]
    [InlineData("file", "payload/bos\u0007.bff")]
    public void Refuses_package_names_and_versions_outside_the_strict_form(string field, string value)
    {
        var path = Good("strict-" + field);
        EditManifest(path, m => m["packages"]![0]![field] = value);
        var e = Refused(path, "BundleManifestInvalid");
        Assert.DoesNotContain("\n", e.Message);
    }

    [Theory]
    [InlineData("Service pack\nwith a second line")]
    [InlineData("Bell\u0007")]
    public void Refuses_a_bundle_name_with_control_characters(string name)
    {
        var path = Good("bundlename");
        EditManifest(path, m => m["name"] = name);
        var e = Refused(path, "BundleManifestInvalid");
        Assert.DoesNotContain("\n", e.Message);
    }

    private static void EditManifest(string bundle, Action<JsonObject> edit)
    {
        var path = Path.Combine(bundle, "manifest.json");
        var json = JsonNode.Parse(IOFile.ReadAllText(path))!.AsObject();
        edit(json);
        IOFile.WriteAllText(path, json.ToJsonString());
    }

    [Fact]
    public void Never_reads_a_payload_that_is_a_link_to_a_character_device()
    {
        var path = Good("zero");
        var payload = Path.Combine(path, "payload", "bos.rte.bff");
        IOFile.Delete(payload);
        IOFile.CreateSymbolicLink(payload, "/dev/zero");
        Refused(path, "BundleEntryTypeNotAllowed");
        Assert.Throws<LiveUpdateException>(() => UpdateBundle.Sha256OfFile(payload));
    }

    [Fact]
    public void Never_waits_on_a_payload_that_is_a_fifo()
    {
        if (!OperatingSystem.IsLinux()) return;
        var path = Good("fifo");
        var payload = Path.Combine(path, "payload", "bos.rte.bff");
        IOFile.Delete(payload);
        Run("mkfifo", payload);
        Refused(path, "BundleEntryTypeNotAllowed");
        var hash = Task.Run(() => Assert.Throws<LiveUpdateException>(() => UpdateBundle.Sha256OfFile(payload)));
        Assert.True(hash.Wait(TimeSpan.FromSeconds(30)), "hashing a FIFO waited for a writer");
    }

    [Fact]
    public void Never_reads_a_payload_that_is_a_device_node()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            _output.WriteLine("A device node needs root to create; the link to /dev/zero and the FIFO cover the rest here.");
            return;
        }
        var path = Good("node");
        var payload = Path.Combine(path, "payload", "bos.rte.bff");
        IOFile.Delete(payload);
        Run("mknod", payload, "c", "1", "5"); // /dev/zero's numbers
        Refused(path, "BundleEntryTypeNotAllowed");
        var hash = Task.Run(() => Assert.Throws<LiveUpdateException>(() => UpdateBundle.Sha256OfFile(payload)));
        Assert.True(hash.Wait(TimeSpan.FromSeconds(30)), "hashing a character device did not end");
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void Refuses_a_bundle_that_every_user_may_write()
    {
        if (OperatingSystem.IsWindows()) return;
        var path = Good("open");
        IOFile.SetUnixFileMode(Path.Combine(path, "payload"), (UnixFileMode)0x1FF); // 0777
        Refused(path, "BundleLocationNotTrusted", ErrorKind.PermissionDenied);
        IOFile.SetUnixFileMode(Path.Combine(path, "payload"), (UnixFileMode)0x1ED); // 0755
        var shared = _folder.Combine("shared");
        Directory.CreateDirectory(shared);
        IOFile.SetUnixFileMode(shared, (UnixFileMode)0x1FF); // a folder everyone may write, without the sticky bit
        var inside = Path.Combine(shared, "bundle");
        Directory.Move(path, inside);
        Refused(inside, "BundleLocationNotTrusted", ErrorKind.PermissionDenied);
        IOFile.SetUnixFileMode(shared, (UnixFileMode)0x3FF); // 1777, like /tmp: others may not replace what is ours
        using var b = UpdateBundle.Open(inside, Copies);
        Assert.Equal(2, b.Packages.Count);
    }
}
