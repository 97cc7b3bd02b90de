BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
}

Describe 'Invoke-LiveUpdate' {
    BeforeAll {
        $lab = New-TestLab
        $original = Get-LogicalPartition lpar1
        $predicted = Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02')
        $clockBefore = (Get-LiveUpdateSystem).Clock
        $verbose = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -Verbose 4>&1
        $result = $verbose | Where-Object { $_ -is [LiveUpdate.Engine.Model.LiveUpdateResult] }
        $clockAfter = (Get-LiveUpdateSystem).Clock
    }

    It 'returns one LiveUpdateResult that succeeded' {
        @($result) | Should -HaveCount 1
        $result | Should -BeOfType ([LiveUpdate.Engine.Model.LiveUpdateResult])
        $result.Status | Should -Be 'Succeeded'
        $result.Partition | Should -Be 'lpar1'
        $result.FromLevel.ToString() | Should -Be '7300-02-01'
        $result.ToLevel.ToString() | Should -Be '7300-02-02'
        $result.OsLevel.ToString() | Should -Be '7300-02-02'
        $result.OperationId | Should -Match '^LU-\d{8}-\d{6}-[0-9a-f]{6}$'
        $result.Bundle | Should -Be 'AIX 7300-02-02 service pack'
    }

    It 'reports every phase with its duration on the virtual clock' {
        $result.Phases.Name | Should -Be @('Verify', 'Clone', 'Mirror', 'Install', 'Boot', 'Import', 'Move', 'TakeOver')
        foreach ($phase in $result.Phases) {
            $phase.Status | Should -Be 'Succeeded'
            if ($phase.Name -ne 'Verify') { $phase.Duration | Should -BeGreaterThan 0 -Because "$($phase.Name) takes time" }
        }
        $sum = 0.0
        foreach ($phase in $result.Phases) { $sum += $phase.Duration }
        [Math]::Abs($result.Duration - $sum) | Should -BeLessThan 1e-6 -Because 'durations are seconds'
        [Math]::Abs($result.Duration - ($clockAfter - $clockBefore).TotalSeconds) | Should -BeLessThan 1e-6
        $result.Started | Should -Be $clockBefore
        $result.Finished | Should -Be $clockAfter
        # Durations that a real system would show (minutes), from a run that took well under a second of real time.
        $result.Duration | Should -BeGreaterThan 60
    }

    It 'reports a blackout of less than a second, the longest of the applications' {
        $result.Blackout | Should -BeGreaterThan 0
        $result.Blackout | Should -BeLessThan 1
        $result.Applications | Should -HaveCount 2
        $result.Blackout | Should -Be ($result.Applications.Blackout | Sort-Object -Descending | Select-Object -First 1)
        foreach ($m in $result.Applications) {
            $m.DataVerified | Should -BeTrue
            $m.Status | Should -Be 'Moved'
        }
    }

    It 'chose the disks that Test-LiveUpdate predicted' {
        $predicted.CloneDisks | Should -Be @('hdisk1')
        $predicted.MirrorDisks | Should -Be @('hdisk2')
        $result.CloneDisks | Should -Be $predicted.CloneDisks
        $result.MirrorDisks | Should -Be $predicted.MirrorDisks
        $result.OldRootVgDisks | Should -Be @('hdisk0')
    }

    It 'tells the story on the verbose stream' {
        $messages = @($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        $messages -match [regex]::Escape($result.OperationId) | Should -Not -BeNullOrEmpty -Because 'the operation id ties the lines together'
        foreach ($word in 'hdisk1', 'hdisk2', 'lpar1_surrogate', 'db2inst1', 'ihs', 'blackout') {
            $messages -match $word | Should -Not -BeNullOrEmpty -Because "the story mentions $word"
        }
    }

    It 'keeps the partition''s identity and runs the new level' {
        $p = Get-LogicalPartition lpar1
        foreach ($property in 'Name', 'Id', 'Uuid', 'HostName', 'Address') { $p.$property | Should -Be $original.$property }
        $p.OsLevel.ToString() | Should -Be '7300-02-02'
        $p.RootDisks | Should -Be @('hdisk1')
        @(Get-LogicalPartition) | Should -HaveCount 1
        (Get-Content (Join-Path $lab 'disks/hdisk1/usr/lib/objrepos/oslevel')).Trim() | Should -Be '7300-02-02'
    }

    It 'runs the applications on lpar1 with every record 1..N in order' {
        foreach ($app in Get-Application) {
            $app.Partition | Should -Be 'lpar1'
            $app.State | Should -Be 'Running'
            $records = Get-DataRecord $lab hdisk1 $app.DataPath
            $records.Count | Should -Be $app.Records
            Get-SequenceGap $records | Should -BeNullOrEmpty
            $moved = $result.Applications | Where-Object Application -eq $app.Name
            $moved.RecordsOnDestination | Should -Be $moved.RecordsAcknowledged
            $moved.RecordsOnDestination | Should -BeLessOrEqual $app.Records -Because "the application kept writing after its move"
        }
    }

    It 'keeps old_rootvg on hdisk0 at the old level and frees the mirror disk' {
        $old = Get-VolumeGroup old_rootvg -Partition lpar1
        $old.Disks | Should -Be @('hdisk0')
        $old.OsLevel.ToString() | Should -Be '7300-02-01'
        (Get-Content (Join-Path $lab 'disks/hdisk0/usr/lib/objrepos/oslevel')).Trim() | Should -Be '7300-02-01'
        (Get-PhysicalVolume hdisk2).State | Should -Be 'Free'
    }

    It 'updates again with the 7300-03-01 bundle, keeping both earlier rootvgs' {
        $bundle = Join-Path $lab 'updates/7300-03-01'
        $preview = Test-LiveUpdate -Partition lpar1 -UpdatePath $bundle
        $preview.CanProceed | Should -BeTrue
        $second = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle
        $second.Status | Should -Be 'Succeeded'
        $second.FromLevel.ToString() | Should -Be '7300-02-02'
        $second.OsLevel.ToString() | Should -Be '7300-03-01'
        $second.OperationId | Should -Not -Be $result.OperationId
        $second.CloneDisks | Should -Be $preview.CloneDisks
        $second.MirrorDisks | Should -Be $preview.MirrorDisks
        $p = Get-LogicalPartition lpar1
        foreach ($property in 'Name', 'Id', 'Uuid', 'HostName', 'Address') { $p.$property | Should -Be $original.$property }
        $p.OsLevel.ToString() | Should -Be '7300-03-01'
        $rootDisk = $p.RootDisks[0]
        $rootDisk | Should -Be $second.CloneDisks[0]
        foreach ($app in Get-Application) {
            $app.Partition | Should -Be 'lpar1'
            $records = Get-DataRecord $lab $rootDisk $app.DataPath
            $records.Count | Should -Be $app.Records
            Get-SequenceGap $records | Should -BeNullOrEmpty -Because 'records of both updates are kept'
        }
        # The level just left is the way back (old_rootvg); the one before it stays as old_rootvg1.
        (Get-VolumeGroup old_rootvg -Partition lpar1).Disks | Should -Be @('hdisk1')
        (Get-VolumeGroup old_rootvg -Partition lpar1).OsLevel.ToString() | Should -Be '7300-02-02'
        (Get-VolumeGroup old_rootvg1 -Partition lpar1).Disks | Should -Be @('hdisk0')
        (Get-VolumeGroup old_rootvg1 -Partition lpar1).OsLevel.ToString() | Should -Be '7300-02-01'
        $second.OldRootVgDisks | Should -Be @('hdisk1') -Because 'the result names the way back, old_rootvg'
    }

    It 'frees the disks of both kept rootvgs with Remove-VolumeGroup' {
        Remove-VolumeGroup -Name old_rootvg1 -Partition lpar1 -Confirm:$false
        Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false
        (Get-VolumeGroup -Partition lpar1).Name | Should -Be @('rootvg')
        (Get-PhysicalVolume hdisk0).State | Should -Be 'Free'
        (Get-PhysicalVolume hdisk1).State | Should -Be 'Free'
    }
}

Describe 'Invoke-LiveUpdate with named disks and from the pipeline' {
    It 'uses the disks it is given' {
        $lab = New-TestLab
        $result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -CloneDisk hdisk4 -MirrorDisk (Get-PhysicalVolume hdisk1)
        $result.CloneDisks | Should -Be @('hdisk4')
        $result.MirrorDisks | Should -Be @('hdisk1')
        (Get-LogicalPartition lpar1).RootDisks | Should -Be @('hdisk4')
        (Get-PhysicalVolume hdisk1).State | Should -Be 'Free'
    }

    It 'updates every partition piped to it' {
        $lab = New-TestLab -Parameters @{ PartitionCount = 2 }
        $before = Get-LogicalPartition
        $results = @(Get-LogicalPartition | Invoke-LiveUpdate -UpdatePath (Join-Path $lab 'updates/7300-02-02'))
        $results | Should -HaveCount 2
        $results.Partition | Should -Be @('lpar1', 'lpar2')
        $results.Status | Should -Be @('Succeeded', 'Succeeded')
        $after = Get-LogicalPartition
        $after.Uuid | Should -Be $before.Uuid
        $after.OsLevel.ForEach({ $_.ToString() }) | Should -Be @('7300-02-02', '7300-02-02')
        foreach ($app in Get-Application) {
            $disk = (Get-LogicalPartition $app.Partition).RootDisks[0]
            $records = Get-DataRecord $lab $disk $app.DataPath
            $records.Count | Should -Be $app.Records
            Get-SequenceGap $records | Should -BeNullOrEmpty
        }
        @(Get-PhysicalVolume | Where-Object State -eq 'InUse') | Should -HaveCount 4
    }
}
