# The live update step by step, exactly as a user pipes it (issue 2's contract), checking each step's typed output
# and what it changed in the lab.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
}

Describe 'The step-by-step pipeline' {
    BeforeAll {
        $lab = New-TestLab
        $bundle = Join-Path $lab 'updates/7300-02-02'
        $original = Get-LogicalPartition lpar1
        $hdisk0 = Join-Path $lab 'disks/hdisk0'
        $runningFiles = Get-LabSnapshot $hdisk0
    }

    It 'New-RootVgClone copies rootvg onto hdisk1 as altinst_rootvg at the old level' {
        $script:clone = Get-LogicalPartition lpar1 | New-RootVgClone -Disk hdisk1
        $clone | Should -BeOfType ([LiveUpdate.Engine.Model.RootVgClone])
        $clone.Partition | Should -Be 'lpar1'
        $clone.VolumeGroup | Should -Be 'altinst_rootvg'
        $clone.Disks | Should -Be @('hdisk1')
        $clone.State | Should -Be 'Cloned'
        $clone.SourceLevel.ToString() | Should -Be '7300-02-01'
        $clone.OsLevel.ToString() | Should -Be '7300-02-01'
        $clone.Duration | Should -BeGreaterThan 0 -Because 'the copy takes seconds'
        (Get-PhysicalVolume hdisk1).VolumeGroup | Should -Be 'altinst_rootvg'
        (Get-VolumeGroup altinst_rootvg -Partition lpar1).Role | Should -Be 'AltInstRoot'
        $copy = Join-Path $lab 'disks/hdisk1'
        Get-Content (Join-Path $copy 'etc/hosts') -Raw | Should -Be (Get-Content (Join-Path $hdisk0 'etc/hosts') -Raw)
        (Get-Content (Join-Path $copy 'usr/lib/objrepos/oslevel')).Trim() | Should -Be '7300-02-01'
    }

    It 'Start-RootVgMirror mirrors rootvg onto hdisk2, and later writes reach the mirror' {
        $script:mirror = Get-LogicalPartition lpar1 | Start-RootVgMirror -Disk hdisk2
        $mirror | Should -BeOfType ([LiveUpdate.Engine.Model.RootVgMirror])
        $mirror.Partition | Should -Be 'lpar1'
        $mirror.VolumeGroup | Should -Be 'rootvg'
        $mirror.Disks | Should -Be @('hdisk2')
        $mirror.State | Should -Be 'Synchronized'
        (Get-VolumeGroup rootvg -Partition lpar1).MirrorDisks | Should -Be @('hdisk2')
        (Get-LogicalPartition lpar1).RootDisks | Should -Be @('hdisk0', 'hdisk2')
        (Get-PhysicalVolume hdisk2).State | Should -Be 'InUse'
        $script:recordsAtMirror = @{}
        foreach ($app in Get-Application -Partition lpar1) { $recordsAtMirror[$app.Name] = $app.Records }
    }

    It 'Install-CloneUpdate brings the clone to the new level without touching the running system' {
        $script:clone = $clone | Install-CloneUpdate -Path $bundle
        $clone | Should -BeOfType ([LiveUpdate.Engine.Model.RootVgClone])
        $clone.State | Should -Be 'Updated'
        $clone.SourceLevel.ToString() | Should -Be '7300-02-01'
        $clone.OsLevel.ToString() | Should -Be '7300-02-02'
        $clone.AppliedBundles | Should -Be @('AIX 7300-02-02 service pack')
        $copy = Join-Path $lab 'disks/hdisk1'
        (Get-Content (Join-Path $copy 'usr/lib/objrepos/oslevel')).Trim() | Should -Be '7300-02-02'
        Get-Content (Join-Path $copy 'usr/lib/objrepos/lpp.inventory') | Should -Contain 'bos.rte 7.3.2.2'
        foreach ($payload in Get-ChildItem (Join-Path $bundle 'payload')) {
            Join-Path $copy "usr/sys/inst.images/$($payload.Name)" | Should -Exist
            Join-Path $hdisk0 "usr/sys/inst.images/$($payload.Name)" | Should -Not -Exist
        }
        (Get-Content (Join-Path $hdisk0 'usr/lib/objrepos/oslevel')).Trim() | Should -Be '7300-02-01'
        Get-Content (Join-Path $hdisk0 'usr/lib/objrepos/lpp.inventory') | Should -Contain 'bos.rte 7.3.2.1'
        (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '7300-02-01'
    }

    It 'the mirror has received every record written since it was made' {
        foreach ($app in Get-Application -Partition lpar1) {
            $app.Records | Should -BeGreaterThan $recordsAtMirror[$app.Name] -Because 'time passed while the clone was updated'
            $onRoot = Get-DataRecord $lab hdisk0 $app.DataPath
            $onMirror = Get-DataRecord $lab hdisk2 $app.DataPath
            $onMirror.Count | Should -Be $app.Records
            ($onMirror -join ',') | Should -Be ($onRoot -join ',')
            # The clone is a copy of the moment it was made: it lacks the records written after it.
            (Get-DataRecord $lab hdisk1 $app.DataPath).Count | Should -BeLessThan $app.Records
        }
    }

    It 'Start-UpdatedPartition boots a surrogate at the new level from the clone' {
        $script:sur = $clone | Start-UpdatedPartition
        $sur | Should -BeOfType ([LiveUpdate.Engine.Model.LogicalPartition])
        $sur.Name | Should -Be 'lpar1_surrogate'
        $sur.State | Should -Be 'Running'
        $sur.OsLevel.ToString() | Should -Be '7300-02-02'
        $sur.SurrogateOf | Should -Be 'lpar1'
        $sur.RootDisks | Should -Be @('hdisk1')
        $sur.Uuid | Should -Not -Be $original.Uuid
        $sur.Processors | Should -Be $original.Processors
        $sur.MemoryMB | Should -Be $original.MemoryMB
        (Get-LiveUpdateSystem).AvailableMemoryMB | Should -Be ((Get-LiveUpdateSystem).TotalMemoryMB - 2 * $original.MemoryMB)
        (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '7300-02-01'
        (Get-LogicalPartition lpar1).State | Should -Be 'Running'
    }

    It 'Import-MirrorVg imports the mirror into the surrogate' {
        $script:vg = $mirror | Import-MirrorVg -Partition $sur
        $vg | Should -BeOfType ([LiveUpdate.Engine.Model.VolumeGroup])
        $vg.Partition | Should -Be 'lpar1_surrogate'
        $vg.Role | Should -Be 'Mirror'
        $vg.State | Should -Be 'Active'
        $vg.Disks | Should -Be @('hdisk2')
        $imported = Get-VolumeGroup -Partition lpar1_surrogate | Where-Object Role -eq 'Mirror'
        $imported.Disks | Should -Be @('hdisk2')
        (Get-VolumeGroup rootvg -Partition lpar1).MirrorDisks | Should -BeNullOrEmpty
    }

    It 'Move-Application moves each application with its data verified and a short blackout' {
        $script:moves = @(Get-Application -Partition lpar1 | Move-Application -Destination $sur)
        $moves | Should -HaveCount 2
        foreach ($m in $moves) {
            $m | Should -BeOfType ([LiveUpdate.Engine.Model.ApplicationMigration])
            $m.Source | Should -Be 'lpar1'
            $m.Destination | Should -Be 'lpar1_surrogate'
            $m.Status | Should -Be 'Moved'
            $m.DataVerified | Should -BeTrue
            $m.RecordsOnDestination | Should -Be $m.RecordsAcknowledged
            $m.RecordsAcknowledged | Should -BeGreaterThan 0
            $m.Blackout | Should -BeGreaterThan 0
            $m.Blackout | Should -BeLessThan 1 -Because 'durations are seconds'
            $m.Blackout | Should -BeGreaterThan ($m.StopTime + $m.SyncTime + $m.StartTime - 1e-9)
            $m.Blackout | Should -BeLessThan ($m.StopTime + $m.SyncTime + $m.StartTime + 1e-9)
        }
        $moves[0].IdentityTakenOver | Should -BeFalse
        $moves[-1].IdentityTakenOver | Should -BeTrue -Because 'the last application leaving lpar1 hands its identity to the surrogate'
    }

    It 'lpar1 keeps its identity and runs the new level' {
        $parts = @(Get-LogicalPartition)
        $parts | Should -HaveCount 1
        $p = $parts[0]
        foreach ($property in 'Name', 'Id', 'Uuid', 'HostName', 'Address') { $p.$property | Should -Be $original.$property }
        $p.OsLevel.ToString() | Should -Be '7300-02-02'
        $p.State | Should -Be 'Running'
        $p.IsSurrogate | Should -BeFalse
        $p.RootDisks | Should -Be @('hdisk1')
        (Get-LiveUpdateSystem).AvailableMemoryMB | Should -Be ((Get-LiveUpdateSystem).TotalMemoryMB - $original.MemoryMB)
    }

    It 'the applications run on lpar1 with every record 1..N in order' {
        foreach ($app in Get-Application) {
            $app.Partition | Should -Be 'lpar1'
            $app.State | Should -Be 'Running'
            $app.DataVolumeGroup | Should -Be 'rootvg'
            $records = Get-DataRecord $lab hdisk1 $app.DataPath
            $records.Count | Should -Be $app.Records
            Get-SequenceGap $records | Should -BeNullOrEmpty
            ($moves | Where-Object Application -eq $app.Name).RecordsAcknowledged | Should -BeLessOrEqual $app.Records
        }
    }

    It 'keeps the old rootvg on hdisk0 as old_rootvg, untouched, and frees the mirror disk' {
        $old = Get-VolumeGroup old_rootvg -Partition lpar1
        $old.Role | Should -Be 'OldRoot'
        $old.Disks | Should -Be @('hdisk0')
        $old.OsLevel.ToString() | Should -Be '7300-02-01'
        (Get-PhysicalVolume hdisk0).VolumeGroup | Should -Be 'old_rootvg'
        (Get-PhysicalVolume hdisk2).State | Should -Be 'Free'
        Get-VolumeGroup -Partition lpar1 | Where-Object Role -in 'Mirror', 'AltInstRoot' | Should -BeNullOrEmpty
        # The files of the old system are those it ran with (its data files grew until the blackout, nothing else).
        $now = (Get-LabSnapshot $hdisk0).Files -split "`n" | Where-Object { $_ -notmatch '\.log ' }
        $then = $runningFiles.Files -split "`n" | Where-Object { $_ -notmatch '\.log ' }
        $now | Should -Be $then
    }

    It 'Remove-VolumeGroup old_rootvg frees hdisk0' {
        Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false
        Get-VolumeGroup -Partition lpar1 | ForEach-Object Name | Should -Be @('rootvg')
        (Get-PhysicalVolume hdisk0).State | Should -Be 'Free'
        Join-Path $lab 'disks/hdisk0' | Should -Not -Exist
        (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '7300-02-02'
    }

    It 'the applications keep writing on the updated lpar1 without a gap' {
        $before = @{}
        foreach ($app in Get-Application) { $before[$app.Name] = $app.Records }
        # Time passes while the system works: a new clone takes virtual seconds, and the applications write meanwhile.
        New-RootVgClone -Partition lpar1 -Disk hdisk4 | Out-Null
        foreach ($app in Get-Application) {
            $app.Records | Should -BeGreaterThan $before[$app.Name]
            $records = Get-DataRecord $lab hdisk1 $app.DataPath
            $records.Count | Should -Be $app.Records
            Get-SequenceGap $records | Should -BeNullOrEmpty
        }
    }
}

Describe 'Pipeline binding' {
    BeforeAll {
        $lab = New-TestLab
    }

    It 'accepts names where it accepts objects' {
        $clone = New-RootVgClone lpar1 hdisk1
        $clone.Disks | Should -Be @('hdisk1')
        $mirror = Start-RootVgMirror -Partition lpar1 -Disk (Get-PhysicalVolume hdisk2)
        $mirror.Disks | Should -Be @('hdisk2')
        (Install-CloneUpdate (Join-Path $lab 'updates/7300-02-02') lpar1).State | Should -Be 'Updated'
        (Start-UpdatedPartition lpar1).Name | Should -Be 'lpar1_surrogate'
        (Import-MirrorVg lpar1 lpar1_surrogate).Partition | Should -Be 'lpar1_surrogate'
        (Move-Application db2inst1 lpar1_surrogate).Destination | Should -Be 'lpar1_surrogate'
        (Move-Application -Application (Get-Application ihs) -Destination (Get-LogicalPartition lpar1_surrogate)).IdentityTakenOver | Should -BeTrue
        Get-VolumeGroup old_rootvg | Remove-VolumeGroup -Confirm:$false
        (Get-PhysicalVolume hdisk0).State | Should -Be 'Free'
    }

    It 'binds a partition by property name' {
        $lab2 = New-TestLab
        $clone = [pscustomobject]@{ Partition = 'lpar1' } | New-RootVgClone -Disk hdisk1
        $clone.Partition | Should -Be 'lpar1'
        $preview = [pscustomobject]@{ Name = 'lpar1' } | Test-LiveUpdate -UpdatePath (Join-Path $lab2 'updates/7300-02-02')
        $preview.Partition | Should -Be 'lpar1'
    }
}

Describe 'Parameters bind the way the objects flow' {
    BeforeEach {
        $lab = New-TestLab
        $bundle = Join-Path $lab 'updates/7300-02-02'
    }

    It 'takes the disks that Get-PhysicalVolume pipes, collected for one clone or mirror' {
        $clone = Get-PhysicalVolume -Free | Select-Object -First 1 | New-RootVgClone -Partition lpar1
        $clone.Disks | Should -Be @('hdisk1')
        $mirror = Get-PhysicalVolume hdisk2, hdisk3 | Start-RootVgMirror -Partition lpar1
        @($mirror).Count | Should -Be 1 -Because 'the disks piped for one partition make one mirror'
        $mirror.Disks | Should -Be @('hdisk2', 'hdisk3')
    }

    It 'takes a partition by the Name of what is piped: <Command>' -ForEach @(
        @{ Command = 'Test-LiveUpdate'; Run = { param($o, $b) $o | Test-LiveUpdate -UpdatePath $b }; Check = { param($r) $r.Partition | Should -Be 'lpar1' } }
        @{ Command = 'Get-LiveUpdateOperation'; Run = { param($o, $b) $o | Get-LiveUpdateOperation }; Check = { param($r) $r | Should -BeNullOrEmpty } }
        @{ Command = 'New-RootVgClone, Install-CloneUpdate, Start-UpdatedPartition'; Run = {
                param($o, $b)
                $null = $o | New-RootVgClone -Disk hdisk1
                $null = $o | Install-CloneUpdate -Path $b
                $o | Start-UpdatedPartition
            }; Check = { param($r) $r.Name | Should -Be 'lpar1_surrogate' } }
    ) {
        $row = [pscustomobject]@{ Name = 'lpar1'; Comment = 'a row of a CSV file' }
        & $Check (& $Run $row $bundle)
    }

    It 'binds Name by property name on every parameter that takes a partition from the pipeline' {
        foreach ($command in Get-Command -Module LiveUpdate -CommandType Cmdlet) {
            foreach ($p in $command.Parameters.Values | Where-Object { $_.ParameterType.Name -in 'PartitionIdentity', 'CloneIdentity', 'MirrorIdentity' }) {
                $pipeline = $p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and ($_.ValueFromPipeline -or $_.ValueFromPipelineByPropertyName) }
                if (-not $pipeline -or $command.Parameters.ContainsKey('Name')) { continue }
                ($pipeline | Where-Object ValueFromPipelineByPropertyName) | Should -Not -BeNullOrEmpty -Because "$($command.Name) -$($p.Name) takes a partition"
                @($p.Name) + @($p.Aliases) | Should -Contain 'Name' -Because "$($command.Name) -$($p.Name) takes the Name of a piped object"
            }
        }
    }

    It 'shows no placeholder level for a partition that does not exist' {
        $preview = Test-LiveUpdate -Partition lpar9 -UpdatePath $bundle
        $preview.FromLevel | Should -BeNullOrEmpty
        ($preview | Out-String) | Should -Not -Match '0001-00-00'
    }
}
