# Misuse and races around journalled operations: resume, undo, the partition lock, tampered state and journals.

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    . (Join-Path $PSScriptRoot 'Support/Matrix.ps1')

    function Get-LabFingerprint {
        param([string] $Lab)
        # Every file of the lab with its content hash, except the lab lock (which only ever holds a process id).
        Get-ChildItem $Lab -Recurse -File -Force | Where-Object Name -ne '.lock' | Sort-Object FullName | ForEach-Object {
            '{0} {1}' -f $_.FullName.Substring($Lab.Length), (Get-FileHash $_.FullName -Algorithm SHA256).Hash
        }
    }
}

Describe 'Operations, resume and undo' -Tag 'Reliability' {
    BeforeEach {
        $env:LIVEUPDATE_FAULT = $null
        $lab = Join-Path ([IO.Path]::GetTempPath()) ("lu-rel-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        $null = New-MatrixLab -Path $lab
        $bundle = Get-NextBundle -Lab $lab
        $apps = @(Get-Application -Partition lpar1 | ForEach-Object Name)
    }
    AfterEach {
        $env:LIVEUPDATE_FAULT = $null
        if (Test-Path $lab) { Remove-LiveUpdateLab -Path $lab -Confirm:$false }
    }

    It 'journals each step with its timing and shows the history' {
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle
        $op = Get-LiveUpdateOperation -Id $r.OperationId
        $op.State | Should -Be 'Succeeded'
        $op.PointOfNoReturnPassed | Should -BeTrue
        $op.Steps.Name | Should -Be @('Verify', 'Clone', 'Mirror', 'Install', 'Boot', 'Import', 'Move', 'TakeOver')
        $op.Steps | ForEach-Object { $_.State | Should -Be 'Succeeded' }
        ($op.Steps | Where-Object Name -eq 'Clone').Duration | Should -BeGreaterThan 0
        @(Get-LiveUpdateOperation -Partition lpar1).Id | Should -Contain $r.OperationId
        $r | Get-LiveUpdateOperation | ForEach-Object Id | Should -Be $r.OperationId
    }

    It 'undoes a finished update with the kept old_rootvg, moving the applications back with their data' {
        $from = (Get-LogicalPartition lpar1).OsLevel.ToString()
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle
        $identity = Get-LogicalPartition lpar1 | Select-Object Name, Id, Uuid, HostName, Address
        $u = Undo-LiveUpdate -Partition lpar1 -Confirm:$false
        $u.Status | Should -Be 'Succeeded'
        $u.ToLevel.ToString() | Should -Be $from
        (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be $from
        Get-LogicalPartition lpar1 | Select-Object Name, Id, Uuid, HostName, Address | Should -BeLike $identity
        $null = Assert-LiveUpdateInvariant -Lab $lab -Applications $apps -FromLevel $from -ToLevel $r.ToLevel.ToString()
        (Get-VolumeGroup old_rootvg -Partition lpar1).OsLevel.ToString() | Should -Be $r.ToLevel.ToString()
    }

    It 'refuses to undo when the old rootvg was removed, and changes nothing' {
        $null = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle
        Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false
        $before = Get-LabFingerprint $lab
        { Undo-LiveUpdate -Partition lpar1 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'OldRootVgMissing,LiveUpdate.PowerShell.Commands.UndoLiveUpdateCommand'
        Get-LabFingerprint $lab | Should -Be $before
    }

    It 'refuses to resume an unknown operation' {
        $before = Get-LabFingerprint $lab
        { Resume-LiveUpdate -Id 'LU-00000000-000000-000000' -ErrorAction Stop } | Should -Throw -ErrorId 'OperationNotFound,LiveUpdate.PowerShell.Commands.ResumeLiveUpdateCommand'
        Get-LabFingerprint $lab | Should -Be $before
    }

    It 'refuses to resume a finished operation' {
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle
        $before = Get-LabFingerprint $lab
        $e = { Resume-LiveUpdate -Id $r.OperationId -ErrorAction Stop } | Should -Throw -ErrorId 'OperationNotInterrupted,LiveUpdate.PowerShell.Commands.ResumeLiveUpdateCommand' -PassThru
        $e.CategoryInfo.Category | Should -Be 'InvalidOperation'
        $e.TargetObject | Should -Be $r.OperationId
        Get-LabFingerprint $lab | Should -Be $before
    }

    It 'refuses a new update while an interrupted one waits, and rolls it back on request' {
        (Invoke-LiveUpdateInChild -Lab $lab -Bundle $bundle -Fault 'Install:During:Kill') | Should -Not -Be 0
        $null = Connect-LiveUpdateSystem -Path $lab
        $op = @(Get-LiveUpdateOperation -Unfinished)[0]
        $op.State | Should -Be 'Interrupted'
        { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -ErrorAction Stop } | Should -Throw -ErrorId 'OperationInterrupted,LiveUpdate.PowerShell.Commands.InvokeLiveUpdateCommand'
        $r = $op | Resume-LiveUpdate -RollBack -Confirm:$false -ErrorAction SilentlyContinue
        $r.Status | Should -Be 'RolledBack'
        $null = Assert-LiveUpdateInvariant -Lab $lab -Applications $apps -FromLevel $op.FromLevel.ToString() -ToLevel $op.ToLevel.ToString() -Result $r
        (Get-LiveUpdateOperation -Id $op.Id).State | Should -Be 'RolledBack'
    }

    It 'refuses a second live update of a partition while one is in flight in another process' {
        $release = Join-Path $lab 'release'
        $child = Start-PwshChild -Environment @{ LIVEUPDATE_FAULT = 'Verify:During:Pause'; LIVEUPDATE_FAULT_RELEASE = $release } -Script @"
`$null = Connect-LiveUpdateSystem -Path '$lab'
`$r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath '$bundle'
`$r.Status.ToString()
"@
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (@(Get-LiveUpdateOperation -Unfinished).Count -eq 0 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            $op = @(Get-LiveUpdateOperation -Unfinished)[0]
            $op.State | Should -Be 'Running'
            $e = { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -ErrorAction Stop } | Should -Throw -ErrorId 'UpdateInProgress,LiveUpdate.PowerShell.Commands.InvokeLiveUpdateCommand' -PassThru
            $e.CategoryInfo.Category | Should -Be 'ResourceBusy'
            { Resume-LiveUpdate -Id $op.Id -ErrorAction Stop } | Should -Throw -ErrorId 'UpdateInProgress,LiveUpdate.PowerShell.Commands.ResumeLiveUpdateCommand'
            { New-RootVgClone -Partition lpar1 -Disk hdisk4 -ErrorAction Stop } | Should -Throw -ErrorId 'UpdateInProgress,LiveUpdate.PowerShell.Commands.NewRootVgCloneCommand'
        }
        finally {
            New-Item -ItemType File $release | Out-Null
            $done = Wait-PwshChild $child
        }
        $done.ExitCode | Should -Be 0
        ($done.Out.Trim() -split "`n")[-1].Trim() | Should -Be 'Succeeded'
        Remove-Item $release
        $null = Assert-LiveUpdateInvariant -Lab $lab -Applications $apps -FromLevel $op.FromLevel.ToString() -ToLevel $op.ToLevel.ToString()
    }

    It 'lets exactly one of two racing processes resume an interrupted operation' {
        (Invoke-LiveUpdateInChild -Lab $lab -Bundle $bundle -Fault 'Import:During:Kill') | Should -Not -Be 0
        $null = Connect-LiveUpdateSystem -Path $lab
        $op = @(Get-LiveUpdateOperation -Unfinished)[0]
        $script = @"
`$null = Connect-LiveUpdateSystem -Path '$lab'
try { `$r = Resume-LiveUpdate -Id '$($op.Id)' -Confirm:`$false; 'RESULT ' + `$r.Status }
catch { 'ERROR ' + `$_.FullyQualifiedErrorId }
"@
        $a = Start-PwshChild -Script $script
        $b = Start-PwshChild -Script $script
        # The last line of each process is its outcome (warnings come before it).
        $outcomes = @((Wait-PwshChild $a), (Wait-PwshChild $b) | ForEach-Object { ($_.Out.Trim() -split "`n")[-1].Trim() })
        @($outcomes | Where-Object { $_ -eq 'RESULT Succeeded' }).Count | Should -Be 1 -Because "one resume finishes the operation ($($outcomes -join ' | '))"
        $other = $outcomes | Where-Object { $_ -ne 'RESULT Succeeded' }
        $other | Should -Match '^ERROR (UpdateInProgress|OperationNotInterrupted),'
        $null = Assert-LiveUpdateInvariant -Lab $lab -Applications $apps -FromLevel $op.FromLevel.ToString() -ToLevel $op.ToLevel.ToString()
    }

    It 'refuses a journal that was edited by hand, and changes nothing' {
        $null = (Invoke-LiveUpdateInChild -Lab $lab -Bundle $bundle -Fault 'Boot:During:Kill')
        $null = Connect-LiveUpdateSystem -Path $lab
        $file = Get-ChildItem (Join-Path $lab 'journal') -Recurse -Filter *.jsonl | Select-Object -First 1
        $id = $file.BaseName
        $lines = Get-Content $file.FullName
        $lines[1] | Should -Match '"event":"StepStarted"'
        $lines[1] = $lines[1] -replace '"event":"StepStarted"', '"event":"StepSucceeded"'
        Set-Content $file.FullName $lines
        $before = Get-LabFingerprint $lab
        $e = { Resume-LiveUpdate -Id $id -ErrorAction Stop } | Should -Throw -ErrorId 'JournalCorrupt,LiveUpdate.PowerShell.Commands.ResumeLiveUpdateCommand' -PassThru
        $e.CategoryInfo.Category | Should -Be 'InvalidData'
        Get-LabFingerprint $lab | Should -Be $before
    }

    It 'refuses a journal that was truncated' {
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle
        $file = Get-ChildItem (Join-Path $lab 'journal') -Recurse -Filter "$($r.OperationId).jsonl"
        $text = [IO.File]::ReadAllText($file.FullName)
        [IO.File]::WriteAllText($file.FullName, $text.Substring(0, $text.Length - 20))
        $op = Get-LiveUpdateOperation -Id $r.OperationId
        $op.State | Should -Be 'Corrupt' -Because 'a journal that fails its check is shown, never reinterpreted'
        $op.Reason | Should -Match 'truncated'
        $op.Steps | Should -BeNullOrEmpty
        { Resume-LiveUpdate -Id $r.OperationId -ErrorAction Stop } | Should -Throw -ErrorId 'JournalCorrupt,LiveUpdate.PowerShell.Commands.ResumeLiveUpdateCommand'
    }

    It 'refuses a lab state that was edited by hand' {
        $state = Join-Path $lab 'system.state'
        (Get-Content $state -Raw) -replace '"TotalProcessors": 16', '"TotalProcessors": 64' | Set-Content $state -NoNewline
        $before = Get-LabFingerprint $lab
        { Connect-LiveUpdateSystem -Path $lab -ErrorAction Stop } | Should -Throw -ErrorId 'LabStateCorrupt,LiveUpdate.PowerShell.Commands.ConnectLiveUpdateSystemCommand'
        Get-LabFingerprint $lab | Should -Be $before
    }

    It 'names the application and the check when a health check fails on the surrogate' {
        $env:LIVEUPDATE_FAULT = 'Health:During'
        $null = Connect-LiveUpdateSystem -Path $lab
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -ErrorAction SilentlyContinue -ErrorVariable failure
        $env:LIVEUPDATE_FAULT = $null
        $null = Connect-LiveUpdateSystem -Path $lab
        $r.Status | Should -Be 'RolledBack'
        $r.ErrorId | Should -Be 'HealthCheckFailed'
        $app = Get-Application $apps[0]
        $r.Reason | Should -Match ([regex]::Escape($app.Name))
        $r.Reason | Should -Match ([regex]::Escape($app.HealthCheck))
        $failure[0].FullyQualifiedErrorId | Should -Be 'LiveUpdateRolledBack,LiveUpdate.PowerShell.Commands.InvokeLiveUpdateCommand'
        $failure[0].TargetObject.OperationId | Should -Be $r.OperationId
    }
}
