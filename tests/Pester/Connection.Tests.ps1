# Which system a command acts on: a connect that fails leaves nothing selected (a runbook whose Connect failed cannot
# change the system it was connected to before), Disconnect-LiveUpdateSystem forgets the connection and changes
# nothing, and every cmdlet that acts on a system takes -System (a folder, a ManagedSystem or a connection from
# Connect-LiveUpdateSystem -PassThru), so that a runbook can name its system.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
    $script:a = New-TestLab -Name 'a'
    $script:b = New-TestLab -Name 'b'
    $script:notALab = Join-Path $TestDrive 'not-a-lab'
    $null = New-Item -ItemType Directory -Path $notALab
    Set-Content -Path (Join-Path $notALab 'notes.txt') -Value 'hello'

    function Assert-NotConnected([scriptblock] $Command, [string] $Cmdlet, [string] $Mentions) {
        $e = { $ErrorActionPreference = 'Stop'; & $Command } | Should -Throw -ErrorId "NotConnected,LiveUpdate.PowerShell.Commands.$Cmdlet" -PassThru
        $e.CategoryInfo.Category | Should -Be 'InvalidOperation'
        if ($Mentions) { $e.Exception.Message | Should -Match ([regex]::Escape($Mentions)) }
    }
}

AfterAll {
    foreach ($lab in $a, $b) { Remove-LiveUpdateLab -Path $lab -Confirm:$false -ErrorAction SilentlyContinue }
}

Describe 'A connect that fails' {
    It 'leaves nothing selected when the folder is no lab, and the lab of before stays unchanged' {
        $null = Connect-LiveUpdateSystem -Path $a
        $before = Get-LabSnapshot $a
        { Connect-LiveUpdateSystem -Path $notALab -ErrorAction Stop } | Should -Throw -ErrorId 'NotALab,LiveUpdate.PowerShell.Commands.ConnectLiveUpdateSystemCommand'
        Assert-NotConnected { Get-LogicalPartition } GetLogicalPartitionCommand 'Connect-LiveUpdateSystem'
        Assert-NotConnected { New-RootVgClone -Partition lpar1 -Disk hdisk1 } NewRootVgCloneCommand $a
        Assert-NotConnected { Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $a 'updates/7300-02-02') } InvokeLiveUpdateCommand
        Assert-LabUnchanged -Before $before -Path $a -IgnoreLocks
    }

    It 'leaves nothing selected when the lab state is corrupt' {
        $corrupt = New-TestLab -Name 'corrupt'
        $null = Connect-LiveUpdateSystem -Path $a
        Add-Content -Path (Join-Path $corrupt 'system.state') -Value 'tampered'
        { Connect-LiveUpdateSystem -Path $corrupt -ErrorAction Stop } | Should -Throw -ErrorId 'LabStateCorrupt,LiveUpdate.PowerShell.Commands.ConnectLiveUpdateSystemCommand'
        Assert-NotConnected { Get-PhysicalVolume } GetPhysicalVolumeCommand
    }

    It 'leaves nothing selected when New-LiveUpdateLab fails' {
        $null = Connect-LiveUpdateSystem -Path $a
        { New-LiveUpdateLab -Path $notALab -ErrorAction Stop } | Should -Throw -ErrorId 'LabPathNotEmpty,LiveUpdate.PowerShell.Commands.NewLiveUpdateLabCommand'
        Assert-NotConnected { Get-Application } GetApplicationCommand 'New-LiveUpdateLab'
    }

    It 'keeps the connection when New-LiveUpdateLab -WhatIf changes nothing' {
        $null = Connect-LiveUpdateSystem -Path $a
        New-LiveUpdateLab -Path (Join-Path $TestDrive 'never') -WhatIf
        (Get-LiveUpdateSystem).Location | Should -Be $a
    }
}

Describe 'Disconnect-LiveUpdateSystem' {
    It 'forgets the session''s connection and changes nothing on the system' {
        $null = Connect-LiveUpdateSystem -Path $a
        $before = Get-LabSnapshot $a
        Disconnect-LiveUpdateSystem
        Assert-NotConnected { Get-LogicalPartition } GetLogicalPartitionCommand 'Disconnect-LiveUpdateSystem'
        Assert-LabUnchanged -Before $before -Path $a
        { Disconnect-LiveUpdateSystem -ErrorAction Stop } | Should -Not -Throw -Because 'disconnecting twice is no error'
    }

    It 'closes a connection given to it, which then refuses work' {
        $c = Connect-LiveUpdateSystem -Path $a -PassThru
        $c | Disconnect-LiveUpdateSystem
        $c.IsClosed | Should -BeTrue
        { Get-LogicalPartition -System $c -ErrorAction Stop } | Should -Throw -ErrorId 'ConnectionClosed,LiveUpdate.PowerShell.Commands.GetLogicalPartitionCommand'
    }

    It 'changes nothing with -WhatIf' {
        $null = Connect-LiveUpdateSystem -Path $a
        Disconnect-LiveUpdateSystem -WhatIf
        (Get-LiveUpdateSystem).Location | Should -Be $a
    }
}

Describe '-System names the system a command acts on' {
    It 'takes a folder, with no connection in the session' {
        Disconnect-LiveUpdateSystem
        (Get-LogicalPartition -System $a).Name | Should -Be 'lpar1'
        $relative = Resolve-Path -Relative $b
        (Get-LiveUpdateSystem -System $relative).Location | Should -Be $b -Because 'a relative folder is resolved against the session''s location'
        Assert-NotConnected { Get-LogicalPartition } GetLogicalPartitionCommand
    }

    It 'takes a connection from Connect-LiveUpdateSystem -PassThru while the session is connected elsewhere' {
        $ca = Connect-LiveUpdateSystem -Path $a -PassThru
        $cb = Connect-LiveUpdateSystem -Path $b -PassThru
        $ca | Should -BeOfType ([LiveUpdate.PowerShell.LiveUpdateConnection])
        ($ca.Backend, $ca.Location, $ca.IsDefault, $cb.IsDefault) | Should -Be @('Simulated', $a, $false, $true)
        $beforeB = Get-LabSnapshot $b
        $clone = New-RootVgClone -System $ca -Partition lpar1 -Disk hdisk1
        $clone.Disks | Should -Be @('hdisk1')
        (Get-PhysicalVolume -System $ca -Name hdisk1).State | Should -Be 'InUse'
        (Get-PhysicalVolume -Name hdisk1).State | Should -Be 'Free' -Because 'the session still acts on b'
        Assert-LabUnchanged -Before $beforeB -Path $b -IgnoreLocks
        Remove-RootVgClone -System $ca -Partition lpar1 -Confirm:$false
    }

    It 'takes the ManagedSystem that a lab or Get-LiveUpdateSystem returns' {
        $null = Connect-LiveUpdateSystem -Path $b
        $system = Get-LiveUpdateSystem -System $a
        (Get-VolumeGroup -System $system -Name rootvg).Partition | Should -Be 'lpar1'
        (Test-LiveUpdate -System $system -Partition lpar1 -UpdatePath (Join-Path $a 'updates/7300-02-02')).CanProceed | Should -BeTrue
    }

    It 'refuses a folder that is no lab without touching the session''s connection' {
        $null = Connect-LiveUpdateSystem -Path $b
        { Get-LogicalPartition -System $notALab -ErrorAction Stop } | Should -Throw -ErrorId 'NotALab,LiveUpdate.PowerShell.Commands.GetLogicalPartitionCommand'
        (Get-LiveUpdateSystem).Location | Should -Be $b
    }

    It 'is a parameter of every cmdlet that acts on a system' {
        # These make, check or remove a lab, a host or a bundle by its folder (-Path), or handle the connection itself.
        $own = 'New-LiveUpdateLab', 'Connect-LiveUpdateSystem', 'Disconnect-LiveUpdateSystem', 'Remove-LiveUpdateLab', 'New-LiveUpdateBundle', 'Test-LiveUpdateBundle',
            'Test-LiveUpdateHost', 'New-LiveUpdateHostDescription', 'Remove-LiveUpdateHost'
        $commands = @(Get-Command -Module LiveUpdate -CommandType Cmdlet | Where-Object Name -NotIn $own)
        $commands.Count | Should -BeGreaterThan 20
        foreach ($c in $commands) {
            $c.Parameters.Keys | Should -Contain 'System' -Because "$($c.Name) acts on a system"
            $c.Parameters['System'].ParameterType | Should -Be ([LiveUpdate.PowerShell.LiveUpdateConnection])
        }
    }
}
