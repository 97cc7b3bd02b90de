# The VM section of build.ps1 bench, all on one VM lab, medians of -Runs: the longest gap a client of recordd sees
# during Move-Application and Invoke-LiveUpdate against a reboot of the partition into the same updated disk (run
# after them, measured the same way: from the last write acknowledged before the event to the first one after it),
# and the clone and mirror steps' throughput against raw blockcopy on the same disks, both timed as calls from this
# script (the raw side less the cost of a virsh process by itself).

function Start-VmBenchClient([string] $Namespace, [string] $Address, [string] $Log, [int] $IntervalMs = 10) {
    # One request every few milliseconds, each line the wall-clock time of its answer (ns) and the answer. The host
    # ignores SIGPIPE in this process and so in the client: a printf into a connection that recordd refused gets EPIPE
    # and would say so; the client's errors go nowhere (a failed request shows as a line without ACK).
    $script = "exec 2>/dev/null; end=`$((`$(date +%s)+900)); n=0; while [ `$(date +%s) -lt `$end ] && [ ! -e '$Log.stop' ]; do n=`$((n+1)); r=`$(printf 'APPEND b1 %d\n' `$n | busybox nc -w 2 $Address 7000); echo `"`$(date +%s%N) `$r`" >> '$Log'; busybox usleep $($IntervalMs * 1000); done"
    $psi = [Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in 'netns', 'exec', $Namespace, 'sh', '-c', $script) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardError = $true
    $p = [Diagnostics.Process]::Start($psi)
    $p.BeginErrorReadLine()
    $p
}

function Get-VmBenchNow { [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() }

function Read-VmBenchAcks([string] $Log) {
    $acks = [System.Collections.Generic.List[double]]::new(); $failed = 0
    foreach ($line in @(Get-Content $Log -ErrorAction SilentlyContinue)) {
        $f = $line -split ' '
        if ($f.Count -ge 2 -and $f[1] -eq 'ACK') { $acks.Add([double]$f[0] / 1e6) } else { $failed++ }
    }
    [pscustomobject]@{ Acks = $acks.ToArray(); Failed = $failed }
}

function Stop-VmBenchClient {
    # The outage a client saw around an event (Unix ms from -Start to -End): the longest gap between two acknowledged
    # writes from the last one before the event to the first one after it. The client runs on until a write after the
    # event is acknowledged (or gives up: then the service never came back, and that is an error, not a short gap).
    param($Process, [string] $Log, [double] $Start, [double] $End, [int] $TimeoutSeconds = 120)
    $deadline = [Diagnostics.Stopwatch]::StartNew()
    while ($true) {
        if (@((Read-VmBenchAcks $Log).Acks | Where-Object { $_ -gt $End }).Count -gt 0) { break }
        if ($deadline.Elapsed.TotalSeconds -gt $TimeoutSeconds -or $Process.HasExited) { break }
        Start-Sleep -Milliseconds 100
    }
    New-Item -ItemType File "$Log.stop" -Force | Out-Null
    if (-not $Process.WaitForExit(15000)) { $Process.Kill() }
    $read = Read-VmBenchAcks $Log
    $acks = $read.Acks; $failed = $read.Failed
    Remove-Item $Log, "$Log.stop" -ErrorAction SilentlyContinue
    $before = @($acks | Where-Object { $_ -le $Start })
    $after = @($acks | Where-Object { $_ -gt $End })
    if (-not $before) { throw 'the client had no write acknowledged before the event' }
    if (-not $after) { throw "the client had no write acknowledged within $TimeoutSeconds s after the event: the service did not come back" }
    $window = @($acks | Where-Object { $_ -ge $before[-1] -and $_ -le $after[0] })
    $gap = 0
    for ($i = 1; $i -lt $window.Count; $i++) { $gap = [math]::Max($gap, $window[$i] - $window[$i - 1]) }
    [ordered]@{ LongestGapMs = [math]::Round($gap, 1); Failed = $failed; Acknowledged = $acks.Count }
}

function Add-VmBenchTimeline($Parts, $Output) {
    # The backend's Debug line "Blackout of APP: PART N ms, PART N ms, ... (total N ms)": each part's milliseconds.
    foreach ($rec in @($Output | Where-Object { $_ -is [Management.Automation.DebugRecord] -and $_.Message -match 'Blackout of [^:]+: (.*)$' })) {
        $null = $rec.Message -match 'Blackout of [^:]+: (.*)$'
        $text = $Matches[1]
        foreach ($match in [regex]::Matches($text, '(?:^|, )(.+?) (\d+) ms(?=, | \(total)')) {
            $name = $match.Groups[1].Value
            if (-not $Parts.Contains($name)) { $Parts[$name] = [System.Collections.Generic.List[double]]::new() }
            $Parts[$name].Add([double]$match.Groups[2].Value)
        }
        if ($text -match '\(total (\d+) ms\)') {
            if (-not $Parts.Contains('total')) { $Parts['total'] = [System.Collections.Generic.List[double]]::new() }
            $Parts['total'].Add([double]$Matches[1])
        }
    }
}

function Measure-VmBenchCommand([scriptblock] $Command) {
    $t = [Diagnostics.Stopwatch]::StartNew()
    $null = & $Command
    $t.Elapsed.TotalSeconds
}

function Measure-VmBenchRawCopy([string] $Domain, [string] $Target, [string] $Location, [switch] $Synchronous, [switch] $Consistent) {
    # A raw blockcopy until it is ready (everything copied, mirroring), polled the way the backend polls its own job:
    # virsh blockcopy --wait checks only every 500 ms, which on these small disks would be most of the time measured.
    # Seconds from the start of the job's virsh process until a poll sees it ready; with -Consistent, as an
    # administrator makes a point-in-time copy by hand, also the guest's file systems frozen, the copy ended there and
    # thawed again (three more virsh processes).
    $flags = @('--transient-job', '--reuse-external', '--format', 'raw') + $(if ($Synchronous) { '--synchronous-writes' } else { @() })
    $t = [Diagnostics.Stopwatch]::StartNew()
    & virsh -c qemu:///system blockcopy $Domain $Target $Location @flags | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "virsh blockcopy $Domain $Target failed" }
    while ($true) {
        # --raw: "type=Block Copy bandwidth=0 cur=N end=N" on its standard output.
        $info = (& virsh -c qemu:///system blockjob $Domain $Target --raw 2>$null) -join ' '
        if ($info -match 'cur=(\d+).*end=(\d+)' -and [long]$Matches[2] -gt 0 -and $Matches[1] -eq $Matches[2]) { break }
        if ($t.Elapsed.TotalSeconds -gt 600) { throw "the blockcopy of $Domain $Target did not get ready: $info" }
    }
    if ($Consistent) {
        & virsh -c qemu:///system domfsfreeze $Domain | Out-Null
        & virsh -c qemu:///system blockjob $Domain $Target --abort | Out-Null
        & virsh -c qemu:///system domfsthaw $Domain | Out-Null
        return $t.Elapsed.TotalSeconds
    }
    $seconds = $t.Elapsed.TotalSeconds
    & virsh -c qemu:///system blockjob $Domain $Target --abort | Out-Null
    $seconds
}

function Get-VmBenchTarget([string] $Domain, [string] $Location) {
    # The guest device through which the domain holds a disk (virsh domblklist --details: type device target source).
    foreach ($line in & virsh -c qemu:///system domblklist $Domain --details) { $f = -split $line; if ($f.Count -ge 4 -and $f[3] -eq $Location) { return $f[2] } }
    throw "$Domain holds no disk $Location"
}

function Restart-VmBenchPartition([string] $Domain, [string] $Mount, [string] $Service, [string] $Address) {
    # The alternative users pick: stop the service, reboot the partition into the disk it runs (now the updated one),
    # and start the service again as its boot scripts would (mount, addresses, start). The domain stays running: the
    # guest resets, its disks stay plugged in, and the lab is as it was for whatever runs next.
    $boot = (Invoke-Guest -Domain $Domain -Command '/bin/cat', '/proc/sys/kernel/random/boot_id').Trim()
    Invoke-Guest -Domain $Domain -Command '/bin/sh', '-c', "/opt/recordd/recordd-stop; /sbin/lu-umount $Mount; reboot -f" -NoWait
    $t = [Diagnostics.Stopwatch]::StartNew()
    while ($true) {
        # While the guest reboots its agent does not answer: virsh says so on its error output, which goes nowhere.
        $now = try { (Invoke-Guest -Domain $Domain -Command '/bin/cat', '/proc/sys/kernel/random/boot_id' 2>$null).Trim() } catch { '' }
        if ($now -and $now -ne $boot) { break }
        if ($t.Elapsed.TotalSeconds -gt 180) { throw "$Domain did not come back from its reboot within 180 s" }
        Start-Sleep -Milliseconds 50
    }
    $null = Invoke-Guest -Domain $Domain -Command '/sbin/lu-mount', 'data1', $Mount, '200'
    $null = Invoke-Guest -Domain $Domain -Command '/bin/ip', 'addr', 'replace', $Address, 'dev', 'eth0'
    $null = Invoke-Guest -Domain $Domain -Command '/bin/ip', 'addr', 'replace', $Service, 'dev', 'eth0'
    $null = Invoke-Guest -Domain $Domain -Command '/opt/recordd/recordd-ctl', 'start'
}

function Measure-VirtualMachine {
    param([string] $ModulePath, [int] $Runs, $Targets, $ScalePartitions)
    $reason = Test-LinuxBench
    if (-not $reason -and -not (Get-Command virsh -ErrorAction SilentlyContinue)) { $reason = 'libvirt-clients missing' }
    if ($reason) {
        foreach ($t in 'blackout <= 1 s median', 'blackout <= 0.2 x reboot', 'clone >= 90 % of raw', 'mirror >= 90 % of raw') { Add-Target $Targets 'VirtualMachine' $t "not run ($reason)" $false }
        return [ordered]@{ NotRun = $reason }
    }
    Import-Module $ModulePath -Force
    . (Join-Path $PSScriptRoot '../Pester/Support/Matrix.ps1')
    . (Join-Path $PSScriptRoot '../Pester/Support/VirtualMachine.ps1')
    $lab = Join-Path ([IO.Path]::GetTempPath()) ("lu-vmbench-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    # Disks of 1 GiB with 256 MiB of random data written by the guest on each of lpar1's (its root and its data disk),
    # so that a copy moves data for a while and the cmdlets' fixed costs (freeze, check, state) do not decide the ratio.
    $diskMB = 1024; $fillMB = 256
    $null = New-LiveUpdateLab -Backend VirtualMachine -Path $lab -DiskSizeMB $diskMB
    try {
        $d = Get-Content (Join-Path $lab 'liveupdate-vmhost.json') -Raw | ConvertFrom-Json
        $ns = $d.daemonNamespace
        $service = $d.applications[0].serviceAddress
        $addr = ($service -split '/')[0]
        $mount = $d.partitions[0].dataMountPoints[0]
        $fillDomain = Get-VmDomain lpar1 -Lab $lab
        foreach ($file in '/filler', "$mount/filler") {
            # In pieces of 32 MiB: each guest command ends well within the time Invoke-Guest waits under TCG.
            for ($at = 0; $at -lt $fillMB; $at += 32) {
                $null = Invoke-Guest $fillDomain '/bin/dd', 'if=/dev/urandom', "of=$file", 'bs=1048576', 'count=32', "seek=$at", 'conv=notrunc'
            }
        }
        $null = Invoke-Guest $fillDomain '/bin/sync'
        $log = Join-Path $lab 'client.log'
        $move = @(); $invoke = @(); $reboot = @(); $moveReported = @(); $invokeReported = @(); $failed = @(); $acked = 0
        $cloneMBps = @(); $mirrorMBps = @(); $rawCloneMBps = @(); $rawMirrorMBps = @(); $convertMBps = @(); $virshMs = @()
        $parts = [ordered]@{}
        for ($run = 1; $run -le $Runs; $run++) {
            # The steps by hand: the clone and the mirror timed as cmdlets called in this process, then
            # Move-Application with a client that starts just before it.
            $free = @(Get-PhysicalVolume | Where-Object State -eq 'Free').Name
            $lpar = Get-LogicalPartition lpar1
            $rootMB = (Get-PhysicalVolume (Get-VolumeGroup rootvg -Partition lpar1).Disks[0]).SizeMB
            $dataMB = (Get-PhysicalVolume (Get-VolumeGroup rootvg -Partition lpar1).Disks[1]).SizeMB
            $t = [Diagnostics.Stopwatch]::StartNew()
            $clone = $lpar | New-RootVgClone -Disk $free[0]
            $cloneMBps += $rootMB / $t.Elapsed.TotalSeconds
            $t.Restart()
            $mirror = $lpar | Start-RootVgMirror -Disk $free[1]
            $mirrorMBps += $dataMB / $t.Elapsed.TotalSeconds
            $sur = $clone | Install-CloneUpdate -Path (Get-NextBundle -Lab $lab) | Start-UpdatedPartition
            $null = $mirror | Import-MirrorVg -Partition $sur
            $c = Start-VmBenchClient $ns $addr $log; Start-Sleep -Milliseconds 700
            $t0 = Get-VmBenchNow
            # The backend's Debug log tells where the blackout's time went: the debug stream of these calls only.
            $out = @(& { $DebugPreference = 'Continue'; Get-Application -Partition lpar1 | Move-Application -Destination $sur } 5>&1)
            $m = $out | Where-Object { $_ -isnot [Management.Automation.DebugRecord] }
            Add-VmBenchTimeline $parts $out
            $g = Stop-VmBenchClient $c $log -Start $t0 -End (Get-VmBenchNow)
            $move += $g.LongestGapMs; $moveReported += $m.Blackout * 1000; $failed += $g.Failed; $acked += $g.Acknowledged
            Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false

            # Invoke-LiveUpdate, the whole update with the client running from before it to after it.
            $c = Start-VmBenchClient $ns $addr $log; Start-Sleep -Milliseconds 700
            $t0 = Get-VmBenchNow
            $out = @(& { $DebugPreference = 'Continue'; Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Get-NextBundle -Lab $lab) } 5>&1)
            $r = $out | Where-Object { $_ -isnot [Management.Automation.DebugRecord] }
            Add-VmBenchTimeline $parts $out
            $g = Stop-VmBenchClient $c $log -Start $t0 -End (Get-VmBenchNow)
            $invoke += $g.LongestGapMs; $invokeReported += $r.Blackout * 1000; $failed += $g.Failed; $acked += $g.Acknowledged

            # Raw copies of the same disks, timed from this script like the cmdlets, less what each virsh process
            # costs by itself (start, connect, one call: its median in this run), so that no process start counts on
            # one side only: the point-in-time copy of the running root disk onto the old root disk as by hand
            # (blockcopy until ready, freeze, end the copy, thaw: what New-RootVgClone does, less its e2fsck of the
            # copy and its records), a synchronous blockcopy of the data disk onto the old data disk until ready (each polled as the backend
            # polls); qemu-img convert of the root disk offline for reference (a process of its own, not corrected).
            $old = (Get-VolumeGroup old_rootvg -Partition lpar1).Disks
            $cur = (Get-VolumeGroup rootvg -Partition lpar1).Disks
            $domain = Get-VmDomain lpar1 -Lab $lab
            $noop = @(1..5 | ForEach-Object { Measure-VmBenchCommand { & virsh -c qemu:///system domstate $domain } })
            $virsh = Get-Median $noop
            $virshMs += $virsh * 1000
            $raw = Measure-VmBenchRawCopy $domain vda (Get-PhysicalVolume $old[0]).Location -Consistent
            $rawCloneMBps += $rootMB / [math]::Max($raw - 4 * $virsh, 0.001)
            $target = Get-VmBenchTarget $domain (Get-PhysicalVolume $cur[1]).Location
            $raw = Measure-VmBenchRawCopy $domain $target (Get-PhysicalVolume $old[1]).Location -Synchronous
            $rawMirrorMBps += $dataMB / [math]::Max($raw - $virsh, 0.001)
            $raw = Measure-VmBenchCommand { & qemu-img convert -U -n -f raw -O raw (Get-PhysicalVolume $cur[0]).Location (Get-PhysicalVolume $old[0]).Location }
            $convertMBps += $rootMB / $raw
            Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false
            Write-Host ("VM run {0}: Move-Application {1} ms, Invoke-LiveUpdate {2} ms" -f $run, $move[-1], $invoke[-1])
        }
        # The baseline: a reboot of lpar1 into the disk it runs (the updated one), measured the same way in the same
        # lab after the live updates; each leaves lpar1 running recordd for the next.
        $domain = Get-VmDomain lpar1 -Lab $lab
        for ($run = 1; $run -le $Runs; $run++) {
            $c = Start-VmBenchClient $ns $addr $log; Start-Sleep -Milliseconds 700
            $t0 = Get-VmBenchNow
            Restart-VmBenchPartition -Domain $domain -Mount $mount -Service $service -Address $d.partitions[0].address
            $g = Stop-VmBenchClient $c $log -Start $t0 -End (Get-VmBenchNow)
            $reboot += $g.LongestGapMs; $failed += $g.Failed; $acked += $g.Acknowledged
            Write-Host ("VM reboot {0}: {1} ms" -f $run, $reboot[-1])
        }
        $blackout = Get-Median ($move + $invoke)
        $ratio = [math]::Round($blackout / (Get-Median $reboot), 3)
        Add-Target $Targets 'VirtualMachine' 'longest client gap <= 1 s under TCG (median of Move-Application and Invoke-LiveUpdate)' "$([math]::Round($blackout, 1)) ms (Move-Application $(Get-Median $move) ms, Invoke-LiveUpdate $(Get-Median $invoke) ms)" ($blackout -le 1000)
        Add-Target $Targets 'VirtualMachine' 'longest client gap <= 0.2 x a reboot into the same disk' "ratio $ratio ($([math]::Round($blackout, 1)) ms vs $(Get-Median $reboot) ms)" ($ratio -le 0.2)
        $cr = [math]::Round((Get-Median $cloneMBps) / (Get-Median $rawCloneMBps) * 100)
        $mr = [math]::Round((Get-Median $mirrorMBps) / (Get-Median $rawMirrorMBps) * 100)
        Add-Target $Targets 'VirtualMachine' 'New-RootVgClone >= 90 % of raw blockcopy' "$cr % ($([math]::Round((Get-Median $cloneMBps), 1)) vs $([math]::Round((Get-Median $rawCloneMBps), 1)) MiB/s; qemu-img convert $([math]::Round((Get-Median $convertMBps), 1)))" ($cr -ge 90)
        Add-Target $Targets 'VirtualMachine' 'Start-RootVgMirror >= 90 % of raw synchronous blockcopy' "$mr % ($([math]::Round((Get-Median $mirrorMBps), 1)) vs $([math]::Round((Get-Median $rawMirrorMBps), 1)) MiB/s)" ($mr -ge 90)
        [ordered]@{
            MoveApplicationGapMs = New-Stat $move 1; InvokeLiveUpdateGapMs = New-Stat $invoke 1; RebootGapMs = New-Stat $reboot 1; BlackoutToReboot = $ratio
            MoveReportedMs = New-Stat $moveReported 1; InvokeReportedMs = New-Stat $invokeReported 1; FailedRequests = New-Stat $failed 0; Acknowledged = $acked
            CloneMBps = New-Stat $cloneMBps 1; RawCloneMBps = New-Stat $rawCloneMBps 1; MirrorMBps = New-Stat $mirrorMBps 1; RawMirrorMBps = New-Stat $rawMirrorMBps 1
            ConvertMBps = New-Stat $convertMBps 1; VirshProcessMs = New-Stat $virshMs 1; DiskMB = $diskMB; FillMB = $fillMB
            BlackoutPartsMs = $(foreach ($k in $parts.Keys) { [ordered]@{ Part = $k; Ms = New-Stat $parts[$k].ToArray() 1 } })
        }
        Write-Host 'Where the blackout went (medians over Move-Application and Invoke-LiveUpdate, from the Debug log):'
        foreach ($k in $parts.Keys) { Write-Host ("  {0,-50} {1,8:0.0} ms" -f $k, (Get-Median $parts[$k].ToArray())) }
    }
    finally { Remove-LiveUpdateLab -Path $lab -Confirm:$false }
}
