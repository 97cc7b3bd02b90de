using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>
/// Get-LiveUpdateOperation: the journalled operations of the system (live updates, undos, hand steps), oldest first
/// by their start, each step's state and timing; a journal that fails its check shows as Corrupt.
/// </summary>
[Cmdlet(VerbsCommon.Get, "LiveUpdateOperation", DefaultParameterSetName = "All")]
[OutputType(typeof(LiveUpdateOperation))]
public sealed class GetLiveUpdateOperationCommand : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Id", ValueFromPipelineByPropertyName = true)]
    [Alias("OperationId")]
    [ArgumentCompleter(typeof(Completers.OperationIdCompleter))]
    public string[] Id { get; set; } = Array.Empty<string>();

    [Parameter(ParameterSetName = "All", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity? Partition { get; set; }

    /// <summary>Only operations that are running, in progress (hand steps), interrupted or corrupt.</summary>
    [Parameter(ParameterSetName = "All")]
    public SwitchParameter Unfinished { get; set; }

    /// <summary>Only the oldest N operations.</summary>
    [Parameter(ParameterSetName = "All")]
    [ValidateRange(1, int.MaxValue)]
    public int First { get; set; }

    /// <summary>Only the newest N operations (still oldest first).</summary>
    [Parameter(ParameterSetName = "All")]
    [ValidateRange(1, int.MaxValue)]
    public int Last { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Id")
        {
            foreach (var id in Id) Run(() => WriteObject(Engine.GetOperation(id)));
            return;
        }
        RunTerminating(() =>
        {
            IEnumerable<LiveUpdateOperation> ops = Engine.Operations(Partition?.Name)
                .Where(o => !Unfinished || o.State is OperationState.Running or OperationState.Interrupted or OperationState.InProgress or OperationState.Corrupt)
                .ToList();
            if (First > 0) ops = ops.Take(First);
            if (Last > 0) ops = ops.TakeLast(Last);
            WriteObject(ops, enumerateCollection: true);
        });
    }
}

/// <summary>
/// Resume-LiveUpdate: finishes (or rolls back) an operation that a failed or killed process left unfinished, takes
/// hand steps back (-RollBack), or sets aside a journal that fails its check (-Discard, after asking).
/// </summary>
[Cmdlet(VerbsLifecycle.Resume, "LiveUpdate", SupportsShouldProcess = true, DefaultParameterSetName = ResumeSet)]
[OutputType(typeof(LiveUpdateResult), ParameterSetName = new[] { ResumeSet })]
[OutputType(typeof(void), ParameterSetName = new[] { DiscardSet })]
public sealed class ResumeLiveUpdateCommand : SystemCmdlet
{
    private const string ResumeSet = "Resume";
    private const string DiscardSet = "Discard";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("OperationId")]
    [ArgumentCompleter(typeof(Completers.UnfinishedOperationIdCompleter))]
    public string Id { get; set; } = "";

    /// <summary>Go back to where the operation started instead of finishing it.</summary>
    [Parameter(ParameterSetName = ResumeSet)]
    public SwitchParameter RollBack { get; set; }

    /// <summary>Set aside the journal of an operation that fails its check (Corrupt), after looking at it. Asks first, as a high-impact change.</summary>
    [Parameter(Mandatory = true, ParameterSetName = DiscardSet)]
    public SwitchParameter Discard { get; set; }

    protected override void ProcessRecord() => Run(() =>
    {
        OperationId = Id;
        if (Discard)
        {
            DiscardJournal();
            return;
        }
        var (id, rollBack) = (Id, RollBack.IsPresent);
        var result = Execute((engine, context) => engine.Resume(id, rollBack, context));
        if (result is null) return;
        WriteObject(result);
        WriteOutcomeError(result);
    });

    /// <summary>
    /// -Discard asks as a cmdlet of ConfirmImpact High would (the rest of Resume-LiveUpdate asks at Medium):
    /// unless -Confirm:$false is given or $ConfirmPreference is None, the administrator confirms.
    /// </summary>
    private void DiscardJournal()
    {
        var preference = GetVariableValue("ConfirmPreference") is ConfirmImpact c ? c : ConfirmImpact.High;
        var explicitConfirm = MyInvocation.BoundParameters.ContainsKey("Confirm");
        var ask = !explicitConfirm && preference != ConfirmImpact.None && ConfirmImpact.High >= preference;
        var context = new LiveUpdate.Engine.Flow.OperationContext
        {
            Logger = Logger,
            ShouldProcess = (target, action) => ShouldProcess(target, action)
                && (!ask || ShouldContinue($"{action}?", $"Discard the journal of {target}")),
        };
        var aside = Engine.Discard(Id, context);
        if (aside is not null) WriteVerbose($"The journal of {Id} is set aside as {aside}.");
    }
}

/// <summary>Undo-LiveUpdate: goes back to the level before the last finished live update (the kept old_rootvg), or to an older kept level (-VolumeGroup old_rootvg1).</summary>
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

    /// <summary>The kept rootvg to go back to: old_rootvg (the default, the level before the last update) or an older one, old_rootvg1, old_rootvg2, ...</summary>
    [Parameter]
    [ValidatePattern("^old_rootvg[0-9]*$")]
    [ArgumentCompleter(typeof(Completers.VolumeGroupNameCompleter))]
    public string VolumeGroup { get; set; } = "old_rootvg";

    protected override void ProcessRecord() => Run(() =>
    {
        var (partition, disks, kept) = (Partition.Name, MirrorDisk?.Select(d => d.Name).ToArray(), VolumeGroup);
        var result = Execute((engine, context) => engine.Undo(partition, disks, context, kept));
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
