BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
}

Describe 'New-LiveUpdateLab' {
    BeforeAll {
        $lab = New-TestLab
        $system = Get-LiveUpdateSystem
    }

    It 'creates a frame and connects to it' {
        $system | Should -BeOfType ([LiveUpdate.Engine.Model.ManagedSystem])
        $system.Backend | Should -Be 'Simulated'
        $system.Location | Should -Be ([IO.Path]::GetFullPath($lab))
        $system.Partitions | Should -Be 1
        $system.AvailableProcessors | Should -BeLessThan $system.TotalProcessors
        $system.AvailableMemoryMB | Should -BeLessThan $system.TotalMemoryMB
        Join-Path $lab 'system.state' | Should -Exist
    }

    It 'runs lpar1 at 7300-02-01 with rootvg on hdisk0' {
        $p = Get-LogicalPartition lpar1
        $p | Should -BeOfType ([LiveUpdate.Engine.Model.LogicalPartition])
        $p.State | Should -Be 'Running'
        $p.OsLevel.ToString() | Should -Be '7300-02-01'
        $p.RootDisks | Should -Be @('hdisk0')
        $p.IsSurrogate | Should -BeFalse
        $rootvg = Get-VolumeGroup rootvg -Partition lpar1
        $rootvg.Role | Should -Be 'Root'
        $rootvg.Disks | Should -Be @('hdisk0')
        $rootvg.LogicalVolumes.Name | Should -Contain 'hd4'
        $rootvg.LogicalVolumes.MountPoint | Should -Contain '/usr'
    }

    It 'keeps real files of rootvg in the folder of hdisk0' {
        $disk = Join-Path $lab 'disks/hdisk0'
        Get-Content (Join-Path $disk 'etc/hosts') -Raw | Should -Match 'lpar1'
        (Get-Content (Join-Path $disk 'usr/lib/objrepos/oslevel')).Trim() | Should -Be '7300-02-01'
        Get-Content (Join-Path $disk 'usr/lib/objrepos/lpp.inventory') | Should -Contain 'bos.rte 7.3.2.1'
    }

    It 'has free disks of 30, 30, 10 and 60 GiB' {
        $free = Get-PhysicalVolume -Free
        $free.Name | Should -Be @('hdisk1', 'hdisk2', 'hdisk3', 'hdisk4')
        $free.SizeMB | Should -Be @(30720, 30720, 10240, 61440)
        $free | ForEach-Object { $_.State | Should -Be 'Free' }
        (Get-PhysicalVolume hdisk0).State | Should -Be 'InUse'
    }

    It 'runs two applications that append numbered records as time passes' {
        $apps = Get-Application -Partition lpar1
        $apps.Name | Should -Be @('db2inst1', 'ihs')
        foreach ($app in $apps) {
            $app.State | Should -Be 'Running'
            $app.DataVolumeGroup | Should -Be 'rootvg'
        }
        # Time passes only while the system works: a clone takes virtual minutes, and the applications write meanwhile.
        Get-LogicalPartition lpar1 | New-RootVgClone -Disk hdisk4 | Out-Null
        foreach ($app in Get-Application -Partition lpar1) {
            $app.Records | Should -BeGreaterThan 0
            $records = Get-DataRecord $lab hdisk0 $app.DataPath
            $records.Count | Should -Be $app.Records
            Get-SequenceGap $records | Should -BeNullOrEmpty
        }
    }

    It 'writes a valid bundle under updates/' {
        $bundle = Join-Path $lab 'updates/7300-02-02'
        Join-Path $bundle 'manifest.json' | Should -Exist
        $preview = Test-LiveUpdate -Partition lpar1 -UpdatePath $bundle
        ($preview.Checks | Where-Object Name -eq 'BundleIntegrity').Passed | Should -BeTrue
        $manifest = Get-Content (Join-Path $bundle 'manifest.json') -Raw | ConvertFrom-Json
        $manifest.targetLevel | Should -Be '7300-02-02'
        $manifest.requiresLevel | Should -Be '7300-02-01'
        $manifest.liveUpdateCapable | Should -BeTrue
        Join-Path $lab 'updates/7300-03-01/manifest.json' | Should -Exist
    }

    It 'refuses a folder that already holds a lab' {
        $before = Get-LabSnapshot $lab
        $err = { New-LiveUpdateLab -Path $lab -ErrorAction Stop } | Should -Throw -ErrorId 'LabExists,LiveUpdate.PowerShell.Commands.NewLiveUpdateLabCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ResourceExists'
        Assert-LabUnchanged $before $lab
    }

    It 'refuses a folder that is not empty' {
        $folder = Join-Path $TestDrive 'not-empty'
        New-Item -ItemType Directory $folder | Out-Null
        Set-Content (Join-Path $folder 'notes.txt') 'keep me'
        { New-LiveUpdateLab -Path $folder -ErrorAction Stop } | Should -Throw -ErrorId 'LabPathNotEmpty,LiveUpdate.PowerShell.Commands.NewLiveUpdateLabCommand'
        Get-ChildItem $folder | Should -HaveCount 1
    }
}

Describe 'Connect-LiveUpdateSystem' {
    BeforeAll {
        $lab = New-TestLab
        $uuid = (Get-LogicalPartition lpar1).Uuid
    }

    It 'reopens the lab from another runspace' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($Module, $Lab)
                    Import-Module $Module
                    $system = Connect-LiveUpdateSystem -Path $Lab
                    [pscustomobject]@{ Location = $system.Location; Partition = Get-LogicalPartition lpar1 }
                }).AddArgument($ModulePath).AddArgument($lab)
            $out = $ps.Invoke()
            $ps.HadErrors | Should -BeFalse
            $out[0].Location | Should -Be ([IO.Path]::GetFullPath($lab))
            $out[0].Partition.Uuid | Should -Be $uuid
            $out[0].Partition.OsLevel.ToString() | Should -Be '7300-02-01'
        }
        finally { $ps.Dispose() }
    }

    It 'reopens the lab from another process and sees its changes' {
        $job = Start-Job -ArgumentList $ModulePath, $lab -ScriptBlock {
            param($Module, $Lab)
            Import-Module $Module
            Connect-LiveUpdateSystem -Path $Lab | Out-Null
            $clone = New-RootVgClone -Partition lpar1 -Disk hdisk1
            [pscustomobject]@{ Uuid = (Get-LogicalPartition lpar1).Uuid; CloneDisks = @($clone.Disks) }
        }
        try { $out = $job | Wait-Job | Receive-Job -ErrorAction Stop }
        finally { $job | Remove-Job -Force }
        $out.Uuid | Should -Be $uuid
        $out.CloneDisks | Should -Be @('hdisk1')
        # This session reads the same lab: the other process's clone is there.
        $clone = Get-VolumeGroup altinst_rootvg -Partition lpar1
        $clone.Disks | Should -Be @('hdisk1')
        (Get-PhysicalVolume hdisk1).State | Should -Be 'InUse'
    }

    It 'becomes the session default' {
        $other = New-TestLab -Name other
        (Get-LiveUpdateSystem).Location | Should -Be ([IO.Path]::GetFullPath($other))
        Connect-LiveUpdateSystem -Path $lab | Out-Null
        (Get-LiveUpdateSystem).Location | Should -Be ([IO.Path]::GetFullPath($lab))
        Get-VolumeGroup altinst_rootvg | Should -Not -BeNullOrEmpty
    }
}

Describe 'Remove-LiveUpdateLab' {
    It 'removes a lab folder and disconnects from it' {
        $lab = New-TestLab
        Remove-LiveUpdateLab -Path $lab -Confirm:$false
        $lab | Should -Not -Exist
        { Get-LogicalPartition -ErrorAction Stop } | Should -Throw -ErrorId 'NotConnected,LiveUpdate.PowerShell.Commands.GetLogicalPartitionCommand'
    }

    It 'disconnects from the lab however its path is written' {
        $lab = New-TestLab
        Remove-LiveUpdateLab -Path ($lab + [IO.Path]::DirectorySeparatorChar) -Confirm:$false
        $lab | Should -Not -Exist
        { Get-LogicalPartition -ErrorAction Stop } | Should -Throw -ErrorId 'NotConnected,LiveUpdate.PowerShell.Commands.GetLogicalPartitionCommand'
    }

    It 'removes the connected lab when no path is given' {
        $lab = New-TestLab
        Remove-LiveUpdateLab -Confirm:$false
        $lab | Should -Not -Exist
    }

    It 'removes a lab that is not the connected one and stays connected' {
        $first = New-TestLab -Name first
        $second = New-TestLab -Name second
        Remove-LiveUpdateLab -Path $first -Confirm:$false
        $first | Should -Not -Exist
        (Get-LiveUpdateSystem).Location | Should -Be ([IO.Path]::GetFullPath($second))
    }

    It 'removes a lab whose state is damaged' {
        $lab = New-TestLab
        $file = Join-Path $lab 'system.state'
        [IO.File]::WriteAllText($file, [IO.File]::ReadAllText($file).Substring(0, 200))
        Remove-LiveUpdateLab -Path $lab -Confirm:$false
        $lab | Should -Not -Exist
    }

    It 'refuses a folder that is not a lab and leaves it alone' {
        $folder = Join-Path $TestDrive 'precious'
        New-Item -ItemType Directory $folder | Out-Null
        Set-Content (Join-Path $folder 'data.txt') 'keep me'
        $err = { Remove-LiveUpdateLab -Path $folder -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'NotALab,LiveUpdate.PowerShell.Commands.RemoveLiveUpdateLabCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.TargetObject | Should -Be $folder
        Get-Content (Join-Path $folder 'data.txt') | Should -Be 'keep me'
    }
}
