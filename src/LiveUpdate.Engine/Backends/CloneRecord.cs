using System;
using System.Collections.Generic;

namespace LiveUpdate.Engine.Backends;

/// <summary>What a backend keeps of a partition's clone (altinst_rootvg), the same on every backend.</summary>
internal sealed class CloneRecord
{
    public string Partition { get; set; } = "";
    public string Vg { get; set; } = "";
    public string SourceLevel { get; set; } = "";
    public string State { get; set; } = "Cloned";
    public List<string> AppliedBundles { get; set; } = new();
    public string? BootedAs { get; set; }
    public double DurationSeconds { get; set; }
    public DateTimeOffset Created { get; set; }
}
