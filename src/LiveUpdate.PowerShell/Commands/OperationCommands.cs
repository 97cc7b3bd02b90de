using System;
using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>Get-LiveUpdateOperation: the journalled live updates of the connected system, each step's state and timing.</summary>
[Cmdlet(VerbsCommon.Get, "LiveUpdateOperation", DefaultParameterSetName = "All")]
[OutputType(typeof(LiveUpdateOperation))]
public sealed class GetLiveUpdateOperationCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Id", ValueFromPipelineByPropertyName = true)]
    [Alias("OperationId")]
    [ArgumentCompleter(typeof(Completers.OperationIdCompleter))]
    public string[] Id { get; set; } = Array.Empty<string>();

    [Parameter(ParameterSetName = "All", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity? Partition { get; set; }

    /// <summary>Only operations that are running or were interrupted.</summary>
    [Parameter(ParameterSetName = "All")]
    public SwitchParameter Unfinished { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Id")
        {
            foreach (var id in Id) Run(() => WriteObject(Engine.GetOperation(id)));
            return;
        }
        RunTerminating(() =>
        {
            var ops = Engine.Operations(Partition?.Name)
                .Where(o => !Unfinished || o.State is OperationState.Running or OperationState.Interrupted or OperationState.InProgress or OperationState.Corrupt);
            WriteObject(ops, enumerateCollection: true);
        });
    }
}

/// <summary>Resume-LiveUpdate: finishes (or rolls back) an operation that a failed or killed process left unfinished.</summary>
[Cmdlet(VerbsLifecycle.Resume, "LiveUpdate", SupportsShouldProcess = true)]
[OutputType(typeof(LiveUpdateResult))]
public sealed class ResumeLiveUpdateCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("OperationId")]
    [ArgumentCompleter(typeof(Completers.UnfinishedOperationIdCompleter))]
    public string Id { get; set; } = "";

    /// <summary>Go back to where the operation started instead of finishing it.</summary>
    [Parameter]
    public SwitchParameter RollBack { get; set; }

    protected override void ProcessRecord() => Run(() =>
    {
        OperationId = Id;
        var (id, rollBack) = (Id, RollBack.IsPresent);
        var result = Execute((engine, context) => engine.Resume(id, rollBack, context));
        if (result is null) return;
        WriteObject(result);
        WriteOutcomeError(result);
    });
}

/// <summary>Undo-LiveUpdate: goes back to the level before the last finished live update, using the kept old_rootvg.</summary>
[Cmdlet(VerbsCommon.Undo, "LiveUpdate", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(LiveUpdateResult))]
public sealed class UndoLiveUpdateCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity Partition { get; set; } = null!;

    /// <summary>Disks for the rootvg mirror that carries the applications' data back; chosen from the free disks when omitted.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(Completers.FreeDiskNameCompleter))]
    public DiskIdentity[]? MirrorDisk { get; set; }

    protected override void ProcessRecord() => Run(() =>
    {
        var (partition, disks) = (Partition.Name, MirrorDisk?.Select(d => d.Name).ToArray());
        var result = Execute((engine, context) => engine.Undo(partition, disks, context));
        if (result is null) return;
        WriteObject(result);
        WriteOutcomeError(result);
    });
}

/// <summary>Test-ApplicationData: does an application's data hold every acknowledged record, in order, without a gap?</summary>
[Cmdlet(VerbsDiagnostic.Test, "ApplicationData")]
[OutputType(typeof(ApplicationDataCheck))]
public sealed class TestApplicationDataCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(Completers.ApplicationNameCompleter))]
    public ApplicationIdentity Application { get; set; } = null!;

    protected override void ProcessRecord() => Run(() => WriteObject(Engine.CheckApplicationData(Application.Name)));
}
