# -WhatIf on every cmdlet that changes a lab: the lab is brought to the stage where the command would work, then the
# command runs with -WhatIf, and the persisted state (system.state bytes, every file) must be exactly as before.

BeforeDiscovery {
    $cases = @(
        @{ Command = 'New-RootVgClone'; Stage = 0; IgnoreLocks = $false; Run = { New-RootVgClone -Partition lpar1 -Disk hdisk1 -WhatIf } }
        @{ Command = 'Start-RootVgMirror'; Stage = 0; IgnoreLocks = $false; Run = { Get-LogicalPartition lpar1 | Start-RootVgMirror -Disk hdisk2 -WhatIf } }
        @{ Command = 'Install-CloneUpdate'; Stage = 2; IgnoreLocks = $false; Run = { Install-CloneUpdate -Clone lpar1 -Path (Join-Path $lab 'updates/7300-02-02') -WhatIf } }
        @{ Command = 'Start-UpdatedPartition'; Stage = 3; IgnoreLocks = $false; Run = { Start-UpdatedPartition -Clone lpar1 -WhatIf } }
        @{ Command = 'Import-MirrorVg'; Stage = 4; IgnoreLocks = $false; Run = { Import-MirrorVg -Mirror lpar1 -Partition lpar1_surrogate -WhatIf } }
        @{ Command = 'Move-Application'; Stage = 5; IgnoreLocks = $false; Run = { Get-Application -Partition lpar1 | Move-Application -Destination lpar1_surrogate -WhatIf } }
        @{ Command = 'Move-Application (the last one, which hands over the identity)'; Stage = 6; IgnoreLocks = $false; Run = { Move-Application -Application ihs -Destination lpar1_surrogate -WhatIf } }
        @{ Command = 'Invoke-LiveUpdate'; Stage = 0; IgnoreLocks = $false; Run = { Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -WhatIf } }
        @{ Command = 'Remove-VolumeGroup'; Stage = 7; IgnoreLocks = $false; Run = { Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -WhatIf } }
        @{ Command = 'Undo-LiveUpdate'; Stage = 'Updated'; IgnoreLocks = $false; Run = { Undo-LiveUpdate -Partition lpar1 -WhatIf } }
        @{ Command = 'Resume-LiveUpdate'; Stage = 'Interrupted'; IgnoreLocks = $false; Run = { Get-LiveUpdateOperation -Partition lpar1 | Resume-LiveUpdate -WhatIf } }
        @{ Command = 'Remove-LiveUpdateLab'; Stage = 0; IgnoreLocks = $false; Run = { Remove-LiveUpdateLab -Path $lab -WhatIf } }
        @{ Command = 'Remove-LiveUpdateLab (the connected lab)'; Stage = 0; IgnoreLocks = $false; Run = { Remove-LiveUpdateLab -WhatIf } }
    )
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'Support/Matrix.ps1')

    function Set-Stage {
        # Brings the connected lab's lpar1 through the first $Stage steps of a live update; 'Updated' runs a whole
        # update, 'Interrupted' one whose process is killed halfway (so that it waits for Resume-LiveUpdate).
        param($Stage, [string] $Lab)
        $bundle = Join-Path $Lab 'updates/7300-02-02'
        if ($Stage -eq 'Updated') { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle | Out-Null; return }
        if ($Stage -eq 'Interrupted') {
            Invoke-LiveUpdateInChild -Lab $Lab -Bundle $bundle -Fault 'Install:During:Kill' | Should -Not -Be 0
            (Get-LiveUpdateOperation -Partition lpar1).State | Should -Be 'Interrupted'
            return
        }
        $steps = @(
            { New-RootVgClone -Partition lpar1 -Disk hdisk1 }
            { Start-RootVgMirror -Partition lpar1 -Disk hdisk2 }
            { Install-CloneUpdate -Clone lpar1 -Path (Join-Path $Lab 'updates/7300-02-02') }
            { Start-UpdatedPartition -Clone lpar1 }
            { Import-MirrorVg -Mirror lpar1 -Partition lpar1_surrogate }
            { Move-Application -Application db2inst1 -Destination lpar1_surrogate }
            { Move-Application -Application ihs -Destination lpar1_surrogate }
        )
        for ($i = 0; $i -lt $Stage; $i++) { & $steps[$i] | Out-Null }
    }
}

Describe '-WhatIf changes nothing: <Command>' -ForEach $cases {
    BeforeAll {
        $lab = New-TestLab
        Set-Stage -Stage $Stage -Lab $lab
    }

    It 'leaves the lab exactly as it was and writes no object' {
        $before = Get-LabSnapshot $lab
        $inventory = Get-LiveUpdateSystem
        $out = & $Run
        $out | Should -BeNullOrEmpty
        Assert-LabUnchanged $before $lab -IgnoreLocks:$IgnoreLocks
        (Get-LiveUpdateSystem).Clock | Should -Be $inventory.Clock
    }

    It 'does the work without -WhatIf (the case is a real one)' {
        # The same command without -WhatIf changes the lab: proof that the -WhatIf run above had work to skip.
        $before = Get-LabSnapshot $lab
        $real = [scriptblock]::Create(($Run.ToString() -replace '\s-WhatIf\b', ' -Confirm:$false'))
        & $real | Out-Null
        if (Test-Path $lab) {
            (Get-LabSnapshot $lab).State | Should -Not -Be $before.State
        }
        else {
            $lab | Should -Not -Exist
        }
    }
}

Describe '-WhatIf on New-LiveUpdateLab' {
    It 'creates no folder' {
        $path = Join-Path $TestDrive 'never'
        New-LiveUpdateLab -Path $path -WhatIf | Should -BeNullOrEmpty
        $path | Should -Not -Exist
    }
}
