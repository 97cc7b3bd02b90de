# The benchmark sections that need the Linux backend (root on Linux): the blackout a client sees, the throughput of
# the clone and the mirror against the raw commands, and the engine's overhead against a plain script. Each returns
# an ordered dictionary for the report and adds its targets (met or not, with the measured figure) to -Targets.
# Everything a run makes (labs, mounts, processes, temporary folders) is removed by that run.

# ------------------------------------------------------------------ helpers

function Invoke-Tool {
    # Runs an external command from an argument vector; throws unless its exit code is one of -Ok.
    param([string] $File, [string[]] $Arguments, [int[]] $Ok = @(0))
    $out = & $File @Arguments 2>&1 | Out-String
    if ($Ok -notcontains $LASTEXITCODE) { throw "$File $($Arguments -join ' ') exited with $LASTEXITCODE`: $($out.Trim())" }
    $out
}

function Get-BenchLab([string] $Path) {
    # What a benchmark needs to know of a Linux lab: its id, network namespace, recordd's address, the disks' devices.
    $d = Get-Content (Join-Path $Path 'liveupdate-host.json') -Raw | ConvertFrom-Json
    $app = $d.applications | Where-Object name -EQ 'recordd'
    $loops = @{}
    foreach ($disk in $d.disks) {
        $loops[$disk.name] = @(& losetup --noheadings --output NAME --associated (Join-Path $Path $disk.file))[0].Trim()
    }
    [pscustomobject]@{
        Path      = $Path
        Id        = $d.id
        Namespace = $d.network.namespace
        Address   = ($app.serviceAddress -split '/')[0]
        Port      = [int]$app.port
        Loops     = $loops
    }
}

function Get-LabState([string] $Path) {
    # The Linux backend's state file: a header line (its hash), then JSON.
    $text = [IO.File]::ReadAllText((Join-Path $Path 'liveupdate-state.json'))
    $text.Substring($text.IndexOf("`n") + 1) | ConvertFrom-Json
}

function Get-MountOf([string] $Device, [string] $Under) {
    # Where the host has a device's btrfs mounted (the mount under -Under when it has several).
    $targets = @(& findmnt --noheadings --list --output TARGET --source $Device)
    $pick = @($targets | Where-Object { -not $Under -or $_.StartsWith($Under) })
    if (-not $pick) { throw "$Device is not mounted$(if ($Under) { " under $Under" })." }
    $pick[0].Trim()
}

function Get-PartitionRecordsFile($Lab, [string] $Partition) {
    $disk = (Get-LogicalPartition -Name $Partition).RootDisks[0]
    Join-Path (Get-MountOf $Lab.Loops[$disk] (Join-Path $Lab.Path 'mnt')) 'root/srv/recordd/records.log'
}

function Get-RecordNumbers([string] $File, [string] $Client) {
    # The numbers a client sent that a records file holds ("<seq> <time> <client> <n>" a line).
    $set = [System.Collections.Generic.HashSet[long]]::new()
    foreach ($line in [IO.File]::ReadLines($File)) {
        $f = $line.Split(' ')
        if ($f.Count -ge 4 -and $f[2] -eq $Client) { [void]$set.Add([long]$f[3]) }
    }
    , $set
}

function Stop-ProcessByPid([int] $ProcessId, [int] $TimeoutMs = 15000) {
    # SIGTERM, then SIGKILL after the timeout; waits until the process is gone.
    if (-not (Test-ProcessAlive $ProcessId)) { return }
    & kill -s TERM $ProcessId 2>$null
    $sw = [Diagnostics.Stopwatch]::StartNew()
    while ((Test-ProcessAlive $ProcessId) -and $sw.ElapsedMilliseconds -lt $TimeoutMs) { Start-Sleep -Milliseconds 5 }
    if (Test-ProcessAlive $ProcessId) { & kill -s KILL $ProcessId 2>$null; Start-Sleep -Milliseconds 200 }
}

function Test-ProcessAlive([int] $ProcessId) {
    # True while a process runs; one that has exited and waits for its parent to reap it (a zombie) is not running.
    if ($ProcessId -le 0) { return $false }
    try { $stat = [IO.File]::ReadAllText("/proc/$ProcessId/stat") } catch { return $false }
    $stat[$stat.LastIndexOf(')') + 2] -ne 'Z'
}

function Clear-FileCache {
    # Writes dirty pages and drops the page cache, so that every measured copy reads its source from the device.
    & sync
    [IO.File]::WriteAllText('/proc/sys/vm/drop_caches', '3')
}

function New-BenchWorkFolder([string] $Name) {
    $dir = Join-Path ([IO.Path]::GetTempPath()) "lu-bench-$Name-$PID"
    if (Test-Path $dir) { Remove-Item $dir -Recurse -Force }
    New-Item -ItemType Directory $dir | Out-Null
    $dir
}

function Add-NotRun($Targets, [string] $Section, [string[]] $TargetNames, [string] $Reason) {
    foreach ($t in $TargetNames) { Add-Target $Targets $Section $t "not run: $Reason" $false }
    [ordered]@{ NotRun = $Reason }
}

# ------------------------------------------------------------------ the client of recordd

# Appends a record every few milliseconds (a new connection for each: connect, APPEND, wait for the ACK that recordd
# sends after fsync); a refused or timed-out attempt counts as failed and is retried after 2 ms with the same number.
# Notes the time of each acknowledgement (its own monotonic clock), and writes them when FOLDER/stop appears.
$script:BenchClient = @'
param([string] $Address, [int] $Port, [string] $Folder, [int] $IntervalMs)
$clock = [Diagnostics.Stopwatch]::StartNew()
$acks = [Text.StringBuilder]::new()
$failures = [Text.StringBuilder]::new()
[IO.File]::WriteAllText((Join-Path $Folder 'epoch'), [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds().ToString())
$failed = 0
$n = 0
$stop = Join-Path $Folder 'stop'
$buffer = [byte[]]::new(512)
$ready = $false
while (-not [IO.File]::Exists($stop)) {
    $n++
    while ($true) {
        $ok = $false
        $socket = [Net.Sockets.Socket]::new([Net.Sockets.AddressFamily]::InterNetwork, [Net.Sockets.SocketType]::Stream, [Net.Sockets.ProtocolType]::Tcp)
        try {
            $socket.ReceiveTimeout = 3000
            $socket.SendTimeout = 3000
            $connect = $socket.ConnectAsync($Address, $Port)
            if ($connect.Wait(1000)) {
                [void]$socket.Send([Text.Encoding]::ASCII.GetBytes("APPEND bench $n`n"))
                $text = ''
                while (-not $text.Contains("`n")) {
                    $got = $socket.Receive($buffer)
                    if ($got -le 0) { break }
                    $text += [Text.Encoding]::ASCII.GetString($buffer, 0, $got)
                }
                $ok = $text.StartsWith('ACK ')
                if (-not $ok) { $why = if ($text) { 'unexpected-answer' } else { 'closed-without-answer' } }
            }
            else { $why = 'connect-timeout' }
        }
        catch { $why = $_.Exception.GetBaseException().Message.Replace(' ', '-').ToLowerInvariant() }
        finally { $socket.Dispose() }
        if ($ok) {
            [void]$acks.Append($n).Append(' ').Append($clock.Elapsed.TotalMilliseconds.ToString([Globalization.CultureInfo]::InvariantCulture)).Append("`n")
            if (-not $ready) { [IO.File]::WriteAllText((Join-Path $Folder 'ready'), ''); $ready = $true }
            break
        }
        $failed++
        [void]$failures.Append($clock.Elapsed.TotalMilliseconds.ToString('0.0', [Globalization.CultureInfo]::InvariantCulture)).Append(' ').Append($why).Append("`n")
        if ([IO.File]::Exists($stop)) { break }
        [Threading.Thread]::Sleep(2)
    }
    [Threading.Thread]::Sleep($IntervalMs)
}
$end = $clock.Elapsed.TotalMilliseconds.ToString([Globalization.CultureInfo]::InvariantCulture)
[IO.File]::WriteAllText((Join-Path $Folder 'acks'), $acks.ToString())
[IO.File]::WriteAllText((Join-Path $Folder 'failures'), $failures.ToString())
[IO.File]::WriteAllText((Join-Path $Folder 'summary'), "$failed $end")
'@

function Start-BenchClient($Lab, [string] $Folder, [int] $IntervalMs = 5) {
    New-Item -ItemType Directory -Force $Folder | Out-Null
    $file = Join-Path $Folder 'client.ps1'
    Set-Content -Path $file -Value $script:BenchClient
    $pwsh = Get-PwshCommand
    # ip netns exec puts the client on the lab's bridge, where the partitions' addresses are.
    $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in @('netns', 'exec', $Lab.Namespace, $pwsh.File) + $pwsh.Args + @('-NoProfile', '-NonInteractive', '-File', $file, $Lab.Address, "$($Lab.Port)", $Folder, "$IntervalMs")) { $psi.ArgumentList.Add($a) }
    $process = [System.Diagnostics.Process]::Start($psi)
    $sw = [Diagnostics.Stopwatch]::StartNew()
    while (-not (Test-Path (Join-Path $Folder 'ready'))) {
        if ($process.HasExited -or $sw.Elapsed.TotalSeconds -gt 60) { Stop-BenchClient $process $Folder | Out-Null; throw "The benchmark client got no acknowledgement from recordd within 60 s." }
        Start-Sleep -Milliseconds 50
    }
    Start-Sleep -Milliseconds 500   # some acknowledgements before the measured operation
    $process
}

function Stop-BenchClient($Process, [string] $Folder) {
    # Stops the client; returns what it saw: the acknowledgements (number, time in ms), the failed attempts, the end.
    New-Item -ItemType File -Force (Join-Path $Folder 'stop') | Out-Null
    if (-not $Process.WaitForExit(20000)) { Stop-ProcessByPid $Process.Id }
    $Process.Dispose()
    $summary = Join-Path $Folder 'summary'
    if (-not (Test-Path $summary)) { return $null }
    $failed, $end = (Get-Content $summary -Raw).Trim() -split ' '
    $kinds = [ordered]@{}
    $failures = [System.Collections.Generic.List[object]]::new()
    foreach ($line in [IO.File]::ReadLines((Join-Path $Folder 'failures'))) {
        if (-not $line) { continue }
        $t, $kind = $line -split ' ', 2
        $failures.Add([pscustomobject]@{ Ms = [double]::Parse($t, [Globalization.CultureInfo]::InvariantCulture); Why = $kind })
        $kinds[$kind] = 1 + $(if ($kinds.Contains($kind)) { $kinds[$kind] } else { 0 })
    }
    $acks = [System.Collections.Generic.List[double[]]]::new()
    foreach ($line in [IO.File]::ReadLines((Join-Path $Folder 'acks'))) {
        if (-not $line) { continue }
        $n, $t = $line -split ' '
        $acks.Add(@([double]$n, [double]::Parse($t, [Globalization.CultureInfo]::InvariantCulture)))
    }
    [pscustomobject]@{
        Acks = $acks; Failed = [int]$failed; FailedKinds = $kinds; Failures = $failures; EndMs = [double]::Parse($end, [Globalization.CultureInfo]::InvariantCulture)
        Epoch = [long](Get-Content (Join-Path $Folder 'epoch') -Raw).Trim()
    }
}

function Get-LongestGap($Seen) {
    # The longest time between two acknowledgements, and from the last one to the client's end (so an application
    # that never answers again counts as a gap until the end, not as none); with the time (client clock) it began.
    $longest = 0.0; $at = 0.0
    for ($i = 1; $i -lt $Seen.Acks.Count; $i++) {
        $gap = $Seen.Acks[$i][1] - $Seen.Acks[$i - 1][1]
        if ($gap -gt $longest) { $longest = $gap; $at = $Seen.Acks[$i - 1][1] }
    }
    if ($Seen.Acks.Count -and $Seen.EndMs - $Seen.Acks[$Seen.Acks.Count - 1][1] -gt $longest) {
        $at = $Seen.Acks[$Seen.Acks.Count - 1][1]; $longest = $Seen.EndMs - $at
    }
    [pscustomobject]@{ Ms = $longest; AtMs = $at }
}

function Get-TypicalGap($Seen) {
    $gaps = for ($i = 1; $i -lt $Seen.Acks.Count; $i++) { $Seen.Acks[$i][1] - $Seen.Acks[$i - 1][1] }
    Get-Median @($gaps)
}

# ------------------------------------------------------------------ blackout

function Invoke-PlainRestart($Lab, [string] $Work) {
    # The baseline: what a restart onto the updated root costs without live update. The updated root is prepared
    # first (as the live update prepares its clone, while the partition runs); then the partition stops, the
    # application's records are copied onto the updated root, a new container boots from it in the same network
    # namespace (so the service address stays), and recordd starts there. Returns the container's PID (to stop it)
    # and the time from the stop to recordd's first healthy answer.
    $bundle = Join-Path $Lab.Path 'updates/7300-02-02'
    New-RootVgClone -Partition lpar1 -Disk hdisk1 -Confirm:$false | Out-Null
    Install-CloneUpdate -Path $bundle -Partition lpar1 -Confirm:$false | Out-Null
    $p = (Get-LabState $Lab.Path).Partitions | Where-Object Name -EQ 'lpar1'
    $ns = "lu$($Lab.Id)$($p.Token)"
    $mnt = Join-Path $Lab.Path 'mnt'
    $source = Join-Path (Get-MountOf $Lab.Loops.hdisk0 $mnt) 'root'
    $root = Join-Path (Get-MountOf $Lab.Loops.hdisk1 $mnt) 'root'
    $pidFile = Join-Path $Lab.Path 'restart.pid'
    $log = Join-Path $Lab.Path 'restart.log'
    $nspawn = (Get-Command systemd-nspawn -CommandType Application)[0].Source
    $health = @('--target', '0', '--mount', '--uts', '--ipc', '--net', '--pid', '--root', '--wd', '--', '/opt/recordd/recordd-ctl', 'health', $Lab.Address)

    $stoppedAt = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
    $sw = [Diagnostics.Stopwatch]::StartNew()
    Stop-ProcessByPid $p.NspawnPid
    $stopped = $sw.Elapsed.TotalMilliseconds
    Copy-Item (Join-Path $source 'srv/recordd/records.log') (Join-Path $root 'srv/recordd/records.log') -Force
    Invoke-Tool start-stop-daemon @('--start', '--background', '--make-pidfile', '--pidfile', $pidFile, '--output', $log, '--exec', $nspawn, '--',
        '--quiet', '--register=no', '--keep-unit', "--machine=lu$($Lab.Id)prestart", "--directory=$root", '--hostname=lpar1',
        "--network-namespace-path=/run/netns/$ns", '--kill-signal=SIGTERM', '--console=passive', '--resolv-conf=off', '--timezone=off',
        '--link-journal=no', '/sbin/init') | Out-Null
    $container = 0; $leader = 0
    while ($true) {
        if (-not $container -and (Test-Path $pidFile)) { $container = [int](Get-Content $pidFile -Raw).Trim() }
        # nspawn's first child may be a short-lived helper: the leader is its child that stays (as the backend finds it).
        if ($container -and -not (Test-ProcessAlive $leader) -and (Test-Path "/proc/$container/task/$container/children")) {
            $children = ([IO.File]::ReadAllText("/proc/$container/task/$container/children")).Trim()
            if ($children) { $leader = [int]($children -split ' ')[0] }
        }
        if ($leader -and (Test-Path "/proc/$leader/root/run/liveupdate.booted")) { break }
        if ($sw.Elapsed.TotalSeconds -gt 60) { throw "The restarted partition did not boot within 60 s (container $container, leader $leader): $(Get-Content $log -Raw -ErrorAction SilentlyContinue)" }
        Start-Sleep -Milliseconds 10
    }
    $booted = $sw.Elapsed.TotalMilliseconds
    $health[1] = "$leader"
    Invoke-Tool nsenter @('--target', "$leader", '--mount', '--uts', '--ipc', '--net', '--pid', '--root', '--wd', '--', '/opt/recordd/recordd-ctl', 'start') | Out-Null
    while ($true) {
        & nsenter @health *> $null
        if ($LASTEXITCODE -eq 0) { break }
        if ($sw.Elapsed.TotalSeconds -gt 60) { throw "recordd did not answer after the restart within 60 s." }
        Start-Sleep -Milliseconds 5
    }
    [pscustomobject]@{
        Container = $container; StoppedAt = $stoppedAt; BlackoutMs = $sw.Elapsed.TotalMilliseconds; StopMs = $stopped; BootMs = $booted - $stopped
        StartMs = $sw.Elapsed.TotalMilliseconds - $booted; RecordsFile = Join-Path $root 'srv/recordd/records.log'
    }
}

function Invoke-BlackoutRun([string] $Kind, [string] $Work, [int] $Run) {
    # One run on a fresh lab: the client writes throughout; the operation of -Kind runs; the client keeps writing on
    # the updated partition for a while; then what it saw is compared with the records the updated partition holds.
    $path = Join-Path $Work "lab-$Kind-$Run"
    $folder = Join-Path $Work "client-$Kind-$Run"
    $client = $null
    $container = 0
    New-LiveUpdateLab -Backend Linux -Path $path -Confirm:$false | Out-Null
    try {
        $lab = Get-BenchLab $path
        $client = Start-BenchClient $lab $folder
        $bundle = Join-Path $path 'updates/7300-02-02'
        $detail = $null
        switch ($Kind) {
            'MoveApplication' {
                New-RootVgClone -Partition lpar1 -Disk hdisk1 -Confirm:$false | Out-Null
                Start-RootVgMirror -Partition lpar1 -Disk hdisk2 -Confirm:$false | Out-Null
                Install-CloneUpdate -Path $bundle -Partition lpar1 -Confirm:$false | Out-Null
                Start-UpdatedPartition -Partition lpar1 -Confirm:$false | Out-Null
                Import-MirrorVg -Mirror lpar1 -Partition lpar1_surrogate -Confirm:$false | Out-Null
                $window = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
                $m = Move-Application -Application recordd -Destination lpar1_surrogate -Confirm:$false
                if ($m.Status -ne 'Moved' -or -not $m.IdentityTakenOver) { throw "Move-Application ended $($m.Status)." }
                $reported = $m.Blackout * 1000
                $detail = [ordered]@{ StopMs = $m.StopTime * 1000; SyncMs = $m.SyncTime * 1000; StartMs = $m.StartTime * 1000 }
            }
            'InvokeLiveUpdate' {
                $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -Confirm:$false
                if ($r.Status -ne 'Succeeded') { throw "Invoke-LiveUpdate ended $($r.Status): $($r.Reason)" }
                $reported = $r.Blackout * 1000
                $before = 0.0
                foreach ($phase in $r.Phases) { if ($phase.Name -eq 'Move') { break }; $before += $phase.Duration * 1000 }
                $window = $r.Started.ToUnixTimeMilliseconds() + [long]$before
                $a = $r.Applications[0]
                $detail = [ordered]@{ StopMs = $a.StopTime * 1000; SyncMs = $a.SyncTime * 1000; StartMs = $a.StartTime * 1000; UpdateSeconds = $r.Duration }
            }
            'PlainRestart' {
                $r = Invoke-PlainRestart $lab $Work
                $container = $r.Container
                $reported = $r.BlackoutMs
                $window = $r.StoppedAt
                $detail = [ordered]@{ StopMs = $r.StopMs; BootMs = $r.BootMs; StartMs = $r.StartMs }
            }
        }
        Start-Sleep -Milliseconds 1500   # the client writes on the updated partition
        $seen = Stop-BenchClient $client $folder
        $client = $null
        if (-not $seen) { throw "The benchmark client left no summary." }
        $records = if ($Kind -eq 'PlainRestart') { $r.RecordsFile } else { Get-PartitionRecordsFile $lab 'lpar1' }
        $present = Get-RecordNumbers $records 'bench'
        $lost = @($seen.Acks | Where-Object { -not $present.Contains([long]$_[0]) }).Count
        $gap = Get-LongestGap $seen
        [pscustomobject][ordered]@{
            LongestGapMs = $gap.Ms
            # When the longest gap began, in ms after the step that moves the application began (the Move step,
            # Move-Application, the restart), and why the attempts in it failed: a check that it is the move's.
            GapBeganMs   = [math]::Round($gap.AtMs - ($window - $seen.Epoch), 1)
            GapFailures  = @($seen.Failures | Where-Object { $_.Ms -ge $gap.AtMs -and $_.Ms -le $gap.AtMs + $gap.Ms } | Group-Object Why | ForEach-Object { "$($_.Count) $($_.Name)" })
            TypicalGapMs = Get-TypicalGap $seen
            FailedKinds  = $seen.FailedKinds
            ReportedMs   = $reported
            Failed       = $seen.Failed
            Acknowledged = $seen.Acks.Count
            Lost         = $lost
            Detail       = $detail
        }
    }
    finally {
        if ($client) { Stop-BenchClient $client $folder | Out-Null }
        if ($container) { Stop-ProcessByPid $container }
        Remove-LiveUpdateLab -Path $path -Confirm:$false
        Remove-Item $folder -Recurse -Force -ErrorAction SilentlyContinue
    }
}

function Measure-Blackout {
    # The longest pause a client of recordd sees while its partition is live-updated (step by step up to
    # Move-Application, and by Invoke-LiveUpdate), against a plain restart onto the updated root, on fresh labs.
    param($ModulePath, $Runs, $ScalePartitions, $Targets)
    $names = 'longest client gap < 100 ms (median of Move-Application and Invoke-LiveUpdate runs)', 'no acknowledged record lost', 'longest client gap shorter than a plain restart (ratio < 1)'
    $skip = Test-LinuxBench
    if ($skip) { return Add-NotRun $Targets 'Blackout' $names $skip }
    Import-Module $ModulePath
    $work = New-BenchWorkFolder 'blackout'
    $kinds = 'MoveApplication', 'InvokeLiveUpdate', 'PlainRestart'
    $byKind = [ordered]@{}
    foreach ($k in $kinds) { $byKind[$k] = [System.Collections.Generic.List[object]]::new() }
    try {
        for ($i = 1; $i -le $Runs; $i++) {
            foreach ($k in $kinds) {
                Write-Host "   run $i/$Runs $k"
                $byKind[$k].Add((Invoke-BlackoutRun $k $work $i))
            }
        }
    }
    finally {
        Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
    }
    $result = [ordered]@{ ClientIntervalMs = 5 }
    foreach ($k in $kinds) {
        $r = $byKind[$k]
        $result[$k] = [ordered]@{
            LongestGapMs   = New-Stat @($r | ForEach-Object { $_.LongestGapMs }) 1
            ReportedMs     = New-Stat @($r | ForEach-Object { $_.ReportedMs }) 1
            TypicalGapMs   = New-Stat @($r | ForEach-Object { $_.TypicalGapMs }) 1
            FailedRequests = New-Stat @($r | ForEach-Object { $_.Failed }) 0
            Acknowledged   = ($r | Measure-Object -Property Acknowledged -Sum).Sum
            Lost           = ($r | Measure-Object -Property Lost -Sum).Sum
            Runs           = @($r)
        }
    }
    $live = @($byKind.MoveApplication) + @($byKind.InvokeLiveUpdate)
    $liveGap = [math]::Round((Get-Median @($live | ForEach-Object { $_.LongestGapMs })), 1)
    $restartGap = $result.PlainRestart.LongestGapMs.Median
    $result.LiveMedianGapMs = $liveGap
    $result.RatioToRestart = [math]::Round($liveGap / $restartGap, 3)
    $lost = ($live | Measure-Object -Property Lost -Sum).Sum
    $acked = ($live | Measure-Object -Property Acknowledged -Sum).Sum
    Add-Target $Targets 'Blackout' $names[0] "$liveGap ms (Move-Application $($result.MoveApplication.LongestGapMs.Median) ms, Invoke-LiveUpdate $($result.InvokeLiveUpdate.LongestGapMs.Median) ms; module reported $($result.MoveApplication.ReportedMs.Median) / $($result.InvokeLiveUpdate.ReportedMs.Median) ms)" ($liveGap -lt 100)
    Add-Target $Targets 'Blackout' $names[1] "$lost of $acked acknowledged records lost" ($lost -eq 0)
    Add-Target $Targets 'Blackout' $names[2] "ratio $($result.RatioToRestart) ($liveGap ms vs $restartGap ms)" ($result.RatioToRestart -lt 1)
    $result
}

# ------------------------------------------------------------------ throughput

function New-BenchFiller([string] $Folder, [long] $Bytes) {
    # Real files of random (incompressible) content, seeded so that every run copies the same: about a third of the
    # bytes in small files (8 to 96 KiB), the rest in files of 1 to 16 MiB, a hundred to a folder.
    $random = [Random]::new(20260101)
    $total = 0L; $i = 0
    while ($total -lt $Bytes) {
        $size = if ($total -lt $Bytes / 3) { $random.Next(8KB, 96KB) } else { $random.Next(1MB, 16MB) }
        $size = [math]::Min($size, $Bytes - $total)
        $dir = Join-Path $Folder ('d{0:d3}' -f [int][math]::Floor($i / 100))
        if ($i % 100 -eq 0) { New-Item -ItemType Directory -Force $dir | Out-Null }
        $buffer = [byte[]]::new($size)
        $random.NextBytes($buffer)
        [IO.File]::WriteAllBytes((Join-Path $dir ('f{0:d5}.bin' -f $i)), $buffer)
        $total += $size; $i++
    }
    [pscustomobject]@{ Bytes = $total; Files = $i }
}

function Get-TreeBytes([string] $Path) {
    # The bytes of the regular files under a folder (symbolic links not followed).
    $sum = 0L
    $options = [IO.EnumerationOptions]@{ RecurseSubdirectories = $true; AttributesToSkip = [IO.FileAttributes]::ReparsePoint; IgnoreInaccessible = $true }
    foreach ($f in [IO.Directory]::EnumerateFiles($Path, '*', $options)) { $sum += ([IO.FileInfo]::new($f)).Length }
    $sum
}

function Invoke-RawCopy([string] $Device, [string] $SourceMount, [string] $Target, [string] $Label) {
    # By hand, what New-RootVgClone and Start-RootVgMirror do with the disks: wipe, make a btrfs, mount it, take a
    # read-only snapshot of each logical volume (root, root/srv) and send it into the new file system, with a shell
    # pipe; then flush. Returns the seconds; the snapshots, the mount and the file system are removed afterwards.
    $snapshots = Join-Path $SourceMount '.bench-raw'
    New-Item -ItemType Directory -Force $snapshots, $Target | Out-Null
    $sw = [Diagnostics.Stopwatch]::StartNew()
    Invoke-Tool wipefs @('--all', '--quiet', $Device) | Out-Null
    Invoke-Tool mkfs.btrfs @('--force', '--quiet', '--label', $Label, '--data', 'single', '--metadata', 'dup', $Device) | Out-Null
    Invoke-Tool mount @('-t', 'btrfs', '-o', "subvolid=5,device=$Device", $Device, $Target) | Out-Null
    foreach ($lv in @(@{ Name = 'root'; Path = 'root' }, @{ Name = 'srv'; Path = 'root/srv' })) {
        $snap = Join-Path $snapshots "$($lv.Name)@raw"
        Invoke-Tool btrfs @('subvolume', 'snapshot', '-r', (Join-Path $SourceMount $lv.Path), $snap) | Out-Null
        Invoke-Tool bash @('-c', 'btrfs send --quiet "$1" | btrfs receive "$2"; s=("${PIPESTATUS[@]}"); [ "${s[0]}" = 0 ] && [ "${s[1]}" = 0 ]', 'raw-copy', $snap, $Target) | Out-Null
    }
    Invoke-Tool sync @('--file-system', $Target) | Out-Null
    $seconds = $sw.Elapsed.TotalSeconds
    foreach ($name in 'srv@raw', 'root@raw') { Invoke-Tool btrfs @('subvolume', 'delete', (Join-Path $snapshots $name)) | Out-Null }
    Remove-Item $snapshots -Force
    Invoke-Tool umount @($Target) | Out-Null
    Invoke-Tool wipefs @('--all', '--quiet', $Device) | Out-Null
    $seconds
}

function Reset-CopyTarget([string] $Device, [string] $SourceMount) {
    # The same start for every measured copy: the target disk discarded (so the mkfs.btrfs inside the measurement
    # has nothing to discard, whether the disk held a copy before or not), the source's deleted snapshots cleaned,
    # dirty pages written and the page cache dropped.
    Invoke-Tool blkdiscard @($Device) | Out-Null
    Invoke-Tool btrfs @('subvolume', 'sync', $SourceMount) | Out-Null
    Clear-FileCache
}

function Invoke-ThroughputRun([string] $Work, [string] $Filler, [int] $Run) {
    $path = Join-Path $Work "lab-$Run"
    New-LiveUpdateLab -Backend Linux -Path $path -DiskSizeMB 2048 -Confirm:$false | Out-Null
    try {
        $lab = Get-BenchLab $path
        $mnt = Join-Path $path 'mnt'
        $source = Get-MountOf $lab.Loops.hdisk0 $mnt
        New-Item -ItemType Directory -Force (Join-Path $source 'root/usr/share') | Out-Null
        Invoke-Tool cp @('-a', $Filler, (Join-Path $source 'root/usr/share/filler')) | Out-Null
        $bytes = Get-TreeBytes (Join-Path $source 'root')
        $mb = $bytes / 1e6
        $row = [ordered]@{ DataMB = [math]::Round($mb, 1) }

        # Odd runs copy by hand first, then with the module, on the same disk; even runs the module first and by hand
        # on the free hdisk3 after it (the module's copy cannot be undone without removing the lab), so that neither
        # always goes first. Every copy starts from a discarded disk.
        $raw = { param($disk) Reset-CopyTarget $lab.Loops[$disk] $source; $mb / (Invoke-RawCopy $lab.Loops[$disk] $source (Join-Path $mnt 'bench-raw') 'bench.raw') }
        $module = {
            param($disk, [scriptblock] $step)
            Reset-CopyTarget $lab.Loops[$disk] $source
            $sw = [Diagnostics.Stopwatch]::StartNew()
            & $step | Out-Null
            Invoke-Tool sync @('--file-system', (Get-MountOf $lab.Loops[$disk] $mnt)) | Out-Null
            $mb / $sw.Elapsed.TotalSeconds
        }
        $clone = { New-RootVgClone -Partition lpar1 -Disk hdisk1 -Confirm:$false }
        $mirror = { Start-RootVgMirror -Partition lpar1 -Disk hdisk2 -Confirm:$false }
        if ($Run % 2) {
            $row.RawCloneMBps = & $raw hdisk1
            $row.ModuleCloneMBps = & $module hdisk1 $clone
            $row.RawMirrorMBps = & $raw hdisk2
            $row.ModuleMirrorMBps = & $module hdisk2 $mirror
        }
        else {
            $row.ModuleCloneMBps = & $module hdisk1 $clone
            $row.RawCloneMBps = & $raw hdisk3
            $row.ModuleMirrorMBps = & $module hdisk2 $mirror
            $row.RawMirrorMBps = & $raw hdisk3
        }

        # The physical ceiling: dd of as many bytes from the root disk to a free disk, direct I/O both ways and a flush
        # at the end (as every copy here ends). The first MiB (the btrfs superblock) is left out, so the copy never
        # shows the kernel a second member of rootvg.
        $mib = [math]::Ceiling($bytes / 1MB)
        Reset-CopyTarget $lab.Loops.hdisk3 $source
        $sw = [Diagnostics.Stopwatch]::StartNew()
        Invoke-Tool dd @("if=$($lab.Loops.hdisk0)", "of=$($lab.Loops.hdisk3)", 'bs=1M', 'skip=1', 'seek=1', "count=$mib", 'iflag=direct', 'oflag=direct', 'conv=fsync', 'status=none') | Out-Null
        $row.DdMBps = $mib * 1MB / 1e6 / $sw.Elapsed.TotalSeconds

        # The reference a raid1 mirror would cost: device add and a balance that converts data and metadata to raid1
        # (it relocates every chunk, so it writes about twice the data). Last, as it changes rootvg; the lab goes next.
        Reset-CopyTarget $lab.Loops.hdisk3 $source
        $sw = [Diagnostics.Stopwatch]::StartNew()
        Invoke-Tool btrfs @('device', 'add', '-f', $lab.Loops.hdisk3, $source) | Out-Null
        Invoke-Tool btrfs @('balance', 'start', '-dconvert=raid1', '-mconvert=raid1', $source) | Out-Null
        Invoke-Tool sync @('--file-system', $source) | Out-Null
        $row.DeviceAddBalanceMBps = $mb / $sw.Elapsed.TotalSeconds
        $row
    }
    finally {
        Remove-LiveUpdateLab -Path $path -Confirm:$false
    }
}

function Measure-Throughput {
    # New-RootVgClone and Start-RootVgMirror on a lab whose root holds 512 MiB of real files, against the raw
    # commands they run, by hand on the same disks, with dd as the physical ceiling and device add + balance as the
    # raid1 reference. The page cache is dropped before every copy.
    param($ModulePath, $Runs, $ScalePartitions, $Targets)
    $names = 'New-RootVgClone >= 90 % of the raw send/receive', 'Start-RootVgMirror >= 90 % of the raw send/receive'
    $skip = Test-LinuxBench
    if ($skip) { return Add-NotRun $Targets 'Throughput' $names $skip }
    Import-Module $ModulePath
    $work = New-BenchWorkFolder 'throughput'
    $rows = [System.Collections.Generic.List[object]]::new()
    try {
        $filler = Join-Path $work 'filler'
        $made = New-BenchFiller $filler 512MB
        for ($i = 1; $i -le $Runs; $i++) {
            Write-Host "   run $i/$Runs"
            $rows.Add((Invoke-ThroughputRun $work $filler $i))
        }
    }
    finally {
        Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
    }
    $result = [ordered]@{ FillerFiles = $made.Files; FillerMB = [math]::Round($made.Bytes / 1e6, 1); DataMB = $rows[0].DataMB; CachesDropped = $true }
    foreach ($key in 'ModuleCloneMBps', 'RawCloneMBps', 'ModuleMirrorMBps', 'RawMirrorMBps', 'DdMBps', 'DeviceAddBalanceMBps') {
        $result[$key] = New-Stat @($rows | ForEach-Object { $_[$key] }) 1
    }
    $result.CloneRatio = [math]::Round($result.ModuleCloneMBps.Median / $result.RawCloneMBps.Median, 3)
    $result.MirrorRatio = [math]::Round($result.ModuleMirrorMBps.Median / $result.RawMirrorMBps.Median, 3)
    $result.CloneRatioToDd = [math]::Round($result.ModuleCloneMBps.Median / $result.DdMBps.Median, 3)
    $result.Runs = $rows
    Add-Target $Targets 'Throughput' $names[0] "$([math]::Round(100 * $result.CloneRatio)) % ($($result.ModuleCloneMBps.Median) vs $($result.RawCloneMBps.Median) MB/s)" ($result.CloneRatio -ge 0.9)
    Add-Target $Targets 'Throughput' $names[1] "$([math]::Round(100 * $result.MirrorRatio)) % ($($result.ModuleMirrorMBps.Median) vs $($result.RawMirrorMBps.Median) MB/s)" ($result.MirrorRatio -ge 0.9)
    $result
}

# ------------------------------------------------------------------ overhead

function Split-CommandLine([string] $Line) {
    # The argument vector of a command line as the command runner logs it (arguments with special characters in
    # single quotes, a quote inside as '\'').
    $argv = [System.Collections.Generic.List[string]]::new()
    $i = 0
    while ($i -lt $Line.Length) {
        while ($i -lt $Line.Length -and $Line[$i] -eq ' ') { $i++ }
        if ($i -ge $Line.Length) { break }
        $sb = [Text.StringBuilder]::new()
        while ($i -lt $Line.Length -and $Line[$i] -ne ' ') {
            if ($Line[$i] -eq "'") { $j = $Line.IndexOf("'", $i + 1); [void]$sb.Append($Line, $i + 1, $j - $i - 1); $i = $j + 1 }
            elseif ($Line[$i] -eq '\') { [void]$sb.Append($Line[$i + 1]); $i += 2 }
            else { [void]$sb.Append($Line[$i]); $i++ }
        }
        $argv.Add($sb.ToString())
    }
    , $argv.ToArray()
}

function ConvertFrom-CommandLog([string[]] $Messages) {
    # The steps of a run, from its Verbose log: every external command with the exit code it had, in order, plus the
    # few things the backend does without a command (waiting for a container to boot, signalling an application's
    # process group, stopping a container, renaming a volume aside), which a plain script must do as well. A command
    # repeated until its exit code changed (the health check) becomes one step that repeats it.
    $steps = [System.Collections.Generic.List[object]]::new()
    $booting = $null
    $overlay = $null
    $deb = $null
    foreach ($message in $Messages) {
        $line = ($message -split "`n")[0]
        if ($line -match '^Booting partition (\S+) from ') { $booting = $Matches[1]; continue }
        if ($line -match '^Installing (\S+) \S+ \(overlay\) into ') { $overlay = $Matches[1]; continue }
        if ($line -match '^Installing (\S+) \S+ \(deb\) into ') { $deb = $Matches[1]; continue }
        if ($line -match '^Partition (\S+) runs: container process (\d+), init (\d+)$') { $steps.Add([pscustomobject]@{ Kind = 'Booted'; Partition = $Matches[1]; Leader = [int]$Matches[3] }); continue }
        if ($line -match '^Sending SIG(\w+) to (\S+) \(process group \d+\) on (\S+)$') { $steps.Add([pscustomobject]@{ Kind = 'StopGroup'; Signal = $Matches[1]; Application = $Matches[2]; Partition = $Matches[3] }); continue }
        if ($line -match '^Renaming (/\S+) to (/\S+); ') { $steps.Add([pscustomobject]@{ Kind = 'Rename'; From = $Matches[1]; To = $Matches[2] }); continue }
        if ($line -match '^Shutting down partition (\S+)$') { $steps.Add([pscustomobject]@{ Kind = 'StopContainer'; Partition = $Matches[1] }); continue }
        if ($line -match '^(?<p>.+?) \| (?<c>.+?) exited (?<pe>-?\d+) \| (?<ce>-?\d+) in \d+ ms$') {
            $steps.Add([pscustomobject]@{ Kind = 'Pipe'; Producer = Split-CommandLine $Matches.p; Consumer = Split-CommandLine $Matches.c; Exit = [int]$Matches.ce; Line = $line })
            continue
        }
        if ($line -match '^(?<cmd>/\S+(?: .*?)?) exited (?<e>-?\d+) in \d+ ms') {
            $cmd = $Matches.cmd; $exit = [int]$Matches.e
            $last = if ($steps.Count) { $steps[$steps.Count - 1] } else { $null }
            if ($last -and $last.Kind -in 'Run', 'Repeat' -and $last.Text -eq $cmd -and $last.Exit -ne $exit) {
                $steps[$steps.Count - 1] = [pscustomobject]@{ Kind = 'Repeat'; Argv = $last.Argv; Exit = $exit; Text = $cmd }
                continue
            }
            $argv = Split-CommandLine $cmd
            # The backend feeds an overlay archive to the clone's tar (in a container of the clone) on standard input,
            # and copies a Debian package into the clone before its dpkg installs it there (the log shows neither).
            $inTree = (Split-Path $argv[0] -Leaf) -eq 'systemd-nspawn' -and $argv -notcontains '/sbin/init'
            $input_ = if ($overlay -and $inTree -and ($argv -match '/tar$')) { $overlay } else { $null }
            if ($input_) { $overlay = $null }
            $copy = $null
            if ($deb -and $inTree -and $argv -contains '--install') {
                $root = ($argv | Where-Object { $_ -like '--directory=*' } | Select-Object -First 1).Substring(12)
                $copy = [pscustomobject]@{ Package = $deb; Target = $root + $argv[-1] }
                $deb = $null
            }
            $steps.Add([pscustomobject]@{ Kind = 'Run'; Argv = $argv; Exit = $exit; Text = $cmd; Input = $input_; CopyIn = $copy })
            if ((Split-Path $argv[0] -Leaf) -eq 'start-stop-daemon') {
                $steps.Add([pscustomobject]@{ Kind = 'WaitBoot'; Partition = $booting; PidFile = $argv[[array]::IndexOf($argv, '--pidfile') + 1] })
            }
        }
    }
    $steps
}

function Get-ReplayFolders([string[]] $Argv) {
    # The folders the backend creates (without a command) before it runs a command: a snapshot's or a new
    # subvolume's parent, the folder a stream is received into, a mount point.
    $tool = Split-Path $Argv[0] -Leaf
    $rest = @($Argv | Select-Object -Skip 1)
    if ($tool -eq 'btrfs' -and $rest.Count -ge 3 -and $rest[0] -eq 'subvolume' -and $rest[1] -in 'snapshot', 'create') { return Split-Path $rest[-1] -Parent }
    if ($tool -eq 'btrfs' -and $rest.Count -ge 2 -and $rest[0] -eq 'receive') { return $rest[-1] }
    if ($tool -eq 'mount' -and $rest.Count -ge 2 -and $rest[0] -notlike '--make-*') { return $rest[-1] }
}

function New-ReplayScript($Steps, $Recorded, $Lab, [string] $Bundle, [string] $Path) {
    # Writes a plain PowerShell script that runs the recorded commands in order on another lab: the recorded lab's
    # path, id and loop devices become the new lab's, and the containers' process ids are found as they boot.
    $state = Get-LabState $Lab.Path
    $p = $state.Partitions | Where-Object Name -EQ 'lpar1'
    $loopMap = @{}
    foreach ($disk in $Recorded.Loops.Keys) { $loopMap[$Recorded.Loops[$disk]] = $Lab.Loops[$disk] }
    $leaders = @{ "$($Recorded.Leader)" = 'lpar1' }
    foreach ($s in $Steps | Where-Object Kind -EQ 'Booted') { $leaders["$($s.Leader)"] = $s.Partition }
    $var = { param($name) '$L_' + ($name -replace '\W', '_') }
    $quote = { param($a) "'" + $a.Replace("'", "''") + "'" }
    $map = {
        param([string[]] $argv)
        $out = for ($i = 0; $i -lt $argv.Count; $i++) {
            $a = $argv[$i]
            if ($i -gt 0 -and $argv[$i - 1] -eq '--target' -and $leaders.ContainsKey($a)) { & $var $leaders[$a]; continue }
            $a = $a.Replace($Recorded.Path, $Lab.Path).Replace($Recorded.Id, $Lab.Id)
            $a = [regex]::Replace($a, '/dev/loop\d+', { param($m) if ($loopMap.ContainsKey($m.Value)) { $loopMap[$m.Value] } else { $m.Value } })
            & $quote $a
        }
        $out -join $(if ($args.Count) { $args[0] } else { ' ' })
    }
    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add(@'
# The external commands of one Invoke-LiveUpdate run, in the same order, without the module (generated by the
# benchmark from the run's Verbose log). Returns the commands whose exit code differs from the recorded one.
$ErrorActionPreference = 'Continue'
$mismatch = [System.Collections.Generic.List[string]]::new()
function Test-Alive([int] $Id) {
    try { $s = [IO.File]::ReadAllText("/proc/$Id/stat") } catch { return $false }
    $s[$s.LastIndexOf(')') + 2] -ne 'Z'
}
function Wait-Boot([string] $PidFile) {
    $container = 0; $leader = 0
    while ($true) {
        if (-not $container -and [IO.File]::Exists($PidFile)) { [int]::TryParse([IO.File]::ReadAllText($PidFile).Trim(), [ref] $container) | Out-Null }
        if ($container -and -not (Test-Alive $leader)) {
            if (-not (Test-Alive $container)) { throw "The container $container ended before it booted." }
            try { $c = ([IO.File]::ReadAllText("/proc/$container/task/$container/children")).Trim() } catch { $c = '' }
            if ($c) { $leader = [int]($c -split ' ')[0] }
        }
        if ($leader -and [IO.File]::Exists("/proc/$leader/root/run/liveupdate.booted")) { return $leader }
        Start-Sleep -Milliseconds 10
    }
}
function Find-HostPid([int] $Leader, [int] $Inner) {
    $ns = (Get-Item "/proc/$Leader/ns/pid").LinkTarget
    foreach ($dir in [IO.Directory]::GetDirectories('/proc')) {
        $id = Split-Path $dir -Leaf
        if ($id -notmatch '^\d+$') { continue }
        try { $nspid = [IO.File]::ReadAllLines("$dir/status") | Where-Object { $_.StartsWith('NSpid:') } } catch { continue }
        $ids = @(($nspid -split '\s+') | Where-Object { $_ -and $_ -ne 'NSpid:' })
        if ($ids.Count -ge 2 -and $ids[-1] -eq "$Inner" -and (Get-Item "$dir/ns/pid").LinkTarget -eq $ns) { return [int]$id }
    }
    0
}
function Get-Group([int] $Id) {
    $s = [IO.File]::ReadAllText("/proc/$Id/stat")
    [int]($s.Substring($s.LastIndexOf(')') + 2) -split ' ')[2]
}
function Stop-Group([int] $Leader, [string] $Signal) {
    $inner = [int]([IO.File]::ReadAllText("/proc/$Leader/root/run/recordd.pid").Trim())
    $group = Get-Group (Find-HostPid $Leader $inner)
    & kill -s $Signal -- "-$group"
    do {
        Start-Sleep -Milliseconds 2
        $left = @([IO.Directory]::GetDirectories('/proc') | Where-Object { (Split-Path $_ -Leaf) -match '^\d+$' } | Where-Object { try { (Get-Group (Split-Path $_ -Leaf)) -eq $group -and (Test-Alive (Split-Path $_ -Leaf)) } catch { $false } })
    } while ($left.Count)
}
function Invoke-WithInput([string] $InputFile, [string[]] $Argv) {
    $psi = [Diagnostics.ProcessStartInfo]::new($Argv[0])
    foreach ($a in $Argv | Select-Object -Skip 1) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
    $p = [Diagnostics.Process]::Start($psi)
    $out = $p.StandardOutput.ReadToEndAsync(); $err = $p.StandardError.ReadToEndAsync()
    $f = [IO.File]::OpenRead($InputFile)
    try { $f.CopyTo($p.StandardInput.BaseStream) } finally { $f.Dispose(); $p.StandardInput.Close() }
    $p.WaitForExit()
    $global:LASTEXITCODE = $p.ExitCode
    $p.Dispose()
}
function Stop-Container([int] $Container) {
    & kill -s TERM $Container
    while (Test-Alive $Container) { Start-Sleep -Milliseconds 10 }
}
'@)
    $manifest = Get-Content (Join-Path $Bundle 'manifest.json') -Raw | ConvertFrom-Json
    $folders = {
        param([string[]] $argv)
        $dir = Get-ReplayFolders $argv
        if ($dir) { $lines.Add("[void][IO.Directory]::CreateDirectory($(& $quote $dir.Replace($Recorded.Path, $Lab.Path)))") }
    }
    $lines.Add("$(& $var 'lpar1') = $($p.LeaderPid)")
    $lines.Add("`$C_lpar1 = $($p.NspawnPid)")
    foreach ($s in $Steps) {
        switch ($s.Kind) {
            'Run' {
                & $folders $s.Argv
                if ($s.CopyIn) {
                    $file = Join-Path $Bundle ($manifest.packages | Where-Object name -EQ $s.CopyIn.Package).file
                    $target = $s.CopyIn.Target.Replace($Recorded.Path, $Lab.Path)
                    $lines.Add("[void][IO.Directory]::CreateDirectory($(& $quote (Split-Path $target)))")
                    $lines.Add("[IO.File]::Copy($(& $quote $file), $(& $quote $target), `$true)")
                }
                if ($s.Input) {
                    $file = Join-Path $Bundle ($manifest.packages | Where-Object name -EQ $s.Input).file
                    $lines.Add("Invoke-WithInput $(& $quote $file) @($(& $map $s.Argv ', '))")
                }
                else { $lines.Add("& $(& $map $s.Argv) *> `$null") }
                $lines.Add("if (`$LASTEXITCODE -ne $($s.Exit)) { `$mismatch.Add($(& $quote $s.Text) + `" exited `$LASTEXITCODE`") }")
                if ($s.CopyIn) { $lines.Add("[IO.Directory]::Delete($(& $quote (Split-Path $s.CopyIn.Target.Replace($Recorded.Path, $Lab.Path))), `$true)") }
            }
            'Repeat' {
                & $folders $s.Argv
                $lines.Add("do { & $(& $map $s.Argv) *> `$null; if (`$LASTEXITCODE -ne $($s.Exit)) { Start-Sleep -Milliseconds 5 } } until (`$LASTEXITCODE -eq $($s.Exit))")
            }
            'Pipe' {
                & $folders $s.Consumer
                $lines.Add("& $(& $map $s.Producer) | & $(& $map $s.Consumer) *> `$null")
                $lines.Add("if (`$LASTEXITCODE -ne $($s.Exit)) { `$mismatch.Add($(& $quote $s.Line) + `" exited `$LASTEXITCODE`") }")
            }
            'WaitBoot' {
                $pidFile = $s.PidFile.Replace($Recorded.Path, $Lab.Path)
                $lines.Add("$(& $var $s.Partition) = Wait-Boot $(& $quote $pidFile)")
                $lines.Add("`$C_$($s.Partition -replace '\W', '_') = [int]([IO.File]::ReadAllText($(& $quote $pidFile)).Trim())")
            }
            'Rename' { $lines.Add("[IO.Directory]::Move($(& $quote $s.From.Replace($Recorded.Path, $Lab.Path)), $(& $quote $s.To.Replace($Recorded.Path, $Lab.Path)))") }
            'StopGroup' { $lines.Add("Stop-Group $(& $var $s.Partition) '$($s.Signal)'") }
            'StopContainer' { $lines.Add("Stop-Container `$C_$($s.Partition -replace '\W', '_')") }
        }
    }
    $lines.Add(', $mismatch.ToArray()')
    Set-Content -Path $Path -Value ($lines -join "`n")
}

function Get-RecorddVersion($Lab) {
    $reply = "PING`n" | & ip netns exec $Lab.Namespace timeout 5 busybox nc -w 2 $Lab.Address "$($Lab.Port)"
    "$(($reply -split ' ')[2])".Trim()
}

function Measure-Overhead {
    # Invoke-LiveUpdate on a fresh lab against a plain script that runs the same external commands in the same order
    # on another fresh lab (captured from the Verbose log of one run). Runs alternate which goes first.
    param($ModulePath, $Runs, $ScalePartitions, $Targets)
    $names = @('Invoke-LiveUpdate no more than 10 % slower than the plain script of its commands (ratio <= 1.10)')
    $skip = Test-LinuxBench
    if ($skip) { return Add-NotRun $Targets 'Overhead' $names $skip }
    Import-Module $ModulePath
    $work = New-BenchWorkFolder 'overhead'
    $module = [System.Collections.Generic.List[double]]::new()
    $plain = [System.Collections.Generic.List[double]]::new()
    $problems = [System.Collections.Generic.List[string]]::new()
    $differences = [System.Collections.Generic.List[string]]::new()
    try {
        # The capture run (it also warms the module up).
        $path = Join-Path $work 'lab-capture'
        New-LiveUpdateLab -Backend Linux -Path $path -Confirm:$false | Out-Null
        try {
            $lab = Get-BenchLab $path
            $p = (Get-LabState $path).Partitions | Where-Object Name -EQ 'lpar1'
            $recorded = [pscustomobject]@{ Path = $path; Id = $lab.Id; Loops = $lab.Loops; Leader = $p.LeaderPid }
            $out = @(Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $path 'updates/7300-02-02') -Confirm:$false -Verbose 4>&1)
            $r = $out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
            if ($r.Status -ne 'Succeeded') { throw "The capture run ended $($r.Status): $($r.Reason)" }
            $steps = @(ConvertFrom-CommandLog @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message))
        }
        finally { Remove-LiveUpdateLab -Path $path -Confirm:$false }
        $commands = @($steps | Where-Object Kind -In 'Run', 'Repeat', 'Pipe').Count

        for ($i = 1; $i -le $Runs; $i++) {
            Write-Host "   run $i/$Runs"
            $order = if ($i % 2) { 'module', 'plain' } else { 'plain', 'module' }
            foreach ($what in $order) {
                $path = Join-Path $work "lab-$what-$i"
                New-LiveUpdateLab -Backend Linux -Path $path -Confirm:$false | Out-Null
                try {
                    $lab = Get-BenchLab $path
                    if ($what -eq 'module') {
                        $sw = [Diagnostics.Stopwatch]::StartNew()
                        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $path 'updates/7300-02-02') -Confirm:$false
                        $module.Add($sw.Elapsed.TotalSeconds)
                        if ($r.Status -ne 'Succeeded') { throw "Invoke-LiveUpdate ended $($r.Status): $($r.Reason)" }
                    }
                    else {
                        $script = Join-Path $work "replay-$i.ps1"
                        New-ReplayScript $steps $recorded $lab (Join-Path $path 'updates/7300-02-02') $script
                        $sw = [Diagnostics.Stopwatch]::StartNew()
                        $mismatch = & $script
                        $plain.Add($sw.Elapsed.TotalSeconds)
                        # Exit codes may differ where the backend raced the kernel (a veth link that goes with its
                        # network namespace a moment later or sooner); they are reported, the verdict is the result.
                        foreach ($m in $mismatch) { $differences.Add("run $i`: $m") }
                        $version = Get-RecorddVersion $lab
                        if ($version -ne '2') { $problems.Add("run $i`: after the plain script recordd answers version '$version', not 2") }
                    }
                }
                finally { Remove-LiveUpdateLab -Path $path -Confirm:$false }
            }
        }
        # The last plain script stays beside the report, to read.
        $reportFolder = Get-Variable -Name OutputPath -ValueOnly -ErrorAction Ignore
        if ($reportFolder) { Copy-Item (Join-Path $work "replay-$Runs.ps1") (Join-Path $reportFolder 'overhead-plain-script.ps1') }
    }
    finally {
        Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
    }
    $result = [ordered]@{
        Commands          = $commands
        InvokeLiveUpdateS = New-Stat $module 3
        PlainScriptS      = New-Stat $plain 3
        Ratio             = [math]::Round((Get-Median $module) / (Get-Median $plain), 3)
        ReplayProblems    = @($problems)
        ExitCodeDifferences = @($differences)
    }
    $met = $result.Ratio -le 1.10 -and $problems.Count -eq 0
    $why = if ($problems.Count) { "; the plain script did not replay faithfully: $($problems[0])" } else { '' }
    Add-Target $Targets 'Overhead' $names[0] "ratio $($result.Ratio) ($($result.InvokeLiveUpdateS.Median) s vs $($result.PlainScriptS.Median) s, $commands commands)$why" $met
    $result
}
