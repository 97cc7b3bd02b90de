using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Backends;
using LiveUpdate.Engine.Backends.Containers;
using LiveUpdate.Engine.Backends.Simulated;
using LiveUpdate.Engine.Backends.VirtualMachine;
using LiveUpdate.Engine.Flow;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>
/// New-LiveUpdateLab: creates a lab and connects to it: a simulated Power system in a folder (-Backend Simulated), or
/// real btrfs disks on loop devices, container partitions and a sample application on this Linux host (-Backend Container,
/// formerly Linux, as root).
/// </summary>
[Cmdlet(VerbsCommon.New, "LiveUpdateLab", SupportsShouldProcess = true)]
[OutputType(typeof(ManagedSystem))]
public sealed class NewLiveUpdateLabCommand : LiveUpdateCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Simulated (default), Container: btrfs disks and container partitions on this Linux host (Linux, its former name, still works), or VirtualMachine: libvirt domains with kernels of their own.</summary>
    [Parameter]
    [ValidateSet("Simulated", "Container", "Linux", "VirtualMachine")]
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
    [ValidateRange(1024, 16777216)]
    public long[]? DiskSizeMB { get; set; }

    /// <summary>How many records each application appends per second of the lab's (virtual) time.</summary>
    [Parameter]
    [ValidateRange(0.0001, 1000)]
    public double RecordsPerSecond { get; set; } = 2;

    protected override void ProcessRecord()
    {
        var full = GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(full, $"Create a {Backend} LiveUpdate lab")) return;
        // From here on the session acts on the new lab or on none: a lab that cannot be made leaves nothing selected.
        Session.Forget($"New-LiveUpdateLab -Path {full} did not finish, and the session no longer acts on the system it was connected to before.");
        RunTerminating(() =>
        {
            if (Backend is ContainerBackend.KindName or ContainerBackend.FormerKindName)
            {
                if (DiskSizeMB is { Length: > 1 } || MyInvocation.BoundParameters.ContainsKey(nameof(FrameProcessors)) || MyInvocation.BoundParameters.ContainsKey(nameof(FrameMemoryMB)))
                    throw new LiveUpdateException("ParameterNotSupported", ErrorKind.InvalidArgument,
                        "A container lab uses this host as its frame and disks of one size: -FrameProcessors and -FrameMemoryMB do not apply, -DiskSizeMB takes one size.", Backend);
                var linux = ContainerLabBuilder.Create(full, new ContainerLabOptions
                {
                    PartitionCount = PartitionCount,
                    OsLevel = OsLevel,
                    DiskSizeMB = DiskSizeMB is { Length: 1 } ? DiskSizeMB[0] : new ContainerLabOptions().DiskSizeMB,
                }, Context());
                WriteVerbose($"Created container lab {full}; it is now the session's system.");
                WriteObject(Session.Connect(linux).Engine(p => p).Inventory().System);
                return;
            }
            if (Backend == VirtualMachineBackend.KindName)
            {
                if (PartitionCount != 1 || MyInvocation.BoundParameters.ContainsKey(nameof(FrameProcessors)) || MyInvocation.BoundParameters.ContainsKey(nameof(FrameMemoryMB)) || DiskSizeMB is { Length: > 1 })
                    throw new LiveUpdateException("ParameterNotSupported", ErrorKind.InvalidArgument,
                        "A VM lab holds one partition on this host's libvirt: -PartitionCount, -FrameProcessors and -FrameMemoryMB do not apply, -DiskSizeMB takes one size.", Backend);
                var vm = VmLabBuilder.Create(full, new VmLabOptions { OsLevel = OsLevel, DiskSizeMB = DiskSizeMB is { Length: 1 } ? DiskSizeMB[0] : new VmLabOptions().DiskSizeMB }, Context());
                WriteVerbose($"Created VM lab {full}; it is now the session's system.");
                WriteObject(Session.Connect(vm).Engine(p => p).Inventory().System);
                return;
            }
            var backend = LabBuilder.Create(full, new LabOptions
            {
                PartitionCount = PartitionCount,
                OsLevel = OsLevel,
                FrameProcessors = MyInvocation.BoundParameters.ContainsKey(nameof(FrameProcessors)) ? FrameProcessors : null,
                FrameMemoryMB = MyInvocation.BoundParameters.ContainsKey(nameof(FrameMemoryMB)) ? FrameMemoryMB : null,
                FreeDiskSizesMB = DiskSizeMB,
                RecordsPerSecond = RecordsPerSecond,
            });
            WriteVerbose($"Created lab {full}; it is now the session's system.");
            WriteObject(Session.Connect(backend).Engine(p => p).Inventory().System);
        });
    }
}

/// <summary>
/// Connect-LiveUpdateSystem: opens a lab, a described host, or a Power frame through its HMC, and makes it the
/// session's connection. A connect that fails leaves the session connected to nothing, so that no later cmdlet acts on
/// the system of before.
/// </summary>
[Cmdlet(VerbsCommunications.Connect, "LiveUpdateSystem", DefaultParameterSetName = PathSet)]
[OutputType(typeof(ManagedSystem))]
[OutputType(typeof(LiveUpdateConnection))]
public sealed partial class ConnectLiveUpdateSystemCommand : LiveUpdateCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = PathSet)]
    [Alias("Location")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Linux: let LiveUpdate overwrite described disks that hold a file system it did not make.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Return the connection (for -System of other cmdlets) instead of the system.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var target = ParameterSetName == HmcSet ? $"-Hmc {Hmc} -ManagedSystem {ManagedSystem}" : "-Path " + GetUnresolvedProviderPathFromPSPath(Path);
        var before = Session.Current;
        Session.Forget($"Connect-LiveUpdateSystem {target} failed, and the session no longer acts on {(before is null ? "any system" : before.Location)}.");
        RunTerminating(() =>
        {
            var connection = Session.Connect(OpenPower() ?? Labs.Open(GetUnresolvedProviderPathFromPSPath(Path), force: Force));
            WriteVerbose($"Connected to {connection}; it is now the session's system.");
            WriteObject(PassThru ? connection : connection.Engine(p => p).Inventory().System);
        });
    }
}

/// <summary>Disconnect-LiveUpdateSystem: forgets the session's connection (or closes the given one); changes nothing on the system.</summary>
[Cmdlet(VerbsCommunications.Disconnect, "LiveUpdateSystem", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(void))]
public sealed class DisconnectLiveUpdateSystemCommand : LiveUpdateCmdlet
{
    /// <summary>A connection to close instead of the session's (from Connect-LiveUpdateSystem -PassThru).</summary>
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [Alias("Connection")]
    [ValidateNotNull]
    public LiveUpdateConnection? System { get; set; }

    protected override void ProcessRecord()
    {
        var connection = System ?? Session.Current;
        if (connection is null)
        {
            WriteVerbose("The session is connected to no LiveUpdate system; there is nothing to disconnect.");
            return;
        }
        if (!ShouldProcess(connection.ToString(), "Forget the connection (the system itself does not change)")) return;
        if (connection.IsDefault) Session.Forget($"Disconnect-LiveUpdateSystem closed the connection to {connection.Location}.");
        connection.Close();
        WriteVerbose($"Disconnected from {connection}.");
    }
}

/// <summary>Get-LiveUpdateSystem: the connected system (or the one -System names).</summary>
[Cmdlet(VerbsCommon.Get, "LiveUpdateSystem")]
[OutputType(typeof(ManagedSystem))]
public sealed class GetLiveUpdateSystemCommand : SystemCmdlet
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
        var current = Session.Current is { IsOpen: true } c ? c : null;
        var backend = current is not null && SameFolder(current.Location, full) ? current.Engine(p => p).Backend : Labs.Open(full, verify: false);
        if (backend is ContainerBackend { Description.Lab: false })
            throw new LiveUpdateException("HostNotALab", ErrorKind.InvalidOperation,
                $"'{full}' describes a host, not a lab; Remove-LiveUpdateHost removes what LiveUpdate made there and leaves the description and the disks.", full);
        if (!ShouldProcess(full, "Remove the LiveUpdate lab and everything in it")) return;
        var operations = OperationJournal.Ids(full).ToList();
        backend.RemoveLab(Context());
        // Private copies of bundles that processes which died during the lab's operations left go with the lab.
        foreach (var id in operations) LiveUpdate.Engine.Bundles.UpdateBundle.RemoveCopies(id);
        if (current is not null && SameFolder(current.Location, full))
        {
            Session.Forget($"Remove-LiveUpdateLab removed {full}, the system it was connected to.");
            current.Close();
        }
    });

    private static bool SameFolder(string a, string b) => string.Equals(
        System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(a)),
        System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(b)), StringComparison.Ordinal);
}
