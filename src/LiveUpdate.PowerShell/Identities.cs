using System;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell;

// Identity parameters: PowerShell converts a string or a model object to these through their constructors, so a
// cmdlet accepts a name where it accepts an object, from the command line and from the pipeline alike.

/// <summary>A partition named by a string or given as a LogicalPartition.</summary>
public sealed class PartitionIdentity
{
    public PartitionIdentity(string name) => Name = name;
    public PartitionIdentity(LogicalPartition partition) => Name = partition.Name;
    public string Name { get; }
    public override string ToString() => Name;
}

/// <summary>The altinst_rootvg of a partition: a RootVgClone, a LogicalPartition or a partition name.</summary>
public sealed class CloneIdentity
{
    public CloneIdentity(string partition) => Partition = partition;
    public CloneIdentity(RootVgClone clone) => Partition = clone.Partition;
    public CloneIdentity(LogicalPartition partition) => Partition = partition.Name;
    public string Partition { get; }
    public override string ToString() => Partition;
}

/// <summary>The rootvg mirror of a partition: a RootVgMirror, a LogicalPartition or a partition name.</summary>
public sealed class MirrorIdentity
{
    public MirrorIdentity(string partition) => Partition = partition;
    public MirrorIdentity(RootVgMirror mirror) => Partition = mirror.Partition;
    public MirrorIdentity(LogicalPartition partition) => Partition = partition.Name;
    public string Partition { get; }
    public override string ToString() => Partition;
}

/// <summary>An application named by a string or given as an ApplicationInstance.</summary>
public sealed class ApplicationIdentity
{
    public ApplicationIdentity(string name) => Name = name;
    public ApplicationIdentity(ApplicationInstance application) => Name = application.Name;
    public string Name { get; }
    public override string ToString() => Name;
}

/// <summary>A disk named by a string or given as a PhysicalVolume.</summary>
public sealed class DiskIdentity
{
    public DiskIdentity(string name) => Name = name;
    public DiskIdentity(PhysicalVolume disk) => Name = disk.Name;
    public string Name { get; }
    public override string ToString() => Name;
}
