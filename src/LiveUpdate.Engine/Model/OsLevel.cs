using System;
using System.Globalization;

namespace LiveUpdate.Engine.Model;

/// <summary>
/// An operating-system level in the form that <c>oslevel -s</c> prints on AIX: release, technology level and
/// service pack (<c>7300-02-01</c>), optionally followed by a build week (<c>7300-02-01-2346</c>). Levels compare
/// by release, then technology level, then service pack; the build week does not order levels.
/// </summary>
public sealed class OsLevel : IComparable<OsLevel>, IComparable, IEquatable<OsLevel>
{
    public OsLevel(int release, int technologyLevel, int servicePack, int build = 0)
    {
        if (release <= 0 || technologyLevel < 0 || servicePack < 0 || build < 0)
            throw new ArgumentOutOfRangeException(nameof(release), "An OS level has a positive release and non-negative technology level, service pack and build.");
        Release = release;
        TechnologyLevel = technologyLevel;
        ServicePack = servicePack;
        Build = build;
    }

    public int Release { get; }
    public int TechnologyLevel { get; }
    public int ServicePack { get; }
    public int Build { get; }

    /// <summary>The level as <c>oslevel -s</c> prints it, so that JSON and other property-wise exports read it too.</summary>
    public string Text => ToString();

    /// <summary>Parses <c>RRRR-TT-SS</c> or <c>RRRR-TT-SS-BBBB</c>. PowerShell uses this to convert strings.</summary>
    public static OsLevel Parse(string text)
    {
        if (TryParse(text, out var level)) return level!;
        throw new FormatException($"'{text}' is not an OS level; expected the form 7300-02-01 (release-technology level-service pack).");
    }

    public static bool TryParse(string? text, out OsLevel? level)
    {
        level = null;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var parts = text!.Trim().Split('-');
        if (parts.Length is < 3 or > 4) return false;
        var numbers = new int[4];
        for (var i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length == 0 || !int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i])) return false;
        }
        if (numbers[0] <= 0) return false;
        level = new OsLevel(numbers[0], numbers[1], numbers[2], numbers[3]);
        return true;
    }

    public int CompareTo(OsLevel? other)
    {
        if (other is null) return 1;
        var c = Release.CompareTo(other.Release);
        if (c != 0) return c;
        c = TechnologyLevel.CompareTo(other.TechnologyLevel);
        return c != 0 ? c : ServicePack.CompareTo(other.ServicePack);
    }

    /// <summary>Compares with another level or its text; PowerShell's -lt and -gt use this.</summary>
    int IComparable.CompareTo(object? obj) => obj switch
    {
        null => 1,
        OsLevel other => CompareTo(other),
        string text => CompareTo(Parse(text)),
        _ => throw new ArgumentException($"An OS level compares with another OS level, not with a {obj.GetType().Name}.", nameof(obj)),
    };

    public bool Equals(OsLevel? other) => other is not null && CompareTo(other) == 0;
    public override bool Equals(object? obj) => obj is OsLevel o && Equals(o);
    public override int GetHashCode() => (Release * 397 ^ TechnologyLevel) * 397 ^ ServicePack;

    /// <summary>A level where the model holds text: the model's levels are strings so that they export as text.</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(level))]
    public static implicit operator string?(OsLevel? level) => level?.ToString();

    public static bool operator <(OsLevel a, OsLevel b) => a.CompareTo(b) < 0;
    public static bool operator >(OsLevel a, OsLevel b) => a.CompareTo(b) > 0;
    public static bool operator <=(OsLevel a, OsLevel b) => a.CompareTo(b) <= 0;
    public static bool operator >=(OsLevel a, OsLevel b) => a.CompareTo(b) >= 0;
    public static bool operator ==(OsLevel? a, OsLevel? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(OsLevel? a, OsLevel? b) => !(a == b);

    public override string ToString() => Build > 0
        ? string.Format(CultureInfo.InvariantCulture, "{0:0000}-{1:00}-{2:00}-{3:0000}", Release, TechnologyLevel, ServicePack, Build)
        : string.Format(CultureInfo.InvariantCulture, "{0:0000}-{1:00}-{2:00}", Release, TechnologyLevel, ServicePack);
}
