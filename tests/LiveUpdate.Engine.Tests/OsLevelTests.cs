using LiveUpdate.Engine.Model;
using Xunit;

namespace LiveUpdate.Engine.Tests;

public class OsLevelTests
{
    [Theory]
    [InlineData("7300-02-01", "7300-02-02", -1)]
    [InlineData("7300-03-00", "7300-02-09", 1)]
    [InlineData("7300-02-01-2346", "7300-02-01", 0)]
    [InlineData("7200-05-07", "7300-00-00", -1)]
    public void Compares_by_release_then_technology_level_then_service_pack(string a, string b, int sign)
    {
        Assert.Equal(sign, System.Math.Sign(OsLevel.Parse(a).CompareTo(OsLevel.Parse(b))));
    }

    [Theory]
    [InlineData("")]
    [InlineData("7300")]
    [InlineData("7300-02")]
    [InlineData("7300-02-xx")]
    [InlineData("0000-01-01")]
    [InlineData("7300-02-01-2346-9")]
    public void Refuses_what_is_not_a_level(string text)
    {
        Assert.False(OsLevel.TryParse(text, out _));
    }

    [Fact]
    public void Prints_as_oslevel_does()
    {
        Assert.Equal("7300-02-01", OsLevel.Parse("7300-2-1").ToString());
        Assert.Equal("7300-02-01-2346", OsLevel.Parse("7300-02-01-2346").ToString());
    }

    [Fact]
    public void Compares_untyped_with_a_level_or_its_text()
    {
        System.IComparable level = OsLevel.Parse("7300-02-02");
        Assert.True(level.CompareTo(OsLevel.Parse("7300-02-01")) > 0);
        Assert.True(level.CompareTo("7300-03-01") < 0);
        Assert.Equal(0, level.CompareTo("7300-02-02-2346"));
        Assert.True(level.CompareTo(null) > 0);
        Assert.Throws<System.ArgumentException>(() => level.CompareTo(42));
        Assert.Equal("7300-02-02", OsLevel.Parse("7300-02-02").Text);
    }
}
