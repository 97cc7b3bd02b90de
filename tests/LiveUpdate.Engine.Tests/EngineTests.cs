using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Xunit;

namespace LiveUpdate.Engine.Tests;

/// <summary>The flow over the simulated Power system, without PowerShell: each step, Invoke, Preview and ShouldProcess.</summary>
public sealed class EngineTests : IDisposable
{
    private readonly SimulatedLab _lab = new();
    private static readonly OperationContext Yes = OperationContext.None;

    public void Dispose() => _lab.Dispose();

    private LiveUpdateEngine Engine => _lab.Engine;
    private string Sp => _lab.Bundle("7300-02-02");
    private string Tl => _lab.Bundle("7300-03-01");

    private void AssertRecordsComplete(string disk)
    {
        foreach (var app in _lab.Inventory().Applications)
        {
            var records = _lab.Records(disk, app.DataPath);
            Assert.True(records.Count > 0, $"{app.Name} wrote nothing");
            Assert.Equal(app.Records, records.Count);
            Assert.Null(SimulatedLab.Gap(records));
        }
    }

    [Fact]
    public void The_steps_update_the_partition_keep_its_identity_and_every_record()
    {
        var original = _lab.Partition();
        var clone = Engine.NewRootVgClone("lpar1", new[] { "hdisk1" }, Yes)!;
        Assert.Equal(CloneState.Cloned, clone.State);
        Assert.Equal(original.OsLevel, clone.OsLevel);

        var mirror = Engine.StartRootVgMirror("lpar1", new[] { "hdisk2" }, Yes)!;
        Assert.Equal(MirrorState.Synchronized, mirror.State);
        Assert.Equal(new[] { "hdisk0", "hdisk2" }, _lab.Partition().RootDisks);

        clone = Engine.InstallCloneUpdate("lpar1", Sp, Yes)!;
        Assert.Equal(CloneState.Updated, clone.State);
        Assert.Equal(OsLevel.Parse("7300-02-02"), clone.OsLevel);
        Assert.Equal("7300-02-02", File.ReadAllText(Path.Combine(_lab.Root, "disks/hdisk1/usr/lib/objrepos/oslevel")).Trim());
        Assert.Equal("7300-02-01", File.ReadAllText(Path.Combine(_lab.Root, "disks/hdisk0/usr/lib/objrepos/oslevel")).Trim());
        Assert.False(Directory.Exists(Path.Combine(_lab.Root, "disks/hdisk0/usr/sys/inst.images")));
        // The mirror has every record that the running system has.
        foreach (var app in _lab.Inventory().Applications)
            Assert.Equal(_lab.Records("hdisk0", app.DataPath), _lab.Records("hdisk2", app.DataPath));

        var surrogate = Engine.StartUpdatedPartition("lpar1", Yes)!;
        Assert.Equal("lpar1_surrogate", surrogate.Name);
        Assert.Equal(OsLevel.Parse("7300-02-02"), surrogate.OsLevel);
        Assert.Equal("lpar1", surrogate.SurrogateOf);

        var vg = Engine.ImportMirrorVg("lpar1", surrogate.Name, Yes)!;
        Assert.Equal(VolumeGroupRole.Mirror, vg.Role);
        Assert.Equal(surrogate.Name, vg.Partition);

        var moves = _lab.Inventory().Applications.Select(a => Engine.MoveApplication(a.Name, surrogate.Name, Yes)!).ToList();
        Assert.All(moves, m =>
        {
            Assert.True(m.DataVerified);
            Assert.Equal(m.RecordsAcknowledged, m.RecordsOnDestination);
            Assert.True(m.Blackout > 0 && m.Blackout < 1);
        });
        Assert.Equal(new[] { false, true }, moves.Select(m => m.IdentityTakenOver));

        var after = _lab.Inventory();
        var lpar1 = Assert.Single(after.Partitions);
        Assert.Equal((original.Name, original.Id, original.Uuid, original.HostName, original.Address), (lpar1.Name, lpar1.Id, lpar1.Uuid, lpar1.HostName, lpar1.Address));
        Assert.Equal(OsLevel.Parse("7300-02-02"), lpar1.OsLevel);
        Assert.Equal(new[] { "hdisk1" }, lpar1.RootDisks);
        Assert.Empty(after.Clones);
        Assert.Empty(after.Mirrors);
        Assert.All(after.Applications, a => Assert.Equal(("lpar1", ApplicationState.Running), (a.Partition, a.State)));
        AssertRecordsComplete("hdisk1");
        var old = after.VolumeGroups.Single(v => v.Role == VolumeGroupRole.OldRoot);
        Assert.Equal(("old_rootvg", "lpar1"), (old.Name, old.Partition));
        Assert.Equal(new[] { "hdisk0" }, old.Disks);
        Assert.Equal(DiskState.Free, after.Disks.Single(d => d.Name == "hdisk2").State);

        Engine.RemoveVolumeGroup("lpar1", "old_rootvg", Yes);
        Assert.Equal(DiskState.Free, Engine.GetDisk("hdisk0").State);
        Assert.False(Directory.Exists(Path.Combine(_lab.Root, "disks/hdisk0")));
    }

    [Fact]
    public void Invoke_times_every_phase_on_the_virtual_clock()
    {
        var t = _lab.Backend.Timing;
        var used = Checks.RootVgUsedMB(_lab.Inventory(), _lab.Partition());
        using var bundle = UpdateBundle.Verify(Sp);
        var apps = _lab.Inventory().Applications;
        var clockBefore = _lab.Inventory().System.Clock;

        var result = Engine.Invoke(new LiveUpdateRequest("lpar1", Sp), Yes)!;

        Assert.Equal(LiveUpdateStatus.Succeeded, result.Status);
        var phases = result.Phases.ToDictionary(p => p.Name, p => p.Duration);
        Assert.Equal(new[] { "Verify", "Clone", "Mirror", "Install", "Boot", "Import", "Move", "TakeOver" }, result.Phases.Select(p => p.Name));
        Assert.All(result.Phases, p => Assert.Equal("Succeeded", p.Status));
        // Durations are seconds (doubles): sums agree to within a microsecond.
        const int digits = 6;
        Assert.Equal(0, phases["Verify"]);
        Assert.Equal(t.Copy(used).TotalSeconds, phases["Clone"], digits);
        Assert.Equal(t.MirrorSync(used).TotalSeconds, phases["Mirror"], digits);
        Assert.Equal(t.Install(bundle.Packages.Count, bundle.PayloadBytes).TotalSeconds, phases["Install"], digits);
        Assert.Equal(t.Boot.TotalSeconds, phases["Boot"], digits);
        Assert.Equal(t.Import.TotalSeconds, phases["Import"], digits);
        Assert.Equal(result.Applications.Sum(m => m.Blackout), phases["Move"], digits);
        Assert.Equal(t.Shutdown.TotalSeconds, phases["TakeOver"], digits);
        Assert.Equal(result.Phases.Sum(p => p.Duration), result.Duration, digits);
        Assert.Equal((_lab.Inventory().System.Clock - clockBefore).TotalSeconds, result.Duration, digits);
        Assert.Equal(clockBefore, result.Started);
        Assert.Equal(result.Finished - result.Started, TimeSpan.FromSeconds(result.Duration));
        Assert.Equal(result.Applications.Max(m => m.Blackout), result.Blackout);
        Assert.Equal(apps.Count, result.Applications.Count);
        Assert.All(result.Applications, m => Assert.Equal(m.StopTime + m.SyncTime + m.StartTime, m.Blackout, digits));
        Assert.True(result.Blackout > 0 && result.Blackout < 1);
        Assert.Matches("^LU-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$", result.OperationId);
        AssertRecordsComplete("hdisk1");
    }

    [Fact]
    public void Invoke_chooses_the_disks_that_Preview_shows_and_Preview_changes_nothing()
    {
        var before = _lab.Snapshot();
        var preview = Engine.Preview(new LiveUpdateRequest("lpar1", Sp));
        Assert.Equal(before, _lab.Snapshot());
        Assert.True(preview.CanProceed);
        Assert.All(preview.Checks, c => Assert.True(c.Passed, c.Name + ": " + c.Message));
        Assert.Equal(Steps.Update, preview.Plan.Select(s => s.Name));
        Assert.Equal(preview.Plan.Sum(p => p.EstimatedDuration), preview.EstimatedDuration, 6);

        var result = Engine.Invoke(new LiveUpdateRequest("lpar1", Sp), Yes)!;
        Assert.Equal(preview.CloneDisks, result.CloneDisks);
        Assert.Equal(preview.MirrorDisks, result.MirrorDisks);
        // The estimates are the timing model's: the steps before the blackout take what the plan said.
        foreach (var step in new[] { "Clone", "Mirror", "Install", "Boot", "Import" })
            Assert.Equal(preview.Plan.Single(s => s.Name == step).EstimatedDuration, result.Phases.Single(p => p.Name == step).Duration, 6);
    }

    [Fact]
    public void Updates_repeat_and_each_keeps_the_level_it_left_as_old_rootvg()
    {
        var uuid = _lab.Partition().Uuid;
        var first = Engine.Invoke(new LiveUpdateRequest("lpar1", Sp), Yes)!;
        Assert.Equal(new[] { "hdisk0" }, first.OldRootVgDisks);
        var second = Engine.Invoke(new LiveUpdateRequest("lpar1", Tl), Yes)!;
        Assert.Equal(LiveUpdateStatus.Succeeded, second.Status);
        Assert.Equal(OsLevel.Parse("7300-02-02"), second.FromLevel);
        var lpar1 = _lab.Partition();
        Assert.Equal(OsLevel.Parse("7300-03-01"), lpar1.OsLevel);
        Assert.Equal(uuid, lpar1.Uuid);
        AssertRecordsComplete(lpar1.RootDisks.Single());

        var kept = _lab.Inventory().VolumeGroups.Where(v => v.Role == VolumeGroupRole.OldRoot).ToDictionary(v => v.Name);
        Assert.Equal(new[] { "old_rootvg", "old_rootvg1" }, kept.Keys.OrderBy(k => k));
        Assert.Equal(new[] { "hdisk1" }, kept["old_rootvg"].Disks);
        Assert.Equal(OsLevel.Parse("7300-02-02"), kept["old_rootvg"].OsLevel);
        Assert.Equal(new[] { "hdisk0" }, kept["old_rootvg1"].Disks);
        Assert.Equal(OsLevel.Parse("7300-02-01"), kept["old_rootvg1"].OsLevel);
        // The result names the way back: old_rootvg, the level just left.
        Assert.Equal(new[] { "hdisk1" }, second.OldRootVgDisks);

        Engine.RemoveVolumeGroup("lpar1", "old_rootvg1", Yes);
        Engine.RemoveVolumeGroup("lpar1", "old_rootvg", Yes);
        Assert.Equal(new[] { "rootvg" }, _lab.Inventory().VolumeGroups.Select(v => v.Name));
    }

    [Fact]
    public void Invoke_refuses_what_its_checks_refuse_and_changes_nothing()
    {
        var before = _lab.Snapshot();
        void Refused(LiveUpdateRequest request, string id)
        {
            var e = Assert.Throws<LiveUpdateException>(() => Engine.Invoke(request, Yes));
            Assert.Equal(id, e.ErrorId);
            Assert.Equal(before, _lab.Snapshot());
        }
        Refused(new LiveUpdateRequest("lpar9", Sp), "PartitionNotFound");
        Refused(new LiveUpdateRequest("lpar1", Tl), "BundleRequirementNotMet");
        Refused(new LiveUpdateRequest("lpar1", Sp, new[] { "hdisk3" }), "DiskTooSmall");
        Refused(new LiveUpdateRequest("lpar1", Sp, new[] { "hdisk1" }, new[] { "hdisk1" }), "DiskNamedTwice");
        Refused(new LiveUpdateRequest("lpar1", Sp, null, new[] { "hdisk0" }), "DiskInUse");
        Refused(new LiveUpdateRequest("lpar1", Path.Combine(_lab.Root, "updates", "none")), "BundleNotFound");
    }

    [Fact]
    public void A_declined_confirmation_changes_nothing_at_any_step()
    {
        var no = new RecordingContext(false);
        var before = _lab.Snapshot();
        void Declined(Func<OperationContext, object?> step, string target)
        {
            var asked = no.Asked.Count;
            Assert.Null(step(no.Context));
            Assert.Equal(asked + 1, no.Asked.Count);
            Assert.Equal(target, no.Asked[^1].Target);
            Assert.Equal(before, _lab.Snapshot());
        }

        Declined(c => Engine.Invoke(new LiveUpdateRequest("lpar1", Sp), c), "lpar1");
        Declined(c => Engine.NewRootVgClone("lpar1", new[] { "hdisk1" }, c), "lpar1");
        Declined(c => Engine.StartRootVgMirror("lpar1", new[] { "hdisk2" }, c), "lpar1");
        Engine.NewRootVgClone("lpar1", new[] { "hdisk1" }, Yes);
        Engine.StartRootVgMirror("lpar1", new[] { "hdisk2" }, Yes);
        before = _lab.Snapshot();
        Declined(c => Engine.InstallCloneUpdate("lpar1", Sp, c), "altinst_rootvg of lpar1");
        Engine.InstallCloneUpdate("lpar1", Sp, Yes);
        before = _lab.Snapshot();
        Declined(c => Engine.StartUpdatedPartition("lpar1", c), "lpar1_surrogate");
        Engine.StartUpdatedPartition("lpar1", Yes);
        before = _lab.Snapshot();
        Declined(c => Engine.ImportMirrorVg("lpar1", "lpar1_surrogate", c), "lpar1_surrogate");
        Engine.ImportMirrorVg("lpar1", "lpar1_surrogate", Yes);
        before = _lab.Snapshot();
        Declined(c => Engine.MoveApplication("db2inst1", "lpar1_surrogate", c), "db2inst1");
        Engine.MoveApplication("db2inst1", "lpar1_surrogate", Yes);
        Engine.MoveApplication("ihs", "lpar1_surrogate", Yes);
        before = _lab.Snapshot();
        Declined(c => { Engine.RemoveVolumeGroup("lpar1", "old_rootvg", c); return null; }, "old_rootvg of lpar1");
    }

    [Fact]
    public void Invoke_asks_once_and_reports_progress_to_completion()
    {
        var yes = new RecordingContext(true);
        var result = Engine.Invoke(new LiveUpdateRequest("lpar1", Sp), yes.Context)!;
        Assert.Equal(LiveUpdateStatus.Succeeded, result.Status);
        Assert.Equal(new[] { "lpar1" }, yes.Asked.Select(a => a.Target));
        var flow = yes.Progress.Where(p => p.Activity == "Live update of lpar1").ToList();
        Assert.True(flow.Count >= 7);
        Assert.Equal(flow.Select(p => p.PercentComplete).OrderBy(p => p), flow.Select(p => p.PercentComplete));
        Assert.True(flow[^1].Completed);
        Assert.Equal(100, flow[^1].PercentComplete);
    }

    [Fact]
    public void Invoke_updates_each_partition_of_a_larger_frame()
    {
        using var lab = new SimulatedLab(new Backends.Simulated.LabOptions { PartitionCount = 2 });
        var uuids = lab.Inventory().Partitions.Select(p => p.Uuid).ToList();
        foreach (var name in new[] { "lpar1", "lpar2" })
            Assert.Equal(LiveUpdateStatus.Succeeded, lab.Engine.Invoke(new LiveUpdateRequest(name, lab.Bundle("7300-02-02")), Yes)!.Status);
        var after = lab.Inventory();
        Assert.Equal(uuids, after.Partitions.Select(p => p.Uuid));
        Assert.All(after.Partitions, p => Assert.Equal(OsLevel.Parse("7300-02-02"), p.OsLevel));
        foreach (var app in after.Applications)
        {
            var disk = after.Partitions.Single(p => p.Name == app.Partition).RootDisks.Single();
            var records = lab.Records(disk, app.DataPath);
            Assert.Equal(app.Records, records.Count);
            Assert.Null(SimulatedLab.Gap(records));
        }
        // Every disk belongs to at most one volume group.
        var owners = after.VolumeGroups.SelectMany(v => v.Disks.Concat(v.MirrorDisks)).ToList();
        Assert.Equal(owners.Count, owners.Distinct().Count());
    }

    [Fact]
    public void A_second_engine_on_the_same_lab_waits_for_the_lock_then_sees_the_change()
    {
        using var other = Backends.Simulated.SimulatedBackend.Open(_lab.Root);
        var second = new LiveUpdateEngine(other);
        using (_lab.Backend.Lock(TimeSpan.FromSeconds(1)))
        {
            Engine.NewRootVgClone("lpar1", new[] { "hdisk1" }, Yes);
            var busy = Assert.Throws<LiveUpdateException>(() => other.Lock(TimeSpan.FromMilliseconds(20)));
            Assert.Equal("LabBusy", busy.ErrorId);
        }
        var e = Assert.Throws<LiveUpdateException>(() => second.NewRootVgClone("lpar1", new[] { "hdisk2" }, Yes));
        Assert.Equal("CloneExists", e.ErrorId);
    }
}
