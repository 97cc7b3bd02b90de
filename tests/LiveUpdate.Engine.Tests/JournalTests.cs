using System;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Xunit;

namespace LiveUpdate.Engine.Tests;

public sealed class JournalTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "lu-journal-" + Guid.NewGuid().ToString("N"));

    public JournalTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private OperationJournal NewJournal(string id = "LU-test-1")
    {
        var j = OperationJournal.Create(_root, "lpar1", id);
        j.Append("Begin", DateTimeOffset.UnixEpoch, ("kind", "Update"), ("partition", "lpar1"), ("from", "7300-02-01"), ("to", "7300-02-02"),
            ("cloneDisks", new[] { "hdisk1" }), ("mirrorDisks", new[] { "hdisk2" }), ("applications", new[] { "db2inst1" }), ("pid", 42));
        return j;
    }

    [Fact]
    public void Reads_back_what_was_appended_with_step_states_and_durations()
    {
        var j = NewJournal();
        j.Append("StepStarted", DateTimeOffset.UnixEpoch, ("step", Steps.Verify));
        j.Append("StepSucceeded", DateTimeOffset.UnixEpoch.AddSeconds(1), ("step", Steps.Verify), ("detail", "ok"));
        j.Append("StepStarted", DateTimeOffset.UnixEpoch.AddSeconds(1), ("step", Steps.Clone));

        var back = OperationJournal.Open(_root, "LU-test-1");
        Assert.Equal("lpar1", back.Partition);
        Assert.Equal(OsLevel.Parse("7300-02-02"), back.ToLevel);
        Assert.Equal(new[] { "hdisk1" }, back.CloneDisks);
        Assert.True(back.StepDone(Steps.Verify));
        Assert.False(back.StepDone(Steps.Clone));
        Assert.False(back.Ended);
        var steps = back.Steps();
        Assert.Equal("Succeeded", steps[0].State);
        Assert.Equal(1, steps[0].Duration);
        Assert.Equal("Started", steps[1].State);
        Assert.All(steps.Skip(2), s => Assert.Equal("Pending", s.State));
    }

    [Fact]
    public void Refuses_an_entry_edited_by_hand()
    {
        var j = NewJournal();
        j.Append("StepStarted", DateTimeOffset.UnixEpoch, ("step", Steps.Verify));
        var lines = File.ReadAllLines(j.Path);
        lines[1] = lines[1].Replace("StepStarted", "StepSucceeded");
        File.WriteAllLines(j.Path, lines);
        var e = Assert.Throws<LiveUpdateException>(() => OperationJournal.Open(_root, "LU-test-1"));
        Assert.Equal("JournalCorrupt", e.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, e.Kind);
    }

    [Fact]
    public void Refuses_a_journal_with_an_entry_removed_or_cut_off()
    {
        var j = NewJournal();
        j.Append("StepStarted", DateTimeOffset.UnixEpoch, ("step", Steps.Verify));
        j.Append("StepSucceeded", DateTimeOffset.UnixEpoch, ("step", Steps.Verify));
        var lines = File.ReadAllLines(j.Path);
        File.WriteAllLines(j.Path, new[] { lines[0], lines[2] });
        Assert.Equal("JournalCorrupt", Assert.Throws<LiveUpdateException>(() => OperationJournal.Open(_root, "LU-test-1")).ErrorId);

        var k = NewJournal("LU-test-2");
        var text = File.ReadAllText(k.Path);
        File.WriteAllText(k.Path, text.Substring(0, text.Length - 10));
        Assert.Equal("JournalCorrupt", Assert.Throws<LiveUpdateException>(() => OperationJournal.Open(_root, "LU-test-2")).ErrorId);
    }

    [Fact]
    public void An_unknown_id_is_not_found_and_ids_are_listed_per_partition()
    {
        NewJournal("LU-a");
        var other = OperationJournal.Create(_root, "lpar2", "LU-b");
        other.Append("Begin", DateTimeOffset.UnixEpoch, ("partition", "lpar2"), ("from", "7300-02-01"), ("to", "7300-02-02"));
        Assert.Equal("OperationNotFound", Assert.Throws<LiveUpdateException>(() => OperationJournal.Open(_root, "LU-nope")).ErrorId);
        Assert.Equal("OperationNotFound", Assert.Throws<LiveUpdateException>(() => OperationJournal.Open(_root, "../x")).ErrorId);
        Assert.Equal(new[] { "LU-a" }, OperationJournal.Ids(_root, "lpar1"));
        Assert.Equal(new[] { "LU-a", "LU-b" }, OperationJournal.Ids(_root));
    }

    [Fact]
    public void A_partition_lock_refuses_a_second_holder_and_leaves_nothing_when_released()
    {
        var backend = LabBuilder.Create(Path.Combine(_root, "lab"), new LabOptions());
        IDisposable SystemLock() => backend.Lock(TimeSpan.FromSeconds(5));
        var first = PartitionLock.Acquire(backend.Location, "lpar1", "op-1", SystemLock);
        Assert.True(PartitionLock.IsHeld(backend.Location, "lpar1"));
        Assert.Contains("operation=op-1", PartitionLock.Owner(backend.Location, "lpar1"));
        var inner = PartitionLock.Acquire(backend.Location, "lpar1", "op-1", SystemLock); // re-entrant on this thread
        inner.Dispose();
        Assert.True(PartitionLock.IsHeld(backend.Location, "lpar1"));

        LiveUpdateException? fromOtherThread = null;
        var t = new System.Threading.Thread(() =>
        {
            try { PartitionLock.Acquire(backend.Location, "lpar1", "op-2", SystemLock).Dispose(); }
            catch (LiveUpdateException e) { fromOtherThread = e; }
        });
        t.Start();
        t.Join();
        Assert.Equal("UpdateInProgress", fromOtherThread?.ErrorId);
        Assert.Equal(ErrorKind.ResourceBusy, fromOtherThread!.Kind);

        first.Dispose();
        Assert.False(PartitionLock.IsHeld(backend.Location, "lpar1"));
        Assert.False(Directory.Exists(Path.Combine(backend.Location, "locks")));
    }

    [Fact]
    public void A_lock_left_by_a_dead_owner_is_taken_over_and_reported()
    {
        var backend = LabBuilder.Create(Path.Combine(_root, "lab"), new LabOptions());
        var path = PartitionLock.PathOf(backend.Location, "lpar1");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "");
        File.WriteAllText(Path.ChangeExtension(path, ".owner"), "pid=999999 operation=LU-dead");
        using var held = PartitionLock.Acquire(backend.Location, "lpar1", "op-3", () => backend.Lock(TimeSpan.FromSeconds(5)));
        Assert.Equal("pid=999999 operation=LU-dead", PartitionLock.Of(held)!.PreviousOwner);
    }
}
