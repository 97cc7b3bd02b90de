using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using LiveUpdate.Engine.Bundles;
using LiveUpdate.Engine.Model;

namespace LiveUpdate.PowerShell.Commands;

/// <summary>
/// One package for New-LiveUpdateBundle: its name and version, its kind, and the file that holds it. PowerShell
/// makes one of a hashtable (@{ Name = 'bos.rte'; Version = '7.3.2.2'; Path = './bos.rte.bff' }) or of any object
/// with these properties. The kind follows the file when it is not given: .deb is deb, .tar or .tar.gz is overlay,
/// anything else a fileset.
/// </summary>
public sealed class BundlePackageSpec
{
    public string Name { get; set; } = "";
    public string Version { get; set; } = "";
    public string? Kind { get; set; }
    public string Path { get; set; } = "";

    internal string KindOrDefault()
    {
        if (!string.IsNullOrEmpty(Kind)) return Kind!;
        var lower = Path.ToLowerInvariant();
        if (lower.EndsWith(".deb", System.StringComparison.Ordinal)) return "deb";
        if (lower.EndsWith(".tar", System.StringComparison.Ordinal) || lower.EndsWith(".tar.gz", System.StringComparison.Ordinal) || lower.EndsWith(".tgz", System.StringComparison.Ordinal)) return "overlay";
        return "fileset";
    }
}

/// <summary>
/// New-LiveUpdateBundle: makes an update bundle from payload files, a folder or a .zip, .tar or .tar.gz archive, with
/// the SHA-256 and size of every payload in its manifest, and returns what Test-LiveUpdateBundle finds in it.
/// </summary>
[Cmdlet(VerbsCommon.New, "LiveUpdateBundle", SupportsShouldProcess = true)]
[OutputType(typeof(LiveUpdateBundle))]
public sealed class NewLiveUpdateBundleCommand : LiveUpdateCmdlet
{
    /// <summary>Where to make the bundle: a new or empty folder, or a new file ending in .zip, .tar, .tar.gz or .tgz.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The bundle's name, as Get-LiveUpdateOperation and the results show it.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    /// <summary>The OS level a partition has after the update.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNull]
    public OsLevel TargetLevel { get; set; } = null!;

    /// <summary>The lowest OS level the update applies to; any lower level when omitted.</summary>
    [Parameter]
    public OsLevel? RequiresLevel { get; set; }

    /// <summary>The packages: objects or hashtables with Name, Version, Path and, optionally, Kind (fileset, deb, overlay).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public BundlePackageSpec[] Package { get; set; } = null!;

    /// <summary>The update needs a reboot: the bundle says it is not live-update capable, and Invoke-LiveUpdate refuses it.</summary>
    [Parameter]
    public SwitchParameter RequiresReboot { get; set; }

    private readonly List<BundlePackageSpec> _packages = new();

    protected override void ProcessRecord() => _packages.AddRange(Package);

    protected override void EndProcessing()
    {
        RunTerminating(() =>
        {
            var target = GetUnresolvedProviderPathFromPSPath(Path);
            var payloads = _packages.Select(p => new BundlePayload(p.Name, p.Version, p.KindOrDefault(), System.IO.Path.GetFileName(p.Path), null,
                GetUnresolvedProviderPathFromPSPath(p.Path))).ToList();
            var definition = new BundleDefinition(Name, TargetLevel, RequiresLevel, !RequiresReboot, payloads);
            var what = BundleBuilder.IsArchivePath(target) ? "archive" : "folder";
            if (!ShouldProcess(target, $"Create the update bundle '{Name}' ({TargetLevel}, {payloads.Count} packages) as a {what}")) return;
            var made = BundleBuilder.Create(target, definition);
            WriteObject(UpdateBundle.Test(made));
        });
        base.EndProcessing();
    }
}

/// <summary>
/// Test-LiveUpdateBundle: verifies a bundle without naming a partition (its manifest, every payload's SHA-256 and
/// size, what its archive holds) and returns what it found; writes nothing anywhere.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "LiveUpdateBundle")]
[OutputType(typeof(LiveUpdateBundle), typeof(bool))]
public sealed class TestLiveUpdateBundleCommand : LiveUpdateCmdlet
{
    /// <summary>The bundle: a folder, or a .zip, .tar or .tar.gz archive of one.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "UpdatePath")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(Completers.BundlePathCompleter))]
    public string[] Path { get; set; } = null!;

    /// <summary>Return only $true or $false.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var path in Path)
        {
            var found = UpdateBundle.Test(GetUnresolvedProviderPathFromPSPath(path));
            WriteVerbose(found.Verified ? $"PASS {found.Path}: {found.Message}" : $"FAIL {found.Path}: {found.ErrorId}: {found.Message}");
            WriteObject(Quiet ? found.Verified : found);
        }
    }
}
