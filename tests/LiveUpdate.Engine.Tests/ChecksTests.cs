using System;
using System.IO;
using System.Linq;
using System.Text;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>The validations shared by the steps and the preview, each over an inventory of a new lab.</summary>
public sealed class ChecksTests : IDisposable
{
    private readonly SimulatedLab _lab = new();
    private readonly SystemInventory _inv;
    private readonly LogicalPartition _lpar1;

    public ChecksTests()
    {
        _inv = _lab.Inventory();
        _lpar1 = _inv.Partitions.Single();
    }

    public void Dispose() => _lab.Dispose();

    private static void AssertError(LiveUpdateException? error, string id, ErrorKind kind, object? target)
    {
        Assert.NotNull(error);
        Assert.Equal(id, error!.ErrorId);
        Assert.Equal(kind, error.Kind);
        Assert.Equal(target, error.Target);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    private SystemInventory WithPartition(LogicalPartition p) => _inv with { Partitions = new[] { p } };

    private SystemInventory WithDisks(params PhysicalVolume[] extra) => _inv with { Disks = _inv.Disks.Concat(extra).ToArray() };

    private static PhysicalVolume FreeDisk(string name, long sizeMB) => new(name, sizeMB, "00f8" + name, null, null, DiskState.Free, "U-" + name);

    [Fact]
    public void Rootvg_in_use_is_the_sum_of_its_logical_volumes()
    {
        var rootvg = _inv.VolumeGroups.Single(v => v.Role == VolumeGroupRole.Root);
        Assert.Equal(rootvg.LogicalVolumes.Sum(l => l.SizeMB), Checks.RootVgUsedMB(_inv, _lpar1));
        Assert.Equal(13824, Checks.RootVgUsedMB(_inv, _lpar1));
    }

    [Fact]
    public void Partition_finds_a_running_partition_by_any_case()
    {
        Assert.Null(Checks.Partition(_inv, "LPAR1", out var p));
        Assert.Equal("lpar1", p!.Name);
    }

    [Fact]
    public void Partition_refuses_an_unknown_name()
    {
        AssertError(Checks.Partition(_inv, "lpar9", out var p), "PartitionNotFound", ErrorKind.ObjectNotFound, "lpar9");
        Assert.Null(p);
    }

    [Fact]
    public void Partition_refuses_one_that_is_not_running_unless_told_not_to_care()
    {
        var inv = WithPartition(_lpar1 with { State = PartitionState.NotActivated });
        AssertError(Checks.Partition(inv, "lpar1", out _), "PartitionNotRunning", ErrorKind.InvalidOperation, "lpar1");
        Assert.Null(Checks.Partition(inv, "lpar1", out _, mustRun: false));
    }

    [Fact]
    public void Original_refuses_a_surrogate()
    {
        Assert.Null(Checks.Original(_lpar1));
        AssertError(Checks.Original(_lpar1 with { Name = "lpar1_surrogate", SurrogateOf = "lpar1" }), "PartitionIsSurrogate", ErrorKind.InvalidOperation, "lpar1_surrogate");
    }

    [Fact]
    public void Disks_accepts_free_disks_large_enough()
    {
        Assert.Null(Checks.Disks(_inv, new[] { "hdisk1" }, 13824, "clone"));
        Assert.Null(Checks.Disks(_inv, new[] { "HDISK4" }, 13824, "clone"));
    }

    [Fact]
    public void Disks_refuses_no_disk_a_disk_named_twice_an_unknown_and_a_used_disk()
    {
        AssertError(Checks.Disks(_inv, Array.Empty<string>(), 1, "clone"), "DiskNotSpecified", ErrorKind.InvalidArgument, null);
        AssertError(Checks.Disks(_inv, new[] { "hdisk1", "HDISK1" }, 1, "clone"), "DiskNamedTwice", ErrorKind.InvalidArgument, "hdisk1");
        AssertError(Checks.Disks(_inv, new[] { "hdisk9" }, 1, "clone"), "DiskNotFound", ErrorKind.ObjectNotFound, "hdisk9");
        AssertError(Checks.Disks(_inv, new[] { "hdisk1", "hdisk0" }, 1, "clone"), "DiskInUse", ErrorKind.ResourceUnavailable, "hdisk0");
    }

    [Fact]
    public void Disks_adds_up_the_sizes_of_several_disks()
    {
        var inv = WithDisks(FreeDisk("hdisk5", 8000), FreeDisk("hdisk6", 8000));
        AssertError(Checks.Disks(inv, new[] { "hdisk5" }, 13824, "clone"), "DiskTooSmall", ErrorKind.InvalidArgument, "hdisk5");
        Assert.Null(Checks.Disks(inv, new[] { "hdisk5", "hdisk6" }, 13824, "clone"));
        AssertError(Checks.Disks(_inv, new[] { "hdisk3" }, 13824, "mirror"), "DiskTooSmall", ErrorKind.InvalidArgument, "hdisk3");
    }

    [Fact]
    public void DisjointDisks_refuses_a_disk_named_for_clone_and_mirror()
    {
        Assert.Null(Checks.DisjointDisks(new[] { "hdisk1" }, new[] { "hdisk2" }));
        AssertError(Checks.DisjointDisks(new[] { "hdisk1", "hdisk4" }, new[] { "HDISK4" }), "DiskNamedTwice", ErrorKind.InvalidArgument, "hdisk4");
    }

    [Fact]
    public void ChooseDisk_takes_the_smallest_free_disk_that_fits_and_skips_those_taken()
    {
        Assert.Equal(new[] { "hdisk1" }, Checks.ChooseDisk(_inv, 13824, Array.Empty<string>()));
        Assert.Equal(new[] { "hdisk2" }, Checks.ChooseDisk(_inv, 13824, new[] { "hdisk1" }));
        Assert.Equal(new[] { "hdisk4" }, Checks.ChooseDisk(_inv, 13824, new[] { "hdisk1", "hdisk2" }));
        Assert.Null(Checks.ChooseDisk(_inv, 13824, new[] { "hdisk1", "hdisk2", "hdisk4" }));
        Assert.Equal(new[] { "hdisk3" }, Checks.ChooseDisk(_inv, 5000, Array.Empty<string>()));
        Assert.Null(Checks.ChooseDisk(_inv, 100_000, Array.Empty<string>()));
    }

    [Fact]
    public void Frame_needs_room_for_a_surrogate_as_large_as_the_partition()
    {
        Assert.Null(Checks.Frame(_inv, _lpar1));
        var shortOfMemory = _inv with { System = _inv.System with { AvailableMemoryMB = _lpar1.MemoryMB - 1 } };
        AssertError(Checks.Frame(shortOfMemory, _lpar1), "InsufficientFrameResources", ErrorKind.ResourceUnavailable, "lpar1");
        var shortOfProcessors = _inv with { System = _inv.System with { AvailableProcessors = _lpar1.Processors - 0.5 } };
        AssertError(Checks.Frame(shortOfProcessors, _lpar1), "InsufficientFrameResources", ErrorKind.ResourceUnavailable, "lpar1");
        var exactly = _inv with { System = _inv.System with { AvailableProcessors = _lpar1.Processors, AvailableMemoryMB = _lpar1.MemoryMB } };
        Assert.Null(Checks.Frame(exactly, _lpar1));
    }

    [Fact]
    public void Bundle_must_target_a_newer_level_that_the_partition_may_take()
    {
        var sp = UpdateBundle.Verify(_lab.Bundle("7300-02-02"));
        var tl = UpdateBundle.Verify(_lab.Bundle("7300-03-01"));
        var level = OsLevel.Parse("7300-02-01");
        Assert.Null(Checks.Bundle(sp, level, "lpar1"));
        AssertError(Checks.Bundle(sp, OsLevel.Parse("7300-02-02"), "lpar1"), "BundleLevelNotNewer", ErrorKind.InvalidOperation, sp.Source);
        AssertError(Checks.Bundle(sp, OsLevel.Parse("7300-03-00"), "lpar1"), "BundleLevelNotNewer", ErrorKind.InvalidOperation, sp.Source);
        AssertError(Checks.Bundle(tl, level, "lpar1"), "BundleRequirementNotMet", ErrorKind.InvalidOperation, tl.Source);
        Assert.Null(Checks.Bundle(tl, OsLevel.Parse("7300-02-02"), "lpar1"));
        var offline = UpdateBundle.Verify(UpdateBundle.Create(Path.Combine(_lab.Root, "offline"), "needs a reboot", OsLevel.Parse("7300-02-03"), null, false,
            new[] { ("bos.rte", "7.3.2.3", "fileset", "bos.rte.bff", Encoding.UTF8.GetBytes("image")) }));
        AssertError(Checks.Bundle(offline, level, "lpar1"), "BundleNotLiveUpdateCapable", ErrorKind.InvalidOperation, offline.Source);
    }

    [Fact]
    public void OpenBundle_returns_the_error_instead_of_throwing()
    {
        Assert.Null(Checks.OpenBundle(_lab.Bundle("7300-02-02"), out var good));
        Assert.NotNull(good);
        var error = Checks.OpenBundle(_lab.Bundle("7300-09-09"), out var missing);
        Assert.Null(missing);
        AssertError(error, "BundleNotFound", ErrorKind.ObjectNotFound, _lab.Bundle("7300-09-09"));
    }

    [Fact]
    public void Leftovers_of_an_earlier_update_are_reported()
    {
        Assert.Null(Checks.NoClone(_inv, _lpar1));
        Assert.Null(Checks.NoMirror(_inv, _lpar1));
        Assert.Null(Checks.NoSurrogate(_inv, _lpar1));

        var clone = new RootVgClone("lpar1", "altinst_rootvg", new[] { "hdisk1" }, _lpar1.OsLevel, _lpar1.OsLevel, CloneState.Cloned,
            Array.Empty<string>(), null, 30, _inv.System.Clock);
        AssertError(Checks.NoClone(_inv with { Clones = new[] { clone } }, _lpar1), "CloneExists", ErrorKind.ResourceExists, "lpar1");
        var mirror = new RootVgMirror("lpar1", "rootvg", new[] { "hdisk2" }, MirrorState.Synchronized, null, null, 60, _inv.System.Clock);
        AssertError(Checks.NoMirror(_inv with { Mirrors = new[] { mirror } }, _lpar1), "MirrorExists", ErrorKind.ResourceExists, "lpar1");
        var surrogate = _lpar1 with { Name = "lpar1_surrogate", Id = 2, SurrogateOf = "lpar1" };
        AssertError(Checks.NoSurrogate(_inv with { Partitions = new[] { _lpar1, surrogate } }, _lpar1), "SurrogateExists", ErrorKind.ResourceExists, "lpar1");
    }
}
