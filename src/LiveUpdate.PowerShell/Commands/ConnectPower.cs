using System;
using System.IO;
using System.Management.Automation;
using LiveUpdate.Engine.Backends;
using LiveUpdate.Engine.Backends.Power;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>
/// Connect-LiveUpdateSystem for a Power frame: -Hmc and -ManagedSystem name it, -Credential (or -KeyFilePath, or the
/// SSH agent) logs in to the HMC, -PartitionCredential (or the description's key files, or the agent) to the
/// partitions, -DescriptionPath adds the partitions' addresses and the applications. Host keys are checked against
/// -KnownHostsPath (default ~/.ssh/known_hosts); -TrustHostKey records keys that are not known yet.
/// </summary>
public sealed partial class ConnectLiveUpdateSystemCommand
{
    private const string PathSet = "Path";
    private const string HmcSet = "Hmc";

    /// <summary>The HMC's host name or address.</summary>
    [Parameter(Mandatory = true, ParameterSetName = HmcSet)]
    [ValidateNotNullOrEmpty]
    public string Hmc { get; set; } = "";

    /// <summary>The managed system's name as the HMC knows it (lssyscfg -r sys -F name).</summary>
    [Parameter(Mandatory = true, ParameterSetName = HmcSet)]
    [ValidateNotNullOrEmpty]
    public string ManagedSystem { get; set; } = "";

    /// <summary>The HMC user when logging in with a key or the agent (default hscroot, or the description's).</summary>
    [Parameter(ParameterSetName = HmcSet)]
    [ValidateNotNullOrEmpty]
    public string? UserName { get; set; }

    /// <summary>A private key file for the HMC login.</summary>
    [Parameter(ParameterSetName = HmcSet)]
    [ValidateNotNullOrEmpty]
    public string? KeyFilePath { get; set; }

    /// <summary>A liveupdate-power.json with the partitions' addresses and logins, the surrogate addresses and the applications.</summary>
    [Parameter(ParameterSetName = HmcSet)]
    [ValidateNotNullOrEmpty]
    public string? DescriptionPath { get; set; }

    /// <summary>The HMC user and password (the password is used for the SSH login only).</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>The partitions' administrator and password.</summary>
    [Parameter]
    [Credential]
    public PSCredential? PartitionCredential { get; set; }

    /// <summary>Records the host key of an HMC, VIOS or partition that the known-hosts file does not know yet (a changed key is always refused).</summary>
    [Parameter]
    public SwitchParameter TrustHostKey { get; set; }

    /// <summary>The known-hosts file to check host keys against.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KnownHostsPath { get; set; }

    private PowerConnection Connection() => new()
    {
        HmcCredential = Credential?.GetNetworkCredential(),
        PartitionCredential = PartitionCredential?.GetNetworkCredential(),
        TrustHostKey = TrustHostKey,
        KnownHostsPath = KnownHostsPath is null ? null : GetUnresolvedProviderPathFromPSPath(KnownHostsPath),
    };

    /// <summary>The Power frame to connect to, or null when the parameters name another kind of system.</summary>
    private ILiveUpdateBackend? OpenPower()
    {
        if (ParameterSetName != HmcSet)
        {
            var full = GetUnresolvedProviderPathFromPSPath(Path);
            return PowerBackend.IsSystem(full) ? PowerBackend.Open(full, Connection(), Logger) : null;
        }
        if (Credential is not null && KeyFilePath is not null)
            throw new LiveUpdateException("CredentialConflict", ErrorKind.InvalidArgument, "Give either -Credential or -KeyFilePath for the HMC, not both.", Hmc);
        var description = DescriptionPath is null ? new PowerDescription() : PowerDescription.LoadFile(GetUnresolvedProviderPathFromPSPath(DescriptionPath));
        description.Hmc ??= new PowerDescription.HmcDescription();
        description.Hmc.Address = Hmc;
        description.ManagedSystem = ManagedSystem;
        if (UserName is not null || Credential is not null) description.Hmc.User = UserName ?? Credential!.UserName;
        if (KeyFilePath is not null) description.Hmc.KeyFile = GetUnresolvedProviderPathFromPSPath(KeyFilePath);
        if (!PowerDescription.IsHost(Hmc)) throw new LiveUpdateException("DescriptionInvalid", ErrorKind.InvalidArgument, $"'{Hmc}' is not a host name or address.", Hmc);
        if (!PowerDescription.IsName(ManagedSystem)) throw new LiveUpdateException("DescriptionInvalid", ErrorKind.InvalidArgument, $"'{ManagedSystem}' is not a managed system name.", ManagedSystem);
        var folder = PowerBackend.DefaultFolder(Hmc, ManagedSystem);
        WriteVerbose($"The local state of {ManagedSystem} on {Hmc} is kept in {folder}.");
        return PowerBackend.Create(folder, description, Connection(), Logger);
    }
}
