using System;
using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Backends.Containers;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>
/// Test-LiveUpdateHost: checks a host description against the real system before anything runs (disks present and
/// in use by nothing else, the partition's root layout, its init and OS level file, each application's commands),
/// one finding a line. Changes nothing.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "LiveUpdateHost")]
[OutputType(typeof(HostFinding), typeof(bool))]
public sealed class TestLiveUpdateHostCommand : LiveUpdateCmdlet
{
    /// <summary>The folder that holds liveupdate-host.json.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Location")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Returns only $true (no check failed) or $false.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void ProcessRecord()
    {
        var full = GetUnresolvedProviderPathFromPSPath(Path);
        RunTerminating(() =>
        {
            var findings = HostCheck.Run(full, Context());
            if (Quiet)
            {
                WriteObject(findings.All(f => f.Status != FindingStatus.Failed));
                return;
            }
            foreach (var f in findings) WriteObject(f);
        });
    }
}

/// <summary>
/// New-LiveUpdateHostDescription: writes a starting liveupdate-host.json from an existing btrfs root (its logical
/// volumes read off the file system) and the names and addresses given.
/// </summary>
[Cmdlet(VerbsCommon.New, "LiveUpdateHostDescription", SupportsShouldProcess = true)]
[OutputType(typeof(System.IO.FileInfo))]
public sealed class NewLiveUpdateHostDescriptionCommand : LiveUpdateCmdlet
{
    /// <summary>The folder that receives liveupdate-host.json (made owner-only if it does not exist).</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The disks of the partition's root volume group: device paths under /dev, or disk files in the folder.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string[] RootDisk { get; set; } = Array.Empty<string>();

    /// <summary>Free disks the clone and the mirror are made on (device paths or disk files in the folder).</summary>
    [Parameter]
    public string[] FreeDisk { get; set; } = Array.Empty<string>();

    /// <summary>The partition's address with its prefix, e.g. 192.0.2.10/24.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Address { get; set; } = "";

    /// <summary>The partition's name (default lpar1).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Partition { get; set; } = "lpar1";

    /// <summary>The partition's host name (default: the root's /etc/hostname).</summary>
    [Parameter]
    public string? HostName { get; set; }

    /// <summary>The system's name (default: this host's name).</summary>
    [Parameter]
    public string? SystemName { get; set; }

    /// <summary>2 to 8 lower-case letters or digits that name what the backend makes (default: a new one).</summary>
    [Parameter]
    public string? HostId { get; set; }

    /// <summary>The bridge the partitions' links join (default br0).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Bridge { get; set; } = "br0";

    /// <summary>The backend creates the bridge (and removes it with the host).</summary>
    [Parameter]
    public SwitchParameter CreateBridge { get; set; }

    /// <summary>The network namespace that holds the bridge (default: the host's own).</summary>
    [Parameter]
    public string? NetworkNamespace { get; set; }

    /// <summary>The backend creates the network namespace (and removes it with the host).</summary>
    [Parameter]
    public SwitchParameter CreateNamespace { get; set; }

    /// <summary>The address the backend gives a bridge it creates, with its prefix.</summary>
    [Parameter]
    public string? Gateway { get; set; }

    protected override void ProcessRecord()
    {
        var full = GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(full, $"Write {HostDescription.FileName} for the btrfs root on {string.Join(", ", RootDisk)}")) return;
        RunTerminating(() =>
        {
            var (_, notes) = HostDescriptionDraft.Write(full, new HostDraftOptions
            {
                Name = SystemName, Id = HostId, Partition = Partition, HostName = HostName, Address = Address, RootDisks = RootDisk, FreeDisks = FreeDisk,
                Bridge = Bridge, CreateBridge = CreateBridge, Namespace = NetworkNamespace, CreateNamespace = CreateNamespace, Gateway = Gateway,
            }, Context());
            Drain();
            foreach (var note in notes) WriteWarning(note);
            WriteObject(new System.IO.FileInfo(System.IO.Path.Combine(full, HostDescription.FileName)));
        });
    }
}

/// <summary>
/// Remove-LiveUpdateHost: removes everything LiveUpdate made on a host that is not a lab (its containers, mounts,
/// network namespaces, the loop devices it attached, clone and mirror file systems, state, journals and locks) and
/// leaves the description, the disks with the partitions' file systems, and every other file. Disconnects the session
/// from it.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "LiveUpdateHost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveLiveUpdateHostCommand : LiveUpdateCmdlet
{
    /// <summary>The folder that holds liveupdate-host.json; default: the connected host.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Location")]
    public string? Path { get; set; }

    protected override void ProcessRecord() => RunTerminating(() =>
    {
        var full = Path is null ? Engine.Backend.Location : GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(full, "Remove everything LiveUpdate made on the host (containers, mounts, namespaces, state, journals, locks); the description and the disks stay")) return;
        if (!HostDescription.Exists(full))
            throw new LiveUpdateException("NotAHost", ErrorKind.InvalidArgument, $"'{full}' holds no {HostDescription.FileName}.", full);
        var current = Session.Current;
        var same = current is not null && string.Equals(System.IO.Path.TrimEndingDirectorySeparator(current.Location), System.IO.Path.TrimEndingDirectorySeparator(full), StringComparison.Ordinal);
        ContainerBackend.OpenForRemoval(full).RemoveHost(Context());
        if (same)
        {
            Session.Forget($"Remove-LiveUpdateHost removed what LiveUpdate made on {full}, the system it was connected to.");
            current!.Close();
        }
    });
}
