using System;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Xunit;

namespace LiveUpdate.Engine.Tests;

public sealed class BundleTests : IDisposable
{
    private readonly TestFolder _folder = new("liveupdate-bundletest");

    public void Dispose() => _folder.Dispose();

    private static byte[] Payload(string name) => Encoding.UTF8.GetBytes($"fileset image {name}\n" + new string('x', 1000));

    /// <summary>A valid bundle to 7300-02-02 that requires 7300-02-01, with two packages.</summary>
    private string Good(string name = "good") => UpdateBundle.Create(_folder.Combine(name), "AIX 7300-02-02 service pack",
        OsLevel.Parse("7300-02-02"), OsLevel.Parse("7300-02-01"), true, new[]
        {
            ("bos.rte", "7.3.2.2", "fileset", "bos.rte.bff", Payload("bos.rte")),
            ("bos.mp64", "7.3.2.2", "fileset", "bos.mp64.bff", Payload("bos.mp64")),
        });

    private static void EditManifest(string bundle, Action<JsonObject> edit)
    {
        var path = Path.Combine(bundle, "manifest.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    /// <summary>Where the tests' verified copies go: a folder of this test, so that a leftover copy shows.</summary>
    private string Copies
    {
        get
        {
            var dir = _folder.Combine("copies");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    private LiveUpdateException Refused(string path, string errorId, ErrorKind kind = ErrorKind.InvalidData)
    {
        var e = Assert.Throws<LiveUpdateException>(() => UpdateBundle.Open(path, Copies));
        Assert.Equal(errorId, e.ErrorId);
        Assert.Equal(kind, e.Kind);
        Assert.Equal(path, e.Target);
        Assert.Empty(Directory.GetFileSystemEntries(Copies)); // nothing is left of a refused bundle
        var verified = Assert.Throws<LiveUpdateException>(() => UpdateBundle.Verify(path));
        Assert.Equal(errorId, verified.ErrorId);
        return e;
    }

    private void RefusedArchive(string path, string errorId, ErrorKind kind = ErrorKind.InvalidData) => Refused(path, errorId, kind);

    [Fact]
    public void Opens_a_good_bundle_into_a_private_copy_that_dispose_removes()
    {
        var path = Good();
        string root;
        using (var b = UpdateBundle.Open(path, Copies))
        {
            Assert.Equal("AIX 7300-02-02 service pack", b.Name);
            Assert.Equal(OsLevel.Parse("7300-02-02"), b.TargetLevel);
            Assert.Equal(OsLevel.Parse("7300-02-01"), b.RequiresLevel);
            Assert.True(b.LiveUpdateCapable);
            Assert.Equal("Folder", b.Format);
            Assert.Equal(new[] { "bos.rte", "bos.mp64" }, b.Packages.Select(p => p.Name));
            root = b.Root;
            Assert.NotEqual(Path.GetFullPath(path), root);
            Assert.Equal(Path.GetFullPath(Copies), Path.GetDirectoryName(root));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(root));
            foreach (var p in b.Packages)
            {
                Assert.StartsWith(root, b.PackagePath(p));
                Assert.Equal(UpdateBundle.Sha256OfFile(b.PackagePath(p)), p.Sha256);
                Assert.Equal(File.ReadAllBytes(Path.Combine(path, p.File)), File.ReadAllBytes(b.PackagePath(p)));
            }
            Assert.Equal(b.Packages.Sum(p => p.Size), b.PayloadBytes);
        }
        Assert.False(Directory.Exists(root));
    }

    [Fact]
    public void Verifies_in_place_without_writing_anything()
    {
        var path = Good();
        var before = Directory.GetFileSystemEntries(path, "*", SearchOption.AllDirectories).OrderBy(x => x).ToArray();
        using var b = UpdateBundle.Verify(path);
        Assert.False(b.HasCopy);
        Assert.Throws<InvalidOperationException>(() => b.PackagePath(b.Packages[0]));
        Assert.Equal(before, Directory.GetFileSystemEntries(path, "*", SearchOption.AllDirectories).OrderBy(x => x));
    }

    [Fact]
    public void Refuses_a_path_that_does_not_exist()
    {
        Refused(_folder.Combine("nosuch"), "BundleNotFound", ErrorKind.ObjectNotFound);
    }

    [Fact]
    public void Refuses_a_bundle_without_manifest()
    {
        var path = Good();
        File.Delete(Path.Combine(path, "manifest.json"));
        Refused(path, "BundleManifestMissing");
    }

    [Fact]
    public void Refuses_a_manifest_that_is_not_json()
    {
        var path = Good();
        File.WriteAllText(Path.Combine(path, "manifest.json"), "{ \"format\": \"LiveUpdate.Bundle/1\", \"name\": ");
        var e = Refused(path, "BundleManifestInvalid");
        Assert.Contains("not valid JSON", e.Message);
    }

    [Theory]
    [InlineData("format", "\"Other/2\"")]
    [InlineData("name", "\"\"")]
    [InlineData("targetLevel", "\"7300-two\"")]
    [InlineData("requiresLevel", "\"yesterday\"")]
    [InlineData("requiresLevel", "\"7300-02-02\"")]
    [InlineData("liveUpdateCapable", null)]
    [InlineData("packages", "[]")]
    [InlineData("packages", null)]
    public void Refuses_a_manifest_with_a_bad_field(string field, string? json)
    {
        var path = Good();
        EditManifest(path, m =>
        {
            if (json is null) m.Remove(field);
            else m[field] = JsonNode.Parse(json);
        });
        Refused(path, "BundleManifestInvalid");
    }

    [Fact]
    public void Refuses_a_package_without_checksum()
    {
        var path = Good();
        EditManifest(path, m => m["packages"]![0]!.AsObject().Remove("sha256"));
        Refused(path, "BundleManifestInvalid");
    }

    [Fact]
    public void Refuses_a_payload_whose_checksum_does_not_match()
    {
        var path = Good();
        var file = Path.Combine(path, "payload", "bos.mp64.bff");
        var bytes = File.ReadAllBytes(file);
        bytes[10] ^= 1;
        File.WriteAllBytes(file, bytes);
        var e = Refused(path, "BundleChecksumMismatch");
        Assert.Contains("bos.mp64.bff", e.Message);
    }

    [Fact]
    public void Refuses_a_payload_whose_size_does_not_match()
    {
        var path = Good();
        EditManifest(path, m => m["packages"]![0]!["size"] = 1);
        Refused(path, "BundleChecksumMismatch");
    }

    [Fact]
    public void Refuses_a_bundle_that_lacks_a_payload_file()
    {
        var path = Good();
        File.Delete(Path.Combine(path, "payload", "bos.rte.bff"));
        Refused(path, "BundlePayloadMissing");
    }

    [Theory]
    [InlineData("payload/extra.sh")]
    [InlineData("notes.txt")]
    [InlineData("payload/deeper/hidden.bff")]
    public void Refuses_a_file_that_the_manifest_does_not_list(string extra)
    {
        var path = Good();
        var file = Path.Combine(path, extra);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "echo surprise");
        var e = Refused(path, "BundleUnexpectedFile");
        Assert.Contains(Path.GetFileName(extra), e.Message);
    }

    [Theory]
    [InlineData("../outside.bff")]
    [InlineData("payload/../../outside.bff")]
    public void Refuses_a_path_that_escapes_the_bundle(string escaping)
    {
        var path = Good();
        // The file outside exists and matches its checksum: only where it lies is wrong.
        var outside = _folder.Combine("outside.bff");
        File.WriteAllBytes(outside, Payload("outside"));
        EditManifest(path, m =>
        {
            m["packages"]![0]!["file"] = escaping;
            m["packages"]![0]!["sha256"] = UpdateBundle.Sha256OfFile(outside);
            m["packages"]![0]!["size"] = new FileInfo(outside).Length;
        });
        File.Delete(Path.Combine(path, "payload", "bos.rte.bff"));
        var e = Refused(path, "BundleManifestInvalid");
        Assert.Contains("outside the bundle", e.Message);
    }

    [Fact]
    public void Refuses_an_absolute_payload_path()
    {
        var path = Good();
        var outside = _folder.Combine("abs.bff");
        File.WriteAllBytes(outside, Payload("abs"));
        EditManifest(path, m =>
        {
            m["packages"]![0]!["file"] = outside;
            m["packages"]![0]!["sha256"] = UpdateBundle.Sha256OfFile(outside);
            m["packages"]![0]!["size"] = new FileInfo(outside).Length;
        });
        File.Delete(Path.Combine(path, "payload", "bos.rte.bff"));
        Refused(path, "BundleManifestInvalid");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Opens_a_zip_archive(bool wrapped)
    {
        var source = Good();
        var zip = _folder.Combine("bundle.zip");
        ZipFile.CreateFromDirectory(source, zip, CompressionLevel.Fastest, includeBaseDirectory: wrapped);
        using var b = UpdateBundle.Open(zip, Copies);
        Assert.Equal(zip, b.Source);
        Assert.Equal("Zip", b.Format);
        Assert.Equal(OsLevel.Parse("7300-02-02"), b.TargetLevel);
        Assert.Equal(2, b.Packages.Count);
        Assert.True(File.Exists(Path.Combine(b.Root, "manifest.json")));
        Assert.All(b.Packages, p => Assert.Equal(UpdateBundle.Sha256OfFile(b.PackagePath(p)), p.Sha256));
    }

    [Theory]
    [InlineData("bundle.tar.gz", false)]
    [InlineData("bundle.tgz", true)]
    [InlineData("bundle.tar", true)]
    public void Opens_a_tar_archive(string name, bool wrapped)
    {
        var source = Good();
        var archive = _folder.Combine(name);
        using (var file = File.Create(archive))
        {
            if (name.EndsWith(".tar", StringComparison.Ordinal))
            {
                TarFile.CreateFromDirectory(source, file, includeBaseDirectory: wrapped);
            }
            else
            {
                using var gz = new GZipStream(file, CompressionLevel.Fastest);
                TarFile.CreateFromDirectory(source, gz, includeBaseDirectory: wrapped);
            }
        }
        using var b = UpdateBundle.Open(archive, Copies);
        Assert.Equal("AIX 7300-02-02 service pack", b.Name);
        Assert.Equal(2, b.Packages.Count);
        Assert.All(b.Packages, p => Assert.True(File.Exists(b.PackagePath(p))));
    }

    [Fact]
    public void Verifies_the_payload_of_an_archive_too()
    {
        var source = Good();
        var file = Path.Combine(source, "payload", "bos.rte.bff");
        var bytes = File.ReadAllBytes(file);
        bytes[^1] ^= 1;
        File.WriteAllBytes(file, bytes);
        var zip = _folder.Combine("tampered.zip");
        ZipFile.CreateFromDirectory(source, zip);
        RefusedArchive(zip, "BundleChecksumMismatch");
    }

    [Fact]
    public void Refuses_an_archive_that_cannot_be_read()
    {
        var zip = _folder.Combine("broken.zip");
        File.WriteAllBytes(zip, Encoding.ASCII.GetBytes("PK this is not really a zip archive"));
        RefusedArchive(zip, "BundleCorrupt");
        var tgz = _folder.Combine("broken.tar.gz");
        File.WriteAllBytes(tgz, new byte[] { 0x1f, 0x8b, 8, 0, 1, 2, 3 });
        RefusedArchive(tgz, "BundleCorrupt");
    }

    [Fact]
    public void Refuses_a_file_that_is_no_known_archive()
    {
        var rar = _folder.Combine("bundle.rar");
        File.WriteAllText(rar, "Rar!");
        RefusedArchive(rar, "BundleFormatUnknown", ErrorKind.InvalidArgument);
    }
}
