# Progress, Ctrl+C and -AsJob: what a person watching a live update sees, and what stopping it does.
# Progress records cannot be redirected, so a live update runs in a hosted PowerShell whose streams the test reads.
# An update is held in flight with the fault injector's Pause (LIVEUPDATE_FAULT=Step:During:Pause), so that a stop
# request arrives at a known step without any timing.

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force

    function New-HostedShell {
        $state = [System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
        $state.ImportPSModule($env:LIVEUPDATE_MODULE)
        [powershell]::Create($state)
    }

    function Wait-Until([scriptblock] $Condition, [string] $What, [int] $Seconds = 60) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while (-not (& $Condition)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "Gave up waiting for $What" }
            Start-Sleep -Milliseconds 20
        }
    }

    function Set-Fault([string] $Spec, [string] $Release) {
        $env:LIVEUPDATE_FAULT = $Spec
        $env:LIVEUPDATE_FAULT_RELEASE = $Release
    }

    function Clear-Fault {
        Remove-Item Env:LIVEUPDATE_FAULT, Env:LIVEUPDATE_FAULT_RELEASE -ErrorAction SilentlyContinue
    }

    function Get-Snapshot {
        # What "the system as before" means: partitions and levels, disks and their groups, applications and where they run.
        [pscustomobject]@{
            Partitions   = (Get-LogicalPartition | ForEach-Object { "$($_.Name) $($_.State) $($_.OsLevel) $($_.RootDisks -join ',')" }) -join '; '
            Disks        = (Get-PhysicalVolume | ForEach-Object { "$($_.Name) $($_.State) $($_.VolumeGroup)" }) -join '; '
            Groups       = (Get-VolumeGroup | ForEach-Object { "$($_.Name) $($_.Partition) $($_.Role)" }) -join '; '
            Applications = (Get-Application | ForEach-Object { "$($_.Name) $($_.Partition) $($_.State)" }) -join '; '
        }
    }
}

AfterAll {
    Clear-Fault
}

Describe 'Progress of a live update' {
    BeforeAll {
        $lab = Join-Path $TestDrive 'progress'
        $null = New-LiveUpdateLab -Path $lab
        $shell = New-HostedShell
        $null = $shell.AddScript("`$null = Connect-LiveUpdateSystem -Path '$lab'; Invoke-LiveUpdate -Partition lpar1 -UpdatePath '$lab/updates/7300-02-02'")
        $result = $shell.Invoke()
        $records = @($shell.Streams.Progress)
        $shell.Dispose()
        $main = @($records | Where-Object Activity -eq 'Live update of lpar1')
        $phases = @($main | Where-Object RecordType -eq 'Processing')
    }

    AfterAll {
        Remove-LiveUpdateLab -Path $lab -Confirm:$false
    }

    It 'succeeds' {
        $result.Status | Should -Be 'Succeeded'
    }

    It 'shows every phase once, in order, with what it does' {
        ($phases | ForEach-Object { ($_.StatusDescription -split ':')[0] }) -join ',' |
            Should -Be 'Verify,Clone,Mirror,Install,Boot,Import,Move,TakeOver'
        $phases[1].StatusDescription | Should -Match 'cloning rootvg onto hdisk1'
    }

    It 'shows the share done growing and the time left shrinking to zero at the end' {
        for ($i = 1; $i -lt $phases.Count; $i++) {
            $phases[$i].PercentComplete | Should -BeGreaterOrEqual $phases[$i - 1].PercentComplete
            $phases[$i].SecondsRemaining | Should -BeLessOrEqual $phases[$i - 1].SecondsRemaining
        }
        $phases[0].PercentComplete | Should -Be 0
        $phases[0].SecondsRemaining | Should -BeGreaterThan 60
        $records[-1].Activity | Should -Be 'Live update of lpar1'
        $records[-1].RecordType | Should -Be 'Completed'
        $records[-1].PercentComplete | Should -Be 100
    }

    It 'nests the copy of the clone and the mirror synchronisation in their phases, each run to completion' {
        $id = $main[0].ActivityId
        foreach ($pair in @(@('Clone', 'Copying rootvg of lpar1 to hdisk1'), @('Mirror', 'Synchronising the rootvg mirror of lpar1 on hdisk2'))) {
            $phase = [array]::IndexOf($records, ($phases | Where-Object { $_.StatusDescription -like "$($pair[0]):*" }))
            $next = [array]::IndexOf($records, $phases[[array]::IndexOf($phases, $records[$phase]) + 1])
            $copy = @($records[($phase + 1)..($next - 1)] | Where-Object Activity -eq $pair[1])
            $copy.Count | Should -BeGreaterThan 1 -Because "$($pair[1]) reports while it runs"
            $copy | ForEach-Object { $_.ParentActivityId | Should -Be $id }
            $copy[-1].RecordType | Should -Be 'Completed'
            ($copy | Where-Object RecordType -eq 'Processing').PercentComplete | Should -Be (($copy | Where-Object RecordType -eq 'Processing').PercentComplete | Sort-Object)
        }
    }

    It 'shows the blackout of each application while it is stopped, and its end, within the Move phase' {
        $move = [array]::IndexOf($records, ($phases | Where-Object { $_.StatusDescription -like 'Move:*' }))
        $takeOver = [array]::IndexOf($records, ($phases | Where-Object { $_.StatusDescription -like 'TakeOver:*' }))
        $blackout = @($records | Where-Object Activity -eq 'Blackout')
        $blackout.Count | Should -Be 4
        ($blackout | ForEach-Object { "$($_.RecordType) $(($_.StatusDescription -split ' ')[0])" }) -join ',' |
            Should -Be 'Processing db2inst1,Completed db2inst1,Processing ihs,Completed ihs'
        $blackout[0].StatusDescription | Should -Match 'stopped on lpar1: not answering until it runs on lpar1_surrogate'
        $blackout[1].StatusDescription | Should -Match 'answers on lpar1_surrogate after \d+ ms'
        foreach ($b in $blackout) {
            [array]::IndexOf($records, $b) | Should -BeGreaterThan $move
            [array]::IndexOf($records, $b) | Should -BeLessThan $takeOver
            $b.ParentActivityId | Should -Be $main[0].ActivityId
        }
    }

    It 'shows the copy of a step cmdlet on its own' {
        $shell = New-HostedShell
        $null = $shell.AddScript("`$null = Connect-LiveUpdateSystem -Path '$lab'; New-RootVgClone -Partition lpar1 -Disk hdisk2")
        $clone = $shell.Invoke()
        $copy = @($shell.Streams.Progress | Where-Object Activity -like 'Copying rootvg of lpar1*')
        $shell.Dispose()
        $clone.Disks | Should -Be 'hdisk2'
        $copy[0].ParentActivityId | Should -Be -1
        $copy[-1].RecordType | Should -Be 'Completed'
    }
}

Describe 'Ctrl+C' {
    BeforeEach {
        $lab = Join-Path $TestDrive "stop-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
        $null = New-LiveUpdateLab -Path $lab
        $before = Get-Snapshot
        $release = Join-Path $lab 'release'
        $log = Join-Path $lab 'audit.jsonl'
    }

    AfterEach {
        Clear-Fault
        if (Test-Path $lab) { Remove-LiveUpdateLab -Path $lab -Confirm:$false }
    }

    It 'before the point of no return stops at the next step and rolls back: the system is as before' {
        Set-Fault 'Mirror:During:Pause' $release
        $shell = New-HostedShell
        try {
            $null = $shell.AddScript("`$null = Connect-LiveUpdateSystem -Path '$lab'; Invoke-LiveUpdate -Partition lpar1 -UpdatePath '$lab/updates/7300-02-02' -LogPath '$log'")
            $running = $shell.BeginInvoke()
            Wait-Until { $shell.Streams.Progress | Where-Object { $_.Activity -like 'Synchronising*' -and $_.RecordType -eq 'Completed' } } 'the mirror to be held in flight'
            Clear-Fault
            $stopping = $shell.BeginStop($null, $null)
            Wait-Until { (Test-Path $log) -and (Select-String -Path $log -Pattern 'Stop requested' -Quiet) } 'the stop request to reach the cmdlet'
            $null = New-Item -ItemType File -Path $release
            $shell.EndStop($stopping)
            $shell.InvocationStateInfo.State | Should -Be 'Stopped'
        }
        finally {
            if (-not (Test-Path $release)) { $null = New-Item -ItemType File -Path $release }
            $shell.Dispose()
        }
        $null = Connect-LiveUpdateSystem -Path $lab
        $after = Get-Snapshot
        $after.Partitions | Should -Be $before.Partitions
        $after.Disks | Should -Be $before.Disks
        $after.Groups | Should -Be $before.Groups
        $after.Applications | Should -Be $before.Applications
        $op = Get-LiveUpdateOperation -Partition lpar1
        $op.State | Should -Be 'RolledBack'
        $op.PointOfNoReturnPassed | Should -BeFalse
        ($op.Steps | Where-Object State -eq 'Succeeded').Name -join ',' | Should -Be 'Verify,Clone,Mirror'
        Get-Application | ForEach-Object { (Test-ApplicationData -Application $_).Verified | Should -BeTrue }
        $audit = Get-Content $log | ConvertFrom-Json
        $audit.message | Should -Contain 'Stop requested (Ctrl+C): the work stops at the next safe point'
        ($audit | Where-Object message -like '*stopped; the work ended safely*') | Should -Not -BeNullOrEmpty
        ($audit | Where-Object message -like '*Rolling back*').operation | Should -Be $op.Id
        # Nothing is left that would block the next update.
        (Invoke-LiveUpdate -Partition lpar1 -UpdatePath "$lab/updates/7300-02-02").Status | Should -Be 'Succeeded'
    }

    It 'after the point of no return lets the move finish: the partition runs the new level' {
        Set-Fault 'Move:During:Pause' $release
        $shell = New-HostedShell
        try {
            $null = $shell.AddScript("`$null = Connect-LiveUpdateSystem -Path '$lab'; Invoke-LiveUpdate -Partition lpar1 -UpdatePath '$lab/updates/7300-02-02' -LogPath '$log'")
            $running = $shell.BeginInvoke()
            Wait-Until { $shell.Streams.Progress | Where-Object { $_.Activity -eq 'Blackout' } } 'the first application to stop'
            Clear-Fault
            $stopping = $shell.BeginStop($null, $null)
            Wait-Until { (Test-Path $log) -and (Select-String -Path $log -Pattern 'Stop requested' -Quiet) } 'the stop request to reach the cmdlet'
            $null = New-Item -ItemType File -Path $release
            $shell.EndStop($stopping)
        }
        finally {
            if (-not (Test-Path $release)) { $null = New-Item -ItemType File -Path $release }
            $shell.Dispose()
        }
        $null = Connect-LiveUpdateSystem -Path $lab
        (Get-LogicalPartition -Name lpar1).OsLevel.ToString() | Should -Be '7300-02-02'
        @(Get-LogicalPartition).Count | Should -Be 1
        Get-Application | ForEach-Object {
            $_.Partition | Should -Be 'lpar1'
            $_.State | Should -Be 'Running'
            (Test-ApplicationData -Application $_).Verified | Should -BeTrue
        }
        (Get-LiveUpdateOperation -Partition lpar1).State | Should -Be 'Succeeded'
        (Get-VolumeGroup -Partition lpar1).Name | Should -Contain 'old_rootvg'
    }
}

Describe 'Invoke-LiveUpdate -AsJob' {
    BeforeEach {
        $lab = Join-Path $TestDrive "job-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
        $null = New-LiveUpdateLab -Path $lab
        $bundle = Join-Path $lab 'updates/7300-02-02'
    }

    AfterEach {
        Clear-Fault
        Get-Job | Where-Object PSJobTypeName -eq 'LiveUpdateJob' | Remove-Job -Force
        if (Test-Path $lab) { Remove-LiveUpdateLab -Path $lab -Confirm:$false }
    }

    It 'runs the update in the background on the same lab and returns its result' {
        $job = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -AsJob -JobName 'lpar1-update'
        $job | Should -BeOfType ([LiveUpdate.PowerShell.LiveUpdateJob])
        $job.Name | Should -Be 'lpar1-update'
        $job.PSJobTypeName | Should -Be 'LiveUpdateJob'
        $job.Location | Should -Be (Get-LiveUpdateSystem).Location
        $null = $job | Wait-Job
        $job.State | Should -Be 'Completed'
        ($job.Progress | Where-Object Activity -eq 'Live update of lpar1' | Select-Object -Last 1).RecordType | Should -Be 'Completed'
        $job.Verbose.Count | Should -BeGreaterThan 0
        $result = $job | Receive-Job
        $result | Should -BeOfType ([LiveUpdate.Engine.Model.LiveUpdateResult])
        $result.Status | Should -Be 'Succeeded'
        (Get-LogicalPartition -Name lpar1).OsLevel.ToString() | Should -Be '7300-02-02'
    }

    It 'reports the same progress records as the same update in the foreground' {
        # Two labs made alike run the same update on the virtual clock: one in a hosted PowerShell, one as a job.
        $other = Join-Path $TestDrive "fore-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
        $null = New-LiveUpdateLab -Path $other
        $shell = New-HostedShell
        $null = $shell.AddScript("`$null = Connect-LiveUpdateSystem -Path '$other'; Invoke-LiveUpdate -Partition lpar1 -UpdatePath '$other/updates/7300-02-02'")
        $null = $shell.Invoke()
        $foreground = @($shell.Streams.Progress)
        $shell.Dispose()
        $null = Connect-LiveUpdateSystem -Path $lab
        $job = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -AsJob
        $null = $job | Wait-Job
        $background = @($job.Progress)
        $show = { param($r) '{0}|{1}|{2}|{3}|{4}|{5}|{6}' -f $r.ActivityId, $r.ParentActivityId, $r.Activity, ($r.StatusDescription -replace [regex]::Escape($other), 'LAB' -replace [regex]::Escape($lab), 'LAB'), $r.PercentComplete, $r.SecondsRemaining, $r.RecordType }
        $foreground.Count | Should -BeGreaterThan 10
        ($background | ForEach-Object { & $show $_ }) | Should -Be ($foreground | ForEach-Object { & $show $_ })
        Remove-LiveUpdateLab -Path $other -Confirm:$false
    }

    It 'checks and confirms in the foreground: a bad request starts no job, -WhatIf changes nothing' {
        { Invoke-LiveUpdate -Partition lpar9 -UpdatePath $bundle -AsJob -ErrorAction Stop } |
            Should -Throw -ErrorId 'PartitionNotFound,LiveUpdate.PowerShell.Commands.InvokeLiveUpdateCommand'
        Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -AsJob -WhatIf | Should -BeNullOrEmpty
        Get-Job | Where-Object PSJobTypeName -eq 'LiveUpdateJob' | Should -BeNullOrEmpty
        (Get-LogicalPartition -Name lpar1).OsLevel.ToString() | Should -Be '7300-02-01'
        Get-LiveUpdateOperation | Should -BeNullOrEmpty
    }

    It 'stops with Stop-Job before the point of no return and rolls back' {
        $before = Get-Snapshot
        $release = Join-Path $lab 'release'
        Set-Fault 'Install:During:Pause' $release
        $job = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -AsJob
        try {
            Wait-Until { $job.Progress | Where-Object { $_.Activity -like 'Installing*' } } 'the install to be held in flight'
            Clear-Fault
            Stop-Job -Job $job
            $job.State | Should -BeIn 'Stopping', 'Stopped'
        }
        finally {
            $null = New-Item -ItemType File -Path $release
        }
        $null = $job | Wait-Job
        $job.State | Should -Be 'Stopped'
        $result = $job | Receive-Job -ErrorVariable errors -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $result.Status | Should -Be 'RolledBack'
        $result.Reason | Should -Match 'A stop was requested before Boot'
        $errors[0].FullyQualifiedErrorId | Should -Be 'LiveUpdateRolledBack'
        $after = Get-Snapshot
        $after.Partitions | Should -Be $before.Partitions
        $after.Disks | Should -Be $before.Disks
        $after.Applications | Should -Be $before.Applications
    }
}
