using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace LiveUpdate.Engine.Backends;

/// <summary>
/// The names of the rootvgs a partition keeps as its ways back: old_rootvg is the newest, then old_rootvg1,
/// old_rootvg2, ... one generation older each.
/// </summary>
public static class OldRootVgs
{
    public const string Newest = "old_rootvg";

    /// <summary>0 for old_rootvg, N for old_rootvgN; a name of another shape sorts last.</summary>
    public static int Generation(string name) =>
        name == Newest ? 0
        : name.StartsWith(Newest, StringComparison.Ordinal) && int.TryParse(name.AsSpan(Newest.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
        : int.MaxValue;

    /// <summary>
    /// Makes room for a new old_rootvg: every kept rootvg becomes one generation older, in their order (old_rootvg
    /// becomes old_rootvg1, old_rootvg1 becomes old_rootvg2, and so on).
    /// </summary>
    public static void Age<T>(IEnumerable<T> kept, Func<T, string> name, Action<T, string> rename)
    {
        var ordered = kept.OrderBy(k => Generation(name(k))).ThenBy(k => name(k), StringComparer.Ordinal).ToList();
        for (var i = 0; i < ordered.Count; i++) rename(ordered[i], Newest + (i + 1).ToString(CultureInfo.InvariantCulture));
    }
}
