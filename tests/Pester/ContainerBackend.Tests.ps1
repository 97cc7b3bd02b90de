# The real Linux backend: btrfs root volume groups on loop disks, container partitions, a real application that
# keeps answering while its partition is live-updated. Needs root on Linux with btrfs-progs, systemd-container,
# busybox-static, iproute2 and procps; skipped elsewhere with the reason printed.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Support/Linux.ps1')
    $script:linuxSkip = Get-LinuxSkipReason
    if ($script:linuxSkip) { Write-Host "Linux backend tests skipped: $script:linuxSkip" -ForegroundColor Yellow }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    . (Join-Path $PSScriptRoot 'Support/Linux.ps1')

    # Removes the lab of the block and checks that nothing of it is left on the host: loop devices, mounts, network
    # links and namespaces, processes. Only what bears the lab's folder or id is compared, since other labs may come
    # and go on the same host meanwhile.
    function Assert-LabRemovedCleanly {
        $id = (Get-Content (Join-Path $script:lab 'liveupdate-host.json') -Raw | ConvertFrom-Json).id
        Remove-LiveUpdateLab -Path $script:lab -Confirm:$false
        Test-Path $script:lab | Should -BeFalse
        $mine = { param($snapshot) [pscustomobject]@{
                Loops      = @($snapshot.Loops | Where-Object { $_.Contains($script:lab) })
                Mounts     = @($snapshot.Mounts | Where-Object { $_.StartsWith($script:lab) })
                Links      = @($snapshot.Links | Where-Object { $_ -match "v$($id)p" })
                Namespaces = @($snapshot.Namespaces | Where-Object { $_.StartsWith("lu$id") })
                Processes  = @($snapshot.Processes | Where-Object { $_ -match "lu$($id)p|$([regex]::Escape($script:lab))" })
            } }
        $after = & $mine (Get-HostSnapshot)
        $before = & $mine $script:before
        foreach ($kind in 'Loops', 'Mounts', 'Links', 'Namespaces', 'Processes') { $after.$kind | Should -Be $before.$kind -Because "no $kind of the lab may be left" }
    }

    # A client of recordd that appends records as fast as it can and notes each acknowledgement with its time.
    $script:clientScript = @'
#!/bin/bash
# usage: record-client ADDRESS PORT FOLDER    (stops when FOLDER/stop exists)
addr=$1; port=$2; out=$3; n=0
while [ ! -e "$out/stop" ]; do
  n=$((n+1))
  while :; do
    r=$(printf 'APPEND client %d\n' "$n" | timeout 3 busybox nc -w 1 "$addr" "$port" 2>/dev/null)
    if [[ $r == ACK* ]]; then echo "$n $EPOCHREALTIME" >> "$out/acked"; break; fi
    [ -e "$out/stop" ] && break 2
    sleep 0.01
  done
done
'@

    function Start-RecordClient([string] $Lab, [string] $Folder) {
        New-Item -ItemType Directory -Force $Folder | Out-Null
        $script_ = Join-Path $Folder 'record-client'
        Set-Content -Path $script_ -Value $script:clientScript -NoNewline
        $description = Get-Content (Join-Path $Lab 'liveupdate-host.json') -Raw | ConvertFrom-Json
        $app = $description.applications | Where-Object name -EQ 'recordd'
        $address = ($app.serviceAddress -split '/')[0]
        # ip netns exec runs the client on the lab's bridge, where the partitions' addresses are.
        Start-Process -FilePath ip -ArgumentList @('netns', 'exec', $description.network.namespace, 'bash', $script_, $address, "$($app.port)", $Folder) -PassThru
    }

    function Stop-RecordClient($Process, [string] $Folder) {
        New-Item -ItemType File -Force (Join-Path $Folder 'stop') | Out-Null
        if (-not $Process.WaitForExit(15000)) { Stop-Process -Id $Process.Id -Force }
    }

    function Get-Acknowledged([string] $Folder) {
        $file = Join-Path $Folder 'acked'
        if (-not (Test-Path $file)) { return @() }
        @(Get-Content $file | ForEach-Object {
                $n, $t = $_ -split ' '
                [pscustomobject]@{ N = [long]$n; Time = [double]::Parse($t, [Globalization.CultureInfo]::InvariantCulture) }
            })
    }

    # The records file of recordd as the root volume group of a partition holds it (read from the host's mount).
    function Get-Records([string] $Partition) {
        $disk = (Get-LogicalPartition -Name $Partition).RootDisks[0]
        $device = ((Get-PhysicalVolume -Name $disk).Location -split ' ')[0]
        $mount = @(& findmnt --noheadings --output TARGET --source $device)[0]
        $file = Join-Path $mount 'root/srv/recordd/records.log'
        @(Get-Content $file | Where-Object { $_ } | ForEach-Object {
                $seq, $time, $client, $n = $_ -split ' '
                [pscustomobject]@{ Seq = [long]$seq; Client = $client; N = [long]$n }
            })
    }

    function Get-OsLevelFile([string] $Partition) {
        $disk = (Get-LogicalPartition -Name $Partition).RootDisks[0]
        $device = ((Get-PhysicalVolume -Name $disk).Location -split ' ')[0]
        $mount = @(& findmnt --noheadings --output TARGET --source $device)[0]
        (Get-Content (Join-Path $mount 'root/etc/liveupdate/oslevel') -Raw).Trim()
    }

    function Get-LargestGap($Acked) {
        $largest = 0.0
        for ($i = 1; $i -lt $Acked.Count; $i++) { $largest = [Math]::Max($largest, $Acked[$i].Time - $Acked[$i - 1].Time) }
        $largest # seconds, as the module reports durations
    }

    # The link-layer address of the lab's bridge (the address its clients' traffic comes from).
    function Get-BridgeAddress([string] $Lab) {
        $description = Get-Content (Join-Path $Lab 'liveupdate-host.json') -Raw | ConvertFrom-Json
        (& ip -n $description.network.namespace -br link show dev $description.network.bridge) -split '\s+' | Where-Object { $_ -match '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' }
    }

    # recordd answers PING with its record count and the version the update installed.
    function Get-RecorddVersion([string] $Lab) {
        $description = Get-Content (Join-Path $Lab 'liveupdate-host.json') -Raw | ConvertFrom-Json
        $app = $description.applications | Where-Object name -EQ 'recordd'
        $reply = "PING`n" | & ip netns exec $description.network.namespace timeout 5 busybox nc -w 2 ($app.serviceAddress -split '/')[0] "$($app.port)"
        ($reply -split ' ')[2]
    }

    # The tolerance between the blackout the result reports and the largest pause the client saw: the client cannot
    # see less than the blackout minus its own reaction (one failed attempt and its 10 ms pause), and may see more by
    # one connection attempt that waits for a TCP retransmission (1 s).
    $script:below = 0.1
    $script:above = 1.5
}

Describe 'Container backend' -Tag 'Container', 'Linux', 'Root' -Skip:($null -ne $script:linuxSkip) {
    Context 'the flow step by step on a container lab (-Backend Linux, its former name)' {
        BeforeAll {
            $script:before = Get-HostSnapshot
            $script:lab = Join-Path $TestDrive 'lab-steps'
            $script:clientFolder = Join-Path $TestDrive 'client-steps'
            $script:system = New-LiveUpdateLab -Backend Linux -Path $script:lab -Confirm:$false
            $script:client = Start-RecordClient -Lab $script:lab -Folder $script:clientFolder
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (@(Get-Acknowledged $script:clientFolder).Count -lt 20 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            $script:bundle = Join-Path $script:lab 'updates/7300-02-02'
            $script:bridgeAddress = Get-BridgeAddress $script:lab
        }
        AfterAll {
            if ($script:client -and -not $script:client.HasExited) { Stop-RecordClient $script:client $script:clientFolder }
            if (Test-Path (Join-Path $script:lab 'liveupdate-host.json')) { Remove-LiveUpdateLab -Path $script:lab -Confirm:$false }
        }

        It 'builds a lab: lpar1 runs at 7300-02-01 from hdisk0, recordd acknowledges records, three disks are free' {
            $script:system.Backend | Should -Be 'Container'
            $p = Get-LogicalPartition -Name lpar1
            $p.State | Should -Be 'Running'
            $p.OsLevel.ToString() | Should -Be '7300-02-01'
            $p.RootDisks | Should -Be @('hdisk0')
            @(Get-PhysicalVolume | Where-Object State -EQ 'Free').Name | Should -Be @('hdisk1', 'hdisk2', 'hdisk3')
            (Get-Application -Name recordd).State | Should -Be 'Running'
            @(Get-Acknowledged $script:clientFolder).Count | Should -BeGreaterThan 0
            Get-RecorddVersion $script:lab | Should -Be '1'
            # The snapshot that the removal test compares sees what the lab made.
            $during = Get-HostSnapshot
            $during.Loops.Count | Should -Be ($script:before.Loops.Count + 4)
            $during.Namespaces.Count | Should -Be ($script:before.Namespaces.Count + 2)
            $during.Processes.Count | Should -BeGreaterThan $script:before.Processes.Count
        }

        It 'refuses a disk that holds a file system LiveUpdate did not make, and uses it with -Force' {
            $device = ((Get-PhysicalVolume -Name hdisk3).Location -split ' ')[0]
            & mkfs.ext4 -q -F $device 2>&1 | Out-Null
            $LASTEXITCODE | Should -Be 0
            Connect-LiveUpdateSystem -Path $script:lab | Out-Null
            (Get-PhysicalVolume -Name hdisk3).State | Should -Be 'InUse'
            { New-RootVgClone -Partition lpar1 -Disk hdisk3 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'DiskInUse,LiveUpdate.PowerShell.Commands.NewRootVgCloneCommand'
            (& blkid -o value -s TYPE $device) | Should -Be 'ext4'
            Connect-LiveUpdateSystem -Path $script:lab -Force | Out-Null
            (Get-PhysicalVolume -Name hdisk3).State | Should -Be 'Free'
            Connect-LiveUpdateSystem -Path $script:lab | Out-Null
        }

        It 'refuses a disk that the description does not name, and -WhatIf changes nothing' {
            { New-RootVgClone -Partition lpar1 -Disk hdisk9 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'DiskNotFound,LiveUpdate.PowerShell.Commands.NewRootVgCloneCommand'
            New-RootVgClone -Partition lpar1 -Disk hdisk1 -WhatIf | Should -BeNullOrEmpty
            (Get-PhysicalVolume -Name hdisk1).State | Should -Be 'Free'
            $device = ((Get-PhysicalVolume -Name hdisk1).Location -split ' ')[0]
            & blkid -p $device | Should -BeNullOrEmpty
        }

        It 'clones rootvg onto hdisk1: a btrfs of its own (a new file-system UUID) with every logical volume' {
            $clone = New-RootVgClone -Partition lpar1 -Disk hdisk1 -Confirm:$false
            $clone.VolumeGroup | Should -Be 'altinst_rootvg'
            $clone.State | Should -Be 'Cloned'
            $clone.OsLevel.ToString() | Should -Be '7300-02-01'
            $old = ((Get-PhysicalVolume -Name hdisk0).Location -split ' ')[0]
            $new = ((Get-PhysicalVolume -Name hdisk1).Location -split ' ')[0]
            (& blkid -o value -s TYPE $new) | Should -Be 'btrfs'
            (& blkid -o value -s UUID $new) | Should -Not -Be (& blkid -o value -s UUID $old)
            (Get-VolumeGroup -Name altinst_rootvg).LogicalVolumes.Name | Should -Be @('root', 'srv')
        }

        It 'mirrors rootvg onto hdisk2, a replicated copy kept current' {
            $mirror = Start-RootVgMirror -Partition lpar1 -Disk hdisk2 -Confirm:$false
            $mirror.State | Should -Be 'Synchronized'
            $mirror.Disks | Should -Be @('hdisk2')
            (Get-LogicalPartition -Name lpar1).RootDisks | Should -Be @('hdisk0', 'hdisk2')
        }

        It 'installs the bundle (an overlay and a Debian package) into the clone and never into lpar1' {
            $clone = Install-CloneUpdate -Path $script:bundle -Partition lpar1 -Confirm:$false
            $clone.State | Should -Be 'Updated'
            $clone.OsLevel.ToString() | Should -Be '7300-02-02'
            (Get-LogicalPartition -Name lpar1).OsLevel.ToString() | Should -Be '7300-02-01'
            Get-OsLevelFile lpar1 | Should -Be '7300-02-01'
            Get-RecorddVersion $script:lab | Should -Be '1'
            # Nothing of the install stays mounted in the clone.
            @(Get-Content /proc/self/mountinfo | ForEach-Object { ($_ -split ' ')[4] } | Where-Object { $_.StartsWith($script:lab) -and $_ -match '/(proc|sys|dev|dev/pts)$' }) | Should -BeNullOrEmpty
        }

        It 'boots the surrogate from the clone at the new level, beside lpar1' {
            $sur = Start-UpdatedPartition -Partition lpar1 -Confirm:$false
            $sur.Name | Should -Be 'lpar1_surrogate'
            $sur.State | Should -Be 'Running'
            $sur.OsLevel.ToString() | Should -Be '7300-02-02'
            $sur.RootDisks | Should -Be @('hdisk1')
            (Get-LogicalPartition -Name lpar1).State | Should -Be 'Running'
        }

        It 'imports the mirror into the surrogate' {
            $vg = Import-MirrorVg -Mirror lpar1 -Partition lpar1_surrogate -Confirm:$false
            $vg.Partition | Should -Be 'lpar1_surrogate'
            $vg.Role | Should -Be 'Mirror'
            (Get-Application -Name recordd).State | Should -Be 'Running'
        }

        It 'moves recordd with its data (the blackout) and the surrogate takes over lpar1' {
            $script:moved = Move-Application -Application recordd -Destination lpar1_surrogate -Confirm:$false
            $script:moved.Status | Should -Be 'Moved'
            $script:moved.DataVerified | Should -BeTrue
            $script:moved.IdentityTakenOver | Should -BeTrue
            $script:moved.RecordsOnDestination | Should -Be $script:moved.RecordsAcknowledged
            $script:moved.Blackout | Should -BeGreaterThan 0
            [Math]::Abs($script:moved.Blackout - ($script:moved.StopTime + $script:moved.SyncTime + $script:moved.StartTime)) | Should -BeLessThan 1e-6
            # Let the client write on the new partition for a while.
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            $count = @(Get-Acknowledged $script:clientFolder).Count
            while (@(Get-Acknowledged $script:clientFolder).Count -lt $count + 20 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            Stop-RecordClient $script:client $script:clientFolder
        }

        It 'lpar1 comes back at the new level, on the clone disk, running the updated recordd' {
            $p = Get-LogicalPartition -Name lpar1
            $p.State | Should -Be 'Running'
            $p.OsLevel.ToString() | Should -Be '7300-02-02'
            $p.RootDisks | Should -Be @('hdisk1')
            $p.IsSurrogate | Should -BeFalse
            @(Get-LogicalPartition).Count | Should -Be 1
            Get-OsLevelFile lpar1 | Should -Be '7300-02-02'
            (Get-Application -Name recordd).Partition | Should -Be 'lpar1'
            Get-RecorddVersion $script:lab | Should -Be '2'
            (Get-VolumeGroup -Name old_rootvg).Disks | Should -Be @('hdisk0')
            # The bridge kept its address when the original partition's link left it, so no neighbour's cache went stale.
            Get-BridgeAddress $script:lab | Should -Be $script:bridgeAddress
            (Get-PhysicalVolume -Name hdisk2).State | Should -Be 'Free'
        }

        It 'the new partition holds every record the client saw acknowledged, numbered without a gap' {
            $acked = @(Get-Acknowledged $script:clientFolder)
            $records = @(Get-Records lpar1)
            $acked.Count | Should -BeGreaterThan ($script:moved.RecordsAcknowledged - 1)
            $present = [Collections.Generic.HashSet[long]]::new()
            foreach ($r in $records | Where-Object Client -EQ 'client') { [void]$present.Add($r.N) }
            @($acked | Where-Object { -not $present.Contains($_.N) } | ForEach-Object N) | Should -BeNullOrEmpty
            for ($i = 0; $i -lt $records.Count; $i++) { $records[$i].Seq | Should -Be ($i + 1) }
        }

        It 'the blackout the move reports matches the longest pause the client saw (within -100 ms / +1.5 s)' {
            $gap = Get-LargestGap @(Get-Acknowledged $script:clientFolder)
            Write-Host ("    blackout reported {0:N0} ms, client's longest pause {1:N0} ms" -f ($script:moved.Blackout * 1000), ($gap * 1000))
            $gap | Should -BeGreaterThan ($script:moved.Blackout - $script:below)
            $gap | Should -BeLessThan ($script:moved.Blackout + $script:above)
        }

        It 'Remove-VolumeGroup frees old_rootvg and wipes hdisk0' {
            Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false
            (Get-PhysicalVolume -Name hdisk0).State | Should -Be 'Free'
            $device = ((Get-PhysicalVolume -Name hdisk0).Location -split ' ')[0]
            & blkid -p $device | Should -BeNullOrEmpty
        }

        It 'Remove-LiveUpdateLab leaves the host as it was' {
            Assert-LabRemovedCleanly
        }
    }

    Context 'Invoke-LiveUpdate on a container lab' {
        BeforeAll {
            $script:before = Get-HostSnapshot
            $script:lab = Join-Path $TestDrive 'lab-invoke'
            $script:clientFolder = Join-Path $TestDrive 'client-invoke'
            New-LiveUpdateLab -Backend Container -Path $script:lab -Confirm:$false | Out-Null
            $script:client = Start-RecordClient -Lab $script:lab -Folder $script:clientFolder
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (@(Get-Acknowledged $script:clientFolder).Count -lt 20 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        }
        AfterAll {
            if ($script:client -and -not $script:client.HasExited) { Stop-RecordClient $script:client $script:clientFolder }
            if (Test-Path (Join-Path $script:lab 'liveupdate-host.json')) { Remove-LiveUpdateLab -Path $script:lab -Confirm:$false }
        }

        It 'Test-LiveUpdate passes every check and plans onto the free disks' {
            $preview = Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $script:lab 'updates/7300-02-02')
            $preview.CanProceed | Should -BeTrue
            $preview.CloneDisks | Should -Be @('hdisk1')
            $preview.MirrorDisks | Should -Be @('hdisk2')
        }

        It 'updates lpar1 while the client keeps writing; every acknowledged record survives' {
            $script:result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $script:lab 'updates/7300-02-02') -Confirm:$false
            $count = @(Get-Acknowledged $script:clientFolder).Count
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (@(Get-Acknowledged $script:clientFolder).Count -lt $count + 20 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            Stop-RecordClient $script:client $script:clientFolder

            $script:result.Status | Should -Be 'Succeeded'
            $script:result.OsLevel.ToString() | Should -Be '7300-02-02'
            $script:result.Phases.Name | Should -Be @('Verify', 'Clone', 'Mirror', 'Install', 'Boot', 'Import', 'Move', 'TakeOver')
            $script:result.Applications[0].DataVerified | Should -BeTrue
            $script:result.Duration | Should -BeGreaterThan $script:result.Blackout
            (Get-LogicalPartition -Name lpar1).OsLevel.ToString() | Should -Be '7300-02-02'
            Get-RecorddVersion $script:lab | Should -Be '2'

            $acked = @(Get-Acknowledged $script:clientFolder)
            $present = [Collections.Generic.HashSet[long]]::new()
            foreach ($r in Get-Records lpar1 | Where-Object Client -EQ 'client') { [void]$present.Add($r.N) }
            $acked.Count | Should -BeGreaterThan 40
            @($acked | Where-Object { -not $present.Contains($_.N) } | ForEach-Object N) | Should -BeNullOrEmpty

            $gap = Get-LargestGap $acked
            Write-Host ("    blackout reported {0:N0} ms, client's longest pause {1:N0} ms, whole update {2:N1} s" -f `
                    ($script:result.Blackout * 1000), ($gap * 1000), $script:result.Duration)
            $gap | Should -BeGreaterThan ($script:result.Blackout - $script:below)
            $gap | Should -BeLessThan ($script:result.Blackout + $script:above)
        }

        It 'a second update without a health command (the built-in TCP check of the port) keeps both old rootvgs, renumbered' {
            # Without "health" the backend checks that the service address accepts a TCP connection on the port.
            $file = Join-Path $script:lab 'liveupdate-host.json'
            $d = Get-Content $file -Raw | ConvertFrom-Json
            $d.applications[0].PSObject.Properties.Remove('health')
            $d | ConvertTo-Json -Depth 8 | Set-Content -Path $file
            Connect-LiveUpdateSystem -Path $script:lab | Out-Null
            (Get-Application recordd).HealthCheck | Should -Be 'tcp 198.18.0.11:7000'
            $second = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $script:lab 'updates/7300-03-01') -Confirm:$false
            $second.Status | Should -Be 'Succeeded' -Because $second.Reason
            (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '7300-03-01'
            $kept = @(Get-VolumeGroup | Where-Object Role -EQ 'OldRoot' | Sort-Object Name)
            $kept.Name | Should -Be @('old_rootvg', 'old_rootvg1')
            $kept[0].Disks | Should -Be @('hdisk1')
            $kept[0].OsLevel.ToString() | Should -Be '7300-02-02'
            $kept[1].Disks | Should -Be @('hdisk0')
            $kept[1].OsLevel.ToString() | Should -Be '7300-02-01'
        }

        It 'Remove-LiveUpdateLab leaves the host as it was' {
            Assert-LabRemovedCleanly
        }
    }
}
