#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The LiveUpdate benchmarks: blackout, clone and mirror throughput, engine overhead, scale, import time, and the Power
    backend's SSH round trips and added time per step against an emulated frame.
.DESCRIPTION
    Each figure is measured side by side with its baseline in the same run and reported as a median (with min and max)
    and a ratio; no absolute time is a verdict on its own. Writes report.json and report.md to -OutputPath and, with
    -UpdateReadme, the table between the bench markers of README.md. Sections that need the Linux backend run as root
    on Linux only and are reported as not run, with the reason, elsewhere.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $OutputPath,
    [int] $Runs = 5,
    [int[]] $ScalePartitions = @(10, 100, 1000),
    [string] $Readme,
    [string[]] $Section = @('Import', 'Scale', 'Blackout', 'Throughput', 'Overhead', 'Power', 'VirtualMachine')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
New-Item -ItemType Directory -Force $OutputPath | Out-Null
. (Join-Path $PSScriptRoot 'BenchSupport.ps1')
. (Join-Path $PSScriptRoot 'BenchLinux.ps1')
. (Join-Path $PSScriptRoot 'BenchPower.ps1')
. (Join-Path $PSScriptRoot 'BenchVirtualMachine.ps1')

$report = [ordered]@{
    Date     = (Get-Date).ToUniversalTime().ToString('yyyy-MM-dd HH:mm') + ' UTC'
    Machine  = Get-MachineDescription
    Sections = [ordered]@{}
    Targets  = [System.Collections.Generic.List[object]]::new()
}

foreach ($name in $Section) {
    $fn = "Measure-$name"
    Write-Host "== $name"
    try {
        $report.Sections[$name] = & $fn -ModulePath $ModulePath -Runs $Runs -ScalePartitions $ScalePartitions -Targets $report.Targets
    }
    catch {
        Write-Warning "$name failed: $($_.Exception.Message)`n$($_.ScriptStackTrace)"
        $report.Sections[$name] = [ordered]@{ NotRun = "failed: $($_.Exception.Message)" }
        $report.Targets.Add([ordered]@{ Section = $name; Target = 'runs'; Measured = 'failed'; Met = $false })
    }
}

$json = Join-Path $OutputPath 'report.json'
$md = Join-Path $OutputPath 'report.md'
# A run of some sections keeps the figures of the others from the last report on this machine, each section with the
# date it was measured, so that the README table shows every section.
$report.SectionDates = [ordered]@{}
foreach ($name in $report.Sections.Keys) { $report.SectionDates[$name] = $report.Date }
$last = if (Test-Path $json) { Get-Content $json -Raw | ConvertFrom-Json -AsHashtable }
# Figures from another kind of machine are not comparable: they are dropped.
if ($last -and $last.Machine.Cpu -eq $report.Machine.Cpu -and $last.Machine.Cores -eq $report.Machine.Cores) {
    foreach ($name in @($last.Sections.Keys)) {
        if ($report.Sections.Contains($name)) { continue }
        $report.Sections[$name] = $last.Sections[$name]
        $report.SectionDates[$name] = if ($last.Contains('SectionDates') -and $last.SectionDates.Contains($name)) { $last.SectionDates[$name] } else { $last.Date }
        foreach ($t in @($last.Targets | Where-Object { $_.Section -eq $name })) { $report.Targets.Add($t) }
    }
}
$order = @('Import', 'Scale', 'Blackout', 'Throughput', 'Overhead', 'Power', 'VirtualMachine')
$sorted = @($report.Targets | Sort-Object -Stable { $i = $order.IndexOf([string]$_.Section); if ($i -lt 0) { 99 } else { $i } })
$report.Targets.Clear(); foreach ($t in $sorted) { $report.Targets.Add($t) }
$report | ConvertTo-Json -Depth 8 | Set-Content $json
$markdown = ConvertTo-BenchMarkdown $report
$markdown | Set-Content $md
Write-Host $markdown
if ($Readme) { Update-ReadmeTable -Readme $Readme -Markdown $markdown }
Write-Host "Report: $json, $md"
