# The manifest and the package: explicit exports, editions, version from one place, PSData; the .nupkg that
# build.ps1 package makes installs with Install-PSResource from a repository folder into a clean module path, and
# the installed copy works. The installation runs in a PowerShell of its own whose user folders (XDG_*) are under
# $TestDrive, so that neither the repository it registers nor the module it installs reaches the real user's.

BeforeAll {
    $manifestPath = Join-Path $env:LIVEUPDATE_MODULE 'LiveUpdate.psd1'
    $manifest = Import-PowerShellDataFile -Path $manifestPath
    $packages = $env:LIVEUPDATE_PACKAGES

    function Invoke-CleanPwsh([string] $Script, [hashtable] $Environment) {
        $exe = Join-Path $PSHOME 'pwsh'
        $psi = if ($IsWindows -or -not (Test-Path $exe)) {
            $p = [System.Diagnostics.ProcessStartInfo]::new((Get-Process -Id $PID).Path)
            $p.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')); $p
        }
        else { [System.Diagnostics.ProcessStartInfo]::new($exe) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "`$ErrorActionPreference = 'Stop'; `$PSStyle.OutputRendering = 'PlainText'`n$Script") { $psi.ArgumentList.Add($a) }
        foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
        $psi.WorkingDirectory = $TestDrive
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $process = [System.Diagnostics.Process]::Start($psi)
        $out = $process.StandardOutput.ReadToEndAsync()
        $err = $process.StandardError.ReadToEndAsync()
        if (-not $process.WaitForExit(180000)) { $process.Kill($true); throw 'The PowerShell installing the package did not finish.' }
        [pscustomobject]@{ ExitCode = $process.ExitCode; Out = $out.Result; Err = $err.Result }
    }
}

Describe 'The module manifest' {
    It 'passes Test-ModuleManifest' {
        { Test-ModuleManifest -Path $manifestPath -ErrorAction Stop } | Should -Not -Throw
    }

    It 'exports its cmdlets by name, no wildcards, and nothing else' {
        $manifest.CmdletsToExport | Should -Not -Contain '*'
        $manifest.CmdletsToExport | ForEach-Object { $_ | Should -Not -Match '[*?]' }
        $manifest.FunctionsToExport | Should -BeNullOrEmpty
        $manifest.AliasesToExport | Should -BeNullOrEmpty
        $manifest.VariablesToExport | Should -BeNullOrEmpty
        $module = Import-Module $env:LIVEUPDATE_MODULE -Force -PassThru
        ($module.ExportedCmdlets.Keys | Sort-Object) | Should -Be ($manifest.CmdletsToExport | Sort-Object)
        # Every cmdlet of the assembly is exported.
        $defined = $module.ImplementingAssembly.GetExportedTypes() | Where-Object { $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false) } |
            ForEach-Object { $a = $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]; "$($a.VerbName)-$($a.NounName)" }
        ($defined | Sort-Object) | Should -Be ($manifest.CmdletsToExport | Sort-Object)
    }

    It 'names its editions, PowerShell version and gallery data' {
        $manifest.CompatiblePSEditions | Should -Be 'Core'
        [version]$manifest.PowerShellVersion | Should -BeLessOrEqual $PSVersionTable.PSVersion
        $manifest.PrivateData.PSData.Tags | Should -Contain 'PSEdition_Core'
        $manifest.PrivateData.PSData.Tags | Should -Contain 'AIX'
        $manifest.PrivateData.PSData.ProjectUri | Should -Match '^https://'
        $manifest.PrivateData.PSData.LicenseUri | Should -Match '^https://'
        $manifest.PrivateData.PSData.ReleaseNotes | Should -Match ([regex]::Escape($manifest.ModuleVersion))
    }

    It 'gives the assemblies the version of the manifest' {
        $version = [version]$manifest.ModuleVersion
        foreach ($assembly in [LiveUpdate.PowerShell.LiveUpdateCmdlet].Assembly, [LiveUpdate.Engine.Model.OsLevel].Assembly) {
            $v = $assembly.GetName().Version
            "$($v.Major).$($v.Minor).$($v.Build)" | Should -Be "$version" -Because "$($assembly.GetName().Name) takes its version from the manifest"
        }
    }
}

Describe 'The package' {
    BeforeAll {
        $nupkg = Get-ChildItem -Path $packages -Filter 'LiveUpdate.*.nupkg' -ErrorAction SilentlyContinue
    }

    It 'is in the packages folder with the version of the manifest' {
        $nupkg | Should -HaveCount 1
        $nupkg.Name | Should -Be "LiveUpdate.$($manifest.ModuleVersion).nupkg"
    }

    It 'holds the module, its help and its views' {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [System.IO.Compression.ZipFile]::OpenRead($nupkg.FullName)
        try { $entries = $zip.Entries.FullName } finally { $zip.Dispose() }
        foreach ($file in 'LiveUpdate.psd1', 'LiveUpdate.dll', 'LiveUpdate.Engine.dll', 'LiveUpdate.format.ps1xml', 'LiveUpdate.types.ps1xml',
            'en-US/LiveUpdate.dll-Help.xml', 'en-US/about_LiveUpdate.help.txt', 'LiveUpdate.nuspec') {
            $entries | Should -Contain $file
        }
    }

    It 'installs with Install-PSResource from a repository folder into a clean module path, and the installed copy works' {
        $userHome = Join-Path $TestDrive 'home'
        $lab = Join-Path $TestDrive 'lab'
        # .NET names a user folder only once it exists; PSResourceGet keeps its repositories and CurrentUser modules there.
        foreach ($folder in '.local/share', '.config', '.cache') { $null = New-Item -ItemType Directory -Force -Path (Join-Path $userHome $folder) }
        $script = @"
Register-PSResourceRepository -Name LiveUpdateLocal -Uri '$packages' -Trusted
Install-PSResource -Name LiveUpdate -Repository LiveUpdateLocal -Scope CurrentUser -TrustRepository -Quiet
`$env:PSModulePath = [Environment]::GetFolderPath('LocalApplicationData') + '/powershell/Modules'
Import-Module LiveUpdate
'BASE=' + (Get-Module LiveUpdate).ModuleBase
'VERSION=' + (Get-Module LiveUpdate).Version
`$null = New-LiveUpdateLab -Path '$lab'
'STATUS=' + (Invoke-LiveUpdate -Partition lpar1 -UpdatePath '$lab/updates/7300-02-02').Status
'HELP=' + (Get-Help Invoke-LiveUpdate).Synopsis
Remove-LiveUpdateLab -Path '$lab'
"@
        $run = Invoke-CleanPwsh $script @{
            HOME = $userHome; XDG_DATA_HOME = "$userHome/.local/share"; XDG_CONFIG_HOME = "$userHome/.config"; XDG_CACHE_HOME = "$userHome/.cache"
            PSModulePath = ''; LIVEUPDATE_FAULT = ''
        }
        $run.ExitCode | Should -Be 0 -Because $run.Err
        $lines = $run.Out -split "`r?`n"
        $base = ($lines | Where-Object { $_ -like 'BASE=*' }) -replace '^BASE=', ''
        $base | Should -BeLike "$userHome*"
        $base | Should -BeLike "*LiveUpdate*$($manifest.ModuleVersion)"
        $lines | Should -Contain "VERSION=$($manifest.ModuleVersion)"
        $lines | Should -Contain 'STATUS=Succeeded'
        $lines | Should -Contain 'HELP=Updates the operating system of a running partition while its applications keep running.'
        Test-Path (Join-Path $base 'en-US/LiveUpdate.dll-Help.xml') | Should -BeTrue
        Get-Content (Join-Path $userHome '.local/share/PSResourceGet/PSResourceRepository.xml') -Raw | Should -Match 'LiveUpdateLocal'
        Get-PSResourceRepository -Name LiveUpdateLocal -ErrorAction SilentlyContinue | Should -BeNullOrEmpty -Because 'the real user has no such repository'
    }
}
