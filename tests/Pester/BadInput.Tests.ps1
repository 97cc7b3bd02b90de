# Every bad input of issue 2: a terminating error with -ErrorAction Stop whose FullyQualifiedErrorId is
# 'Id,LiveUpdate.PowerShell.Commands.XxxCommand', a fitting ErrorCategory, the object it is about as TargetObject,
# and a lab that is exactly as it was.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')

    function Assert-Refused {
        param(
            [Parameter(Mandatory)] [scriptblock] $Command,
            [Parameter(Mandatory)] [string] $ErrorId,
            [Parameter(Mandatory)] [string] $Cmdlet,
            [Parameter(Mandatory)] [System.Management.Automation.ErrorCategory] $Category,
            [Parameter(Mandatory)] [AllowNull()] $Target,
            [string] $Lab
        )
        $before = if ($Lab) { Get-LabSnapshot $Lab }
        $id = "$ErrorId,LiveUpdate.PowerShell.Commands.$Cmdlet"
        $err = $Command | Should -Throw -ErrorId $id -PassThru
        $err.FullyQualifiedErrorId | Should -BeExactly $id
        $err.CategoryInfo.Category | Should -Be $Category
        $err.TargetObject | Should -Be $Target
        $err.Exception.Message | Should -Not -BeNullOrEmpty
        if ($Lab) { Assert-LabUnchanged $before $Lab }
    }
}

Describe 'Unknown names' {
    BeforeAll { $lab = New-TestLab; $bundle = Join-Path $lab 'updates/7300-02-02' }

    It 'an unknown partition' {
        Assert-Refused { Get-LogicalPartition nosuch -ErrorAction Stop } PartitionNotFound GetLogicalPartitionCommand ObjectNotFound 'nosuch' $lab
        Assert-Refused { New-RootVgClone -Partition nosuch -Disk hdisk1 -ErrorAction Stop } PartitionNotFound NewRootVgCloneCommand ObjectNotFound 'nosuch' $lab
        Assert-Refused { Start-RootVgMirror -Partition nosuch -Disk hdisk2 -ErrorAction Stop } PartitionNotFound StartRootVgMirrorCommand ObjectNotFound 'nosuch' $lab
        Assert-Refused { Invoke-LiveUpdate -Partition nosuch -UpdatePath $bundle -ErrorAction Stop } PartitionNotFound InvokeLiveUpdateCommand ObjectNotFound 'nosuch' $lab
        Assert-Refused { Get-Application -Partition nosuch -ErrorAction Stop } PartitionNotFound GetApplicationCommand ObjectNotFound 'nosuch' $lab
    }

    It 'an unknown disk' {
        Assert-Refused { Get-PhysicalVolume hdisk9 -ErrorAction Stop } DiskNotFound GetPhysicalVolumeCommand ObjectNotFound 'hdisk9' $lab
        Assert-Refused { New-RootVgClone -Partition lpar1 -Disk hdisk9 -ErrorAction Stop } DiskNotFound NewRootVgCloneCommand ObjectNotFound 'hdisk9' $lab
        Assert-Refused { Start-RootVgMirror -Partition lpar1 -Disk hdisk9 -ErrorAction Stop } DiskNotFound StartRootVgMirrorCommand ObjectNotFound 'hdisk9' $lab
        Assert-Refused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -CloneDisk hdisk9 -ErrorAction Stop } DiskNotFound InvokeLiveUpdateCommand ObjectNotFound 'hdisk9' $lab
    }

    It 'an unknown application' {
        Assert-Refused { Get-Application nosuch -ErrorAction Stop } ApplicationNotFound GetApplicationCommand ObjectNotFound 'nosuch' $lab
        Assert-Refused { Move-Application -Application nosuch -Destination lpar1 -ErrorAction Stop } ApplicationNotFound MoveApplicationCommand ObjectNotFound 'nosuch' $lab
    }

    It 'an unknown volume group' {
        Assert-Refused { Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false -ErrorAction Stop } VolumeGroupNotFound RemoveVolumeGroupCommand ObjectNotFound 'old_rootvg' $lab
    }

    It 'a volume group in use' {
        Assert-Refused { Remove-VolumeGroup -Name rootvg -Partition lpar1 -Confirm:$false -ErrorAction Stop } VolumeGroupInUse RemoveVolumeGroupCommand InvalidOperation 'rootvg' $lab
    }
}

Describe 'Disks that cannot be used' {
    BeforeAll { $lab = New-TestLab; $bundle = Join-Path $lab 'updates/7300-02-02' }

    It 'a disk in use' {
        Assert-Refused { New-RootVgClone -Partition lpar1 -Disk hdisk0 -ErrorAction Stop } DiskInUse NewRootVgCloneCommand ResourceUnavailable 'hdisk0' $lab
        Assert-Refused { Start-RootVgMirror -Partition lpar1 -Disk hdisk0 -ErrorAction Stop } DiskInUse StartRootVgMirrorCommand ResourceUnavailable 'hdisk0' $lab
        Assert-Refused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -MirrorDisk hdisk0 -ErrorAction Stop } DiskInUse InvokeLiveUpdateCommand ResourceUnavailable 'hdisk0' $lab
    }

    It 'a disk too small (hdisk3 is 10 GiB, rootvg needs more)' {
        (Get-PhysicalVolume hdisk3).SizeMB | Should -Be 10240
        Assert-Refused { New-RootVgClone -Partition lpar1 -Disk hdisk3 -ErrorAction Stop } DiskTooSmall NewRootVgCloneCommand InvalidArgument 'hdisk3' $lab
        Assert-Refused { Start-RootVgMirror -Partition lpar1 -Disk hdisk3 -ErrorAction Stop } DiskTooSmall StartRootVgMirrorCommand InvalidArgument 'hdisk3' $lab
        Assert-Refused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -CloneDisk hdisk3 -ErrorAction Stop } DiskTooSmall InvokeLiveUpdateCommand InvalidArgument 'hdisk3' $lab
    }

    It 'the same disk for clone and mirror' {
        Assert-Refused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -CloneDisk hdisk1 -MirrorDisk hdisk1 -ErrorAction Stop } DiskNamedTwice InvokeLiveUpdateCommand InvalidArgument 'hdisk1' $lab
        Assert-Refused { New-RootVgClone -Partition lpar1 -Disk hdisk1, hdisk1 -ErrorAction Stop } DiskNamedTwice NewRootVgCloneCommand InvalidArgument 'hdisk1' $lab
    }

    It 'the disk of the clone for the mirror' {
        New-RootVgClone -Partition lpar1 -Disk hdisk1 | Out-Null
        Assert-Refused { Start-RootVgMirror -Partition lpar1 -Disk hdisk1 -ErrorAction Stop } DiskInUse StartRootVgMirrorCommand ResourceUnavailable 'hdisk1' $lab
    }
}

Describe 'A partition that is not running' {
    BeforeAll {
        $lab = New-TestLab
        $bundle = Join-Path $lab 'updates/7300-02-02'
        Edit-LabState $lab { param($s) $s.Partitions[0].Running = $false }
    }

    It 'is shown as NotActivated' {
        (Get-LogicalPartition lpar1).State | Should -Be 'NotActivated'
    }

    It 'is refused by every step that needs it running' {
        Assert-Refused { New-RootVgClone -Partition lpar1 -Disk hdisk1 -ErrorAction Stop } PartitionNotRunning NewRootVgCloneCommand InvalidOperation 'lpar1' $lab
        Assert-Refused { Start-RootVgMirror -Partition lpar1 -Disk hdisk2 -ErrorAction Stop } PartitionNotRunning StartRootVgMirrorCommand InvalidOperation 'lpar1' $lab
        Assert-Refused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -ErrorAction Stop } PartitionNotRunning InvokeLiveUpdateCommand InvalidOperation 'lpar1' $lab
        Assert-Refused { Move-Application -Application db2inst1 -Destination lpar1 -ErrorAction Stop } PartitionNotRunning MoveApplicationCommand InvalidOperation 'lpar1' $lab
    }
}

Describe 'Bad bundles' {
    BeforeAll {
        # Install-CloneUpdate needs a clone, made by hand in $lab; Invoke-LiveUpdate runs on $other, which has none (on
        # $lab it would be refused first for the hand steps in progress).
        $other = New-TestLab -Name 'other'
        $lab = New-TestLab
        $good = Join-Path $lab 'updates/7300-02-02'
        New-RootVgClone -Partition lpar1 -Disk hdisk1 | Out-Null
    }

    It 'a bundle that is missing' {
        $path = Join-Path $lab 'updates/7300-09-09'
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $path -ErrorAction Stop } BundleNotFound InstallCloneUpdateCommand ObjectNotFound $path $lab
        Assert-Refused { Invoke-LiveUpdate -System $other -Partition lpar1 -UpdatePath $path -ErrorAction Stop } BundleNotFound InvokeLiveUpdateCommand ObjectNotFound $path $other
    }

    It 'a bundle without manifest' {
        $copy = Copy-Bundle $good
        Remove-Item (Join-Path $copy 'manifest.json')
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } BundleManifestMissing InstallCloneUpdateCommand InvalidData $copy $lab
    }

    It 'a corrupt manifest (not JSON)' {
        $copy = Copy-Bundle $good
        Set-Content (Join-Path $copy 'manifest.json') '{ "format": "LiveUpdate.Bundle/1", "name": '
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } BundleManifestInvalid InstallCloneUpdateCommand InvalidData $copy $lab
        Assert-Refused { Invoke-LiveUpdate -System $other -Partition lpar1 -UpdatePath $copy -ErrorAction Stop } BundleManifestInvalid InvokeLiveUpdateCommand InvalidData $copy $other
    }

    It 'a manifest without a valid target level' {
        $copy = Copy-Bundle $good
        Edit-BundleManifest $copy @{ targetLevel = 'next week' }
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } BundleManifestInvalid InstallCloneUpdateCommand InvalidData $copy $lab
    }

    It 'a payload that fails its checksum (one byte changed)' {
        $copy = Copy-Bundle $good
        $payload = Get-ChildItem (Join-Path $copy 'payload') | Sort-Object Name | Select-Object -First 1
        $bytes = [IO.File]::ReadAllBytes($payload.FullName)
        $bytes[100] = $bytes[100] -bxor 0x20
        [IO.File]::WriteAllBytes($payload.FullName, $bytes)
        $err = { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match ([regex]::Escape($payload.Name))
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } BundleChecksumMismatch InstallCloneUpdateCommand InvalidData $copy $lab
        Assert-Refused { Invoke-LiveUpdate -System $other -Partition lpar1 -UpdatePath $copy -ErrorAction Stop } BundleChecksumMismatch InvokeLiveUpdateCommand InvalidData $copy $other
    }

    It 'a payload missing from the bundle' {
        $copy = Copy-Bundle $good
        Get-ChildItem (Join-Path $copy 'payload') | Select-Object -First 1 | Remove-Item
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } BundlePayloadMissing InstallCloneUpdateCommand InvalidData $copy $lab
    }

    It 'a file that the manifest does not list' {
        $copy = Copy-Bundle $good
        Set-Content (Join-Path $copy 'payload/extra.sh') 'echo surprise'
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } BundleUnexpectedFile InstallCloneUpdateCommand InvalidData $copy $lab
    }

    It 'a target level equal to the current one' {
        $copy = Copy-Bundle $good
        Edit-BundleManifest $copy @{ targetLevel = '7300-02-01'; requiresLevel = $null }
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } BundleLevelNotNewer InstallCloneUpdateCommand InvalidOperation $copy $lab
        Assert-Refused { Invoke-LiveUpdate -System $other -Partition lpar1 -UpdatePath $copy -ErrorAction Stop } BundleLevelNotNewer InvokeLiveUpdateCommand InvalidOperation $copy $other
    }

    It 'a target level lower than the current one' {
        $copy = Copy-Bundle $good
        Edit-BundleManifest $copy @{ targetLevel = '7300-01-04'; requiresLevel = '7300-01-01' }
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } BundleLevelNotNewer InstallCloneUpdateCommand InvalidOperation $copy $lab
    }

    It 'a requirement the partition does not meet (7300-03-01 needs 7300-02-02)' {
        $tl = Join-Path $lab 'updates/7300-03-01'
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $tl -ErrorAction Stop } BundleRequirementNotMet InstallCloneUpdateCommand InvalidOperation $tl $lab
        Assert-Refused { Invoke-LiveUpdate -System $other -Partition lpar1 -UpdatePath $tl -ErrorAction Stop } BundleRequirementNotMet InvokeLiveUpdateCommand InvalidOperation $tl $other
    }

    It 'a bundle that is not live-update capable' {
        $copy = Copy-Bundle $good
        Edit-BundleManifest $copy @{ liveUpdateCapable = $false }
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $copy -ErrorAction Stop } BundleNotLiveUpdateCapable InstallCloneUpdateCommand InvalidOperation $copy $lab
    }
}

Describe 'Not enough processors or memory on the frame' {
    It 'refuses the surrogate when memory is short (-FrameMemoryMB 20000)' {
        $lab = New-TestLab -Parameters @{ FrameMemoryMB = 20000 }
        $bundle = Join-Path $lab 'updates/7300-02-02'
        Assert-Refused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -ErrorAction Stop } InsufficientFrameResources InvokeLiveUpdateCommand ResourceUnavailable 'lpar1' $lab
        New-RootVgClone -Partition lpar1 -Disk hdisk1 | Out-Null
        Install-CloneUpdate -Clone lpar1 -Path $bundle | Out-Null
        Assert-Refused { Start-UpdatedPartition -Clone lpar1 -ErrorAction Stop } InsufficientFrameResources StartUpdatedPartitionCommand ResourceUnavailable 'lpar1' $lab
    }

    It 'refuses the surrogate when processors are short (-FrameProcessors 6)' {
        $lab = New-TestLab -Parameters @{ FrameProcessors = 6 }
        Assert-Refused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -ErrorAction Stop } InsufficientFrameResources InvokeLiveUpdateCommand ResourceUnavailable 'lpar1' $lab
    }
}

Describe 'Steps out of order' {
    BeforeAll { $lab = New-TestLab; $bundle = Join-Path $lab 'updates/7300-02-02' }

    It 'refuses each step whose predecessor is missing' {
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $bundle -ErrorAction Stop } CloneNotFound InstallCloneUpdateCommand ObjectNotFound 'lpar1' $lab
        Assert-Refused { Start-UpdatedPartition -Clone lpar1 -ErrorAction Stop } CloneNotFound StartUpdatedPartitionCommand ObjectNotFound 'lpar1' $lab
        Assert-Refused { Import-MirrorVg -Mirror lpar1 -Partition lpar1 -ErrorAction Stop } MirrorNotFound ImportMirrorVgCommand ObjectNotFound 'lpar1' $lab
        New-RootVgClone -Partition lpar1 -Disk hdisk1 | Out-Null
        Assert-Refused { New-RootVgClone -Partition lpar1 -Disk hdisk4 -ErrorAction Stop } CloneExists NewRootVgCloneCommand ResourceExists 'lpar1' $lab
        Assert-Refused { Start-UpdatedPartition -Clone lpar1 -ErrorAction Stop } CloneNotUpdated StartUpdatedPartitionCommand InvalidOperation 'lpar1' $lab
        Start-RootVgMirror -Partition lpar1 -Disk hdisk2 | Out-Null
        Assert-Refused { Start-RootVgMirror -Partition lpar1 -Disk hdisk4 -ErrorAction Stop } MirrorExists StartRootVgMirrorCommand ResourceExists 'lpar1' $lab
        Install-CloneUpdate -Clone lpar1 -Path $bundle | Out-Null
        Assert-Refused { Import-MirrorVg -Mirror lpar1 -Partition lpar1 -ErrorAction Stop } NotASurrogate ImportMirrorVgCommand InvalidArgument 'lpar1' $lab
        Start-UpdatedPartition -Clone lpar1 | Out-Null
        Assert-Refused { Install-CloneUpdate -Clone lpar1 -Path $bundle -ErrorAction Stop } CloneInUse InstallCloneUpdateCommand InvalidOperation 'lpar1' $lab
        Assert-Refused { Start-UpdatedPartition -Clone lpar1 -ErrorAction Stop } SurrogateExists StartUpdatedPartitionCommand ResourceExists 'lpar1' $lab
        Assert-Refused { Move-Application -Application db2inst1 -Destination lpar1_surrogate -ErrorAction Stop } MirrorNotImported MoveApplicationCommand InvalidOperation 'lpar1_surrogate' $lab
        Assert-Refused { Move-Application -Application db2inst1 -Destination lpar1 -ErrorAction Stop } ApplicationAlreadyThere MoveApplicationCommand InvalidOperation 'db2inst1' $lab
        Assert-Refused { New-RootVgClone -Partition lpar1_surrogate -Disk hdisk4 -ErrorAction Stop } PartitionIsSurrogate NewRootVgCloneCommand InvalidOperation 'lpar1_surrogate' $lab
        Import-MirrorVg -Mirror lpar1 -Partition lpar1_surrogate | Out-Null
        Assert-Refused { Import-MirrorVg -Mirror lpar1 -Partition lpar1_surrogate -ErrorAction Stop } MirrorAlreadyImported ImportMirrorVgCommand ResourceExists 'lpar1' $lab
    }
}

Describe 'Labs that cannot be opened' {
    It 'a folder that is not a lab' {
        $folder = Join-Path $TestDrive 'plain'
        New-Item -ItemType Directory $folder | Out-Null
        Set-Content (Join-Path $folder 'readme.txt') 'not a lab'
        Assert-Refused { Connect-LiveUpdateSystem -Path $folder -ErrorAction Stop } NotALab ConnectLiveUpdateSystemCommand InvalidArgument $folder
        Get-ChildItem $folder | ForEach-Object Name | Should -Be @('readme.txt')
    }

    It 'a folder that does not exist' {
        $folder = Join-Path $TestDrive 'nowhere'
        Assert-Refused { Connect-LiveUpdateSystem -Path $folder -ErrorAction Stop } NotALab ConnectLiveUpdateSystemCommand ObjectNotFound $folder
        $folder | Should -Not -Exist
    }

    It 'a connected lab whose folder was deleted' {
        $lab = New-TestLab
        Remove-Item -LiteralPath $lab -Recurse -Force
        Assert-Refused { Get-LogicalPartition -ErrorAction Stop } NotALab GetLogicalPartitionCommand ObjectNotFound $lab -Lab $null
        Assert-Refused { New-RootVgClone -Partition lpar1 -Disk hdisk1 -ErrorAction Stop } NotALab NewRootVgCloneCommand ObjectNotFound $lab -Lab $null
        $lab | Should -Not -Exist
    }

    It 'a state file edited by hand' {
        $lab = New-TestLab
        $file = Join-Path $lab 'system.state'
        [IO.File]::WriteAllText($file, [IO.File]::ReadAllText($file).Replace('"lpar1"', '"lpar7"'))
        # The session was connected to it before the edit: every command refuses it now, and nothing is rewritten.
        Assert-Refused { Get-LogicalPartition -ErrorAction Stop } LabStateCorrupt GetLogicalPartitionCommand InvalidData $file $lab
        Assert-Refused { New-RootVgClone -Partition lpar1 -Disk hdisk1 -ErrorAction Stop } LabStateCorrupt NewRootVgCloneCommand InvalidData $file $lab
        Assert-Refused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -ErrorAction Stop } LabStateCorrupt InvokeLiveUpdateCommand InvalidData $file $lab
        Assert-Refused { Connect-LiveUpdateSystem -Path $lab -ErrorAction Stop } LabStateCorrupt ConnectLiveUpdateSystemCommand InvalidData $file $lab
        # A connect that failed leaves the session connected to nothing.
        Assert-Refused { Get-LogicalPartition -ErrorAction Stop } NotConnected GetLogicalPartitionCommand InvalidOperation $null $lab
    }

    It 'a truncated state file' {
        $lab = New-TestLab
        $file = Join-Path $lab 'system.state'
        $bytes = [IO.File]::ReadAllBytes($file)
        [IO.File]::WriteAllBytes($file, $bytes[0..([int]($bytes.Length / 2))])
        Assert-Refused { Get-PhysicalVolume -ErrorAction Stop } LabStateCorrupt GetPhysicalVolumeCommand InvalidData $file $lab
        Assert-Refused { Connect-LiveUpdateSystem -Path $lab -ErrorAction Stop } LabStateCorrupt ConnectLiveUpdateSystemCommand InvalidData $file $lab
    }

    It 'a state file without its header' {
        $lab = New-TestLab
        $file = Join-Path $lab 'system.state'
        $text = [IO.File]::ReadAllText($file)
        [IO.File]::WriteAllText($file, $text.Substring($text.IndexOf("`n") + 1))
        Assert-Refused { Connect-LiveUpdateSystem -Path $lab -ErrorAction Stop } LabStateCorrupt ConnectLiveUpdateSystemCommand InvalidData $file $lab
    }
}

Describe 'No system connected' {
    It 'refuses in a new runspace that connected nothing' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($Module)
                    Import-Module $Module
                    try { Get-LogicalPartition -ErrorAction Stop } catch { $_ }
                }).AddArgument($ModulePath)
            $err = $ps.Invoke()[0]
            $err | Should -BeOfType ([System.Management.Automation.ErrorRecord])
            $err.FullyQualifiedErrorId | Should -BeExactly 'NotConnected,LiveUpdate.PowerShell.Commands.GetLogicalPartitionCommand'
            $err.CategoryInfo.Category | Should -Be 'InvalidOperation'
        }
        finally { $ps.Dispose() }
    }

    It 'refuses every command once the connected lab is removed' {
        $lab = New-TestLab
        Remove-LiveUpdateLab -Confirm:$false
        Assert-Refused { Get-LogicalPartition -ErrorAction Stop } NotConnected GetLogicalPartitionCommand InvalidOperation $null
        Assert-Refused { Get-LiveUpdateSystem -ErrorAction Stop } NotConnected GetLiveUpdateSystemCommand InvalidOperation $null
        Assert-Refused { New-RootVgClone -Partition lpar1 -Disk hdisk1 -ErrorAction Stop } NotConnected NewRootVgCloneCommand InvalidOperation $null
        Assert-Refused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $TestDrive 'x') -ErrorAction Stop } NotConnected InvokeLiveUpdateCommand InvalidOperation $null
        Assert-Refused { Remove-LiveUpdateLab -Confirm:$false -ErrorAction Stop } NotConnected RemoveLiveUpdateLabCommand InvalidOperation $null
    }
}
