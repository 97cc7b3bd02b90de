using System.Collections.Generic;
using System.Linq;
using LiveUpdate.Engine.Backends;
using Xunit;

namespace LiveUpdate.Engine.Tests;

public sealed class OldRootVgsTests
{
    private sealed class Kept
    {
        public string Name { get; set; } = "";
    }

    [Theory]
    [InlineData("old_rootvg", 0)]
    [InlineData("old_rootvg1", 1)]
    [InlineData("old_rootvg12", 12)]
    [InlineData("old_rootvg-1", int.MaxValue)]
    [InlineData("old_rootvgx", int.MaxValue)]
    [InlineData("rootvg", int.MaxValue)]
    public void Generation_reads_the_number_after_old_rootvg(string name, int generation) =>
        Assert.Equal(generation, OldRootVgs.Generation(name));

    [Fact]
    public void Age_makes_every_kept_rootvg_one_generation_older_in_order()
    {
        // Listed out of order, with a gap (old_rootvg2 was removed by hand) and numbers past 9.
        var kept = new List<Kept> { new() { Name = "old_rootvg10" }, new() { Name = "old_rootvg" }, new() { Name = "old_rootvg3" }, new() { Name = "old_rootvg1" } };
        var before = kept.ToDictionary(k => k, k => k.Name);
        OldRootVgs.Age(kept, k => k.Name, (k, name) => k.Name = name);
        Assert.Equal("old_rootvg1", kept.Single(k => before[k] == "old_rootvg").Name);
        Assert.Equal("old_rootvg2", kept.Single(k => before[k] == "old_rootvg1").Name);
        Assert.Equal("old_rootvg3", kept.Single(k => before[k] == "old_rootvg3").Name);
        Assert.Equal("old_rootvg4", kept.Single(k => before[k] == "old_rootvg10").Name);
        Assert.DoesNotContain(kept, k => k.Name == OldRootVgs.Newest);
    }
}
