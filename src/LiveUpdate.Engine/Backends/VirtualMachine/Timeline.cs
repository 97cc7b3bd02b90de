using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;

namespace LiveUpdate.Engine.Backends.VirtualMachine;

/// <summary>
/// Named marks on one stopwatch: where the time of an interval (a blackout) went, as one line for a Debug log,
/// each part with its own milliseconds and the total.
/// </summary>
internal sealed class Timeline
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(string Name, TimeSpan At)> _marks = new();

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Ends the part that began at the previous mark (or the start) and names it.</summary>
    public void Mark(string name) => _marks.Add((name, _clock.Elapsed));

    /// <summary>The milliseconds of each named part, in order.</summary>
    public IReadOnlyList<(string Name, double Milliseconds)> Parts() =>
        _marks.Select((m, i) => (m.Name, (m.At - (i == 0 ? TimeSpan.Zero : _marks[i - 1].At)).TotalMilliseconds)).ToList();

    public override string ToString() =>
        string.Join(", ", Parts().Select(p => p.Name + " " + p.Milliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms"))
        + " (total " + (_marks.Count == 0 ? 0 : _marks[^1].At.TotalMilliseconds).ToString("0", CultureInfo.InvariantCulture) + " ms)";
}
