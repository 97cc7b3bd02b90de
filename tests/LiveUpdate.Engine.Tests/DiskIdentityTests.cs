using System;
using System.Collections.Generic;
using System.IO;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>A described disk is what it really is: its device after every link, its file, and nothing another disk also is.</summary>
public sealed class DiskIdentityTests : IDisposable
{
    private readonly TestFolder _folder = new("liveupdate-disks");

    public void Dispose() => _folder.Dispose();

    private static string Refused(Action resolve) => Assert.Throws<LiveUpdateException>(resolve).ErrorId;

    [Fact]
    public void A_device_path_that_leaves_dev_after_its_links_is_refused()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.Equal("DiskOutsideDev", Refused(() => DiskIdentities.OfDevice("hdisk1", "/dev/../etc/passwd")));
        Assert.Equal("DiskNotBlockDevice", Refused(() => DiskIdentities.OfDevice("hdisk1", "/dev/null")));
        Assert.Equal("DiskNotFound", Refused(() => DiskIdentities.OfDevice("hdisk1", "/dev/liveupdate-no-such-disk")));
    }

    [Fact]
    public void A_disk_file_must_lie_inside_the_folder_after_its_links()
    {
        if (!OperatingSystem.IsLinux()) return;
        var outside = Path.Combine(Path.GetTempPath(), "liveupdate-outside-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(outside, "");
        try
        {
            Directory.CreateDirectory(_folder.Combine("disks"));
            File.CreateSymbolicLink(_folder.Combine("disks", "hdisk0.img"), outside);
            Assert.Equal("DiskFileOutsideFolder", Refused(() => DiskIdentities.OfFile("hdisk0", _folder.Path, "disks/hdisk0.img")));
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public void Two_names_for_one_file_are_one_storage()
    {
        if (!OperatingSystem.IsLinux()) return;
        Directory.CreateDirectory(_folder.Combine("disks"));
        File.WriteAllBytes(_folder.Combine("disks", "a.img"), new byte[4096]);
        File.CreateSymbolicLink(_folder.Combine("disks", "b.img"), "a.img");
        File.WriteAllBytes(_folder.Combine("disks", "c.img"), new byte[4096]);
        var a = DiskIdentities.OfFile("hdisk0", _folder.Path, "disks/a.img");
        var b = DiskIdentities.OfFile("hdisk1", _folder.Path, "disks/b.img");
        var c = DiskIdentities.OfFile("hdisk2", _folder.Path, "disks/c.img");
        DiskIdentities.RequireDistinct(new[] { a, c });
        var e = Assert.Throws<LiveUpdateException>(() => DiskIdentities.RequireDistinct(new[] { a, c, b }));
        Assert.Equal("DiskSameStorage", e.ErrorId);
        Assert.Contains("hdisk0", e.Message);
        Assert.Contains("hdisk1", e.Message);
    }

    [Fact]
    public void A_loop_device_and_its_backing_file_are_one_storage()
    {
        var file = new DiskIdentity("hdisk0", "disks/a.img", "/dev/loop9", "7:9", "/x/disks/a.img", "254:1/77");
        var device = new DiskIdentity("hdisk5", "/dev/loop9", "/dev/loop9", "7:9", "/x/disks/a.img", "254:1/77");
        Assert.Equal("DiskSameStorage", Assert.Throws<LiveUpdateException>(() => DiskIdentities.RequireDistinct(new[] { file, device })).ErrorId);
    }

    [Fact]
    public void A_disk_in_use_on_the_host_is_refused_with_what_uses_it()
    {
        var d = new DiskIdentity("hdisk3", "/dev/sdz", "/dev/sdz", "8:240", null, null);
        var root = Assert.Throws<LiveUpdateException>(() => DiskIdentities.RequireUnused(d, new Dictionary<string, string> { ["8:240"] = "the host's root file system" }));
        Assert.Equal("DiskHoldsHostRoot", root.ErrorId);
        var mounted = Assert.Throws<LiveUpdateException>(() => DiskIdentities.RequireUnused(d, new Dictionary<string, string> { ["8:240"] = "mounted at /srv" }));
        Assert.Equal("DiskMounted", mounted.ErrorId);
        Assert.Contains("/srv", mounted.Message);
        DiskIdentities.RequireUnused(d, new Dictionary<string, string> { ["8:0"] = "mounted at /" });
    }

    [Fact]
    public void The_host_root_is_in_use()
    {
        if (!OperatingSystem.IsLinux()) return;
        var inUse = DiskIdentities.InUse(ownMounts: null);
        Assert.Contains(inUse.Values, v => v.Contains("mounted at", StringComparison.Ordinal) || v.Contains("root", StringComparison.Ordinal));
    }
}
