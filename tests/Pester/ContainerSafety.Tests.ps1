# Nothing a partition holds can reach the host (container backend): links planted in a partition's root, disks that
# are not what they claim, unsafe folders and lock files, values that would inject lines. Each case reproduces one way
# the boundary failed and shows that it now fails safely with a stable error id, or leaves the host file untouched.
# Needs root on Linux with the container backend's tools; skipped elsewhere with the reason printed.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Support/Linux.ps1')
    $script:linuxSkip = Get-LinuxSkipReason
    if ($script:linuxSkip) { Write-Host "Container safety tests skipped: $script:linuxSkip" -ForegroundColor Yellow }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    . (Join-Path $PSScriptRoot 'Support/Linux.ps1')
    . (Join-Path $PSScriptRoot 'Support/HostileRoot.ps1')

    # The partition's / as the host sees it: the root subvolume of its root volume group's mount.
    function Get-PartitionRoot([string] $Partition) {
        $disk = (Get-LogicalPartition -Name $Partition).RootDisks[0]
        $device = ((Get-PhysicalVolume -Name $disk).Location -split ' ')[0]
        Join-Path @(& findmnt --noheadings --output TARGET --source $device)[0] 'root'
    }

    # Nothing that bears the lab's folder or id is left on the host (other labs may come and go meanwhile).
    function Assert-NothingOfLabLeft([string] $Lab, [string] $Id) {
        $snapshot = Get-HostSnapshot
        @($snapshot.Loops | Where-Object { $_.Contains($Lab) }) | Should -BeNullOrEmpty
        @($snapshot.Mounts | Where-Object { $_.StartsWith($Lab) }) | Should -BeNullOrEmpty
        @($snapshot.Namespaces | Where-Object { $_.StartsWith("lu$Id") }) | Should -BeNullOrEmpty
        @($snapshot.Processes | Where-Object { $_ -match "lu$($Id)p" }) | Should -BeNullOrEmpty
    }

    # Named by the lab: a connect that a test expects to fail leaves the session connected to nothing.
    function Get-Device([string] $Disk) { ((Get-PhysicalVolume -System $script:lab -Name $Disk).Location -split ' ')[0] }

    # A bundle folder: manifest.json listing each payload file with its SHA-256 and size.
    function New-TestBundle([string] $Folder, [string] $Target, [string] $Requires, [object[]] $Packages) {
        New-Item -ItemType Directory -Force (Join-Path $Folder 'payload') | Out-Null
        $listed = foreach ($p in $Packages) {
            $file = Join-Path $Folder "payload/$($p.File)"
            Copy-Item -LiteralPath $p.Source -Destination $file
            [ordered]@{ name = $p.Name; version = $p.Version; kind = $p.Kind; file = "payload/$($p.File)"
                sha256 = (Get-FileHash -LiteralPath $file -Algorithm SHA256).Hash.ToLowerInvariant(); size = (Get-Item -LiteralPath $file).Length
            }
        }
        [ordered]@{ format = 'LiveUpdate.Bundle/1'; name = "test bundle $Target"; targetLevel = $Target; requiresLevel = $Requires
            liveUpdateCapable = $true; packages = @($listed)
        } | ConvertTo-Json -Depth 4 | Set-Content -Path (Join-Path $Folder 'manifest.json')
        $Folder
    }

    # An overlay archive (tar.gz) of the given files, relative names as keys.
    function New-Overlay([string] $Path, [hashtable] $Files) {
        $stage = Join-Path (Split-Path $Path) ("stage-" + [guid]::NewGuid().ToString('N'))
        foreach ($name in $Files.Keys) {
            $file = Join-Path $stage $name
            New-Item -ItemType Directory -Force (Split-Path $file) | Out-Null
            Set-Content -Path $file -Value $Files[$name] -NoNewline
        }
        & tar -czf $Path -C $stage @($Files.Keys)
        $LASTEXITCODE | Should -Be 0
        Remove-Item -LiteralPath $stage -Recurse -Force
        $Path
    }
}

Describe 'Container backend: nothing a partition holds reaches the host' -Tag 'Container', 'Linux', 'Root' -Skip:($null -ne $script:linuxSkip) {
    Context 'a lab whose partition root is full of hostile links' {
        BeforeAll {
            $script:lab = Join-Path $TestDrive 'lab-hostile'
            $script:devProbe = $null
            New-LiveUpdateLab -Backend Container -Path $script:lab -Confirm:$false | Out-Null
            $script:id = (Get-Content (Join-Path $script:lab 'liveupdate-host.json') -Raw | ConvertFrom-Json).id
            $script:hostFolder = Join-Path $TestDrive 'host-files'
            $script:watch = New-HostileRoot -Root (Get-PartitionRoot lpar1) -HostFolder $script:hostFolder
            # Where the backend once copied a Debian package into the clone before installing it.
            $null = New-Item -ItemType SymbolicLink -Path (Join-Path (Get-PartitionRoot lpar1) 'tmp/liveupdate-lab-base_7300-02-02_all.deb') -Target (Join-Path $script:hostFolder 'host-planted')
            $script:devProbe = "/dev/liveupdate-probe-$($script:id)"
            $script:watch += $script:devProbe
            $script:hashes = Get-HostFileState $script:watch
            # The sample service pack, and an overlay that writes under dev/ (the clone's /dev while it unpacks).
            $sample = Join-Path $script:lab 'updates/7300-02-02'
            $manifest = Get-Content (Join-Path $sample 'manifest.json') -Raw | ConvertFrom-Json
            $overlay = New-Overlay (Join-Path $TestDrive 'dev-probe.tar.gz') @{ "dev/liveupdate-probe-$($script:id)" = 'written in the clone'; 'etc/liveupdate-marker' = 'overlay ran' }
            $packages = @($manifest.packages | ForEach-Object { @{ Name = $_.name; Version = $_.version; Kind = $_.kind; File = (Split-Path $_.file -Leaf); Source = (Join-Path $sample $_.file) } }) +
                @{ Name = 'dev-probe'; Version = '1'; Kind = 'overlay'; File = 'dev-probe.tar.gz'; Source = $overlay }
            $script:bundle = New-TestBundle (Join-Path $TestDrive 'bundle-hostile') '7300-02-02' '7300-02-01' $packages
        }
        AfterAll {
            if (Test-Path (Join-Path $script:lab 'liveupdate-host.json')) { Remove-LiveUpdateLab -Path $script:lab -Confirm:$false }
            if ($script:devProbe) { Remove-Item -LiteralPath $script:devProbe -Force -ErrorAction SilentlyContinue }
        }

        It 'live-updates lpar1 (an overlay under dev/, a Debian package into a folder linked to /etc) with every host file unchanged' {
            $result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $script:bundle -Confirm:$false
            $result.Status | Should -Be 'Succeeded' -Because $result.Reason
            (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '7300-02-02'
            Assert-HostFileState $script:watch $script:hashes
            $root = Get-PartitionRoot lpar1
            # What the update wrote went into the partition's own tree: the planted links are files of its own now,
            # the package's file is in the partition's /etc, the dev/ entry went with the installer's private /dev.
            (Get-Item (Join-Path $root 'etc/liveupdate/packages')).LinkType | Should -BeNullOrEmpty
            Get-Content (Join-Path $root 'etc/liveupdate/packages') | Should -Contain 'dev-probe 1 overlay'
            (Get-Content (Join-Path $root 'etc/hostname') -Raw).Trim() | Should -Be 'lpar1'
            (Get-Content (Join-Path $root 'etc/release') -Raw).Trim() | Should -Be '7300-02-02'
            Get-Content (Join-Path $root 'etc/liveupdate-marker') -Raw | Should -Be 'overlay ran'
            Test-Path -LiteralPath (Join-Path $root "dev/liveupdate-probe-$($script:id)") | Should -BeFalse
            (Get-Application recordd).State | Should -Be 'Running'
        }

        It 'goes back (Undo-LiveUpdate) with every host file unchanged' {
            $undo = Undo-LiveUpdate -Partition lpar1 -Confirm:$false
            $undo.Status | Should -Be 'Succeeded' -Because $undo.Reason
            (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '7300-02-01'
            Assert-HostFileState $script:watch $script:hashes
            (Get-Application recordd).State | Should -Be 'Running'
        }

        It 'reads a pid file that the partition made a link to /dev/zero without following it (bounded, at once)' {
            $p = Get-LogicalPartition lpar1
            $machine = (Get-Content (Join-Path $script:lab 'liveupdate-state.json') | Select-Object -Skip 1 | ConvertFrom-Json).Partitions |
                Where-Object Name -EQ 'lpar1' | ForEach-Object LeaderPid
            & nsenter --target $machine --mount --root -- /bin/sh -c 'cp /run/recordd.pid /run/recordd.pid.real && ln -sf /dev/zero /run/recordd.pid'
            $LASTEXITCODE | Should -Be 0
            try {
                $clock = [Diagnostics.Stopwatch]::StartNew()
                (Get-Application recordd).State | Should -Be 'Stopped'
                $clock.Elapsed | Should -BeLessThan ([TimeSpan]::FromSeconds(20))
            }
            finally {
                & nsenter --target $machine --mount --root -- /bin/sh -c 'mv -f /run/recordd.pid.real /run/recordd.pid'
            }
            (Get-Application recordd).State | Should -Be 'Running'
            $null = $p
        }

        It 'refuses a lock owner file that is a link (LinkRefused) and leaves its target untouched' {
            $owner = Join-Path $script:lab 'locks/lpar1.owner'
            New-Item -ItemType Directory -Force (Split-Path $owner) | Out-Null
            $target = Join-Path $script:hostFolder 'host-planted'
            $hash = (Get-FileHash $target).Hash
            $null = New-Item -ItemType SymbolicLink -Path $owner -Target $target
            try {
                { Invoke-LiveUpdate -Partition lpar1 -UpdatePath $script:bundle -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'LinkRefused,LiveUpdate.PowerShell.Commands.InvokeLiveUpdateCommand'
                (Get-FileHash $target).Hash | Should -Be $hash
            }
            finally { Remove-Item -LiteralPath $owner -Force }
        }

        It 'Remove-LiveUpdateLab leaves the host as it was' {
            Remove-LiveUpdateLab -Path $script:lab -Confirm:$false
            Assert-NothingOfLabLeft $script:lab $script:id
            Assert-HostFileState $script:watch $script:hashes
        }
    }

    Context 'disks that are not what they claim, unsafe folders, values that would add lines' {
        BeforeAll {
            $script:lab = Join-Path $TestDrive 'lab-disks'
            New-LiveUpdateLab -Backend Container -Path $script:lab -Confirm:$false | Out-Null
            $script:descriptionFile = Join-Path $script:lab 'liveupdate-host.json'
            $script:original = Get-Content $script:descriptionFile -Raw
            $script:id = ($script:original | ConvertFrom-Json).id
            function Set-Description([scriptblock] $Change) {
                $d = $script:original | ConvertFrom-Json
                & $Change $d
                $d | ConvertTo-Json -Depth 8 | Set-Content -Path $script:descriptionFile
            }
            function Restore-Description { Set-Content -Path $script:descriptionFile -Value $script:original -NoNewline }
        }
        AfterAll {
            if (Test-Path $script:lab) {
                Restore-Description
                Remove-LiveUpdateLab -Path $script:lab -Confirm:$false
            }
        }

        It 'refuses two disk entries that are one storage before anything is written (DiskSameStorage, -Force too)' {
            $loop = Get-Device hdisk1
            Set-Description { param($d) $d.disks += [pscustomobject]@{ name = 'hdisk9'; device = $loop } }
            try {
                foreach ($force in $false, $true) {
                    { Connect-LiveUpdateSystem -Path $script:lab -Force:$force -ErrorAction Stop } | Should -Throw -ErrorId 'DiskSameStorage,LiveUpdate.PowerShell.Commands.ConnectLiveUpdateSystemCommand'
                }
                & blkid -p $loop | Should -BeNullOrEmpty
            }
            finally { Restore-Description }
        }

        It 'refuses a device path that leaves /dev or carries a comma (HostDescriptionInvalid)' {
            foreach ($device in '/dev/../tmp/x', "$(Get-Device hdisk3),subvol=/") {
                Set-Description { param($d) $d.disks[3] = [pscustomobject]@{ name = 'hdisk3'; device = $device } }
                try { { Connect-LiveUpdateSystem -Path $script:lab -ErrorAction Stop } | Should -Throw -ErrorId 'HostDescriptionInvalid,LiveUpdate.PowerShell.Commands.ConnectLiveUpdateSystemCommand' }
                finally { Restore-Description }
            }
        }

        It 'refuses a disk that is mounted on the host (DiskMounted), -Force too, and writes nothing to it' {
            $loop = Get-Device hdisk3
            & mkfs.ext4 -q -F $loop 2>&1 | Out-Null
            $mount = Join-Path $TestDrive 'mounted-disk'
            New-Item -ItemType Directory -Force $mount | Out-Null
            & mount $loop $mount
            $LASTEXITCODE | Should -Be 0
            try {
                { Connect-LiveUpdateSystem -Path $script:lab -Force -ErrorAction Stop } | Should -Throw -ErrorId 'DiskMounted,LiveUpdate.PowerShell.Commands.ConnectLiveUpdateSystemCommand'
                (& blkid -o value -s TYPE $loop) | Should -Be 'ext4'
            }
            finally { & umount $mount; & wipefs --all --quiet $loop }
        }

        It 'does not take a file system for its own by its label: a btrfs labelled lu.<id>.vg99 is in use, not free' {
            $loop = Get-Device hdisk3
            & mkfs.btrfs -q -f -L "lu.$($script:id).vg99" $loop 2>&1 | Out-Null
            $LASTEXITCODE | Should -Be 0
            Connect-LiveUpdateSystem -Path $script:lab | Out-Null
            (Get-PhysicalVolume -Name hdisk3).State | Should -Be 'InUse'
            { New-RootVgClone -Partition lpar1 -Disk hdisk3 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'DiskInUse,LiveUpdate.PowerShell.Commands.NewRootVgCloneCommand'
            (& blkid -o value -s LABEL $loop) | Should -Be "lu.$($script:id).vg99"
            & wipefs --all --quiet $loop
            Connect-LiveUpdateSystem -Path $script:lab | Out-Null
            (Get-PhysicalVolume -Name hdisk3).State | Should -Be 'Free'
        }

        It 'refuses a lab or host folder that another user can write (FolderNotSafe)' {
            $open = Join-Path $TestDrive 'open-folder'
            New-Item -ItemType Directory -Force $open | Out-Null
            & chown nobody $open
            & chmod 1777 $open
            { New-LiveUpdateLab -Backend Container -Path $open -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'FolderNotSafe,LiveUpdate.PowerShell.Commands.NewLiveUpdateLabCommand'
            @(Get-ChildItem -Force $open).Count | Should -Be 0
            & chmod 0777 $script:lab
            try { { Connect-LiveUpdateSystem -Path $script:lab -ErrorAction Stop } | Should -Throw -ErrorId 'FolderNotSafe,LiveUpdate.PowerShell.Commands.ConnectLiveUpdateSystemCommand' }
            finally { & chmod 0700 $script:lab }
            # The folders the module makes are its owner's alone.
            foreach ($dir in $script:lab, (Join-Path $script:lab 'mnt'), (Join-Path $script:lab 'disks')) {
                ([IO.File]::GetUnixFileMode($dir) -band 0x3f) | Should -Be 0 -Because "$dir is made owner-only"
            }
        }

        It 'never writes a package version with a newline unescaped into the partition or the log' {
            Connect-LiveUpdateSystem -Path $script:lab | Out-Null
            $sample = Join-Path $script:lab 'updates/7300-02-02'
            $overlay = New-Overlay (Join-Path $TestDrive 'newline.tar.gz') @{ 'etc/liveupdate-newline' = 'x' }
            $bundle = New-TestBundle (Join-Path $TestDrive 'bundle-newline') '7300-02-02' '7300-02-01' @(
                @{ Name = 'innocent'; Version = "1`nevil 9 base"; Kind = 'overlay'; File = 'newline.tar.gz'; Source = $overlay })
            $log = Join-Path $TestDrive 'newline.log'
            $clone = $null
            $refused = $null
            try {
                $null = New-RootVgClone -Partition lpar1 -Disk hdisk1 -Confirm:$false
                $clone = Install-CloneUpdate -Path $bundle -Partition lpar1 -Confirm:$false -LogPath $log -ErrorAction Stop -Verbose 4>&1
            }
            catch {
                $refused = $_
                $_.FullyQualifiedErrorId | Should -Match '^Bundle' -Because 'a bundle whose manifest the verification refuses is refused with an id'
            }
            $root = Join-Path @(& findmnt --noheadings --output TARGET --source (Get-Device hdisk1))[0] 'root'
            $installed = Test-Path (Join-Path $root 'etc/liveupdate-newline')
            ($installed -or $refused) | Should -BeTrue -Because 'the bundle is either refused with an id or installed'
            if ($installed) {
                $lines = @(Get-Content (Join-Path $root 'etc/liveupdate/packages'))
                $lines | Where-Object { $_ -match '^evil' } | Should -BeNullOrEmpty
                $lines | Should -Contain 'innocent 1\x0aevil\x209\x20base overlay'
                @($clone | Where-Object { $_ -is [Management.Automation.VerboseRecord] -and $_.Message -match '^evil' }) | Should -BeNullOrEmpty
                Get-Content $log | Where-Object { $_ -match '^evil' } | Should -BeNullOrEmpty
            }
            $null = $sample
        }

        It 'Remove-LiveUpdateLab leaves the host as it was' {
            Remove-LiveUpdateLab -Path $script:lab -Confirm:$false
            Assert-NothingOfLabLeft $script:lab $script:id
        }
    }
}
