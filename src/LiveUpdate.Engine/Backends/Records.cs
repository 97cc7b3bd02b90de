using System;
using System.Collections.Generic;
using System.Linq;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.Engine.Backends;

// What every backend keeps of the model's objects in its state, written once. A backend adds what only it needs in
// a class of its own derived from these (a container's process ids, a simulated application's record rate).

/// <summary>A partition (or a surrogate) as a backend's state holds it.</summary>
internal class PartitionRecord
{
    public string Name { get; set; } = "";
    public int Id { get; set; }
    public string Uuid { get; set; } = "";
    public string HostName { get; set; } = "";
    /// <summary>The partition's address (with its prefix where the backend keeps one).</summary>
    public string Address { get; set; } = "";
    public string RootVg { get; set; } = "";
    public string? SurrogateOf { get; set; }
    public double Processors { get; set; }
    public long MemoryMB { get; set; }

    /// <summary>The take-over: this surrogate becomes <paramref name="original"/> — its name, id, UUID, host name and address.</summary>
    public void TakeIdentityOf(PartitionRecord original)
    {
        Name = original.Name;
        Id = original.Id;
        Uuid = original.Uuid;
        HostName = original.HostName;
        Address = original.Address;
        SurrogateOf = null;
    }

    public LogicalPartition ToModel(bool running, OsLevel level, IReadOnlyList<string> rootDisks, string system, string address) =>
        new(Name, Id, Uuid, HostName, address, running ? PartitionState.Running : PartitionState.NotActivated, level, Processors, MemoryMB,
            rootDisks, SurrogateOf, system);
}

/// <summary>An application as a backend's state holds it: where it runs, on which volume group its data lies.</summary>
internal class ApplicationRecord
{
    public string Name { get; set; } = "";
    public string Partition { get; set; } = "";
    public string DataVg { get; set; } = "";
    /// <summary>Whether it runs (should run).</summary>
    public bool Running { get; set; } = true;
}

/// <summary>What a backend keeps of a partition's clone (altinst_rootvg).</summary>
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
    /// <summary>For a clone made of a kept rootvg (Undo-LiveUpdate): the name it had (old_rootvg, old_rootvg1, ...).</summary>
    public string? AdoptedFrom { get; set; }

    /// <summary>The surrogate booted from the clone is gone: the clone is updated (or merely cloned) again.</summary>
    public void Unboot()
    {
        State = AppliedBundles.Count > 0 ? nameof(CloneState.Updated) : nameof(CloneState.Cloned);
        BootedAs = null;
    }

    public RootVgClone ToModel(string volumeGroup, IReadOnlyList<string> disks, string level) =>
        new(Partition, volumeGroup, disks.ToArray(), OsLevel.Parse(SourceLevel), OsLevel.Parse(level), Enum.Parse<CloneState>(State),
            AppliedBundles.ToArray(), BootedAs, DurationSeconds, Created);
}

/// <summary>What a backend keeps of a partition's rootvg mirror.</summary>
internal class MirrorRecord
{
    public string Partition { get; set; } = "";
    public string SourceVg { get; set; } = "";
    public string State { get; set; } = "Synchronized";
    public string? ImportedInto { get; set; }
    public double DurationSeconds { get; set; }
    public DateTimeOffset Created { get; set; }

    /// <summary>The surrogate the mirror was imported into is gone: the mirror is a synchronised copy of the original's rootvg again.</summary>
    public virtual void Unimport()
    {
        State = nameof(MirrorState.Synchronized);
        ImportedInto = null;
    }

    public RootVgMirror ToModel(string sourceVolumeGroup, IReadOnlyList<string> disks, string? importedAs) =>
        new(Partition, sourceVolumeGroup, disks.ToArray(), Enum.Parse<MirrorState>(State), importedAs, ImportedInto,
            DurationSeconds, Created);
}
