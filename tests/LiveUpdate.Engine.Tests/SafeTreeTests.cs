using System;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends;
using LiveUpdate.Engine.Backends.Host;
using LiveUpdate.Engine.Flow;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>
/// The safe-file API: inside an untrusted tree no link is followed, nothing leaves the tree, reads are bounded and take
/// regular files only; the module's own state, lock and owner files are never written through a link. Each case runs
/// with openat2 and with the component-by-component fallback.
/// </summary>
[Collection("Native")]
public sealed class SafeTreeTests : IDisposable
{
    private readonly TestFolder _folder = new("liveupdate-safetree");
    private readonly string _root;
    private readonly string _outside;

    public SafeTreeTests()
    {
        _root = _folder.Combine("root");
        _outside = _folder.Combine("outside");
        Directory.CreateDirectory(Path.Combine(_root, "etc/liveupdate"));
        Directory.CreateDirectory(_outside);
        File.WriteAllText(Path.Combine(_outside, "host-file"), "host\n");
    }

    public void Dispose()
    {
        Native.HasOpenat2 = true;
        _folder.Dispose();
    }

    private static void Both(Action test)
    {
        if (!OperatingSystem.IsLinux()) return;
        foreach (var openat2 in new[] { true, false })
        {
            Native.HasOpenat2 = openat2;
            test();
        }
        Native.HasOpenat2 = true;
    }

    private string HostFile => Path.Combine(_outside, "host-file");

    [Fact]
    public void A_write_replaces_a_planted_link_and_leaves_its_target_alone() => Both(() =>
    {
        var packages = Path.Combine(_root, "etc/liveupdate/packages");
        File.Delete(packages);
        File.CreateSymbolicLink(packages, HostFile);
        using (var tree = SafeTree.Open(_root)) tree.WriteText("etc/liveupdate/packages", "recordd 2 overlay\n");
        Assert.Equal("host\n", File.ReadAllText(HostFile));
        Assert.Null(new FileInfo(packages).LinkTarget);
        Assert.Equal("recordd 2 overlay\n", File.ReadAllText(packages));
        Assert.Empty(Directory.GetFiles(Path.Combine(_root, "etc/liveupdate"), ".liveupdate-*"));
    });

    [Fact]
    public void A_link_on_the_way_is_refused_for_reads_and_writes() => Both(() =>
    {
        var etc = Path.Combine(_root, "var");
        if (Directory.Exists(etc)) Directory.Delete(etc, true);
        if (File.Exists(etc) || new FileInfo(etc).LinkTarget is not null) File.Delete(etc);
        File.CreateSymbolicLink(etc, _outside);
        using var tree = SafeTree.Open(_root);
        var write = Assert.Throws<LiveUpdateException>(() => tree.WriteText("var/host-file", "planted\n"));
        Assert.Equal("UnsafePath", write.ErrorId);
        var read = Assert.Throws<LiveUpdateException>(() => tree.Read("var/host-file"));
        Assert.Equal("UnsafePath", read.ErrorId);
        Assert.Equal("host\n", File.ReadAllText(HostFile));
        Assert.False(tree.Exists("var/host-file"));
        File.Delete(etc);
    });

    [Fact]
    public void Dot_dot_and_devices_and_large_files_are_refused() => Both(() =>
    {
        using var tree = SafeTree.Open(_root);
        Assert.Equal("UnsafePath", Assert.Throws<LiveUpdateException>(() => tree.Read("../outside/host-file")).ErrorId);
        var zero = Path.Combine(_root, "zero");
        if (!File.Exists(zero)) File.CreateSymbolicLink(zero, "/dev/zero");
        Assert.Equal("UnsafePath", Assert.Throws<LiveUpdateException>(() => tree.Read("zero")).ErrorId);
        File.WriteAllBytes(Path.Combine(_root, "big"), new byte[4096]);
        Assert.Equal("FileTooLarge", Assert.Throws<LiveUpdateException>(() => tree.Read("big", limit: 1000)).ErrorId);
        Assert.Equal(4096, tree.Read("big", limit: 4096)!.Length);
        Assert.Null(tree.Read("missing/file"));
    });

    [Fact]
    public void A_device_node_is_never_opened()
    {
        if (!OperatingSystem.IsLinux() || !Native.IsRoot) return;
        var node = Path.Combine(_root, "null");
        var r = new CommandRunner().Probe("/usr/bin/mknod", new[] { node, "c", "1", "3" });
        Assert.True(r.Succeeded, r.StandardError);
        using var tree = SafeTree.Open(_root);
        Assert.Equal("UnsafePath", Assert.Throws<LiveUpdateException>(() => tree.Read("null")).ErrorId);
        Assert.False(tree.Exists("null"));
    }

    [Fact]
    public void Writes_make_missing_folders_and_delete_removes_a_link_not_its_target() => Both(() =>
    {
        using var tree = SafeTree.Open(_root);
        tree.WriteText("a/b/c/file", "x");
        Assert.Equal("x", tree.ReadText("a/b/c/file"));
        var link = Path.Combine(_root, "link");
        if (new FileInfo(link).LinkTarget is null) File.CreateSymbolicLink(link, HostFile);
        Assert.True(tree.Delete("link"));
        Assert.True(File.Exists(HostFile));
        Assert.False(tree.Delete("link"));
        Directory.Delete(Path.Combine(_root, "a"), true);
    });

    [Fact]
    public void State_temporary_files_lock_and_owner_files_are_never_written_through_a_link()
    {
        if (!OperatingSystem.IsLinux()) return;
        var state = _folder.Combine("state.json");
        File.CreateSymbolicLink(state + ".tmp-" + Environment.ProcessId, HostFile);
        StateFile.WriteAtomically(state, "{}\n");
        Assert.Equal("{}\n", File.ReadAllText(state));
        Assert.Equal("host\n", File.ReadAllText(HostFile));
        var lockFile = _folder.Combine(SystemLock.FileName);
        File.CreateSymbolicLink(lockFile, HostFile);
        var e = Assert.Throws<LiveUpdateException>(() => new SystemLock(_folder.Path).Hold(TimeSpan.FromSeconds(1)));
        Assert.Equal("LinkRefused", e.ErrorId);
        File.Delete(lockFile);
        var owner = Path.ChangeExtension(PartitionLock.PathOf(_folder.Path, "lpar1"), ".owner");
        Directory.CreateDirectory(Path.GetDirectoryName(owner)!);
        File.CreateSymbolicLink(owner, HostFile);
        var refused = Assert.Throws<LiveUpdateException>(() => PartitionLock.Acquire(_folder.Path, "lpar1", "LU-1", () => new SystemLock(_folder.Path).Hold(TimeSpan.FromSeconds(1))));
        Assert.Equal("LinkRefused", refused.ErrorId);
        Assert.Equal("host\n", File.ReadAllText(HostFile));
    }

    [Fact]
    public void Folders_that_another_user_can_write_are_refused_and_new_ones_are_owner_only()
    {
        if (!OperatingSystem.IsLinux()) return;
        var open = _folder.Combine("open");
        Directory.CreateDirectory(open);
        File.SetUnixFileMode(open, (UnixFileMode)0x1ff);
        Assert.Equal("FolderNotSafe", Assert.Throws<LiveUpdateException>(() => Folders.RequireSafe(open, "a lab folder")).ErrorId);
        File.SetUnixFileMode(open, (UnixFileMode)0x1ed);
        Folders.RequireSafe(open, "a lab folder");
        var made = _folder.Combine("made/deeper");
        Folders.CreateOwnerOnly(made);
        Assert.Equal((UnixFileMode)0x1c0, File.GetUnixFileMode(made));
    }
}
