using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>Shared parameters of Invoke-LiveUpdate and Test-LiveUpdate.</summary>
public abstract class LiveUpdateRequestCmdlet : SystemCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ArgumentCompleter(typeof(Completers.PartitionNameCompleter))]
    public PartitionIdentity Partition { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 1)]
    [Alias("Path", "BundlePath")]
    [ArgumentCompleter(typeof(Completers.BundlePathCompleter))]
    public string UpdatePath { get; set; } = "";

    /// <summary>Disks for the clone (altinst_rootvg); chosen from the free disks when omitted.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(Completers.FreeDiskNameCompleter))]
    public DiskIdentity[]? CloneDisk { get; set; }

    /// <summary>Disks for the rootvg mirror; chosen from the free disks when omitted.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(Completers.FreeDiskNameCompleter))]
    public DiskIdentity[]? MirrorDisk { get; set; }

    internal LiveUpdateRequest Request() => new(Partition.Name, GetUnresolvedProviderPathFromPSPath(UpdatePath),
        CloneDisk?.Select(d => d.Name).ToArray(), MirrorDisk?.Select(d => d.Name).ToArray());
}

/// <summary>
/// Invoke-LiveUpdate: the whole live update of a partition, every step through the engine's flow. Runs on a worker
/// thread while the pipeline thread writes its progress and log; -AsJob runs it as a background job instead.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "LiveUpdate", SupportsShouldProcess = true, DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(LiveUpdateResult), ParameterSetName = new[] { DefaultSet })]
[OutputType(typeof(LiveUpdateJob), ParameterSetName = new[] { AsJobSet })]
public sealed class InvokeLiveUpdateCommand : LiveUpdateRequestCmdlet
{
    private const string DefaultSet = "Default";
    private const string AsJobSet = "AsJob";

    /// <summary>Runs the update as a background job and returns the job at once.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AsJobSet)]
    public SwitchParameter AsJob { get; set; }

    /// <summary>The name of the job; Job1, Job2, ... by default.</summary>
    [Parameter(ParameterSetName = AsJobSet)]
    [ValidateNotNullOrEmpty]
    public string? JobName { get; set; }

    protected override void ProcessRecord()
    {
        if (AsJob)
        {
            RunTerminating(StartJob);
            return;
        }
        Run(() =>
        {
            var request = Request();
            var result = Execute((engine, context) => engine.Invoke(request, context));
            if (result is null) return;
            OperationId = result.OperationId;
            WriteObject(result);
            WriteOutcomeError(result);
        });
    }

    private void StartJob()
    {
        var engine = Engine;
        var request = Request();
        // Validate now and learn what the update would do, changing nothing: the engine asks before its first change.
        string? target = null, action = null;
        engine.Invoke(request, new OperationContext { Logger = Logger, ShouldProcess = (t, a) => { target = t; action = a; return false; } });
        if (target is null || action is null || !ShouldProcess(target, action + " (as a background job)")) return;
        var job = new LiveUpdateJob(MyInvocation.Line, JobName, Session.OpenAnother(engine), request, LogPath);
        JobRepository.Add(job);
        if (LogPath is not null)
            Logging.JsonLinesLog.Event(LogPath, "Information", "Invoke-LiveUpdate", null, $"The live update of {request.Partition} runs as job {job.Name} ({job.Id})");
        job.Start();
        WriteObject(job);
    }
}

/// <summary>Test-LiveUpdate: the preview: every check, the disks, the plan and its estimates; changes nothing.</summary>
[Cmdlet(VerbsDiagnostic.Test, "LiveUpdate")]
[OutputType(typeof(LiveUpdatePreview), typeof(bool))]
public sealed class TestLiveUpdateCommand : LiveUpdateRequestCmdlet
{
    /// <summary>Return only $true or $false.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void ProcessRecord() => Run(() =>
    {
        var preview = Engine.Preview(Request());
        foreach (var c in preview.Checks)
            WriteVerbose($"{(c.Passed ? "PASS" : "FAIL")} {c.Name}: {c.Message}");
        if (Engine.Backend is LiveUpdate.Engine.Backends.Power.PowerBackend power)
            foreach (var line in power.LiveUpdateData(preview).Split('\n')) WriteVerbose(line);
        WriteObject(Quiet ? preview.CanProceed : preview);
    });
}
