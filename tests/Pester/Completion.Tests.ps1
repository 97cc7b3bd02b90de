# Tab completion of partition, disk, volume group, application, operation names and bundle paths from the connected
# system, exactly as a person pressing Tab gets them (TabExpansion2).

BeforeDiscovery {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    $identityTypes = 'PartitionIdentity', 'CloneIdentity', 'MirrorIdentity', 'ApplicationIdentity', 'DiskIdentity'
    $script:identityParameters = foreach ($command in Get-Command -Module LiveUpdate) {
        foreach ($parameter in $command.Parameters.Values) {
            if ($parameter.ParameterType.Name.TrimEnd('[]') -in $identityTypes -or $parameter.Name -in 'UpdatePath', 'Id' -or
                ($parameter.Name -eq 'Name' -and $command.Noun -notin 'LiveUpdateLab', 'LiveUpdateBundle')) {
                @{ Command = $command.Name; Parameter = $parameter.Name; Attributes = $parameter.Attributes }
            }
        }
    }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    $lab = Join-Path $TestDrive 'lab'
    $null = New-LiveUpdateLab -Path $lab -PartitionCount 2
    $null = New-RootVgClone -Partition lpar2 -Disk hdisk3

    function Complete([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches
    }
}

AfterAll {
    Remove-LiveUpdateLab -Path (Join-Path $TestDrive 'lab') -Confirm:$false
}

Describe 'Completers on every name parameter' {
    It '<Command> -<Parameter> has an argument completer' -ForEach $identityParameters {
        $Attributes | Where-Object { $_ -is [System.Management.Automation.ArgumentCompleterAttribute] } | Should -Not -BeNullOrEmpty
    }
}

Describe 'Completing names from the connected system' {
    It 'completes partitions: <Line>' -ForEach @(
        @{ Line = 'Get-LogicalPartition -Name '; Expect = 'lpar1', 'lpar2' }
        @{ Line = 'Get-LogicalPartition -Name LPAR2'; Expect = @('lpar2') }
        @{ Line = 'Invoke-LiveUpdate l'; Expect = 'lpar1', 'lpar2' }
        @{ Line = 'Move-Application -Application ihs -Destination lpar'; Expect = 'lpar1', 'lpar2' }
    ) {
        (Complete $Line).CompletionText | Should -Be $Expect
    }

    It 'describes a partition in its tooltip' {
        (Complete 'Get-LogicalPartition -Name lpar1')[0].ToolTip | Should -Be 'lpar1 (Running, 7300-02-01)'
    }

    It 'completes all disks for Get-PhysicalVolume, only free ones where a clone or mirror needs them' {
        (Complete 'Get-PhysicalVolume -Name ').CompletionText | Should -Be 'hdisk0', 'hdisk1', 'hdisk2', 'hdisk3', 'hdisk4', 'hdisk5'
        (Complete 'New-RootVgClone -Partition lpar1 -Disk ').CompletionText | Should -Be 'hdisk2', 'hdisk4', 'hdisk5'
        (Complete 'Invoke-LiveUpdate lpar1 x -MirrorDisk hdisk').CompletionText | Should -Be 'hdisk2', 'hdisk4', 'hdisk5'
    }

    It 'completes volume groups, of the partition already given' {
        (Complete 'Get-VolumeGroup -Name ').CompletionText | Should -Be 'altinst_rootvg', 'rootvg'
        (Complete 'Remove-VolumeGroup -Partition lpar1 -Name ').CompletionText | Should -Be 'rootvg'
        (Complete 'Remove-VolumeGroup -Partition lpar2 -Name ').CompletionText | Should -Be 'altinst_rootvg', 'rootvg'
    }

    It 'completes applications' {
        (Complete 'Get-Application -Name ').CompletionText | Should -Be 'db2inst1', 'db2inst1-lpar2', 'ihs', 'ihs-lpar2'
        (Complete 'Move-Application -Application d').CompletionText | Should -Be 'db2inst1', 'db2inst1-lpar2'
        (Complete 'Test-ApplicationData ihs-').CompletionText | Should -Be 'ihs-lpar2'
        (Complete 'Get-Application -Name ihs')[0].ToolTip | Should -Be 'ihs on lpar1 (Running)'
    }

    It 'completes the bundles of the lab by name, with their levels, and other paths as file names' {
        $matches = Complete 'Invoke-LiveUpdate -Partition lpar1 -UpdatePath 7300'
        $matches.CompletionText | Should -Be (Join-Path $lab 'updates/7300-02-02'), (Join-Path $lab 'updates/7300-03-01')
        $matches[0].ToolTip | Should -BeLike 'AIX 7300-02-02 service pack: 7300-02-01 -> 7300-02-02 *'
        (Complete 'Install-CloneUpdate -Clone lpar2 -Path 7300-03').CompletionText | Should -Be (Join-Path $lab 'updates/7300-03-01')
        Push-Location $lab
        try {
            (Complete 'Test-LiveUpdate lpar1 ./updates/7300-0').CompletionText | Should -Be './updates/7300-02-02', './updates/7300-03-01'
        }
        finally { Pop-Location }
    }

    It 'completes operation ids, and only unfinished ones for Resume-LiveUpdate' {
        $other = Join-Path $TestDrive 'ops'
        $null = New-LiveUpdateLab -Path $other -PartitionCount 2
        $done = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $other 'updates/7300-02-02')
        # A second update, held in flight in another runspace, is the unfinished one.
        $release = Join-Path $other 'release'
        $env:LIVEUPDATE_FAULT = 'Clone:During:Pause'; $env:LIVEUPDATE_FAULT_RELEASE = $release
        $state = [System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
        $state.ImportPSModule($env:LIVEUPDATE_MODULE)
        $shell = [powershell]::Create($state)
        try {
            $null = $shell.AddScript("`$null = Connect-LiveUpdateSystem -Path '$other'; Invoke-LiveUpdate -Partition lpar2 -UpdatePath '$other/updates/7300-02-02'")
            $running = $shell.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not (Get-LiveUpdateOperation -Partition lpar2 -Unfinished) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
            $held = Get-LiveUpdateOperation -Partition lpar2 -Unfinished
            (Complete 'Get-LiveUpdateOperation -Id ').CompletionText | Sort-Object | Should -Be (@($done.OperationId, $held.Id) | Sort-Object)
            (Complete "Get-LiveUpdateOperation -Id $($done.OperationId)")[0].ToolTip | Should -Be 'Update of lpar1 7300-02-01 -> 7300-02-02: Succeeded'
            (Complete 'Resume-LiveUpdate -Id ').CompletionText | Should -Be $held.Id
        }
        finally {
            Remove-Item Env:LIVEUPDATE_FAULT, Env:LIVEUPDATE_FAULT_RELEASE
            $null = New-Item -ItemType File -Path $release -Force
            $null = $shell.EndInvoke($running)
            $shell.Dispose()
        }
        Remove-LiveUpdateLab -Path $other -Confirm:$false
        $null = Connect-LiveUpdateSystem -Path $lab
    }

    It 'offers no names when no system is connected' {
        $state = [System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
        $state.ImportPSModule($env:LIVEUPDATE_MODULE)
        $shell = [powershell]::Create($state)
        try {
            $null = $shell.AddScript('(TabExpansion2 -inputScript "Get-LogicalPartition -Name " -cursorColumn 26).CompletionMatches.CompletionText')
            $shell.Invoke() | Should -Not -Contain 'lpar1'
            $shell.Streams.Error | Should -BeNullOrEmpty
        }
        finally { $shell.Dispose() }
    }
}
