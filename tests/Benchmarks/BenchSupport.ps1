# Measurements of the benchmark report. Each Measure-* returns an ordered dictionary for the report and adds its
# targets (met or not, with the measured figure) to -Targets.

function Get-Median([double[]] $Values) {
    $sorted = @($Values | Sort-Object)
    if ($sorted.Count -eq 0) { return [double]::NaN }
    $mid = [math]::Floor($sorted.Count / 2)
    if ($sorted.Count % 2) { $sorted[$mid] } else { ($sorted[$mid - 1] + $sorted[$mid]) / 2 }
}

function New-Stat([double[]] $Values, [int] $Digits = 3) {
    [ordered]@{
        Median = [math]::Round((Get-Median $Values), $Digits)
        Min    = [math]::Round(($Values | Measure-Object -Minimum).Minimum, $Digits)
        Max    = [math]::Round(($Values | Measure-Object -Maximum).Maximum, $Digits)
        Runs   = $Values.Count
    }
}

function Add-Target($Targets, [string] $Section, [string] $Target, [string] $Measured, [bool] $Met) {
    $Targets.Add([ordered]@{ Section = $Section; Target = $Target; Measured = $Measured; Met = $Met })
}

function Get-MachineDescription {
    $cpu = if (Test-Path /proc/cpuinfo) { ((Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -split ':', 2)[1].Trim() } else { 'unknown' }
    $mem = if (Test-Path /proc/meminfo) { [math]::Round(((Get-Content /proc/meminfo | Select-Object -First 1) -replace '\D', '') / 1MB, 1) } else { 0 }
    $os = if (Test-Path /etc/os-release) { ((Get-Content /etc/os-release | Where-Object { $_ -like 'PRETTY_NAME=*' }) -split '=', 2)[1].Trim('"') } else { [Environment]::OSVersion.VersionString }
    [ordered]@{
        Cpu        = $cpu
        Cores      = [Environment]::ProcessorCount
        MemoryGiB  = $mem
        Os         = $os
        Kernel     = if ($IsLinux) { (& uname -r) } else { '' }
        Dotnet     = [Environment]::Version.ToString()
        PowerShell = $PSVersionTable.PSVersion.ToString()
        # Other work on the machine shows here: the figures of a busy machine are slower and noisier.
        LoadAverage = if (Test-Path /proc/loadavg) { ((Get-Content /proc/loadavg -Raw) -split ' ')[0..2] -join ' ' } else { '' }
    }
}

function Get-PwshCommand {
    $exe = Join-Path $PSHOME 'pwsh'
    if ((Test-Path $exe) -and -not $IsWindows) { return @{ File = $exe; Args = @() } }
    @{ File = (Get-Process -Id $PID).Path; Args = @((Join-Path $PSHOME 'pwsh.dll')) }
}

function Invoke-PwshJson {
    # Runs a script in a fresh PowerShell process; the script's last output line is JSON, returned as an object.
    param([string] $Script, [int] $TimeoutSeconds = 3600)
    $pwsh = Get-PwshCommand
    $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh.File)
    foreach ($a in $pwsh.Args) { $psi.ArgumentList.Add($a) }
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "`$ErrorActionPreference = 'Stop'`n" + $Script) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.Environment['NO_COLOR'] = '1'
    $p = [System.Diagnostics.Process]::Start($psi)
    $out = $p.StandardOutput.ReadToEndAsync()
    $err = $p.StandardError.ReadToEndAsync()
    if (-not $p.WaitForExit($TimeoutSeconds * 1000)) { $p.Kill(); throw "A benchmark process ran longer than $TimeoutSeconds s." }
    $p.WaitForExit()
    if ($p.ExitCode -ne 0) { throw "A benchmark process failed ($($p.ExitCode)): $($err.Result)" }
    (($out.Result.Trim() -split "`n")[-1]) | ConvertFrom-Json
}

function Measure-Import {
    # Module import time in fresh processes, against importing modules that PowerShell ships.
    param($ModulePath, $Runs, $ScalePartitions, $Targets)
    $modules = [ordered]@{
        LiveUpdate                           = $ModulePath
        'Microsoft.PowerShell.ThreadJob'     = 'Microsoft.PowerShell.ThreadJob'
        'Microsoft.PowerShell.PSResourceGet' = 'Microsoft.PowerShell.PSResourceGet'
    }
    $times = [ordered]@{}
    foreach ($name in $modules.Keys) { $times[$name] = [System.Collections.Generic.List[double]]::new() }
    for ($i = 0; $i -lt $Runs; $i++) {
        foreach ($name in $modules.Keys) {
            # Alternate the modules run by run, so that a slow moment of the machine hits all of them alike.
            $r = Invoke-PwshJson "`$t = Measure-Command { Import-Module '$($modules[$name])' }; @{ ms = `$t.TotalMilliseconds } | ConvertTo-Json -Compress"
            $times[$name].Add([double]$r.ms)
        }
    }
    $result = [ordered]@{}
    foreach ($name in $modules.Keys) { $result[$name] = New-Stat $times[$name] 1 }
    $ours = $result.LiveUpdate.Median
    $result.RatioToThreadJob = [math]::Round($ours / $result.'Microsoft.PowerShell.ThreadJob'.Median, 2)
    $result.RatioToPSResourceGet = [math]::Round($ours / $result.'Microsoft.PowerShell.PSResourceGet'.Median, 2)
    Add-Target $Targets 'Import' 'import no slower than PSResourceGet (ratio <= 1.0)' "ratio $($result.RatioToPSResourceGet) ($ours ms vs $($result.'Microsoft.PowerShell.PSResourceGet'.Median) ms)" ($result.RatioToPSResourceGet -le 1.0)
    $result
}

function Measure-Scale {
    # A simulated lab with N partitions, each live-updated once, in a fresh process per N: updates per second, peak
    # memory (against the same process before the lab existed), and how the time grows with N.
    param($ModulePath, $Runs, $ScalePartitions, $Targets)
    $rows = [System.Collections.Generic.List[object]]::new()
    foreach ($n in $ScalePartitions) {
        $lab = Join-Path ([IO.Path]::GetTempPath()) "lu-bench-scale-$n-$PID"
        $script = @"
Import-Module '$ModulePath'
`$me = [System.Diagnostics.Process]::GetCurrentProcess()
`$me.Refresh(); `$base = `$me.PeakWorkingSet64
`$created = Measure-Command { `$null = New-LiveUpdateLab -Path '$lab' -PartitionCount $n -RecordsPerSecond 0.01 }
`$bundle = Join-Path '$lab' 'updates/7300-02-02'
`$each = [System.Collections.Generic.List[double]]::new()
`$all = [System.Diagnostics.Stopwatch]::StartNew()
foreach (`$i in 1..$n) {
    `$sw = [System.Diagnostics.Stopwatch]::StartNew()
    `$r = Invoke-LiveUpdate -Partition "lpar`$i" -UpdatePath `$bundle
    if (`$r.Status -ne 'Succeeded') { throw "lpar`${i}: `$(`$r.Status) `$(`$r.Reason)" }
    `$each.Add(`$sw.Elapsed.TotalMilliseconds)
}
`$all.Stop()
`$bad = @(Get-LogicalPartition | Where-Object { `$_.OsLevel.ToString() -ne '7300-02-02' }).Count
`$me.Refresh()
Remove-LiveUpdateLab -Path '$lab' -Confirm:`$false
`$sorted = @(`$each | Sort-Object)
@{ n = $n; createSeconds = `$created.TotalSeconds; totalSeconds = `$all.Elapsed.TotalSeconds; medianMs = `$sorted[[math]::Floor(`$sorted.Count / 2)];
   maxMs = `$sorted[-1]; peakMB = [math]::Round(`$me.PeakWorkingSet64 / 1MB, 1); baseMB = [math]::Round(`$base / 1MB, 1); notUpdated = `$bad } | ConvertTo-Json -Compress
"@
        Write-Host "   $n partitions ..."
        $r = Invoke-PwshJson $script
        $rows.Add([ordered]@{
                Partitions       = $n
                CreateSeconds    = [math]::Round($r.createSeconds, 2)
                TotalSeconds     = [math]::Round($r.totalSeconds, 2)
                UpdatesPerSecond = [math]::Round($n / $r.totalSeconds, 1)
                MedianUpdateMs   = [math]::Round($r.medianMs, 1)
                MaxUpdateMs      = [math]::Round($r.maxMs, 1)
                PeakMemoryMB     = $r.peakMB
                BaselineMemoryMB = $r.baseMB
                NotUpdated       = $r.notUpdated
            })
    }
    $growth = [System.Collections.Generic.List[object]]::new()
    for ($i = 1; $i -lt $rows.Count; $i++) {
        $a = $rows[$i - 1]; $b = $rows[$i]
        $growth.Add([ordered]@{
                From = $a.Partitions; To = $b.Partitions
                PartitionRatio = [math]::Round($b.Partitions / $a.Partitions, 1)
                TimeRatio = [math]::Round($b.TotalSeconds / $a.TotalSeconds, 1)
                PerUpdateRatio = [math]::Round($b.MedianUpdateMs / $a.MedianUpdateMs, 2)
            })
    }
    foreach ($g in $growth) {
        # Linear: ten times the partitions take about ten times as long (each update costs about the same).
        Add-Target $Targets 'Scale' "time grows linearly from $($g.From) to $($g.To) partitions (time ratio <= 1.5 x partition ratio)" "time x$($g.TimeRatio) for partitions x$($g.PartitionRatio); median update x$($g.PerUpdateRatio)" ($g.TimeRatio -le 1.5 * $g.PartitionRatio)
    }
    foreach ($row in $rows) {
        Add-Target $Targets 'Scale' "every partition of $($row.Partitions) updated" "$($row.NotUpdated) not updated" ($row.NotUpdated -eq 0)
    }
    [ordered]@{ Rows = $rows; Growth = $growth }
}

function Test-LinuxBench {
    if (-not $IsLinux) { return 'not Linux' }
    if ((& id -u) -ne '0') { return 'not root' }
    $null
}

function ConvertTo-BenchMarkdown($Report) {
    $m = $Report.Machine
    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add("Measured $($Report.Date) on $($m.Cpu), $($m.Cores) cores, $($m.MemoryGiB) GiB, $($m.Os) (kernel $($m.Kernel)), .NET $($m.Dotnet), PowerShell $($m.PowerShell); load average $($m.LoadAverage) at the start.")
    if ($Report.Contains('SectionDates')) {
        $earlier = @($Report.SectionDates.Keys | Where-Object { $Report.SectionDates[$_] -ne $Report.Date } | ForEach-Object { "$_ on $($Report.SectionDates[$_])" })
        if ($earlier) { $lines.Add("Sections measured in an earlier run on this machine and kept: $($earlier -join '; ').") }
    }
    $lines.Add('')
    $lines.Add('| section | target | measured | met |')
    $lines.Add('|---|---|---|---|')
    foreach ($t in $Report.Targets) { $lines.Add("| $($t.Section) | $($t.Target) | $($t.Measured) | $(if ($t.Met) { 'yes' } else { '**not met**' }) |") }
    foreach ($name in $Report.Sections.Keys) {
        $s = $Report.Sections[$name]
        if ($s -is [System.Collections.IDictionary] -and $s.Contains('NotRun')) { $lines.Add(''); $lines.Add("$name`: not run ($($s.NotRun)).") }
    }
    if ($Report.Sections.Contains('Blackout') -and $Report.Sections.Blackout.Contains('PlainRestart')) {
        $b = $Report.Sections.Blackout
        $lines.Add('')
        $lines.Add("Blackout: a client appends a record to recordd every $($b.ClientIntervalMs) ms (a connection each, acknowledged after fsync) on a fresh lab per run; median (min-max) of $($b.PlainRestart.LongestGapMs.Runs) runs.")
        $lines.Add('')
        $lines.Add('| operation | longest client gap (ms) | blackout reported (ms) | failed requests | typical gap (ms) | records acknowledged / lost |')
        $lines.Add('|---|---|---|---|---|---|')
        $labels = [ordered]@{ MoveApplication = 'Move-Application (step by step)'; InvokeLiveUpdate = 'Invoke-LiveUpdate'; PlainRestart = 'plain restart onto the updated root (baseline)' }
        foreach ($k in $labels.Keys) {
            $r = $b[$k]
            $lines.Add("| $($labels[$k]) | $($r.LongestGapMs.Median) ($($r.LongestGapMs.Min)-$($r.LongestGapMs.Max)) | $($r.ReportedMs.Median) ($($r.ReportedMs.Min)-$($r.ReportedMs.Max)) | $($r.FailedRequests.Median) ($($r.FailedRequests.Min)-$($r.FailedRequests.Max)) | $($r.TypicalGapMs.Median) | $($r.Acknowledged) / $($r.Lost) |")
        }
    }
    if ($Report.Sections.Contains('Throughput') -and $Report.Sections.Throughput.Contains('RawCloneMBps')) {
        $t = $Report.Sections.Throughput
        $lines.Add('')
        $lines.Add("Throughput: a lab whose root holds $($t.DataMB) MB of files ($($t.FillerFiles) random files, $($t.FillerMB) MB, plus the lab's own), 2 GB loop disks; before every copy the target disk is discarded (blkdiscard), the source's deleted snapshots cleaned and the page cache dropped (echo 3 > /proc/sys/vm/drop_caches); each copy ends with a flush of its target; odd runs copy by hand first and then with the module on the same disk, even runs with the module first and by hand after it on the free disk; MB/s of the files' bytes (10^6), median (min-max) of $($t.RawCloneMBps.Runs) runs.")
        $lines.Add('')
        $lines.Add('| copy | MB/s |')
        $lines.Add('|---|---|')
        $labels = [ordered]@{
            ModuleCloneMBps = 'New-RootVgClone'; RawCloneMBps = 'raw: mkfs.btrfs, mount, snapshot, btrfs send \| btrfs receive (shell pipe), same disk'
            ModuleMirrorMBps = 'Start-RootVgMirror'; RawMirrorMBps = 'raw: the same commands onto the mirror disk'
            DdMBps = 'dd of the root disk, direct I/O and a flush (physical ceiling)'; DeviceAddBalanceMBps = 'btrfs device add + balance to raid1 (reference; rewrites every chunk)'
        }
        foreach ($k in $labels.Keys) { $lines.Add("| $($labels[$k]) | $($t[$k].Median) ($($t[$k].Min)-$($t[$k].Max)) |") }
    }
    if ($Report.Sections.Contains('VirtualMachine') -and $Report.Sections.VirtualMachine.Contains('RebootGapMs')) {
        $v = $Report.Sections.VirtualMachine
        $lines.Add('')
        $lines.Add("VirtualMachine (QEMU TCG, one VM lab): a client appends a record to recordd every 10 ms from the lab's network namespace; the outage is the longest gap between acknowledgements from the last one before the event to the first one after it, median (min-max) of $($v.RebootGapMs.Runs) runs; $($v.Acknowledged) records acknowledged. The reboot (stop recordd, unmount, reboot the guest, then mount, addresses and start as boot scripts would) runs after the live updates in the same lab; blackout / reboot ratio $($v.BlackoutToReboot). Throughput: MiB of the disk per second ($($v.DiskMB) MiB disks, $($v.FillMB) MiB of random data written by the guest on each); New-RootVgClone and Start-RootVgMirror timed as calls in the bench's process against raw virsh blockcopy on the same disks (the clone: until ready, then domfsfreeze, the end of the copy and domfsthaw, as a point-in-time copy by hand; the mirror: until ready), polled as the backend polls and timed the same way less a virsh process's own cost ($($v.VirshProcessMs.Median) ms); qemu-img convert for reference.")
        $lines.Add('')
        $lines.Add('| operation | longest client gap (ms) | blackout reported (ms) |')
        $lines.Add('|---|---|---|')
        $lines.Add("| Move-Application (step by step) | $($v.MoveApplicationGapMs.Median) ($($v.MoveApplicationGapMs.Min)-$($v.MoveApplicationGapMs.Max)) | $($v.MoveReportedMs.Median) |")
        $lines.Add("| Invoke-LiveUpdate | $($v.InvokeLiveUpdateGapMs.Median) ($($v.InvokeLiveUpdateGapMs.Min)-$($v.InvokeLiveUpdateGapMs.Max)) | $($v.InvokeReportedMs.Median) |")
        $lines.Add("| reboot into the same updated disk (baseline) | $($v.RebootGapMs.Median) ($($v.RebootGapMs.Min)-$($v.RebootGapMs.Max)) | |")
        $lines.Add('')
        $lines.Add('| copy | MiB/s |')
        $lines.Add('|---|---|')
        foreach ($k in 'CloneMBps', 'RawCloneMBps', 'MirrorMBps', 'RawMirrorMBps', 'ConvertMBps') { $lines.Add("| $k | $($v[$k].Median) ($($v[$k].Min)-$($v[$k].Max)) |") }
        if (@($v.BlackoutPartsMs).Count -gt 0) {
            $lines.Add('')
            $lines.Add("| where a blackout's time went (backend's Debug timeline) | ms, median (min-max) |")
            $lines.Add('|---|---|')
            foreach ($p in $v.BlackoutPartsMs) { $lines.Add("| $($p.Part) | $($p.Ms.Median) ($($p.Ms.Min)-$($p.Ms.Max)) |") }
        }
    }
    if ($Report.Sections.Contains('Overhead') -and $Report.Sections.Overhead.Contains('Ratio')) {
        $o = $Report.Sections.Overhead
        $lines.Add('')
        $lines.Add("Overhead: Invoke-LiveUpdate $($o.InvokeLiveUpdateS.Median) s ($($o.InvokeLiveUpdateS.Min)-$($o.InvokeLiveUpdateS.Max)) against a plain PowerShell script of its $($o.Commands) external commands in the same order $($o.PlainScriptS.Median) s ($($o.PlainScriptS.Min)-$($o.PlainScriptS.Max)), fresh labs, $($o.PlainScriptS.Runs) runs each, alternating: ratio $($o.Ratio). Exit codes that differed in the replay: $(@($o.ExitCodeDifferences).Count).")
    }
    if ($Report.Sections.Contains('Scale') -and $Report.Sections.Scale.Contains('Rows')) {
        $lines.Add('')
        $lines.Add('| partitions | updates/s | median update (ms) | max update (ms) | total (s) | peak memory (MB) | memory before the lab (MB) |')
        $lines.Add('|---|---|---|---|---|---|---|')
        foreach ($r in $Report.Sections.Scale.Rows) { $lines.Add("| $($r.Partitions) | $($r.UpdatesPerSecond) | $($r.MedianUpdateMs) | $($r.MaxUpdateMs) | $($r.TotalSeconds) | $($r.PeakMemoryMB) | $($r.BaselineMemoryMB) |") }
    }
    if ($Report.Sections.Contains('Power') -and $Report.Sections.Power.Contains('Steps')) {
        $p = $Report.Sections.Power
        $lines.Add('')
        $lines.Add("Power: the backend against the emulated frame of tests/Emulators/Power (sshd in network namespaces, one application), a fresh frame per run; per step the SSH round trips, the wall time, the time the emulator spent in those commands (its command log) and the time the backend adds (wall minus emulator; it includes SSH, the login command and the parallel inventory reads); median (min-max) of $($p.Runs) runs.")
        $lines.Add('')
        $lines.Add('| step | SSH round trips | wall (ms) | emulator (ms) | added by the backend (ms) | ratio wall / emulator |')
        $lines.Add('|---|---|---|---|---|---|')
        $rows = [ordered]@{}
        foreach ($k in $p.Steps.Keys) { $rows[$k] = $p.Steps[$k] }
        $rows['Invoke-LiveUpdate (all steps)'] = $p.InvokeLiveUpdate
        foreach ($k in $rows.Keys) {
            $r = $rows[$k]
            $lines.Add("| $k | $($r.RoundTrips.Median) | $($r.WallMs.Median) ($($r.WallMs.Min)-$($r.WallMs.Max)) | $($r.EmulatorMs.Median) | $($r.AddedMs.Median) | $($r.Ratio.Median) |")
        }
    }
    if ($Report.Sections.Contains('Import') -and $Report.Sections.Import.Contains('LiveUpdate')) {
        $i = $Report.Sections.Import
        $lines.Add('')
        $lines.Add("Import-Module, median of $($i.LiveUpdate.Runs) fresh processes: LiveUpdate $($i.LiveUpdate.Median) ms, Microsoft.PowerShell.ThreadJob $($i.'Microsoft.PowerShell.ThreadJob'.Median) ms (ratio $($i.RatioToThreadJob)), Microsoft.PowerShell.PSResourceGet $($i.'Microsoft.PowerShell.PSResourceGet'.Median) ms (ratio $($i.RatioToPSResourceGet)).")
    }
    $lines -join "`n"
}

function Update-ReadmeTable([string] $Readme, [string] $Markdown) {
    $text = Get-Content $Readme -Raw
    $start = '<!-- bench:start -->'; $end = '<!-- bench:end -->'
    $i = $text.IndexOf($start); $j = $text.IndexOf($end)
    if ($i -lt 0 -or $j -lt $i) { Write-Warning "README has no bench markers; the table was not written there."; return }
    $text = $text.Substring(0, $i + $start.Length) + "`n" + $Markdown + "`n" + $text.Substring($j)
    Set-Content $Readme $text -NoNewline
}
