BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
}

Describe 'Test-LiveUpdate on a good lab' {
    BeforeAll {
        $lab = New-TestLab
        $bundle = Join-Path $lab 'updates/7300-02-02'
        $before = Get-LabSnapshot $lab
        $preview = Test-LiveUpdate -Partition lpar1 -UpdatePath $bundle -ErrorVariable previewErrors
        $afterPreview = Get-LabSnapshot $lab
    }

    It 'returns a LiveUpdatePreview that can proceed' {
        $previewErrors | Should -BeNullOrEmpty
        $preview | Should -BeOfType ([LiveUpdate.Engine.Model.LiveUpdatePreview])
        $preview.CanProceed | Should -BeTrue
        $preview.Partition | Should -Be 'lpar1'
        $preview.FromLevel.ToString() | Should -Be '7300-02-01'
        $preview.ToLevel.ToString() | Should -Be '7300-02-02'
        $preview.Bundle | Should -Be 'AIX 7300-02-02 service pack'
    }

    It 'passes every check' {
        $preview.Checks.Name | Should -Be @('Partition', 'BundleIntegrity', 'BundleLevel', 'NoUpdateInProgress', 'CloneDisks', 'MirrorDisks', 'DisksDistinct', 'FrameResources', 'Applications')
        foreach ($check in $preview.Checks) {
            $check.Passed | Should -BeTrue -Because "$($check.Name): $($check.Message)"
            $check.ErrorId | Should -BeNullOrEmpty
            $check.Message | Should -Not -BeNullOrEmpty
        }
    }

    It 'lists the plan with estimates' {
        $preview.Plan.Step | Should -Be (1..8)
        $preview.Plan.Name | Should -Be @('Verify', 'Clone', 'Mirror', 'Install', 'Boot', 'Import', 'Move', 'TakeOver')
        foreach ($step in $preview.Plan | Where-Object Name -ne 'Verify') {
            $step.EstimatedDuration | Should -BeGreaterThan 0 -Because "$($step.Name) takes time"
            $step.Description | Should -Not -BeNullOrEmpty
        }
        $sum = 0.0
        foreach ($step in $preview.Plan) { $sum += $step.EstimatedDuration }
        [Math]::Abs($preview.EstimatedDuration - $sum) | Should -BeLessThan 1e-6
        $preview.EstimatedBlackout | Should -BeGreaterThan 0
        $preview.EstimatedBlackout | Should -BeLessThan 1 -Because 'durations are seconds'
    }

    It 'changes nothing' {
        Assert-LabUnchanged $before $lab
        $afterPreview.Files | Should -Be $before.Files
        $afterPreview.State | Should -Be $before.State
    }

    It 'answers $true with -Quiet' {
        Test-LiveUpdate -Partition lpar1 -UpdatePath $bundle -Quiet | Should -BeExactly $true
    }

    It 'writes each check on the verbose stream' {
        $lines = @(Test-LiveUpdate -Partition lpar1 -UpdatePath $bundle -Quiet -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] })
        $lines | Should -HaveCount $preview.Checks.Count
        $lines[0].Message | Should -Match '^PASS Partition: '
    }

    It 'chooses the disks that Invoke-LiveUpdate then uses' {
        $preview.CloneDisks | Should -Be @('hdisk1') -Because 'hdisk1 is the smallest free disk that holds rootvg (hdisk3 is too small)'
        $preview.MirrorDisks | Should -Be @('hdisk2')
        $result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle
        $result.CloneDisks | Should -Be $preview.CloneDisks
        $result.MirrorDisks | Should -Be $preview.MirrorDisks
    }

    It 'chooses around the disks it is given' {
        $other = New-TestLab
        $p = Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $other 'updates/7300-02-02') -MirrorDisk hdisk1
        $p.CloneDisks | Should -Be @('hdisk2')
        $p.MirrorDisks | Should -Be @('hdisk1')
        $p.CanProceed | Should -BeTrue
    }
}

Describe 'Test-LiveUpdate reports each failing check' {
    BeforeAll {
        $lab = New-TestLab -Parameters @{ FrameMemoryMB = 20000 }
    }

    BeforeEach {
        $before = Get-LabSnapshot $lab
    }

    AfterEach {
        Assert-LabUnchanged $before $lab
    }

    It 'names every check that fails with its error id, and no error record' {
        $p = Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-03-01') -CloneDisk hdisk3 -MirrorDisk hdisk0 -ErrorVariable errors
        $errors | Should -BeNullOrEmpty
        $p.CanProceed | Should -BeFalse
        $failed = @{}
        foreach ($c in $p.Checks | Where-Object { -not $_.Passed }) { $failed[$c.Name] = $c.ErrorId }
        $failed.Keys | Sort-Object | Should -Be @('BundleLevel', 'CloneDisks', 'FrameResources', 'MirrorDisks')
        $failed['BundleLevel'] | Should -Be 'BundleRequirementNotMet'
        $failed['CloneDisks'] | Should -Be 'DiskTooSmall'
        $failed['MirrorDisks'] | Should -Be 'DiskInUse'
        $failed['FrameResources'] | Should -Be 'InsufficientFrameResources'
        ($p.Checks | Where-Object Name -eq 'BundleIntegrity').Passed | Should -BeTrue
        Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-03-01') -Quiet | Should -BeExactly $false
    }

    It 'fails DisksDistinct when one disk is named for clone and mirror' {
        $p = Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -CloneDisk hdisk1 -MirrorDisk hdisk1
        ($p.Checks | Where-Object Name -eq 'DisksDistinct').ErrorId | Should -Be 'DiskNamedTwice'
    }

    It 'fails Partition for an unknown partition' {
        $p = Test-LiveUpdate -Partition nosuch -UpdatePath (Join-Path $lab 'updates/7300-02-02')
        $p.CanProceed | Should -BeFalse
        ($p.Checks | Where-Object Name -eq 'Partition').ErrorId | Should -Be 'PartitionNotFound'
        $p.Plan | Should -BeNullOrEmpty
    }

    It 'fails BundleIntegrity for a missing bundle' {
        $p = Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/nosuch')
        ($p.Checks | Where-Object Name -eq 'BundleIntegrity').ErrorId | Should -Be 'BundleNotFound'
        $p.CanProceed | Should -BeFalse
    }

    It 'fails BundleIntegrity for a payload that fails its checksum' {
        $copy = Copy-Bundle (Join-Path $lab 'updates/7300-02-02')
        $payload = Get-ChildItem (Join-Path $copy 'payload') | Select-Object -First 1
        $bytes = [IO.File]::ReadAllBytes($payload.FullName)
        $bytes[-1] = $bytes[-1] -bxor 1
        [IO.File]::WriteAllBytes($payload.FullName, $bytes)
        $p = Test-LiveUpdate -Partition lpar1 -UpdatePath $copy
        ($p.Checks | Where-Object Name -eq 'BundleIntegrity').ErrorId | Should -Be 'BundleChecksumMismatch'
    }

    It 'fails NoUpdateInProgress, and the disk checks, while a clone is left' {
        $clone = New-TestLab
        New-RootVgClone -Partition lpar1 -Disk hdisk1 | Out-Null
        $p = Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $clone 'updates/7300-02-02') -CloneDisk hdisk1
        ($p.Checks | Where-Object Name -eq 'NoUpdateInProgress').ErrorId | Should -Be 'CloneExists'
        ($p.Checks | Where-Object Name -eq 'CloneDisks').ErrorId | Should -Be 'DiskInUse'
        Connect-LiveUpdateSystem $lab | Out-Null
    }

    It 'passes again after an update, with its old_rootvg kept' {
        $done = New-TestLab
        Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $done 'updates/7300-02-02') | Out-Null
        $p = Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $done 'updates/7300-03-01')
        $p.CanProceed | Should -BeTrue
        $p.CloneDisks | Should -Be @('hdisk2') -Because 'hdisk0 holds old_rootvg and hdisk1 rootvg'
        $p.MirrorDisks | Should -Be @('hdisk4')
        Connect-LiveUpdateSystem $lab | Out-Null
    }
}
