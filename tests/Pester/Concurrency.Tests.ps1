# Two processes change one lab at the same time: each live-updates its own partition again and again, step by step
# (so that their state changes interleave) and with Invoke-LiveUpdate, reading the lab in between. Afterwards the
# state must load and be consistent: every update done, no disk counted twice, every record of every application kept.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
}

Describe 'Two processes changing the same lab at once' {
    BeforeAll {
        $updates = 4
        # Two partitions, each with two free disks of its own to rotate through: lpar1 uses hdisk0, 2, 3 and lpar2
        # uses hdisk1, 4, 5, so the two processes never ask for the same disk and every step can succeed.
        $lab = New-TestLab -Parameters @{ PartitionCount = 2; DiskSizeMB = @(30720, 30720, 30720, 30720) }
        $before = Get-LogicalPartition
        $chain = Join-Path $TestDrive 'chain'
        for ($sp = 1; $sp -le $updates; $sp++) {
            $level = '7300-02-{0:00}' -f $sp
            $null = [LiveUpdate.Engine.Backends.Simulated.LabBuilder]::WriteSampleBundles((Join-Path $chain $level), [LiveUpdate.Engine.Model.OsLevel]::Parse($level))
        }
        $worker = {
            param($Module, $Lab, $Chain, $Partition, [string[]] $Disks, $Count)
            $ErrorActionPreference = 'Stop'
            Import-Module $Module
            Connect-LiveUpdateSystem -Path $Lab | Out-Null
            for ($i = 1; $i -le $Count; $i++) {
                $bundle = Join-Path $Chain ('7300-02-{0:00}/7300-02-{1:00}' -f $i, ($i + 1))
                $free = @($Disks | Where-Object { $_ -notin (Get-LogicalPartition $Partition).RootDisks })
                if ($i % 2) {
                    $clone = Get-LogicalPartition $Partition | New-RootVgClone -Disk $free[0]
                    $mirror = Get-LogicalPartition $Partition | Start-RootVgMirror -Disk $free[1]
                    $sur = $clone | Install-CloneUpdate -Path $bundle | Start-UpdatedPartition
                    $mirror | Import-MirrorVg -Partition $sur | Out-Null
                    Get-Application -Partition $Partition | Move-Application -Destination $sur | Out-Null
                }
                else {
                    Invoke-LiveUpdate -Partition $Partition -UpdatePath $bundle -CloneDisk $free[0] -MirrorDisk $free[1] | Out-Null
                }
                Get-VolumeGroup | Out-Null
                Remove-VolumeGroup -Name old_rootvg -Partition $Partition -Confirm:$false
                [pscustomobject]@{ Partition = $Partition; Update = $i; Level = (Get-LogicalPartition $Partition).OsLevel.ToString() }
            }
        }
        $jobs = @(
            Start-Job -ScriptBlock $worker -ArgumentList $ModulePath, $lab, $chain, 'lpar1', @('hdisk0', 'hdisk2', 'hdisk3'), $updates
            Start-Job -ScriptBlock $worker -ArgumentList $ModulePath, $lab, $chain, 'lpar2', @('hdisk1', 'hdisk4', 'hdisk5'), $updates
        )
        try {
            $null = $jobs | Wait-Job -Timeout 300
            $jobStates = @($jobs | ForEach-Object { "$($_.State)" })
            $done = @($jobs | Receive-Job -ErrorVariable jobErrors -ErrorAction SilentlyContinue)
        }
        finally { $jobs | Remove-Job -Force }
        Connect-LiveUpdateSystem -Path $lab | Out-Null
    }

    It 'both processes finished every update without an error' {
        $jobStates | Should -Be @('Completed', 'Completed')
        $jobErrors | Should -BeNullOrEmpty
        $done | Should -HaveCount (2 * $updates)
        ($done | Where-Object Partition -eq 'lpar1').Level | Should -Be @('7300-02-02', '7300-02-03', '7300-02-04', '7300-02-05')
        ($done | Where-Object Partition -eq 'lpar2').Level | Should -Be @('7300-02-02', '7300-02-03', '7300-02-04', '7300-02-05')
    }

    It 'leaves a state that loads, with both partitions updated and keeping their identity' {
        $after = Get-LogicalPartition
        $after.Name | Should -Be @('lpar1', 'lpar2')
        $after.Uuid | Should -Be $before.Uuid
        $after.Id | Should -Be $before.Id
        foreach ($p in $after) {
            $p.State | Should -Be 'Running'
            $p.OsLevel.ToString() | Should -Be '7300-02-05'
            $p.IsSurrogate | Should -BeFalse
        }
    }

    It 'counts every disk once: two root disks in use, the others free and wiped' {
        $vgs = @(Get-VolumeGroup)
        $vgs.Name | Should -Be @('rootvg', 'rootvg')
        $used = @(Get-PhysicalVolume | Where-Object State -eq 'InUse')
        $used | Should -HaveCount 2
        ($used.Name | Sort-Object) | Should -Be (@((Get-LogicalPartition).RootDisks) | Sort-Object)
        @(Get-PhysicalVolume -Free) | Should -HaveCount 4
        (Get-ChildItem (Join-Path $lab 'disks')).Name | Sort-Object | Should -Be ($used.Name | Sort-Object)
        Get-ChildItem $lab -Filter 'system.state.tmp*' | Should -BeNullOrEmpty
        $system = Get-LiveUpdateSystem
        $system.AvailableMemoryMB | Should -Be ($system.TotalMemoryMB - 2 * $before[0].MemoryMB)
    }

    It 'keeps every record of every application, in order' {
        $apps = @(Get-Application)
        $apps | Should -HaveCount 4
        foreach ($app in $apps) {
            $app.State | Should -Be 'Running'
            $app.Partition | Should -Be $(if ($app.Name -like '*-lpar2') { 'lpar2' } else { 'lpar1' })
            $disk = (Get-LogicalPartition $app.Partition).RootDisks[0]
            $records = Get-DataRecord $lab $disk $app.DataPath
            $records.Count | Should -Be $app.Records
            $records.Count | Should -BeGreaterThan 0
            Get-SequenceGap $records | Should -BeNullOrEmpty
        }
    }
}
