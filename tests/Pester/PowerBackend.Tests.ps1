# The Power backend against an emulated frame: real sshd processes in network namespaces (one for the HMC, one for
# the VIOS, one per partition slot) whose ForceCommand emulates the HMC CLI, the VIOS padmin commands and AIX, over
# SSH.NET. The seven steps by hand, Invoke-LiveUpdate with a client writing records, Test-LiveUpdate and -WhatIf
# sending no changing command. Needs root on Linux with openssh-server and python3; skipped elsewhere with the reason.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Support/Power.ps1')
    $script:powerSkip = Get-PowerSkipReason
    if ($script:powerSkip) { Write-Host "Power backend tests skipped: $script:powerSkip" -ForegroundColor Yellow }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    . (Join-Path $PSScriptRoot 'Support/Power.ps1')
    if (-not (Get-PowerSkipReason)) { $script:frame = New-PowerFrame -Applications 2 }
}

AfterAll {
    if ($script:frame) { Remove-PowerFrame $script:frame }
}

Describe 'Power backend' -Tag 'Power', 'Root' -Skip:([bool]$script:powerSkip) {
    Context 'the seven steps by hand' {
        BeforeAll {
            Reset-PowerFrame $script:frame
            $script:lab = Join-Path $TestDrive 'steps'
            $script:system = New-PowerLab -Frame $script:frame -Path $script:lab
            $script:clientFolder = Join-Path $TestDrive 'client-steps'
            $script:client = Start-PowerRecordClient -Frame $script:frame -Folder $script:clientFolder
            $script:before = Get-LogicalPartition lpar1
        }
        AfterAll {
            if ($script:client -and -not $script:client.HasExited) { Stop-PowerRecordClient $script:client $script:clientFolder }
        }

        It 'connects to the managed system through the HMC and lists what lspv, lsvg and the HMC report' {
            $script:system.Backend | Should -Be 'Power'
            $script:system.Name | Should -Be $script:frame.system
            $script:system.AvailableProcessors | Should -Be 2.5
            $script:before.State | Should -Be 'Running'
            $script:before.OsLevel.ToString() | Should -Be '7300-02-01-2346'
            $script:before.HostName | Should -Be 'lpar1'
            $script:before.Address | Should -Be $script:frame.lpar1
            $script:before.RootDisks | Should -Be @('hdisk0')
            (Get-PhysicalVolume | Where-Object State -EQ 'Free').Name | Should -Be @('hdisk1', 'hdisk2', 'hdisk3', 'hdisk4')
            (Get-PhysicalVolume -Name hdisk3).SizeMB | Should -Be 4096
            (Get-VolumeGroup -Name datavg1).Role | Should -Be 'Data'
            (Get-Application).State | Should -Be @('Running', 'Running')
        }

        It 'New-RootVgClone copies rootvg onto hdisk1 (alt_disk_copy -B: the boot list stays)' {
            $script:clone = $clone = Get-LogicalPartition lpar1 | New-RootVgClone -Disk hdisk1 -Confirm:$false
            $clone.VolumeGroup | Should -Be 'altinst_rootvg'
            $clone.Disks | Should -Be @('hdisk1')
            (Get-PhysicalVolume -Name hdisk1).VolumeGroup | Should -Be 'altinst_rootvg'
            (Get-FrameOdm $script:frame hdisk0).bootlist | Should -Be @('hdisk0')
            (Get-FrameCommand $script:frame | Where-Object { $_.argv[0] -eq 'alt_disk_copy' }).argv | Should -Be @('alt_disk_copy', '-d', 'hdisk1', '-B')
        }

        It 'Start-RootVgMirror mirrors rootvg onto hdisk2: every logical volume has a copy there' {
            $script:mirror = $mirror = Get-LogicalPartition lpar1 | Start-RootVgMirror -Disk hdisk2 -Confirm:$false
            $mirror.Disks | Should -Be @('hdisk2')
            (Get-VolumeGroup -Name rootvg).MirrorDisks | Should -Be @('hdisk2')
            $state = Get-FrameState $script:frame
            $root = $state.vgda.PSObject.Properties | Where-Object { $_.Value.lvs.PSObject.Properties.Name -contains 'hd4' -and ($state.disks.hdisk0.vgid -eq $_.Name) }
            foreach ($lv in $root.Value.lvs.PSObject.Properties) { $lv.Value.copies | Should -Be @('hdisk0', 'hdisk2') }
        }

        It 'Install-CloneUpdate installs into the clone only and reads its level back from the clone' {
            $script:clone = $clone = $script:clone | Install-CloneUpdate -Path (Join-Path $script:lab 'updates/7300-02-02') -Confirm:$false
            $clone.OsLevel.ToString() | Should -Be '7300-02-02-2346'
            $clone.State | Should -Be 'Updated'
            (Get-FrameOdm $script:frame hdisk1).filesets.'bos.rte' | Should -Be '7.3.2.2'
            (Get-FrameOdm $script:frame hdisk0).filesets.'bos.rte' | Should -Be '7.3.2.1' -Because 'the running rootvg is never touched'
            (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '7300-02-01-2346'
        }

        It 'Start-UpdatedPartition creates lpar1_surrogate from the profile and boots it from the clone at the new level' {
            $script:sur = $sur = $script:clone | Start-UpdatedPartition -Confirm:$false
            $sur.Name | Should -Be 'lpar1_surrogate'
            $sur.SurrogateOf | Should -Be 'lpar1'
            $sur.State | Should -Be 'Running'
            $sur.OsLevel.ToString() | Should -Be '7300-02-02-2346'
            $sur.Address | Should -Be $script:frame.surrogateAddresses[0]
            $sur.HostName | Should -Be 'lpar1-sur'
            $sur.MemoryMB | Should -Be 4096
            (Get-FrameState $script:frame).lpars.lpar1_surrogate.profile.virtual_scsi_adapters | Should -Be '2/client//vios1/12/1'
        }

        It 'Import-MirrorVg maps the data volume groups to the surrogate through the VIOS' {
            $vg = $script:mirror | Import-MirrorVg -Partition $script:sur -Confirm:$false
            $vg.Role | Should -Be 'Mirror'
            $vtds = (Get-FrameState $script:frame).vios.vtds | Where-Object vhost -EQ 'vhost1'
            @($vtds.disk | Sort-Object) | Should -Be @('hdisk1', 'hdisk5', 'hdisk6')
            (Get-Application).State | Should -Be @('Running', 'Running')
        }

        It 'Move-Application moves each application with its data volume group and address; the last one hands over lpar1' {
            $first = Move-Application -Application recordd -Destination lpar1_surrogate -Confirm:$false
            $first.Status | Should -Be 'Moved'
            $first.DataVerified | Should -BeTrue
            $first.IdentityTakenOver | Should -BeFalse
            $first.RecordsOnDestination | Should -Be $first.RecordsAcknowledged
            [Math]::Abs($first.Blackout - ($first.StopTime + $first.SyncTime + $first.StartTime)) | Should -BeLessThan 1e-6
            (Get-Application recordd).Partition | Should -Be 'lpar1_surrogate'
            $script:moved = Move-Application -Application recordd2 -Destination lpar1_surrogate -Confirm:$false
            $script:moved.Status | Should -Be 'Moved'
            $script:moved.IdentityTakenOver | Should -BeTrue
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            $count = @(Get-PowerAcknowledged $script:clientFolder).Count
            while (@(Get-PowerAcknowledged $script:clientFolder).Count -lt $count + 20 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            Stop-PowerRecordClient $script:client $script:clientFolder
        }

        It 'lpar1 runs the new level from hdisk1 with its name, host name and address; hdisk0 is old_rootvg, hdisk2 free' {
            $p = @(Get-LogicalPartition)
            $p.Name | Should -Be @('lpar1')
            $p[0].OsLevel.ToString() | Should -Be '7300-02-02-2346'
            $p[0].HostName | Should -Be 'lpar1'
            $p[0].Address | Should -Be $script:before.Address
            $p[0].RootDisks | Should -Be @('hdisk1')
            $p[0].IsSurrogate | Should -BeFalse
            (Get-VolumeGroup -Name old_rootvg).Disks | Should -Be @('hdisk0')
            (Get-VolumeGroup -Name old_rootvg).OsLevel.ToString() | Should -Be '7300-02-01-2346'
            (Get-PhysicalVolume -Name hdisk2).State | Should -Be 'Free'
            (Get-Application).Partition | Should -Be @('lpar1', 'lpar1')
            (Get-Application).State | Should -Be @('Running', 'Running')
            $state = Get-FrameState $script:frame
            @($state.lpars.PSObject.Properties.Name | Sort-Object) | Should -Be @('lpar1', 'vios1')
            (Get-FrameOdm $script:frame hdisk1).hostname | Should -Be 'lpar1'
        }

        It 'holds every record the client saw acknowledged, numbered without a gap, and Test-ApplicationData agrees' {
            $acked = Assert-PowerRecordsKept -Frame $script:frame -Folder $script:clientFolder
            $acked.Count | Should -BeGreaterThan 30
            $check = Test-ApplicationData -Application recordd
            $check.Verified | Should -BeTrue
            $check.Found | Should -BeGreaterOrEqual $acked.Count
        }

        It 'Remove-VolumeGroup frees old_rootvg (alt_rootvg_op -X, chpv -C)' {
            Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false
            (Get-PhysicalVolume -Name hdisk0).State | Should -Be 'Free'
        }

        It 'the emulator knew every command the backend sent' {
            Get-FrameUnknownCommand $script:frame | Should -BeNullOrEmpty
        }
    }

    Context 'Test-LiveUpdate, -WhatIf and Invoke-LiveUpdate' {
        BeforeAll {
            Reset-PowerFrame $script:frame
            $script:lab = Join-Path $TestDrive 'invoke'
            # The padmin commands go over the VIOS's own SSH here (the steps above send them through viosvrcmd).
            $vios = [ordered]@{ name = 'vios1'; address = $script:frame.vios; user = 'padmin'; keyFile = $script:frame.clientKey }
            $null = New-PowerLab -Frame $script:frame -Path $script:lab -Change @{ vios = $vios }
            $script:bundle = Join-Path $script:lab 'updates/7300-02-02'
        }

        It 'Test-LiveUpdate passes every check, plans onto the free disks and sends no changing command' {
            Start-Sleep -Milliseconds 2100 # what the connection read is no longer reused: the checks read afresh
            Clear-FrameCommand $script:frame
            $verbose = @(Test-LiveUpdate -Partition lpar1 -UpdatePath $script:bundle -Verbose 4>&1)
            $preview = $verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
            $plan = @($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
            $plan | Should -Contain '        nhdisk  = hdisk1'
            $plan | Should -Contain '        mhdisk  = hdisk2'
            $plan | Should -Contain "        management_console = $($script:frame.hmc)"
            $preview.CanProceed | Should -BeTrue
            $preview.CloneDisks | Should -Be @('hdisk1')
            $preview.MirrorDisks | Should -Be @('hdisk2')
            $sent = @(Get-FrameCommand $script:frame)
            $sent.Count | Should -BeGreaterThan 5
            @($sent | Where-Object change | ForEach-Object { $_.argv -join ' ' }) | Should -BeNullOrEmpty
        }

        It 'Invoke-LiveUpdate -WhatIf sends no changing command' {
            Clear-FrameCommand $script:frame
            $null = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $script:bundle -WhatIf
            @(Get-FrameCommand $script:frame | Where-Object change | ForEach-Object { $_.argv -join ' ' }) | Should -BeNullOrEmpty
            (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '7300-02-01-2346'
        }

        It 'updates lpar1 while a client keeps writing; every acknowledged record survives' {
            $folder = Join-Path $TestDrive 'client-invoke'
            $client = Start-PowerRecordClient -Frame $script:frame -Folder $folder
            try {
                $script:result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $script:bundle -Confirm:$false
                Start-Sleep -Milliseconds 300
            }
            finally { Stop-PowerRecordClient $client $folder }
            $script:result.Status | Should -Be 'Succeeded'
            $script:result.OsLevel.ToString() | Should -Be '7300-02-02-2346'
            $script:result.Phases.Name | Should -Be @('Verify', 'Clone', 'Mirror', 'Install', 'Boot', 'Import', 'Move', 'TakeOver')
            $script:result.Applications.DataVerified | Should -Be @($true, $true)
            @(Get-FrameCommand $script:frame | Where-Object { $_.endpoint -eq 'vios' -and $_.argv[0] -eq 'mkvdev' }).Count | Should -BeGreaterThan 0
            @(Get-FrameCommand $script:frame | Where-Object { $_.argv[0] -eq 'viosvrcmd' }).Count | Should -Be 0
            $acked = Assert-PowerRecordsKept -Frame $script:frame -Folder $folder
            $acked.Count | Should -BeGreaterThan 20
            $null = Assert-PowerRecordsKept -Frame $script:frame -Folder (Join-Path $TestDrive 'none') -Application 1
            Write-Host ("    Invoke-LiveUpdate on the emulated frame: {0:N1} s, blackout {1:N0} ms" -f $script:result.Duration, ($script:result.Blackout * 1000))
        }

        It 'Undo-LiveUpdate boots the kept old_rootvg and goes back; the level it left is the new old_rootvg' {
            $undo = Undo-LiveUpdate -Partition lpar1 -Confirm:$false
            $undo.Status | Should -Be 'Succeeded'
            $p = Get-LogicalPartition lpar1
            $p.OsLevel.ToString() | Should -Be '7300-02-01-2346'
            $p.RootDisks | Should -Be @('hdisk0')
            (Get-VolumeGroup -Name old_rootvg).Disks | Should -Be @('hdisk1')
            (Get-VolumeGroup -Name old_rootvg).OsLevel.ToString() | Should -Be '7300-02-02-2346'
            (Get-Application).State | Should -Be @('Running', 'Running')
        }

        It 'the emulator knew every command the backend sent' {
            Get-FrameUnknownCommand $script:frame | Should -BeNullOrEmpty
        }
    }
}
