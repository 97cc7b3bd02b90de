using System;
using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>Get-LogicalPartition: the partitions of the connected system.</summary>
[Cmdlet(VerbsCommon.Get, "LogicalPartition")]
[OutputType(typeof(LogicalPartition))]
public sealed class GetLogicalPartitionCommand : SystemCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Partition")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public string[]? Name { get; set; }

    protected override void ProcessRecord() => RunTerminating(() =>
    {
        var all = Engine.Inventory().Partitions;
        var found = all.Where(p => Matches(p.Name, Name)).ToList();
        WriteObject(found, enumerateCollection: true);
        ReportUnmatched(Name, found.Select(p => p.Name), "PartitionNotFound", "partition");
    });
}

/// <summary>Get-PhysicalVolume: the disks of the connected system (lspv).</summary>
[Cmdlet(VerbsCommon.Get, "PhysicalVolume")]
[OutputType(typeof(PhysicalVolume))]
public sealed class GetPhysicalVolumeCommand : SystemCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Disk")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(Completers.DiskNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Only disks that belong to no volume group.</summary>
    [Parameter]
    public SwitchParameter Free { get; set; }

    protected override void ProcessRecord() => RunTerminating(() =>
    {
        var found = Engine.Inventory().Disks.Where(d => Matches(d.Name, Name) && (!Free || d.State == DiskState.Free)).ToList();
        WriteObject(found, enumerateCollection: true);
        if (!Free) ReportUnmatched(Name, found.Select(d => d.Name), "DiskNotFound", "disk");
    });
}

/// <summary>Get-VolumeGroup: volume groups (lsvg), optionally of one partition.</summary>
[Cmdlet(VerbsCommon.Get, "VolumeGroup")]
[OutputType(typeof(VolumeGroup))]
public sealed class GetVolumeGroupCommand : SystemCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(Completers.VolumeGroupNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity? Partition { get; set; }

    protected override void ProcessRecord() => RunTerminating(() =>
    {
        WriteMatching(Engine.Inventory().VolumeGroups, v => v.Name, v => v.Partition, Name, Partition, "VolumeGroupNotFound", "volume group");
    });
}

/// <summary>Get-Application: the applications that LiveUpdate moves, optionally of one partition.</summary>
[Cmdlet(VerbsCommon.Get, "Application")]
[OutputType(typeof(ApplicationInstance))]
public sealed class GetApplicationCommand : SystemCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(Completers.ApplicationNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity? Partition { get; set; }

    protected override void ProcessRecord() => RunTerminating(() =>
    {
        WriteMatching(Engine.Inventory().Applications, a => a.Name, a => a.Partition, Name, Partition, "ApplicationNotFound", "application");
    });
}
