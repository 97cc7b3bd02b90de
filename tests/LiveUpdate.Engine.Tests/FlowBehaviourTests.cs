using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;
using Xunit;

namespace LiveUpdate.Engine.Tests;

public sealed class FlowBehaviourTests : IDisposable
{
    private readonly SimulatedLab _lab = new(new Backends.Simulated.LabOptions { FreeDiskSizesMB = new long[] { 30720, 30720, 30720, 30720, 30720 } });

    public void Dispose() => _lab.Dispose();

    private string BundleTo(string level, string requires)
    {
        var folder = Path.Combine(_lab.Root, "updates", level);
        if (!Directory.Exists(folder))
            UpdateBundle.Create(folder, "AIX " + level, OsLevel.Parse(level), OsLevel.Parse(requires), true,
                new[] { ("bos.rte", level, "fileset", "bos.rte." + level + ".bff", Encoding.UTF8.GetBytes("image " + level)) });
        return folder;
    }

    [Fact]
    public void Kept_rootvgs_are_named_by_age_after_each_update()
    {
        var levels = new[] { ("7300-02-02", "7300-02-01"), ("7300-03-01", "7300-02-02"), ("7300-03-02", "7300-03-01") };
        foreach (var (to, from) in levels)
            Assert.Equal(LiveUpdateStatus.Succeeded, _lab.Engine.Invoke(new LiveUpdateRequest("lpar1", BundleTo(to, from)), OperationContext.None)!.Status);

        var kept = _lab.Inventory().VolumeGroups.Where(v => v.Role == VolumeGroupRole.OldRoot).ToDictionary(v => v.Name, v => v.OsLevel!.ToString());
        Assert.Equal("7300-03-01", kept["old_rootvg"]);
        Assert.Equal("7300-02-02", kept["old_rootvg1"]);
        Assert.Equal("7300-02-01", kept["old_rootvg2"]);
    }

    private void BringToMove()
    {
        var yes = OperationContext.None;
        _lab.Engine.NewRootVgClone("lpar1", new[] { "hdisk1" }, yes);
        _lab.Engine.StartRootVgMirror("lpar1", new[] { "hdisk2" }, yes);
        _lab.Engine.InstallCloneUpdate("lpar1", _lab.Bundle("7300-02-02"), yes);
        _lab.Engine.StartUpdatedPartition("lpar1", yes);
        _lab.Engine.ImportMirrorVg("lpar1", "lpar1_surrogate", yes);
    }

    [Fact]
    public void The_last_application_moves_and_hands_over_the_identity_on_one_confirmation()
    {
        BringToMove();
        var asked = new List<(string Target, string Action)>();
        var context = new OperationContext { ShouldProcess = (t, a) => { asked.Add((t, a)); return true; } };
        var first = _lab.Engine.MoveApplication("db2inst1", "lpar1_surrogate", context)!;
        Assert.False(first.IdentityTakenOver);
        var last = _lab.Engine.MoveApplication("ihs", "lpar1_surrogate", context)!;
        Assert.True(last.IdentityTakenOver);
        Assert.Equal(2, asked.Count);
        Assert.Contains("hand the name and identity of lpar1", asked[1].Action);
        Assert.DoesNotContain("identity", asked[0].Action);
        Assert.Equal(new[] { "lpar1" }, _lab.Inventory().Partitions.Select(p => p.Name));
    }

    [Fact]
    public void Declining_the_last_move_leaves_the_application_and_the_partitions_as_they_were()
    {
        BringToMove();
        _lab.Engine.MoveApplication("db2inst1", "lpar1_surrogate", OperationContext.None);
        var before = _lab.Snapshot();
        var no = new OperationContext { ShouldProcess = (_, _) => false };
        Assert.Null(_lab.Engine.MoveApplication("ihs", "lpar1_surrogate", no));
        Assert.Equal(before, _lab.Snapshot());
        // And the user can still finish: the same move, confirmed, hands over the identity.
        Assert.True(_lab.Engine.MoveApplication("ihs", "lpar1_surrogate", OperationContext.None)!.IdentityTakenOver);
    }

    [Fact]
    public void An_application_that_fails_its_health_check_in_a_hand_step_goes_back_with_its_data()
    {
        BringToMove();
        _lab.Backend.Faults = new FaultInjector(Steps.Health, FaultTiming.During);
        var moved = _lab.Engine.MoveApplication("db2inst1", "lpar1_surrogate", OperationContext.None)!;
        Assert.Equal("HealthCheckFailed", moved.Status);
        var app = _lab.Inventory().Applications.Single(a => a.Name == "db2inst1");
        Assert.Equal("lpar1", app.Partition);
        Assert.Equal(ApplicationState.Running, app.State);
        Assert.True(_lab.Engine.CheckApplicationData("db2inst1").Verified);
        // Moved back, it can be moved again.
        Assert.Equal("Moved", _lab.Engine.MoveApplication("db2inst1", "lpar1_surrogate", OperationContext.None)!.Status);
    }
}
