using System.Management.Automation;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

// The inverses of the hand steps before the point of no return. Each takes the object its step wrote (a RootVgClone,
// a RootVgMirror, the surrogate's LogicalPartition) from the pipeline, asks before it changes anything, and cleans up
// as the flow's roll-back does: the disks are wiped and free again.

/// <summary>Remove-RootVgClone: removes the altinst_rootvg of a partition (what New-RootVgClone and Install-CloneUpdate made) and frees its disks.</summary>
[Cmdlet(VerbsCommon.Remove, "RootVgClone", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveRootVgCloneCommand : SystemCmdlet
{
    /// <summary>The clone: a RootVgClone, the partition it belongs to, or the partition's name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Partition", "Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public CloneIdentity Clone { get; set; } = null!;

    protected override void ProcessRecord() => Run(() =>
    {
        var partition = Clone.Partition;
        Execute((engine, context) => engine.RemoveRootVgClone(partition, context));
    });
}

/// <summary>Stop-RootVgMirror: stops mirroring the rootvg of a partition (exporting the mirror from its surrogate first) and frees the mirror's disks.</summary>
[Cmdlet(VerbsLifecycle.Stop, "RootVgMirror", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class StopRootVgMirrorCommand : SystemCmdlet
{
    /// <summary>The mirror: a RootVgMirror, the partition whose rootvg it mirrors, or the partition's name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Partition", "Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public MirrorIdentity Mirror { get; set; } = null!;

    protected override void ProcessRecord() => Run(() =>
    {
        var partition = Mirror.Partition;
        Execute((engine, context) => engine.StopRootVgMirror(partition, context));
    });
}

/// <summary>Stop-UpdatedPartition: shuts the surrogate down and removes it; its clone stays, updated, and can boot again.</summary>
[Cmdlet(VerbsLifecycle.Stop, "UpdatedPartition", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class StopUpdatedPartitionCommand : SystemCmdlet
{
    /// <summary>The surrogate: the LogicalPartition that Start-UpdatedPartition returned, or its name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name", "Surrogate")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity Partition { get; set; } = null!;

    protected override void ProcessRecord() => Run(() =>
    {
        var surrogate = Partition.Name;
        Execute((engine, context) => engine.StopUpdatedPartition(surrogate, context));
    });
}
