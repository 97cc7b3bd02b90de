using System.Management.Automation;
using LiveUpdate.Engine.Flow;

namespace LiveUpdate.PowerShell;

/// <summary>
/// The base of every cmdlet that acts on a system: -System names it (a lab or host folder, a ManagedSystem, or a
/// connection from Connect-LiveUpdateSystem -PassThru); without it the cmdlet acts on the session's connection. A
/// runbook that names its system cannot act on another one, whatever the session is connected to.
/// </summary>
public abstract class SystemCmdlet : LiveUpdateCmdlet
{
    private LiveUpdateEngine? _engine;

    /// <summary>The system to act on instead of the session's connection: a folder, a ManagedSystem or a LiveUpdateConnection.</summary>
    [Parameter]
    [Alias("Connection")]
    [ValidateNotNull]
    public LiveUpdateConnection? System { get; set; }

    protected override LiveUpdateEngine Engine => _engine ??= System is null ? base.Engine : System.Engine(GetUnresolvedProviderPathFromPSPath);
}
