using System;
using System.IO;
using System.Management.Automation;
using LiveUpdate.Engine.Backends;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>New-LiveUpdateLab: creates a lab (a simulated Power system in a folder) and connects to it.</summary>
[Cmdlet(VerbsCommon.New, "LiveUpdateLab", SupportsShouldProcess = true)]
[OutputType(typeof(ManagedSystem))]
public sealed class NewLiveUpdateLabCommand : LiveUpdateCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    [Parameter]
    [ValidateSet("Simulated")]
    public string Backend { get; set; } = "Simulated";

    [Parameter]
    [ValidateRange(1, 100000)]
    public int PartitionCount { get; set; } = 1;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string OsLevel { get; set; } = "7300-02-01";

    [Parameter]
    [ValidateRange(0.05, 100000)]
    public double FrameProcessors { get; set; }

    [Parameter]
    [ValidateRange(1024, long.MaxValue)]
    public long FrameMemoryMB { get; set; }

    [Parameter]
    public long[]? DiskSizeMB { get; set; }

    protected override void ProcessRecord()
    {
        var full = GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(full, $"Create a {Backend} LiveUpdate lab")) return;
        RunTerminating(() =>
        {
            var backend = LabBuilder.Create(full, new LabOptions
            {
                PartitionCount = PartitionCount,
                OsLevel = OsLevel,
                FrameProcessors = MyInvocation.BoundParameters.ContainsKey(nameof(FrameProcessors)) ? FrameProcessors : null,
                FrameMemoryMB = MyInvocation.BoundParameters.ContainsKey(nameof(FrameMemoryMB)) ? FrameMemoryMB : null,
                FreeDiskSizesMB = DiskSizeMB,
            });
            WriteVerbose($"Created lab {full}; it is now the session's system.");
            WriteObject(Session.Connect(backend).Inventory().System);
        });
    }
}

/// <summary>Connect-LiveUpdateSystem: opens a lab and makes it the session default.</summary>
[Cmdlet(VerbsCommunications.Connect, "LiveUpdateSystem")]
[OutputType(typeof(ManagedSystem))]
public sealed class ConnectLiveUpdateSystemCommand : LiveUpdateCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Location")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    protected override void ProcessRecord()
    {
        var full = GetUnresolvedProviderPathFromPSPath(Path);
        RunTerminating(() => WriteObject(Session.Connect(Labs.Open(full)).Inventory().System));
    }
}

/// <summary>Get-LiveUpdateSystem: the connected system.</summary>
[Cmdlet(VerbsCommon.Get, "LiveUpdateSystem")]
[OutputType(typeof(ManagedSystem))]
public sealed class GetLiveUpdateSystemCommand : LiveUpdateCmdlet
{
    protected override void ProcessRecord() => RunTerminating(() => WriteObject(Engine.Inventory().System));
}

/// <summary>Remove-LiveUpdateLab: deletes a lab folder (only a folder that is a lab) and disconnects from it.</summary>
[Cmdlet(VerbsCommon.Remove, "LiveUpdateLab", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveLiveUpdateLabCommand : LiveUpdateCmdlet
{
    /// <summary>The lab folder; default: the connected lab.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Location")]
    public string? Path { get; set; }

    protected override void ProcessRecord() => RunTerminating(() =>
    {
        var full = Path is null ? Engine.Backend.Location : GetUnresolvedProviderPathFromPSPath(Path);
        var current = Session.Current;
        var backend = current is not null && string.Equals(current.Backend.Location, full, StringComparison.Ordinal) ? current.Backend : Labs.Open(full, verify: false);
        if (!ShouldProcess(full, "Remove the LiveUpdate lab and everything in it")) return;
        backend.RemoveLab(Context());
        if (ReferenceEquals(backend, current?.Backend)) Session.Current = null;
    });
}
