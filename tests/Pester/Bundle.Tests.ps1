# Bundles from the outside: New-LiveUpdateBundle makes them (folder or archive, SHA-256 and size of every payload),
# Test-LiveUpdateBundle checks one without a partition and says what it found, the labs' sample bundles are made the
# same way, a doctored copy planted where extractions used to be shared is never used, and Undo-LiveUpdate goes back
# to an older kept level too.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support/TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'Support/Matrix.ps1')
    $script:work = Join-Path $TestDrive 'work'
    $null = New-Item -ItemType Directory -Path $work
    Set-Content -Path (Join-Path $work 'bos.rte.7.3.2.2.bff') -Value ('bos.rte image ' + ('x' * 4096)) -NoNewline
    Set-Content -Path (Join-Path $work 'bos.mp64.7.3.2.2.bff') -Value ('bos.mp64 image ' + ('y' * 4096)) -NoNewline
    $script:packages = @(
        @{ Name = 'bos.rte'; Version = '7.3.2.2'; Path = (Join-Path $work 'bos.rte.7.3.2.2.bff') }
        @{ Name = 'bos.mp64'; Version = '7.3.2.2'; Path = (Join-Path $work 'bos.mp64.7.3.2.2.bff') }
    )

    function New-Bundle([string] $Name, [hashtable] $More = @{}) {
        $parameters = @{ Path = (Join-Path $TestDrive $Name); Name = 'AIX 7300-02-02 service pack'; TargetLevel = '7300-02-02'; RequiresLevel = '7300-02-01'; Package = $packages }
        foreach ($k in $More.Keys) { $parameters[$k] = $More[$k] }
        New-LiveUpdateBundle @parameters
    }

    function Get-CopyCount([string] $OperationId) {
        @(Get-ChildItem ([IO.Path]::GetTempPath()) -Directory -Filter "liveupdate-bundle-$OperationId-*" -ErrorAction SilentlyContinue).Count
    }
}

Describe 'New-LiveUpdateBundle and Test-LiveUpdateBundle' {
    It 'makes a <Shape> that Test-LiveUpdateBundle verifies' -ForEach @(
        @{ Shape = 'folder'; File = 'sp'; Format = 'Folder' }
        @{ Shape = 'zip archive'; File = 'sp.zip'; Format = 'Zip' }
        @{ Shape = 'tar archive'; File = 'sp.tar'; Format = 'Tar' }
        @{ Shape = 'tar.gz archive'; File = 'sp.tar.gz'; Format = 'TarGz' }
    ) {
        $made = New-Bundle $File
        ($made.Verified, $made.Format, $made.TargetLevel, $made.RequiresLevel, $made.LiveUpdateCapable) | Should -Be @($true, $Format, '7300-02-02', '7300-02-01', $true)
        $made.Packages.Name | Should -Be @('bos.rte', 'bos.mp64')
        foreach ($p in $made.Packages) {
            $source = Join-Path $work (Split-Path $p.File -Leaf)
            $p.Sha256 | Should -Be (Get-FileHash $source -Algorithm SHA256).Hash.ToLowerInvariant()
            $p.Size | Should -Be (Get-Item $source).Length
            $p.Kind | Should -Be 'fileset'
        }
        $found = Test-LiveUpdateBundle -Path (Join-Path $TestDrive $File)
        ($found.Verified, $found.Name, $found.PayloadBytes) | Should -Be @($true, 'AIX 7300-02-02 service pack', ($made.Packages.Size | Measure-Object -Sum).Sum)
        Test-LiveUpdateBundle (Join-Path $TestDrive $File) -Quiet | Should -BeTrue
    }

    It 'takes the kind from the file, and says when a payload is not what its kind needs' {
        $overlay = Join-Path $work 'recordd-9.tar.gz'
        $tree = Join-Path $TestDrive 'overlay-tree'
        $null = New-Item -ItemType Directory -Path (Join-Path $tree 'opt/recordd') -Force
        Set-Content (Join-Path $tree 'opt/recordd/VERSION') '9'
        $file = [IO.File]::Create($overlay)
        $gz = [IO.Compression.GZipStream]::new($file, [IO.Compression.CompressionLevel]::Fastest)
        [System.Formats.Tar.TarFile]::CreateFromDirectory($tree, $gz, $false)
        $gz.Dispose(); $file.Dispose()
        $made = New-LiveUpdateBundle -Path (Join-Path $TestDrive 'linux') -Name 'Lab Linux 7300-02-02' -TargetLevel 7300-02-02 -Package @{ Name = 'recordd'; Version = '9'; Path = $overlay }
        $made.Packages.Kind | Should -Be 'overlay'
        $fake = Join-Path $work 'not-a.deb'
        Set-Content $fake 'plain text'
        $e = { New-LiveUpdateBundle -Path (Join-Path $TestDrive 'bad-deb') -Name 'x' -TargetLevel 7300-02-02 -Package @{ Name = 'lab-base'; Version = '1'; Path = $fake } -ErrorAction Stop } |
            Should -Throw -ErrorId 'BundleDefinitionInvalid,LiveUpdate.PowerShell.Commands.NewLiveUpdateBundleCommand' -PassThru
        $e.Exception.Message | Should -Match 'Debian package'
        Test-Path (Join-Path $TestDrive 'bad-deb') | Should -BeFalse
    }

    It 'refuses <What> and writes nothing' -ForEach @(
        @{ What = 'a version with a newline'; Id = 'BundleDefinitionInvalid'; Package = @{ Name = 'bos.rte'; Version = "7.3.2.2`nbos.evil 9"; Path = 'PAYLOAD' } }
        @{ What = 'a package name with a space'; Id = 'BundleDefinitionInvalid'; Package = @{ Name = 'bos rte'; Version = '7.3.2.2'; Path = 'PAYLOAD' } }
        @{ What = 'an unknown kind'; Id = 'BundleDefinitionInvalid'; Package = @{ Name = 'bos.rte'; Version = '7.3.2.2'; Kind = 'shell'; Path = 'PAYLOAD' } }
        @{ What = 'a payload that does not exist'; Id = 'PayloadNotFound'; Package = @{ Name = 'bos.rte'; Version = '7.3.2.2'; Path = 'MISSING' } }
    ) {
        $package = $Package.Clone()
        $package.Path = if ($package.Path -eq 'PAYLOAD') { $packages[0].Path } else { Join-Path $work 'missing.bff' }
        $target = Join-Path $TestDrive ('refused-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
        { New-LiveUpdateBundle -Path $target -Name 'x' -TargetLevel 7300-02-02 -Package $package -ErrorAction Stop } |
            Should -Throw -ErrorId "$Id,LiveUpdate.PowerShell.Commands.NewLiveUpdateBundleCommand"
        Test-Path $target | Should -BeFalse
    }

    It 'refuses a path that exists, and changes nothing with -WhatIf' {
        $null = New-Bundle 'taken.zip'
        { New-Bundle 'taken.zip' -ErrorAction Stop } | Should -Throw -ErrorId 'BundlePathExists,LiveUpdate.PowerShell.Commands.NewLiveUpdateBundleCommand'
        New-Bundle 'never.zip' @{ WhatIf = $true } | Should -BeNullOrEmpty
        Test-Path (Join-Path $TestDrive 'never.zip') | Should -BeFalse
    }

    It 'says what it found in a bundle that fails: <Case>' -ForEach @(
        @{ Case = 'a device node in the archive'; Id = 'BundleEntryTypeNotAllowed' }
        @{ Case = 'a missing bundle'; Id = 'BundleNotFound' }
    ) {
        $path = Join-Path $TestDrive "hostile-$([guid]::NewGuid().ToString('N').Substring(0, 6)).tar"
        if ($Id -eq 'BundleEntryTypeNotAllowed') {
            $source = (New-Bundle "src-$([guid]::NewGuid().ToString('N').Substring(0, 6))").Path
            $file = [IO.File]::Create($path)
            $tar = [System.Formats.Tar.TarWriter]::new($file, [System.Formats.Tar.TarEntryFormat]::Pax, $false)
            foreach ($f in Get-ChildItem $source -Recurse -File) { $tar.WriteEntry($f.FullName, [IO.Path]::GetRelativePath($source, $f.FullName)) }
            $node = [System.Formats.Tar.PaxTarEntry]::new([System.Formats.Tar.TarEntryType]::BlockDevice, 'payload/sda')
            $node.DeviceMajor = 8
            $tar.WriteEntry($node)
            $tar.Dispose()
        }
        $found = Test-LiveUpdateBundle $path
        ($found.Verified, $found.ErrorId) | Should -Be @($false, $Id)
        $found.Message | Should -Not -BeNullOrEmpty
        Test-LiveUpdateBundle $path -Quiet | Should -BeFalse
    }

    It 'verifies what Get-ChildItem pipes' {
        $null = New-Bundle 'piped.zip'
        (Get-Item (Join-Path $TestDrive 'piped.zip') | Test-LiveUpdateBundle).Verified | Should -BeTrue
    }
}

Describe 'The labs'' sample bundles' {
    It 'are made as New-LiveUpdateBundle makes bundles' {
        $lab = New-TestLab
        $sample = Join-Path $lab 'updates/7300-02-02'
        (Test-LiveUpdateBundle $sample).Verified | Should -BeTrue
        $manifest = Get-Content (Join-Path $sample 'manifest.json') -Raw | ConvertFrom-Json
        $again = New-LiveUpdateBundle -Path (Join-Path $TestDrive 'again') -Name $manifest.name -TargetLevel $manifest.targetLevel -RequiresLevel $manifest.requiresLevel -Package @(
            foreach ($p in $manifest.packages) { @{ Name = $p.name; Version = $p.version; Kind = $p.kind; Path = (Join-Path $sample $p.file) } })
        (Get-Content (Join-Path $again.Path 'manifest.json') -Raw) | Should -BeExactly (Get-Content (Join-Path $sample 'manifest.json') -Raw)
    }
}

Describe 'An archive bundle in use' {
    BeforeAll {
        $lab = New-TestLab
        $zip = (New-Bundle 'published.zip').Path
    }

    It 'ignores a doctored copy planted where extractions used to be shared, and removes its own copy' {
        $sha = (Get-FileHash $zip -Algorithm SHA256).Hash.ToLowerInvariant()
        $planted = Join-Path ([IO.Path]::GetTempPath()) ('liveupdate-bundle-' + $sha.Substring(0, 24))
        if (Test-Path $planted) { Remove-Item $planted -Recurse -Force }
        Set-Content (Join-Path $work 'evil.bff') "#!/bin/sh`necho an unsigned payload" -NoNewline
        $null = New-LiveUpdateBundle -Path $planted -Name 'AIX 7300-02-02 service pack' -TargetLevel 7300-02-02 -RequiresLevel 7300-02-01 -Package @(
            @{ Name = 'bos.rte'; Version = '7.3.2.2'; Path = (Join-Path $work 'evil.bff') }
            $packages[1])
        Rename-Item (Join-Path $planted 'payload/evil.bff') 'bos.rte.7.3.2.2.bff'
        try {
            $before = Get-LabSnapshot $planted
            $clone = New-RootVgClone lpar1 hdisk1 | Install-CloneUpdate $zip
            $clone.OsLevel | Should -Be '7300-02-02'
            $installed = Join-Path $lab 'disks/hdisk1/usr/sys/inst.images/bos.rte.7.3.2.2.bff'
            (Get-FileHash $installed).Hash | Should -Be (Get-FileHash $packages[0].Path).Hash -Because 'what is installed is the archive''s payload'
            Assert-LabUnchanged -Before $before -Path $planted
            $id = (Get-LiveUpdateOperation -Unfinished).Id
            Get-CopyCount $id | Should -Be 0 -Because 'the verified copy is removed when the step ends'
            $clone | Remove-RootVgClone -Confirm:$false
        }
        finally { Remove-Item $planted -Recurse -Force -ErrorAction SilentlyContinue }
    }

    It 'is copied for a live update and the copy is removed when the operation ends' {
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $zip
        $r.Status | Should -Be 'Succeeded'
        Get-CopyCount $r.OperationId | Should -Be 0
    }

    It 'leaves no copy of a process that died: the resumed operation or the removed lab takes it' {
        foreach ($end in 'resume', 'remove') {
            $other = New-TestLab -Name 'killed'
            $bundle = (New-Bundle "killed-$end.zip").Path
            Invoke-LiveUpdateInChild -Lab $other -Bundle $bundle -Fault 'Install:During:Kill' | Should -Not -Be 0
            $id = (Get-LiveUpdateOperation -System $other -Unfinished).Id
            Get-CopyCount $id | Should -Be 1 -Because 'the process died before it could remove its copy'
            if ($end -eq 'resume') { $null = Resume-LiveUpdate -System $other -Id $id -RollBack -Confirm:$false -ErrorAction SilentlyContinue }
            else { Remove-LiveUpdateLab -Path $other -Confirm:$false }
            Get-CopyCount $id | Should -Be 0 -Because "the $end removes what the dead process left"
        }
    }
}

Describe 'Undo-LiveUpdate -VolumeGroup' {
    It 'goes back to an older kept level, not only the newest' {
        $lab = New-TestLab
        $null = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02')
        $null = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-03-01')
        $kept = Get-VolumeGroup -Partition lpar1 | Where-Object Role -eq 'OldRoot' | Sort-Object Name
        @($kept.Name) + @($kept.OsLevel) | Should -Be @('old_rootvg', 'old_rootvg1', '7300-02-02', '7300-02-01')
        $e = { Undo-LiveUpdate -Partition lpar1 -VolumeGroup old_rootvg7 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'OldRootVgMissing,LiveUpdate.PowerShell.Commands.UndoLiveUpdateCommand' -PassThru
        $e.Exception.Message | Should -Match 'old_rootvg1 \(7300-02-01\)'
        $r = Undo-LiveUpdate -Partition lpar1 -VolumeGroup old_rootvg1 -Confirm:$false
        ($r.Status, $r.OsLevel) | Should -Be @('Succeeded', '7300-02-01')
        (Get-LogicalPartition lpar1).OsLevel | Should -Be '7300-02-01'
        $kept = Get-VolumeGroup -Partition lpar1 | Where-Object Role -eq 'OldRoot' | Sort-Object Name
        @($kept.Name) + @($kept.OsLevel) | Should -Be @('old_rootvg', 'old_rootvg1', '7300-03-01', '7300-02-02') -Because 'the level it left is the newest kept one'
        foreach ($check in Get-Application | Test-ApplicationData) { $check.Verified | Should -BeTrue }
    }
}
