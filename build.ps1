#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests and demonstrates the LiveUpdate module.
.DESCRIPTION
    Tasks:
      build    publish the cmdlet assembly and the module files to out/LiveUpdate (Import-Module ./out/LiveUpdate),
               with the help made from docs/en-US (MAML and about topics)
      docs     build, then refresh the syntax and parameter metadata of docs/en-US/*.md from the cmdlets
      package  build, then pack out/LiveUpdate into out/packages/LiveUpdate.<version>.nupkg, which Install-PSResource
               installs from a repository registered on that folder
      test     build, then run the xunit engine tests and the Pester acceptance tests; ends with "N passed, N failed"
               (-Full: the fault matrix on the Power and VM backends with every timing)
      demo     build, then live-update partition lpar1 of a new simulated lab and print the result
      bench    build, then run the benchmarks (minutes; the Linux sections as root) and write out/bench/report.{json,md}
               and the table in README.md
    Run with the PowerShell of the tool manifest: dotnet tool restore; dotnet pwsh ./build.ps1 <task>
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'demo', 'docs', 'package', 'bench')]
    [string] $Task = 'build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Pester tests to run (paths or a filter on file names); all by default.
    [string[]] $TestPath = @(),

    # Pester tags to leave out.
    [string[]] $ExcludeTag = @(),

    # Benchmark sections to run (all by default): Import, Scale, Blackout, Throughput, Overhead, Power, VirtualMachine.
    [string[]] $BenchSection = @(),

    # Runs per benchmark figure (the report gives median, min and max).
    [int] $BenchRuns = 5,

    # test: the fault matrix on the Power and VM backends with every timing (Before, During, After, Kill, Health), not only
    # During and Kill.
    [switch] $Full
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$root = $PSScriptRoot
$out = Join-Path $root 'out'
$moduleOut = Join-Path $out 'LiveUpdate'
$results = Join-Path $out 'test-results'
$pesterVersion = '5.7.1'
# The backends the reliability matrix runs on besides the simulated one (tests/Pester/FaultMatrix.Tests.ps1).
$matrixBackends = @('Container', 'Power', 'VirtualMachine')

function Invoke-Native {
    # Runs an external command from an argument vector and fails on a non-zero exit code.
    param([string] $FilePath, [string[]] $ArgumentList)
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) { throw "$FilePath $($ArgumentList -join ' ') exited with $LASTEXITCODE" }
}

function Invoke-Build {
    Write-Host "Building LiveUpdate ($Configuration) into $moduleOut"
    if (Test-Path $moduleOut) { Remove-Item $moduleOut -Recurse -Force }
    Invoke-Native dotnet @('publish', (Join-Path $root 'src/LiveUpdate.PowerShell/LiveUpdate.PowerShell.csproj'), '-c', $Configuration, '-o', $moduleOut, '--nologo', '-v', 'quiet')
    Copy-Item (Join-Path $root 'module/*') $moduleOut -Recurse -Force
    # The help: docs/en-US/*.md (PlatyPS's schema) to MAML and about topics beside the assembly.
    Import-Module (Join-Path $root 'src/LiveUpdate.Build/MarkdownHelp.psm1') -Force
    $null = ConvertTo-MamlHelp -Path (Join-Path $root 'docs/en-US') -OutputPath (Join-Path $moduleOut 'en-US')
}

function Invoke-Package {
    # A .nupkg of the built module (the manifest gives its id, version, tags and release notes).
    $packages = Join-Path $out 'packages'
    if (Test-Path $packages) { Remove-Item $packages -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $packages
    Compress-PSResource -Path $moduleOut -DestinationPath $packages
    $package = Get-ChildItem $packages -Filter '*.nupkg'
    Write-Host "Packed $($package.FullName)"
    $package
}

function Update-Docs {
    # Refreshes the SYNTAX and parameter metadata of docs/en-US/*.md from the built cmdlets (and adds pages for new
    # ones); the prose stays. Runs in a child process, which loads the module and lets go of it afterwards.
    $online = ((Import-PowerShellDataFile (Join-Path $root 'module/LiveUpdate.psd1')).PrivateData.PSData.ProjectUri) + '/blob/main/docs/en-US'
    $script = "Import-Module '$moduleOut'; Import-Module '$(Join-Path $root 'src/LiveUpdate.Build/MarkdownHelp.psm1')'; Update-MarkdownHelp -Module LiveUpdate -Path '$(Join-Path $root 'docs/en-US')' -OnlineRoot '$online' -Verbose"
    Invoke-Pwsh $script
}

function Invoke-Pwsh {
    # Runs a script in a new process of this PowerShell (the tool's pwsh, or pwsh.dll under the dotnet host).
    param([string] $Script)
    $exe = Join-Path $PSHOME 'pwsh'
    if ($IsWindows -or -not (Test-Path $exe)) { Invoke-Native (Get-Process -Id $PID).Path @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command', $Script) }
    else { Invoke-Native $exe @('-NoProfile', '-NonInteractive', '-Command', $Script) }
}

function Install-Pester {
    $tools = Join-Path $root '.tools/Modules'
    # The NuGet registry serves Pester as the package that Chocolatey also uses: the module sits in its tools folder.
    $manifest = Join-Path $tools "Pester/$pesterVersion/tools/Pester.psd1"
    if (-not (Test-Path $manifest)) {
        Write-Host "Bootstrapping Pester $pesterVersion from the NuGet registry into $tools"
        New-Item -ItemType Directory -Force $tools | Out-Null
        $source = (& dotnet nuget list source --format short | Where-Object { $_ -match '^E\w*\s+(https?://\S+/v3/index\.json)' } | ForEach-Object { $Matches[1] } | Select-Object -First 1)
        if (-not $source) { $source = 'https://api.nuget.org/v3/index.json' }
        $repo = 'LiveUpdateBootstrap'
        if (-not (Get-PSResourceRepository -Name $repo -ErrorAction SilentlyContinue)) {
            Register-PSResourceRepository -Name $repo -Uri $source -Trusted
        }
        Save-PSResource -Name Pester -Version $pesterVersion -Repository $repo -Path $tools -TrustRepository -Quiet
        $saved = Get-ChildItem $tools -Directory | Where-Object Name -eq 'pester'
        if ($saved -and $saved.Name -cne 'Pester') { Rename-Item $saved.FullName (Join-Path $tools 'Pester.tmp'); Rename-Item (Join-Path $tools 'Pester.tmp') (Join-Path $tools 'Pester') }
    }
    Import-Module $manifest -Force
}

function Invoke-EngineTests {
    $trx = Join-Path $results 'engine.trx'
    if (Test-Path $trx) { Remove-Item $trx }
    & dotnet test (Join-Path $root 'tests/LiveUpdate.Engine.Tests/LiveUpdate.Engine.Tests.csproj') -c $Configuration --nologo `
        --logger "trx;LogFileName=engine.trx" --logger 'console;verbosity=minimal' --results-directory $results | Out-Host
    if (-not (Test-Path $trx)) { throw "The engine tests wrote no results ($trx); the build or the test host failed." }
    $counters = ([xml](Get-Content $trx -Raw)).TestRun.ResultSummary.Counters
    [pscustomobject]@{ Passed = [int]$counters.passed; Failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted; Skipped = [int]$counters.notExecuted }
}

function Invoke-PesterTests {
    Install-Pester
    $config = New-PesterConfiguration
    $config.Run.Path = if ($TestPath) { $TestPath } else { Join-Path $root 'tests/Pester' }
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'Normal'
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputFormat = 'NUnitXml'
    $config.TestResult.OutputPath = Join-Path $results 'pester.xml'
    if ($ExcludeTag) { $config.Filter.ExcludeTag = $ExcludeTag }
    $env:LIVEUPDATE_MODULE = $moduleOut
    $env:LIVEUPDATE_PACKAGES = Join-Path $out 'packages'
    $runs = @(Invoke-Pester -Configuration $config)
    if (-not $TestPath) {
        # The reliability matrix again on each real backend (skipped with the reason where it cannot run).
        # On the Power and VM backends every step during its work and killed; -Full: every timing. The VM backend runs
        # every case in one lab (booting guests under TCG is what takes the time).
        foreach ($backend in $matrixBackends) {
            $config.Run.Path = Join-Path $root 'tests/Pester/FaultMatrix.Tests.ps1'
            $config.TestResult.OutputPath = Join-Path $results "pester-matrix-$($backend.ToLowerInvariant()).xml"
            $env:LIVEUPDATE_MATRIX_BACKEND = $backend
            $env:LIVEUPDATE_MATRIX_MODES = if ($backend -in 'Power', 'VirtualMachine' -and -not $Full) { 'During,Kill' } else { $null }
            $env:LIVEUPDATE_MATRIX_REUSE = if ($backend -eq 'VirtualMachine') { '1' } else { $null }
            try { $runs += Invoke-Pester -Configuration $config } finally { $env:LIVEUPDATE_MATRIX_BACKEND = $null; $env:LIVEUPDATE_MATRIX_REUSE = $null; $env:LIVEUPDATE_MATRIX_MODES = $null }
        }
    }
    [pscustomobject]@{
        Passed  = ($runs | Measure-Object PassedCount -Sum).Sum
        Failed  = ($runs | ForEach-Object { $_.FailedCount + $_.FailedBlocksCount + $_.FailedContainersCount } | Measure-Object -Sum).Sum
        Skipped = ($runs | ForEach-Object { $_.SkippedCount + $_.NotRunCount } | Measure-Object -Sum).Sum
    }
}

switch ($Task) {
    'build' { Invoke-Build }
    'docs' { Invoke-Build; Update-Docs }
    'package' { Invoke-Build; $null = Invoke-Package }
    'test' {
        Invoke-Build
        $null = Invoke-Package
        New-Item -ItemType Directory -Force $results | Out-Null
        $engine = Invoke-EngineTests
        $pester = Invoke-PesterTests
        $passed = $engine.Passed + $pester.Passed
        $failed = $engine.Failed + $pester.Failed
        $skipped = $engine.Skipped + $pester.Skipped
        Write-Host ("engine (xunit): {0} passed, {1} failed, {2} skipped; acceptance (Pester): {3} passed, {4} failed, {5} skipped" -f `
            $engine.Passed, $engine.Failed, $engine.Skipped, $pester.Passed, $pester.Failed, $pester.Skipped)
        Write-Host "$passed passed, $failed failed, $skipped skipped"
        if ($failed -gt 0 -or $passed -eq 0) { exit 1 }
    }
    'bench' {
        Invoke-Build
        $arguments = @{ ModulePath = $moduleOut; OutputPath = (Join-Path $out 'bench'); Runs = $BenchRuns; Readme = (Join-Path $root 'README.md') }
        if ($BenchSection) { $arguments.Section = @($BenchSection -split ',' | ForEach-Object Trim) }
        & (Join-Path $root 'tests/Benchmarks/Bench.ps1') @arguments
    }
    'demo' {
        Invoke-Build
        Import-Module $moduleOut -Force
        $lab = Join-Path ([IO.Path]::GetTempPath()) "liveupdate-demo-$PID"
        try {
            New-LiveUpdateLab -Path $lab | Out-Null
            Write-Host "Lab: $lab"
            Get-LogicalPartition | Format-Table | Out-Host
            Get-PhysicalVolume | Format-Table | Out-Host
            $bundle = Get-ChildItem (Join-Path $lab 'updates') -Directory | Sort-Object Name | Select-Object -First 1
            Test-LiveUpdate -Partition lpar1 -UpdatePath $bundle.FullName | Format-List | Out-Host
            $result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle.FullName
            $result | Format-List | Out-Host
            $result.Phases | Format-Table | Out-Host
            $result.Applications | Format-Table | Out-Host
            Get-LogicalPartition | Format-Table | Out-Host
            Get-VolumeGroup | Format-Table | Out-Host
        }
        finally {
            if (Test-Path $lab) { Remove-LiveUpdateLab -Path $lab -Confirm:$false }
        }
    }
}
