# The Power section of the benchmarks: the backend against an emulated frame (tests/Emulators/Power). For each step
# of a live update by hand, and for Invoke-LiveUpdate: the SSH round trips it sends, its wall time, the time the
# emulator itself spent in those commands (from its command log), and the time the backend adds on top (wall time
# minus the emulator's), so that a real frame's cost can be estimated from its own command times.

function Measure-Power {
    param([string] $ModulePath, [int] $Runs, [int[]] $ScalePartitions, $Targets)
    $reason = Test-LinuxBench
    . (Join-Path $PSScriptRoot '../Pester/Support/Power.ps1')
    if (-not $reason) { $reason = Get-PowerSkipReason }
    if ($reason) {
        Add-Target $Targets 'Power' 'runs' "not run: $reason" $false
        return [ordered]@{ NotRun = $reason }
    }
    Import-Module $ModulePath -Force
    $frame = New-PowerFrame -Applications 1
    $steps = [ordered]@{}
    $invoke = [System.Collections.Generic.List[object]]::new()
    try {
        for ($run = 1; $run -le $Runs; $run++) {
            Reset-PowerFrame $frame
            $lab = Join-Path ([IO.Path]::GetTempPath()) "lu-bench-power-$PID-$run"
            try {
                $null = New-PowerLab -Frame $frame -Path $lab
                $bundle = Join-Path $lab 'updates/7300-02-02'
                $work = [ordered]@{
                    'New-RootVgClone'        = { $script:clone = Get-LogicalPartition lpar1 | New-RootVgClone -Disk hdisk1 -Confirm:$false }
                    'Start-RootVgMirror'     = { $script:mirror = Get-LogicalPartition lpar1 | Start-RootVgMirror -Disk hdisk2 -Confirm:$false }
                    'Install-CloneUpdate'    = { $script:clone = $script:clone | Install-CloneUpdate -Path $bundle -Confirm:$false }
                    'Start-UpdatedPartition' = { $script:sur = $script:clone | Start-UpdatedPartition -Confirm:$false }
                    'Import-MirrorVg'        = { $null = $script:mirror | Import-MirrorVg -Partition $script:sur -Confirm:$false }
                    'Move-Application'       = { $null = Move-Application -Application recordd -Destination lpar1_surrogate -Confirm:$false }
                }
                Start-Sleep -Milliseconds 2100 # what the connection read is stale: each step reads what it needs
                foreach ($name in $work.Keys) {
                    $m = Measure-PowerWork -Frame $frame -Work $work[$name]
                    if (-not $steps.Contains($name)) { $steps[$name] = [System.Collections.Generic.List[object]]::new() }
                    $steps[$name].Add($m)
                }
                $next = Join-Path $lab 'updates/7300-03-01'
                Start-Sleep -Milliseconds 2100
                $invoke.Add((Measure-PowerWork -Frame $frame -Work { $script:r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $next -Confirm:$false; if ($script:r.Status -ne 'Succeeded') { throw "Invoke-LiveUpdate: $($script:r.Status) $($script:r.Reason)" } }))
            }
            finally { if (Test-Path $lab) { Remove-LiveUpdateLab -Path $lab -Confirm:$false } }
        }
        $unknown = @(Get-FrameUnknownCommand $frame).Count
    }
    finally { Remove-PowerFrame $frame }

    $rows = [ordered]@{}
    foreach ($name in $steps.Keys) { $rows[$name] = ConvertTo-PowerRow $steps[$name] }
    $whole = ConvertTo-PowerRow $invoke
    $perTrip = [math]::Round(($whole.AddedMs.Median / [math]::Max(1, $whole.RoundTrips.Median)), 1)
    Add-Target $Targets 'Power' 'Invoke-LiveUpdate (one application) in at most 350 SSH round trips' "$($whole.RoundTrips.Median) round trips" ($whole.RoundTrips.Median -le 350)
    Add-Target $Targets 'Power' 'the backend adds at most 40 ms per SSH round trip to the emulator''s own command time' "$perTrip ms per round trip (ratio $($whole.Ratio.Median))" ($perTrip -le 40)
    Add-Target $Targets 'Power' 'the emulator knew every command the backend sent' "$unknown unknown" ($unknown -eq 0)
    [ordered]@{ Steps = $rows; InvokeLiveUpdate = $whole; AddedMsPerRoundTrip = $perTrip; Runs = $Runs }
}

# Runs a script block and returns its wall time with the commands the emulator received meanwhile.
function Measure-PowerWork {
    param($Frame, [scriptblock] $Work)
    $before = @(Get-FrameCommand $Frame).Count
    $clock = [Diagnostics.Stopwatch]::StartNew()
    & $Work
    $wall = $clock.Elapsed.TotalMilliseconds
    $sent = @(Get-FrameCommand $Frame | Select-Object -Skip $before)
    $emulator = ($sent | Measure-Object -Property ms -Sum).Sum
    [pscustomobject]@{ WallMs = $wall; RoundTrips = $sent.Count; EmulatorMs = [double]$emulator }
}

function ConvertTo-PowerRow($Measurements) {
    [ordered]@{
        RoundTrips = New-Stat ($Measurements | ForEach-Object RoundTrips) 0
        WallMs     = New-Stat ($Measurements | ForEach-Object WallMs) 0
        EmulatorMs = New-Stat ($Measurements | ForEach-Object EmulatorMs) 0
        AddedMs    = New-Stat ($Measurements | ForEach-Object { $_.WallMs - $_.EmulatorMs }) 0
        Ratio      = New-Stat ($Measurements | ForEach-Object { $_.WallMs / [math]::Max(1, $_.EmulatorMs) }) 2
    }
}
