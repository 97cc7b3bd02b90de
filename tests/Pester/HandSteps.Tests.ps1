# The hand steps can be backed out: each step before the point of no return has an inverse that takes the step's own
# output from the pipeline, asks first, and cleans up as the roll-back does (disks wiped and free); the hand steps are
# an operation of their own (Get-LiveUpdateOperation shows it, Resume-LiveUpdate -RollBack takes it back); and an
# error that names a way out names the right one.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'Support/Matrix.ps1')

    function Assert-Refused([scriptblock] $Command, [string] $ErrorId, [string] $Cmdlet, [string[]] $Mentions, [string] $Lab) {
        $before = Get-LabSnapshot $Lab
        $e = { $ErrorActionPreference = 'Stop'; & $Command } | Should -Throw -ErrorId "$ErrorId,LiveUpdate.PowerShell.Commands.$Cmdlet" -PassThru
        foreach ($m in $Mentions) { $e.Exception.Message | Should -Match ([regex]::Escape($m)) -Because "the error names the way out ($m)" }
        Assert-LabUnchanged -Before $before -Path $Lab -IgnoreLocks
        $e
    }

    function Assert-Pristine([string] $Lab) {
        # What a new lab is: lpar1 alone on hdisk0, every other disk free, applications running with every record.
        (Get-LogicalPartition).Name | Should -Be @('lpar1')
        @(Get-PhysicalVolume | Where-Object State -eq 'InUse').Name | Should -Be @('hdisk0')
        @(Get-VolumeGroup).Name | Should -Be @('rootvg')
        foreach ($d in 1..4) { Test-Path (Join-Path $Lab "disks/hdisk$d") | Should -BeFalse -Because "hdisk$d is wiped" }
        foreach ($check in Get-Application | Test-ApplicationData) { $check.Verified | Should -BeTrue }
    }
}

Describe 'The inverse of each hand step' {
    BeforeEach {
        $lab = New-TestLab
        $bundle = Join-Path $lab 'updates/7300-02-02'
    }

    It 'Remove-RootVgClone takes the clone from the pipeline and frees its disk' {
        $clone = Get-PhysicalVolume -Free | Select-Object -First 1 | New-RootVgClone -Partition lpar1
        $clone.Disks | Should -Be @('hdisk1')
        $clone | Remove-RootVgClone -Confirm:$false
        Assert-Pristine $lab
        $op = Get-LiveUpdateOperation | Select-Object -Last 1
        ($op.Kind, $op.State) | Should -Be @('Steps', 'RolledBack')
        ($op.Steps | Where-Object Name -eq 'Clone').State | Should -Be 'Undone'
    }

    It 'Stop-RootVgMirror takes the mirror from the pipeline and frees its disk' {
        $mirror = Start-RootVgMirror -Partition lpar1 -Disk hdisk2
        $mirror | Stop-RootVgMirror -Confirm:$false
        Assert-Pristine $lab
    }

    It 'Stop-UpdatedPartition takes the surrogate from the pipeline; then the others undo the rest' {
        $clone = New-RootVgClone lpar1 hdisk1 | Install-CloneUpdate $bundle
        $mirror = Start-RootVgMirror lpar1 hdisk2
        $surrogate = $clone | Start-UpdatedPartition
        $null = $mirror | Import-MirrorVg -Partition $surrogate
        (Get-LiveUpdateOperation -Unfinished).State | Should -Be 'InProgress'

        $surrogate | Stop-UpdatedPartition -Confirm:$false
        (Get-LogicalPartition).Name | Should -Be @('lpar1')
        (Get-VolumeGroup -Partition lpar1 -Name altinst_rootvg).OsLevel | Should -Be '7300-02-02' -Because 'the clone stays, updated'
        ($clone | Start-UpdatedPartition | Stop-UpdatedPartition -Confirm:$false) | Should -BeNullOrEmpty -Because 'it can boot again, and stop again'
        (Get-VolumeGroup -Partition lpar1 -Name rootvg).MirrorDisks | Should -Be @('hdisk2') -Because 'the mirror was exported and mirrors rootvg again'

        $mirror | Stop-RootVgMirror -Confirm:$false
        $clone | Remove-RootVgClone -Confirm:$false
        Assert-Pristine $lab
        @(Get-LiveUpdateOperation -Unfinished).Count | Should -Be 0
        (Get-LiveUpdateOperation | Select-Object -Last 1).State | Should -Be 'RolledBack'
    }

    It 'changes nothing with -WhatIf' {
        $clone = New-RootVgClone lpar1 hdisk1 | Install-CloneUpdate $bundle
        $mirror = Start-RootVgMirror lpar1 hdisk2
        $surrogate = $clone | Start-UpdatedPartition
        $before = Get-LabSnapshot $lab
        $surrogate | Stop-UpdatedPartition -WhatIf
        $mirror | Stop-RootVgMirror -WhatIf
        Assert-LabUnchanged -Before $before -Path $lab -IgnoreLocks
        $surrogate | Stop-UpdatedPartition -Confirm:$false
        $before = Get-LabSnapshot $lab
        $clone | Remove-RootVgClone -WhatIf
        Assert-LabUnchanged -Before $before -Path $lab -IgnoreLocks
    }
}

Describe 'The hand steps as an operation' {
    BeforeEach {
        $lab = New-TestLab
        $bundle = Join-Path $lab 'updates/7300-02-02'
    }

    It 'shows a partition in the middle of hand steps in Get-LiveUpdateOperation' {
        @(Get-LiveUpdateOperation).Count | Should -Be 0
        $null = New-RootVgClone lpar1 hdisk1
        $op = @(Get-LiveUpdateOperation -Unfinished)
        $op.Count | Should -Be 1
        ($op.Kind, $op.Partition, $op.State) | Should -Be @('Steps', 'lpar1', 'InProgress')
        ($op.Steps | Where-Object State -ne 'Pending').Name | Should -Be @('Clone')
        $op.CloneDisks | Should -Be @('hdisk1')
        $null = Start-RootVgMirror lpar1 hdisk2
        (Get-LiveUpdateOperation -Id $op.Id).MirrorDisks | Should -Be @('hdisk2')
        @(Get-LiveUpdateOperation).Count | Should -Be 1 -Because 'every hand step of the partition joins the one operation'
    }

    It 'is taken back whole by Resume-LiveUpdate -RollBack, before the point of no return' {
        $clone = New-RootVgClone lpar1 hdisk1 | Install-CloneUpdate $bundle
        $mirror = Start-RootVgMirror lpar1 hdisk2
        $surrogate = $clone | Start-UpdatedPartition
        $null = $mirror | Import-MirrorVg -Partition $surrogate
        $op = Get-LiveUpdateOperation -Unfinished
        $result = Resume-LiveUpdate -Id $op.Id -RollBack -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable rolledBack
        $rolledBack[0].FullyQualifiedErrorId | Should -Be 'LiveUpdateRolledBack,LiveUpdate.PowerShell.Commands.ResumeLiveUpdateCommand' -Because 'a result that did not succeed comes with its error'
        $result.Status | Should -Be 'RolledBack'
        Assert-Pristine $lab
        (Get-LiveUpdateOperation -Id $op.Id).State | Should -Be 'RolledBack'
    }

    It 'is taken back by Resume-LiveUpdate -RollBack after the point of no return, the moved application with its data' {
        $clone = New-RootVgClone lpar1 hdisk1 | Install-CloneUpdate $bundle
        $mirror = Start-RootVgMirror lpar1 hdisk2
        $surrogate = $clone | Start-UpdatedPartition
        $null = $mirror | Import-MirrorVg -Partition $surrogate
        $null = Move-Application -Application ihs -Destination $surrogate
        $op = Get-LiveUpdateOperation -Unfinished
        $op.PointOfNoReturnPassed | Should -BeTrue
        $null = Resume-LiveUpdate -Id $op.Id -RollBack -Confirm:$false -ErrorAction SilentlyContinue
        (Get-Application ihs).Partition | Should -Be 'lpar1'
        Assert-Pristine $lab
    }

    It 'ends Succeeded when the last application hands the identity over' {
        $clone = New-RootVgClone lpar1 hdisk1 | Install-CloneUpdate $bundle
        $mirror = Start-RootVgMirror lpar1 hdisk2
        $surrogate = $clone | Start-UpdatedPartition
        $null = $mirror | Import-MirrorVg -Partition $surrogate
        $null = Get-Application -Partition lpar1 | Move-Application -Destination $surrogate
        $op = Get-LiveUpdateOperation | Select-Object -Last 1
        ($op.Kind, $op.State, $op.ToLevel) | Should -Be @('Steps', 'Succeeded', '7300-02-02')
        @($op.Steps | Where-Object State -ne 'Succeeded' | ForEach-Object Name) | Should -BeNullOrEmpty -Because 'every step was taken by hand'
    }

    It 'cannot be finished by Resume-LiveUpdate, which says how to go on' {
        $null = New-RootVgClone lpar1 hdisk1
        $op = Get-LiveUpdateOperation -Unfinished
        Assert-Refused { Resume-LiveUpdate -Id $op.Id -Confirm:$false } OperationNotResumable ResumeLiveUpdateCommand @('-RollBack') $lab | Out-Null
    }
}

Describe 'Errors that name the way out' {
    BeforeEach {
        $lab = New-TestLab
        $bundle = Join-Path $lab 'updates/7300-02-02'
    }

    It 'names the inverses (and Resume-LiveUpdate -RollBack) for what hand steps left' {
        $null = New-RootVgClone lpar1 hdisk1
        $id = (Get-LiveUpdateOperation -Unfinished).Id
        Assert-Refused { New-RootVgClone lpar1 hdisk3 } CloneExists NewRootVgCloneCommand @('Remove-RootVgClone lpar1', "Resume-LiveUpdate -Id $id -RollBack") $lab | Out-Null
        Assert-Refused { Invoke-LiveUpdate lpar1 $bundle } OperationInProgress InvokeLiveUpdateCommand @('Remove-RootVgClone', "Resume-LiveUpdate -Id $id -RollBack") $lab | Out-Null
        Assert-Refused { Remove-VolumeGroup -Name altinst_rootvg -Partition lpar1 -Confirm:$false } VolumeGroupInUse RemoveVolumeGroupCommand @('Remove-RootVgClone lpar1') $lab | Out-Null
    }

    It 'names Stop-UpdatedPartition for a clone that runs, and Move-Application for applications on the surrogate' {
        $clone = New-RootVgClone lpar1 hdisk1 | Install-CloneUpdate $bundle
        $mirror = Start-RootVgMirror lpar1 hdisk2
        $surrogate = $clone | Start-UpdatedPartition
        Assert-Refused { $clone | Remove-RootVgClone -Confirm:$false } CloneInUse RemoveRootVgCloneCommand @('Stop-UpdatedPartition lpar1_surrogate') $lab | Out-Null
        $null = $mirror | Import-MirrorVg -Partition $surrogate
        $null = Move-Application -Application ihs -Destination $surrogate
        Assert-Refused { $surrogate | Stop-UpdatedPartition -Confirm:$false } ApplicationsOnSurrogate StopUpdatedPartitionCommand @('Move-Application -Destination lpar1', '-RollBack') $lab | Out-Null
        Assert-Refused { $mirror | Stop-RootVgMirror -Confirm:$false } ApplicationsOnSurrogate StopRootVgMirrorCommand @('Move-Application -Destination lpar1') $lab | Out-Null
        Assert-Refused { Stop-UpdatedPartition lpar1 -Confirm:$false } NotASurrogate StopUpdatedPartitionCommand @('lpar1_surrogate') $lab | Out-Null
        # Moving it back by hand is the way back too; then the surrogate can go.
        $null = Move-Application -Application ihs -Destination lpar1
        $surrogate | Stop-UpdatedPartition -Confirm:$false
        (Get-LogicalPartition).Name | Should -Be @('lpar1')
    }

    It 'names Resume-LiveUpdate, not the inverses, for what an interrupted live update left' {
        $code = Invoke-LiveUpdateInChild -Lab $lab -Bundle $bundle -Fault 'Boot:After:Kill'
        $code | Should -Not -Be 0
        $id = (Get-LiveUpdateOperation -Unfinished).Id
        (Get-LiveUpdateOperation -Id $id).State | Should -Be 'Interrupted'
        foreach ($refused in @(
                @{ Command = { Remove-RootVgClone lpar1 -Confirm:$false }; Cmdlet = 'RemoveRootVgCloneCommand' }
                @{ Command = { Stop-RootVgMirror lpar1 -Confirm:$false }; Cmdlet = 'StopRootVgMirrorCommand' }
                @{ Command = { Stop-UpdatedPartition lpar1_surrogate -Confirm:$false }; Cmdlet = 'StopUpdatedPartitionCommand' }
                @{ Command = { New-RootVgClone lpar1 hdisk4 }; Cmdlet = 'NewRootVgCloneCommand' })) {
            $e = Assert-Refused $refused.Command OperationInterrupted $refused.Cmdlet @("Resume-LiveUpdate -Id $id") $lab
            $e.Exception.Message | Should -Not -Match 'Remove-RootVgClone|remove it'
        }
        $null = Resume-LiveUpdate -Id $id -RollBack -Confirm:$false -ErrorAction SilentlyContinue
        Assert-Pristine $lab
    }
}
