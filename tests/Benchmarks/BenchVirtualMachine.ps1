# The VM section of build.ps1 bench: the longest gap a client of recordd sees during Move-Application and
# Invoke-LiveUpdate against a reboot of the partition into the same updated disk, and the clone and mirror steps'
# throughput against raw blockcopy / qemu-img convert on the same disks; medians of -Runs, all on one VM lab.

function Start-VmBenchClient([string] $Namespace, [string] $Address, [string] $Log, [int] $IntervalMs = 10) {
    $script = "end=`$((`$(date +%s)+600)); n=0; while [ `$(date +%s) -lt `$end ] && [ ! -e '$Log.stop' ]; do n=`$((n+1)); r=`$(printf 'APPEND b1 %d\n' `$n | busybox nc -w 2 $Address 7000 2>/dev/null); echo `"`$(date +%s%N) `$r`" >> '$Log'; busybox usleep $($IntervalMs * 1000); done"
    $psi = [Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in 'netns', 'exec', $Namespace, 'sh', '-c', $script) { $psi.ArgumentList.Add($a) }
    [Diagnostics.Process]::Start($psi)
}

function Stop-VmBenchClient($Process, [string] $Log) {
    New-Item -ItemType File "$Log.stop" -Force | Out-Null
    if (-not $Process.WaitForExit(15000)) { $Process.Kill() }
    $acks = @(); $failed = 0
    foreach ($line in Get-Content $Log) {
        $f = $line -split ' '
        if ($f.Count -ge 2 -and $f[1] -eq 'ACK') { $acks += [double]$f[0] / 1e6 } else { $failed++ }
    }
    $gap = 0
    for ($i = 1; $i -lt $acks.Count; $i++) { $gap = [math]::Max($gap, $acks[$i] - $acks[$i - 1]) }
    Remove-Item $Log, "$Log.stop" -ErrorAction SilentlyContinue
    [ordered]@{ LongestGapMs = [math]::Round($gap, 1); Failed = $failed; Acknowledged = $acks.Count }
}

function Get-VmDomainOf([string] $Partition) {
    foreach ($line in & virsh -c qemu:///system list --title) { $f = -split $line; if ($f.Count -ge 4 -and $f[0] -match '^\d+$' -and $f[3] -eq $Partition) { return $f[1] } }
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
    $lab = Join-Path ([IO.Path]::GetTempPath()) ("lu-vmbench-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $null = New-LiveUpdateLab -Backend VirtualMachine -Path $lab
    try {
        $d = Get-Content (Join-Path $lab 'liveupdate-vmhost.json') -Raw | ConvertFrom-Json
        $ns = $d.daemonNamespace
        $addr = ($d.applications[0].serviceAddress -split '/')[0]
        $log = Join-Path $lab 'client.log'
        $move = @(); $invoke = @(); $reboot = @(); $moveReported = @(); $invokeReported = @(); $failed = @(); $acked = 0
        $cloneMBps = @(); $mirrorMBps = @(); $rawCloneMBps = @(); $rawMirrorMBps = @(); $convertMBps = @()
        for ($run = 1; $run -le $Runs; $run++) {
            # Move-Application, the steps by hand.
            $c = Start-VmBenchClient $ns $addr $log; Start-Sleep -Milliseconds 700
            $free = @(Get-PhysicalVolume | Where-Object State -eq 'Free').Name
            $lpar = Get-LogicalPartition lpar1
            $clone = $lpar | New-RootVgClone -Disk $free[0]
            $mirror = $lpar | Start-RootVgMirror -Disk $free[1]
            $sur = $clone | Install-CloneUpdate -Path (Get-NextBundle -Lab $lab) | Start-UpdatedPartition
            $null = $mirror | Import-MirrorVg -Partition $sur
            $m = Get-Application -Partition lpar1 | Move-Application -Destination $sur
            Start-Sleep -Milliseconds 500
            $g = Stop-VmBenchClient $c $log
            $move += $g.LongestGapMs; $moveReported += $m.Blackout.TotalMilliseconds; $failed += $g.Failed; $acked += $g.Acknowledged
            Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false

            # Invoke-LiveUpdate; its clone and mirror phases give the module's throughput.
            $c = Start-VmBenchClient $ns $addr $log; Start-Sleep -Milliseconds 700
            $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Get-NextBundle -Lab $lab)
            Start-Sleep -Milliseconds 500
            $g = Stop-VmBenchClient $c $log
            $invoke += $g.LongestGapMs; $invokeReported += $r.Blackout.TotalMilliseconds; $failed += $g.Failed; $acked += $g.Acknowledged
            $sizeMB = (Get-PhysicalVolume $r.CloneDisks[0]).SizeMB
            $cloneMBps += $sizeMB / ($r.Phases | Where-Object Name -eq 'Clone').Duration.TotalSeconds
            $mirrorMBps += $sizeMB / ($r.Phases | Where-Object Name -eq 'Mirror').Duration.TotalSeconds

            # Raw copies of the same disks: blockcopy of the running root disk onto the old root disk, a synchronous
            # blockcopy of the data disk onto the old data disk, qemu-img convert of the root disk offline.
            $old = (Get-VolumeGroup old_rootvg -Partition lpar1).Disks
            $cur = (Get-VolumeGroup rootvg -Partition lpar1).Disks
            $domain = Get-VmDomainOf lpar1
            $t = [Diagnostics.Stopwatch]::StartNew()
            & virsh -c qemu:///system blockcopy $domain vda (Get-PhysicalVolume $old[0]).Location --transient-job --reuse-external --format raw --wait --finish | Out-Null
            $rawCloneMBps += $sizeMB / $t.Elapsed.TotalSeconds
            $t.Restart()
            & virsh -c qemu:///system blockcopy $domain sda (Get-PhysicalVolume $old[1]).Location --synchronous-writes --transient-job --reuse-external --format raw --wait | Out-Null
            $rawMirrorMBps += $sizeMB / $t.Elapsed.TotalSeconds
            & virsh -c qemu:///system blockjob $domain sda --abort | Out-Null
            $t.Restart()
            & qemu-img convert -U -n -f raw -O raw (Get-PhysicalVolume $cur[0]).Location (Get-PhysicalVolume $old[0]).Location
            $convertMBps += $sizeMB / $t.Elapsed.TotalSeconds
            Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false

            # The alternative: reboot the partition into the same (updated) disk.
            $c = Start-VmBenchClient $ns $addr $log; Start-Sleep -Milliseconds 700
            $domain = Get-VmDomainOf lpar1
            & virsh -c qemu:///system qemu-agent-command $domain '{"execute":"guest-exec","arguments":{"path":"/opt/recordd/recordd-stop"}}' | Out-Null
            & virsh -c qemu:///system destroy $domain | Out-Null
            $null = Connect-LiveUpdateSystem -Path $lab
            Start-Sleep -Milliseconds 500
            $g = Stop-VmBenchClient $c $log
            $reboot += $g.LongestGapMs; $acked += $g.Acknowledged
            Write-Host ("VM run {0}: Move-Application {1} ms, Invoke-LiveUpdate {2} ms, reboot {3} ms" -f $run, $move[-1], $invoke[-1], $reboot[-1])
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
            MoveApplicationGapMs = New-Stat $move 1; InvokeLiveUpdateGapMs = New-Stat $invoke 1; RebootGapMs = New-Stat $reboot 1
            MoveReportedMs = New-Stat $moveReported 1; InvokeReportedMs = New-Stat $invokeReported 1; FailedRequests = New-Stat $failed 0; Acknowledged = $acked
            CloneMBps = New-Stat $cloneMBps 1; RawCloneMBps = New-Stat $rawCloneMBps 1; MirrorMBps = New-Stat $mirrorMBps 1; RawMirrorMBps = New-Stat $rawMirrorMBps 1; ConvertMBps = New-Stat $convertMBps 1
        }
    }
    finally { Remove-LiveUpdateLab -Path $lab -Confirm:$false }
}
