# The history of operations as a script reads it: oldest first by start, -First and -Last; a journal that fails its
# chain check marks only its own operation Corrupt (the others still list), blocks new work on its partition with the
# way out, and Resume-LiveUpdate -Discard (asking as a high-impact change) sets it aside after the administrator looked.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'Support/Matrix.ps1')

    function Edit-JournalLine([string] $Lab, [string] $Id) {
        # Changes one entry of a journal without its chain hash, as a hand edit would.
        $file = Get-ChildItem (Join-Path $Lab 'journal') -Recurse -Filter "$Id.jsonl"
        $lines = [IO.File]::ReadAllLines($file.FullName)
        $lines[1] = $lines[1] -replace '"event":"StepStarted"', '"event":"StepSucceeded"'
        [IO.File]::WriteAllLines($file.FullName, $lines)
        $file.FullName
    }
}

Describe 'Get-LiveUpdateOperation lists the history oldest first' {
    BeforeAll {
        $lab = New-TestLab -Parameters @{ PartitionCount = 2 }
        $ids = @(
            (Invoke-LiveUpdate -Partition lpar2 -UpdatePath (Join-Path $lab 'updates/7300-02-02')).OperationId
            (Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02')).OperationId
            (Undo-LiveUpdate -Partition lpar2 -Confirm:$false).OperationId
            (Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-03-01')).OperationId
        )
    }

    It 'in the order they started, across partitions' {
        $ops = @(Get-LiveUpdateOperation)
        $ops.Id | Should -Be $ids
        for ($i = 1; $i -lt $ops.Count; $i++) { $ops[$i].Started | Should -BeGreaterOrEqual $ops[$i - 1].Started }
    }

    It 'takes -First and -Last, and -Partition by the Name of what is piped' {
        (Get-LiveUpdateOperation -First 1).Id | Should -Be $ids[0]
        (Get-LiveUpdateOperation -Last 1).Id | Should -Be $ids[3]
        (Get-LiveUpdateOperation -Last 2).Id | Should -Be $ids[2..3]
        (Get-LiveUpdateOperation -Partition lpar1 -First 1).Id | Should -Be $ids[1]
        ([pscustomobject]@{ Name = 'lpar2' } | Get-LiveUpdateOperation).Id | Should -Be @($ids[0], $ids[2])
        (Get-LogicalPartition lpar2 | Get-LiveUpdateOperation -Last 1).Id | Should -Be $ids[2]
    }
}

Describe 'A journal that fails its check' {
    BeforeEach {
        $lab = New-TestLab -Parameters @{ PartitionCount = 2 }
        $good = (Invoke-LiveUpdate -Partition lpar2 -UpdatePath (Join-Path $lab 'updates/7300-02-02')).OperationId
        $bad = (Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02')).OperationId
        $file = Edit-JournalLine $lab $bad
    }

    It 'marks only its operation Corrupt; the others still list' {
        $ops = @(Get-LiveUpdateOperation)
        $ops.Count | Should -Be 2
        ($ops | Where-Object Id -eq $good).State | Should -Be 'Succeeded'
        $corrupt = $ops | Where-Object Id -eq $bad
        ($corrupt.State, $corrupt.Partition) | Should -Be @('Corrupt', 'lpar1')
        $corrupt.Reason | Should -Match "Resume-LiveUpdate -Id $bad -Discard"
        @(Get-LiveUpdateOperation -Unfinished).Id | Should -Be @($bad)
        ($corrupt | ConvertTo-Json | ConvertFrom-Json).State | Should -Be 'Corrupt'
    }

    It 'blocks new work on its partition with the way out, and only there' {
        $before = Get-LabSnapshot $lab
        $e = { New-RootVgClone -Partition lpar1 -Disk hdisk1 -ErrorAction Stop } | Should -Throw -ErrorId 'JournalCorrupt,LiveUpdate.PowerShell.Commands.NewRootVgCloneCommand' -PassThru
        $e.Exception.Message | Should -Match ([regex]::Escape("Resume-LiveUpdate -Id $bad -Discard"))
        { Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-03-01') -ErrorAction Stop } | Should -Throw -ErrorId 'JournalCorrupt,LiveUpdate.PowerShell.Commands.InvokeLiveUpdateCommand'
        Assert-LabUnchanged -Before $before -Path $lab -IgnoreLocks
        (Invoke-LiveUpdate -Partition lpar2 -UpdatePath (Join-Path $lab 'updates/7300-03-01')).Status | Should -Be 'Succeeded'
    }

    It 'is set aside by Resume-LiveUpdate -Discard, after which the partition can be updated again' {
        $before = Get-LabSnapshot $lab
        Resume-LiveUpdate -Id $bad -Discard -WhatIf
        Assert-LabUnchanged -Before $before -Path $lab
        Resume-LiveUpdate -Id $bad -Discard -Confirm:$false
        Test-Path $file | Should -BeFalse
        Test-Path "$file.discarded" | Should -BeTrue -Because 'the evidence is kept beside, renamed'
        @(Get-LiveUpdateOperation).Id | Should -Be @($good)
        (Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-03-01')).Status | Should -Be 'Succeeded'
    }

    It 'asks before it discards, as a high-impact change does' {
        (Get-Command Resume-LiveUpdate).Parameters['Discard'].ParameterSets.Keys | Should -Be @('Discard')
        $child = Start-PwshChild -Script "`$null = Connect-LiveUpdateSystem -Path '$lab'; Resume-LiveUpdate -Id $bad -Discard"
        $run = Wait-PwshChild $child
        $run.ExitCode | Should -Not -Be 0 -Because 'a non-interactive session cannot answer the confirmation'
        Test-Path $file | Should -BeTrue -Because 'nothing is discarded without an answer'
    }

    It 'refuses to discard a journal that is intact' {
        $before = Get-LabSnapshot $lab
        { Resume-LiveUpdate -Id $good -Discard -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'OperationNotCorrupt,LiveUpdate.PowerShell.Commands.ResumeLiveUpdateCommand'
        Assert-LabUnchanged -Before $before -Path $lab
    }
}
