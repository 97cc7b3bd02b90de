using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Flow;
using Xunit;

namespace LiveUpdate.Engine.Tests;

public sealed class LabStoreTests : IDisposable
{
    private readonly TestFolder _folder = new("liveupdate-store-test");

    public void Dispose() => _folder.Dispose();

    private static LabState Sample(string name = "Frame-A") => new()
    {
        Name = name,
        Disks = { new DiskRecord { Name = "hdisk0", SizeMB = 30720, Pvid = "00f84c7ea0000000" } },
        Partitions = { new SimulatedPartition { Id = 1, Name = "lpar1", Uuid = "u-1", Processors = 4, MemoryMB = 16384 } },
    };

    private LabStore SavedStore(LabState? state = null)
    {
        var store = new LabStore(_folder.Path);
        store.Save(state ?? Sample());
        return store;
    }

    private static void AssertCorrupt(LabStore store, string? path = null)
    {
        var e = Assert.Throws<LiveUpdateException>(() => store.Load());
        Assert.Equal("LabStateCorrupt", e.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, e.Kind);
        Assert.Equal(path ?? store.StatePath, e.Target);
    }

    private string[] StateFiles() => new[] { LabStore.StateFileName, LabStore.DisksFileName, Path.Combine(LabStore.DomainsFolder, "lpar1.state") };

    [Fact]
    public void Saves_each_state_file_with_the_checksum_of_its_body_and_loads_it_back()
    {
        var store = SavedStore();
        foreach (var file in StateFiles())
        {
            var text = File.ReadAllText(Path.Combine(_folder.Path, file));
            var newline = text.IndexOf('\n');
            var header = text.Substring(0, newline);
            var body = text.Substring(newline + 1);
            Assert.Matches("^LiveUpdate\\.Lab/[0-9]+ sha256=[0-9a-f]{64}$", header);
            Assert.EndsWith("sha256=" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(body))).ToLowerInvariant(), header);
        }
        // A new store reads the files, not a copy kept in memory.
        var loaded = new LabStore(_folder.Path).Load();
        Assert.Equal("Frame-A", loaded.Name);
        Assert.Equal("lpar1", loaded.Partitions.Single().Name);
        Assert.Equal(30720, loaded.Disks.Single().SizeMB);
        Assert.True(LabStore.IsLab(_folder.Path));
    }

    [Fact]
    public void Replaces_the_state_and_leaves_no_temporary_file()
    {
        var store = SavedStore();
        var big = Sample("Frame-with-a-long-name");
        for (var i = 1; i < 50; i++) big.Disks.Add(new DiskRecord { Name = "hdisk" + i, SizeMB = 1024 });
        store.Save(big);
        store.Save(Sample("B"));
        var loaded = new LabStore(_folder.Path).Load();
        Assert.Equal("B", loaded.Name);
        Assert.Single(loaded.Disks);
        var files = Directory.GetFiles(_folder.Path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(_folder.Path, f))
            .Where(f => f != LabStore.LockFileName).OrderBy(f => f, StringComparer.Ordinal);
        Assert.Equal(StateFiles().OrderBy(f => f, StringComparer.Ordinal), files);
    }

    [Theory]
    [InlineData("disks.state")]
    [InlineData("domains/lpar1.state")]
    public void Refuses_a_state_file_edited_by_hand_or_truncated(string file)
    {
        SavedStore();
        var path = Path.Combine(_folder.Path, file);
        var original = File.ReadAllText(path);
        File.WriteAllText(path, original.Replace("30720", "99999").Replace("lpar1", "lpar7"));
        AssertCorrupt(new LabStore(_folder.Path), path);
        File.WriteAllText(path, original.Substring(0, original.Length / 2));
        AssertCorrupt(new LabStore(_folder.Path), path);
    }

    [Fact]
    public void Writes_a_new_file_and_renames_it_so_a_reader_never_sees_a_mixture()
    {
        var store = SavedStore();
        var before = File.ReadAllBytes(store.StatePath);
        // A reader that opened the old file keeps reading the old file whole: the new state arrives by rename, not
        // by rewriting the bytes in place.
        using var reader = new FileStream(store.StatePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var big = Sample("Frame-B");
        for (var i = 1; i < 50; i++) big.Disks.Add(new DiskRecord { Name = "hdisk" + i, SizeMB = 1024 });
        store.Save(big);
        using var copy = new MemoryStream();
        reader.CopyTo(copy);
        Assert.Equal(before, copy.ToArray());
        Assert.Equal("Frame-B", store.Load().Name);
    }

    [Fact]
    public void Refuses_a_state_edited_by_hand()
    {
        var store = SavedStore();
        File.WriteAllText(store.StatePath, File.ReadAllText(store.StatePath).Replace("lpar1", "lpar7"));
        AssertCorrupt(store);
    }

    [Fact]
    public void Refuses_a_truncated_state()
    {
        var store = SavedStore();
        var bytes = File.ReadAllBytes(store.StatePath);
        File.WriteAllBytes(store.StatePath, bytes.Take(bytes.Length / 2).ToArray());
        AssertCorrupt(store);
    }

    [Fact]
    public void Refuses_a_state_without_header()
    {
        var store = SavedStore();
        var text = File.ReadAllText(store.StatePath);
        File.WriteAllText(store.StatePath, text.Substring(text.IndexOf('\n') + 1));
        AssertCorrupt(store);
        File.WriteAllText(store.StatePath, "");
        AssertCorrupt(store);
    }

    [Fact]
    public void Refuses_a_body_that_matches_its_checksum_but_is_not_json()
    {
        var store = SavedStore();
        const string body = "{ this is not json";
        var text = File.ReadAllText(store.StatePath);
        var prefix = text.Substring(0, text.IndexOf("sha256=", StringComparison.Ordinal) + "sha256=".Length);
        File.WriteAllText(store.StatePath, prefix + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(body))).ToLowerInvariant() + "\n" + body);
        var e = Assert.Throws<LiveUpdateException>(() => store.Load());
        Assert.Equal("LabStateCorrupt", e.ErrorId);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void A_folder_without_state_is_not_a_lab()
    {
        var store = new LabStore(_folder.Path);
        Assert.False(LabStore.IsLab(_folder.Path));
        var e = Assert.Throws<LiveUpdateException>(() => store.Load());
        Assert.Equal("NotALab", e.ErrorId);
    }

    [Fact]
    public void A_lab_whose_folder_is_gone_is_not_a_lab_for_loading_or_locking()
    {
        var store = SavedStore();
        Directory.Delete(_folder.Path, recursive: true);
        var load = Assert.Throws<LiveUpdateException>(() => store.Load());
        Assert.Equal(("NotALab", ErrorKind.ObjectNotFound), (load.ErrorId, load.Kind));
        // Refused at once, not after waiting as if another process held the lock.
        var lockError = Assert.Throws<LiveUpdateException>(() => store.Lock(TimeSpan.FromMinutes(5)));
        Assert.Equal(("NotALab", ErrorKind.ObjectNotFound), (lockError.ErrorId, lockError.Kind));
        Assert.Equal(_folder.Path, lockError.Target);
    }

    [Fact]
    public void A_second_holder_of_the_lock_gets_LabBusy_while_the_first_holds_it()
    {
        var first = SavedStore();
        var second = new LabStore(_folder.Path);
        using (first.Lock(TimeSpan.FromSeconds(1)))
        {
            var e = Assert.Throws<LiveUpdateException>(() => second.Lock(TimeSpan.FromMilliseconds(50)));
            Assert.Equal("LabBusy", e.ErrorId);
            Assert.Equal(ErrorKind.ResourceBusy, e.Kind);
            Assert.Equal(_folder.Path, e.Target);
            // The failed attempt left the second store usable, and the first still holds the lock.
            Assert.Throws<LiveUpdateException>(() => second.Lock(TimeSpan.Zero));
        }
        using (second.Lock(TimeSpan.FromSeconds(1)))
        {
            Assert.Throws<LiveUpdateException>(() => first.Lock(TimeSpan.Zero));
        }
    }

    [Fact]
    public void The_lock_is_reentrant_within_one_store()
    {
        var store = SavedStore();
        var other = new LabStore(_folder.Path);
        using (store.Lock(TimeSpan.FromSeconds(1)))
        {
            using (store.Lock(TimeSpan.FromSeconds(1)))
            {
                store.Save(Sample("nested"));
            }
            // Leaving the inner lock keeps the outer one.
            Assert.Throws<LiveUpdateException>(() => other.Lock(TimeSpan.Zero));
        }
        using (other.Lock(TimeSpan.Zero)) Assert.Equal("nested", other.Load().Name);
    }

    [Fact]
    public void A_waiting_holder_gets_the_lock_once_it_is_released()
    {
        var first = SavedStore();
        var second = new LabStore(_folder.Path);
        var held = first.Lock(TimeSpan.FromSeconds(1));
        using var started = new ManualResetEventSlim();
        var waiter = Task.Run(() =>
        {
            started.Set();
            using (second.Lock(TimeSpan.FromSeconds(30)))
            {
                var s = second.Load();
                s.Name = "after-wait";
                second.Save(s);
            }
        });
        started.Wait();
        Assert.False(waiter.IsCompleted);
        first.Save(Sample("first"));
        held.Dispose();
        waiter.Wait(TimeSpan.FromSeconds(30));
        Assert.True(waiter.IsCompletedSuccessfully);
        Assert.Equal("after-wait", first.Load().Name);
    }
}
