@{
    RootModule           = 'LiveUpdate.dll'
    # The one place of the version: src/Directory.Build.props gives it to the assemblies too.
    ModuleVersion        = '0.1.0'
    GUID                 = '5b0c7f7e-3c1f-4d52-9a47-6f1e0c2d8a31'
    Author               = 'The LiveUpdate authors'
    CompanyName          = 'LiveUpdate'
    Copyright            = '(c) The LiveUpdate authors. MIT License.'
    Description          = 'Live update of an operating system while its applications keep running: clone and mirror the root volume group, update the clone, boot a surrogate partition from it and move the applications there with a blackout of milliseconds.'
    PowerShellVersion    = '7.6'
    CompatiblePSEditions = @('Core')
    # The assemblies load before the type data, which names their types.
    RequiredAssemblies   = @('LiveUpdate.Engine.dll', 'LiveUpdate.dll')
    TypesToProcess       = @('LiveUpdate.types.ps1xml')
    FormatsToProcess     = @('LiveUpdate.format.ps1xml')
    CmdletsToExport      = @(
        'New-LiveUpdateLab', 'Connect-LiveUpdateSystem', 'Get-LiveUpdateSystem', 'Remove-LiveUpdateLab',
        'Get-LogicalPartition', 'Get-PhysicalVolume', 'Get-VolumeGroup', 'Get-Application',
        'New-RootVgClone', 'Start-RootVgMirror', 'Install-CloneUpdate', 'Start-UpdatedPartition', 'Import-MirrorVg', 'Move-Application',
        'Invoke-LiveUpdate', 'Test-LiveUpdate', 'Remove-VolumeGroup', 'Disconnect-LiveUpdateSystem',
        'Remove-RootVgClone', 'Stop-RootVgMirror', 'Stop-UpdatedPartition', 'New-LiveUpdateBundle', 'Test-LiveUpdateBundle',
        'Get-LiveUpdateOperation', 'Resume-LiveUpdate', 'Undo-LiveUpdate', 'Test-ApplicationData',
        'Test-LiveUpdateHost', 'New-LiveUpdateHostDescription', 'Remove-LiveUpdateHost'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('LiveUpdate', 'AIX', 'PowerVM', 'LPAR', 'rootvg', 'btrfs', 'Linux', 'Update', 'PSEdition_Core')
            ProjectUri   = 'https://example.invalid/liveupdate'
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ReleaseNotes = @'
0.1.0
- A simulated IBM Power system in a folder (New-LiveUpdateLab, Connect-LiveUpdateSystem).
- The seven flow cmdlets, Invoke-LiveUpdate (with progress, Ctrl+C and -AsJob) and Test-LiveUpdate.
- Journalled operations: Get-LiveUpdateOperation, Resume-LiveUpdate, Undo-LiveUpdate, Test-ApplicationData.
- Help (Get-Help, about_LiveUpdate), views in 80 columns, tab completion, a JSON-lines audit log (-LogPath).
- Hand steps that can be backed out (Remove-RootVgClone, Stop-RootVgMirror, Stop-UpdatedPartition), journalled as an operation.
- Bundles verified against their own bytes into a private copy; New-LiveUpdateBundle, Test-LiveUpdateBundle.
- -System on every cmdlet that acts on a system, Connect-LiveUpdateSystem -PassThru, Disconnect-LiveUpdateSystem.
- Output a script can filter on: view columns are properties; JSON with names, seconds and levels as text.
'@
        }
    }
}
