using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>
/// The base of New-RootVgClone and Start-RootVgMirror: a partition and the disks to copy it onto. Disks may come from
/// the pipeline (Get-PhysicalVolume -Free | Select-Object -First 2 | New-RootVgClone -Partition lpar1): then the
/// disks piped for one partition are collected and used together, once, when the pipeline ends.
/// </summary>
public abstract class RootVgCopyCmdlet : SystemCmdlet
{
    private readonly List<(string Partition, List<string> Disks)> _piped = new();
    private bool _disksFromPipeline;

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity Partition { get; set; } = null!;

    protected abstract DiskIdentity[] Disks { get; }

    protected abstract string DiskParameter { get; }

    protected abstract object? Copy(LiveUpdateEngine engine, string partition, string[] disks, OperationContext context);

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        _disksFromPipeline = !MyInvocation.BoundParameters.ContainsKey(DiskParameter);
    }

    protected override void ProcessRecord()
    {
        var (partition, disks) = (Partition.Name, Disks.Select(d => d.Name).ToArray());
        if (!_disksFromPipeline)
        {
            Run(() => WriteResult(partition, disks));
            return;
        }
        var group = _piped.FirstOrDefault(g => string.Equals(g.Partition, partition, StringComparison.OrdinalIgnoreCase));
        if (group.Disks is null) _piped.Add(group = (partition, new List<string>()));
        group.Disks.AddRange(disks.Where(d => !group.Disks.Contains(d, StringComparer.OrdinalIgnoreCase)));
    }

    protected override void EndProcessing()
    {
        foreach (var (partition, disks) in _piped) Run(() => WriteResult(partition, disks.ToArray()));
        base.EndProcessing();
    }

    private void WriteResult(string partition, string[] disks)
    {
        var result = Execute((engine, context) => Copy(engine, partition, disks, context));
        if (result is not null) WriteObject(result);
    }
}

/// <summary>New-RootVgClone: copies the rootvg of a running partition onto free disks as altinst_rootvg.</summary>
[Cmdlet(VerbsCommon.New, "RootVgClone", SupportsShouldProcess = true)]
[OutputType(typeof(RootVgClone))]
public sealed class NewRootVgCloneCommand : RootVgCopyCmdlet
{
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    [Alias("TargetDisk")]
    [ArgumentCompleter(typeof(Completers.FreeDiskNameCompleter))]
    public DiskIdentity[] Disk { get; set; } = null!;

    protected override DiskIdentity[] Disks => Disk;
    protected override string DiskParameter => nameof(Disk);
    protected override object? Copy(LiveUpdateEngine engine, string partition, string[] disks, OperationContext context) => engine.NewRootVgClone(partition, disks, context);
}

/// <summary>Start-RootVgMirror: mirrors the rootvg of a running partition onto free disks.</summary>
[Cmdlet(VerbsLifecycle.Start, "RootVgMirror", SupportsShouldProcess = true)]
[OutputType(typeof(RootVgMirror))]
public sealed class StartRootVgMirrorCommand : RootVgCopyCmdlet
{
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    [Alias("MirrorDisk")]
    [ArgumentCompleter(typeof(Completers.FreeDiskNameCompleter))]
    public DiskIdentity[] Disk { get; set; } = null!;

    protected override DiskIdentity[] Disks => Disk;
    protected override string DiskParameter => nameof(Disk);
    protected override object? Copy(LiveUpdateEngine engine, string partition, string[] disks, OperationContext context) => engine.StartRootVgMirror(partition, disks, context);
}

/// <summary>Install-CloneUpdate: verifies an update bundle and installs it into the altinst_rootvg of a partition.</summary>
[Cmdlet(VerbsLifecycle.Install, "CloneUpdate", SupportsShouldProcess = true)]
[OutputType(typeof(RootVgClone))]
public sealed class InstallCloneUpdateCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Partition", "Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public CloneIdentity Clone { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 0)]
    [Alias("UpdatePath", "BundlePath")]
    [ArgumentCompleter(typeof(Completers.BundlePathCompleter))]
    public string Path { get; set; } = "";

    protected override void ProcessRecord() => Run(() =>
    {
        var (partition, path) = (Clone.Partition, GetUnresolvedProviderPathFromPSPath(Path));
        var clone = Execute((engine, context) => engine.InstallCloneUpdate(partition, path, context));
        if (clone is not null) WriteObject(clone);
    });
}

/// <summary>Start-UpdatedPartition: creates a surrogate partition and boots it from the updated clone.</summary>
[Cmdlet(VerbsLifecycle.Start, "UpdatedPartition", SupportsShouldProcess = true)]
[OutputType(typeof(LogicalPartition))]
public sealed class StartUpdatedPartitionCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Partition", "Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public CloneIdentity Clone { get; set; } = null!;

    protected override void ProcessRecord() => Run(() =>
    {
        var partition = Clone.Partition;
        var surrogate = Execute((engine, context) => engine.StartUpdatedPartition(partition, context));
        if (surrogate is not null) WriteObject(surrogate);
    });
}

/// <summary>Import-MirrorVg: imports the rootvg mirror of a partition into its surrogate.</summary>
[Cmdlet(VerbsData.Import, "MirrorVg", SupportsShouldProcess = true)]
[OutputType(typeof(VolumeGroup))]
public sealed class ImportMirrorVgCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public MirrorIdentity Mirror { get; set; } = null!;

    /// <summary>The surrogate partition that imports the mirror.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Surrogate", "Destination")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity Partition { get; set; } = null!;

    protected override void ProcessRecord() => Run(() =>
    {
        var (partition, surrogate) = (Mirror.Partition, Partition.Name);
        var vg = Execute((engine, context) => engine.ImportMirrorVg(partition, surrogate, context));
        if (vg is not null) WriteObject(vg);
    });
}

/// <summary>Move-Application: moves an application to the surrogate by restarting it on the mirrored data.</summary>
[Cmdlet(VerbsCommon.Move, "Application", SupportsShouldProcess = true)]
[OutputType(typeof(ApplicationMigration))]
public sealed class MoveApplicationCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(Completers.ApplicationNameCompleter))]
    public ApplicationIdentity Application { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Surrogate")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity Destination { get; set; } = null!;

    protected override void ProcessRecord() => Run(() =>
    {
        var (application, destination) = (Application.Name, Destination.Name);
        var moved = Execute((engine, context) => engine.MoveApplication(application, destination, context));
        if (moved is null) return;
        WriteObject(moved);
        if (moved.Status != "Moved")
        {
            var message = moved.Status == "HealthCheckFailed"
                ? $"{moved.Application} did not answer its health check on {moved.Destination}; it was moved back to {moved.Source} with its data."
                : $"{moved.Application} moved to {moved.Destination}, but its data there does not match what it acknowledged ({moved.RecordsOnDestination} of {moved.RecordsAcknowledged} records).";
            var id = moved.Status == "HealthCheckFailed" ? "HealthCheckFailed" : "DataMismatch";
            WriteError(new ErrorRecord(new LiveUpdate.Engine.Flow.LiveUpdateException(id, LiveUpdate.Engine.Flow.ErrorKind.ResourceUnavailable, message, moved), id, ErrorCategory.ResourceUnavailable, moved));
        }
    });
}

/// <summary>Remove-VolumeGroup: removes the old_rootvg that a live update keeps as the way back, freeing its disks.</summary>
[Cmdlet(VerbsCommon.Remove, "VolumeGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveVolumeGroupCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(Completers.VolumeGroupNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity Partition { get; set; } = null!;

    protected override void ProcessRecord() => Run(() =>
    {
        var (partition, name) = (Partition.Name, Name);
        Execute((engine, context) => { engine.RemoveVolumeGroup(partition, name, context); return true; });
    });
}
