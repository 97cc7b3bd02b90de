using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>New-RootVgClone: copies the rootvg of a running partition onto free disks as altinst_rootvg.</summary>
[Cmdlet(VerbsCommon.New, "RootVgClone", SupportsShouldProcess = true)]
[OutputType(typeof(RootVgClone))]
public sealed class NewRootVgCloneCommand : LiveUpdateCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity Partition { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 1)]
    [Alias("TargetDisk")]
    [ArgumentCompleter(typeof(Completers.FreeDiskNameCompleter))]
    public DiskIdentity[] Disk { get; set; } = null!;

    protected override void ProcessRecord() => Run(() =>
    {
        var (partition, disks) = (Partition.Name, Disk.Select(d => d.Name).ToArray());
        var clone = Execute((engine, context) => engine.NewRootVgClone(partition, disks, context));
        if (clone is not null) WriteObject(clone);
    });
}

/// <summary>Start-RootVgMirror: mirrors the rootvg of a running partition onto free disks.</summary>
[Cmdlet(VerbsLifecycle.Start, "RootVgMirror", SupportsShouldProcess = true)]
[OutputType(typeof(RootVgMirror))]
public sealed class StartRootVgMirrorCommand : LiveUpdateCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity Partition { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 1)]
    [Alias("MirrorDisk")]
    [ArgumentCompleter(typeof(Completers.FreeDiskNameCompleter))]
    public DiskIdentity[] Disk { get; set; } = null!;

    protected override void ProcessRecord() => Run(() =>
    {
        var (partition, disks) = (Partition.Name, Disk.Select(d => d.Name).ToArray());
        var mirror = Execute((engine, context) => engine.StartRootVgMirror(partition, disks, context));
        if (mirror is not null) WriteObject(mirror);
    });
}

/// <summary>Install-CloneUpdate: verifies an update bundle and installs it into the altinst_rootvg of a partition.</summary>
[Cmdlet(VerbsLifecycle.Install, "CloneUpdate", SupportsShouldProcess = true)]
[OutputType(typeof(RootVgClone))]
public sealed class InstallCloneUpdateCommand : LiveUpdateCmdlet
{
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Partition")]
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
public sealed class StartUpdatedPartitionCommand : LiveUpdateCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Partition")]
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
public sealed class ImportMirrorVgCommand : LiveUpdateCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
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
public sealed class MoveApplicationCommand : LiveUpdateCmdlet
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
public sealed class RemoveVolumeGroupCommand : LiveUpdateCmdlet
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
