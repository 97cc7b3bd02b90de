using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>Shared parameters of Invoke-LiveUpdate and Test-LiveUpdate.</summary>
public abstract class LiveUpdateRequestCmdlet : LiveUpdateCmdlet
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

/// <summary>Invoke-LiveUpdate: the whole live update of a partition, every step through the engine's flow.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "LiveUpdate", SupportsShouldProcess = true)]
[OutputType(typeof(LiveUpdateResult))]
public sealed class InvokeLiveUpdateCommand : LiveUpdateRequestCmdlet
{
    protected override void ProcessRecord() => Run(() =>
    {
        var result = Engine.Invoke(Request(), Context());
        if (result is null) return;
        WriteObject(result);
        WriteOutcomeError(result);
    });
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
        WriteObject(Quiet ? preview.CanProceed : preview);
    });
}
