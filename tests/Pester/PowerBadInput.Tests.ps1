# Bad input on the Power backend, against the emulated frame: each refusal has a stable ErrorId and changes nothing
# on the frame (the frame logs every command with whether it can change anything); passwords reach no log, message
# or command line; a connection dropped in the middle of a step leaves an operation that Resume-LiveUpdate finishes.
# Needs root on Linux with openssh-server and python3; skipped elsewhere with the reason printed.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Support/Power.ps1')
    $script:powerSkip = Get-PowerSkipReason
    if ($script:powerSkip) { Write-Host "Power bad-input tests skipped: $script:powerSkip" -ForegroundColor Yellow }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    . (Join-Path $PSScriptRoot 'Support/Matrix.ps1')
    if (-not (Get-PowerSkipReason)) { $script:frame = New-PowerFrame -Applications 1 }

    function Assert-PowerRefused {
        param(
            [Parameter(Mandatory)] [scriptblock] $Command,
            [Parameter(Mandatory)] [string] $ErrorId,
            [Parameter(Mandatory)] [string] $Cmdlet,
            [Parameter(Mandatory)] [System.Management.Automation.ErrorCategory] $Category
        )
        Clear-FrameCommand $script:frame
        $id = "$ErrorId,LiveUpdate.PowerShell.Commands.$Cmdlet"
        $err = $Command | Should -Throw -ErrorId $id -PassThru
        $err.FullyQualifiedErrorId | Should -BeExactly $id
        $err.CategoryInfo.Category | Should -Be $Category
        $err.Exception.Message | Should -Not -BeNullOrEmpty
        $err.Exception.Message | Should -Not -Match ([regex]::Escape($script:frame.password))
        @(Get-FrameCommand $script:frame | Where-Object change | ForEach-Object { $_.argv -join ' ' }) | Should -BeNullOrEmpty -Because 'a refusal changes nothing on the frame'
        $err
    }

    function New-Password([string] $Text) { ConvertTo-SecureString $Text -AsPlainText -Force }
}

AfterAll {
    if ($script:frame) {
        Set-FrameFault $script:frame
        Remove-PowerFrame $script:frame
    }
}

Describe 'Power backend: bad input' -Tag 'Power', 'Root' -Skip:([bool]$script:powerSkip) {
    Context 'connecting' {
        BeforeAll {
            Reset-PowerFrame $script:frame
            $script:passwordHmc = @{ hmc = [ordered]@{ address = $script:frame.hmc; port = 22; user = 'hscroot' } }
        }
        AfterEach { Set-FrameFault $script:frame }

        It 'wrong credentials: SshAuthenticationFailed, and the password is in no message' {
            $lab = Join-Path $TestDrive 'wrong-password'
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect -Change $script:passwordHmc
            $bad = [pscredential]::new('hscroot', (New-Password 'not-the-Fr4me-pw'))
            $err = Assert-PowerRefused { Connect-LiveUpdateSystem -Path $lab -Credential $bad } SshAuthenticationFailed ConnectLiveUpdateSystemCommand PermissionDenied
            $err.Exception.Message | Should -Not -Match 'not-the-Fr4me-pw'
        }

        It 'the right password logs in, and it reaches no log, no verbose message and no command line' {
            $lab = Join-Path $TestDrive 'password'
            $log = Join-Path $TestDrive 'password.log'
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect -Change $script:passwordHmc
            $good = [pscredential]::new('hscroot', (New-Password $script:frame.password))
            Clear-FrameCommand $script:frame
            $verbose = Connect-LiveUpdateSystem -Path $lab -Credential $good -LogPath $log -Verbose 4>&1
            $verbose += Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -LogPath $log -Verbose 4>&1
            (Get-LiveUpdateSystem).Backend | Should -Be 'Power'
            $pattern = [regex]::Escape($script:frame.password)
            Get-Content $log -Raw | Should -Not -Match $pattern
            ($verbose | Out-String) | Should -Not -Match $pattern
            (Get-FrameCommand $script:frame | ForEach-Object { $_.argv -join ' ' }) -join "`n" | Should -Not -Match $pattern
            Get-Content $log -Raw | Should -Match 'lssyscfg -r lpar'
        }

        It 'logs in through the SSH agent when no password or key file is given' {
            $lab = Join-Path $TestDrive 'agent'
            $partitions = @([ordered]@{ name = 'lpar1'; address = $script:frame.lpar1; user = 'root' })
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect -Change @{ hmc = [ordered]@{ address = $script:frame.hmc; user = 'hscroot' }; partitions = $partitions }
            $socket = Join-Path $TestDrive 'agent.sock'
            $agent = Start-Process -FilePath /usr/bin/ssh-agent -ArgumentList @('-D', '-a', $socket) -PassThru
            $saved = $env:SSH_AUTH_SOCK
            try {
                $deadline = [DateTime]::UtcNow.AddSeconds(10)
                while (-not (Test-Path $socket) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
                $env:SSH_AUTH_SOCK = $socket
                $null = & /usr/bin/ssh-add -q $script:frame.clientKey 2>&1
                $LASTEXITCODE | Should -Be 0
                (Connect-LiveUpdateSystem -Path $lab).Name | Should -Be $script:frame.system
                (Get-LogicalPartition lpar1).State | Should -Be 'Running'
                $env:SSH_AUTH_SOCK = Join-Path $TestDrive 'no-agent.sock'
                $null = Assert-PowerRefused { Connect-LiveUpdateSystem -Path $lab } SshAgentUnavailable ConnectLiveUpdateSystemCommand NotEnabled
            }
            finally {
                $env:SSH_AUTH_SOCK = $saved
                Stop-Process -Id $agent.Id -ErrorAction SilentlyContinue
            }
        }

        It 'an unknown host key: HostKeyUnknown; -TrustHostKey records it, then it is known' {
            $lab = Join-Path $TestDrive 'unknown-key'
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect -NoKnownHosts
            $null = Assert-PowerRefused { Connect-LiveUpdateSystem -Path $lab } HostKeyUnknown ConnectLiveUpdateSystemCommand PermissionDenied
            Test-Path (Join-Path $lab 'known_hosts') | Should -BeFalse
            $null = Connect-LiveUpdateSystem -Path $lab -TrustHostKey -WarningAction SilentlyContinue
            $known = Get-Content (Join-Path $lab 'known_hosts')
            $known | Should -Contain "$($script:frame.hmc) $(($script:frame.hostKeys.hmc -split ' ')[0..1] -join ' ')"
            $known | Should -Contain "$($script:frame.lpar1) $(($script:frame.hostKeys.lpar1 -split ' ')[0..1] -join ' ')"
            [int](Get-Item (Join-Path $lab 'known_hosts')).UnixFileMode | Should -Be 384 -Because 'known_hosts is created owner-only (0600)'
            $null = Connect-LiveUpdateSystem -Path $lab
        }

        It 'a changed host key: HostKeyChanged, even with -TrustHostKey' {
            $lab = Join-Path $TestDrive 'changed-key'
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect
            $wrong = ($script:frame.hostKeys.vios -split ' ')[0..1] -join ' '
            Set-Content (Join-Path $lab 'known_hosts') "$($script:frame.hmc) $wrong"
            & chmod 600 (Join-Path $lab 'known_hosts')
            $err = Assert-PowerRefused { Connect-LiveUpdateSystem -Path $lab -TrustHostKey } HostKeyChanged ConnectLiveUpdateSystemCommand PermissionDenied
            $err.Exception.Message | Should -Match 'has changed'
            @(Get-Content (Join-Path $lab 'known_hosts')).Count | Should -Be 1
        }

        It 'a known-hosts file that others can write is not trusted' {
            $lab = Join-Path $TestDrive 'writable-known-hosts'
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect
            & chmod 666 (Join-Path $lab 'known_hosts')
            $null = Assert-PowerRefused { Connect-LiveUpdateSystem -Path $lab } KnownHostsNotTrusted ConnectLiveUpdateSystemCommand PermissionDenied
        }

        It 'an unknown managed system: ManagedSystemNotFound' {
            $lab = Join-Path $TestDrive 'unknown-system'
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect -Change @{ managedSystem = 'Server-9080-HEX-SN0000000' }
            $err = Assert-PowerRefused { Connect-LiveUpdateSystem -Path $lab } ManagedSystemNotFound ConnectLiveUpdateSystemCommand ObjectNotFound
            $err.Exception.Message | Should -Match ([regex]::Escape($script:frame.system))
        }

        It 'an unknown partition: PartitionNotFound' {
            $lab = Join-Path $TestDrive 'unknown-partition'
            $partitions = @([ordered]@{ name = 'lpar9'; address = $script:frame.lpar1; user = 'root'; keyFile = $script:frame.clientKey })
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect -Change @{ partitions = $partitions; applications = @() }
            $null = Assert-PowerRefused { Connect-LiveUpdateSystem -Path $lab } PartitionNotFound ConnectLiveUpdateSystemCommand ObjectNotFound
        }

        It 'an HMC that answers "No results were found.": HmcNoResults' {
            $lab = Join-Path $TestDrive 'no-results'
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect
            Set-FrameFault $script:frame @(@{ endpoint = 'hmc'; match = 'lssyscfg -r lpar'; action = 'noresults'; times = 1 })
            $null = Assert-PowerRefused { Connect-LiveUpdateSystem -Path $lab } HmcNoResults ConnectLiveUpdateSystemCommand ObjectNotFound
        }

        It 'connects by HMC and managed system name, keeping its state in an owner-only folder of the user' {
            $lab = Join-Path $TestDrive 'by-name'
            $null = New-PowerLab -Frame $script:frame -Path $lab -NoConnect
            $env:XDG_STATE_HOME = Join-Path $TestDrive 'state'
            try {
                $system = Connect-LiveUpdateSystem -Hmc $script:frame.hmc -ManagedSystem $script:frame.system -KeyFilePath $script:frame.clientKey `
                    -DescriptionPath (Join-Path $lab 'liveupdate-power.json') -KnownHostsPath (Join-Path $lab 'known_hosts')
                $folder = Join-Path $env:XDG_STATE_HOME "LiveUpdate/power/$($script:frame.hmc)/$($script:frame.system)"
                $system.Location | Should -Be $folder
                [int](Get-Item $folder).UnixFileMode | Should -Be 448 -Because 'the state folder is owner-only (0700)'
                (Get-LogicalPartition lpar1).State | Should -Be 'Running'
                $bad = [pscredential]::new('hscroot', (New-Password 'x'))
                $null = Assert-PowerRefused { Connect-LiveUpdateSystem -Hmc $script:frame.hmc -ManagedSystem $script:frame.system -KeyFilePath $script:frame.clientKey -Credential $bad } CredentialConflict ConnectLiveUpdateSystemCommand InvalidArgument
            }
            finally { $env:XDG_STATE_HOME = $null }
        }
    }

    Context 'refusals on a connected frame' {
        BeforeAll {
            Reset-PowerFrame $script:frame
            $script:lab = Join-Path $TestDrive 'connected'
            $null = New-PowerLab -Frame $script:frame -Path $script:lab
        }
        AfterEach { Set-FrameFault $script:frame }

        It 'a disk in use (a data volume group): DiskInUse' {
            $null = Assert-PowerRefused { New-RootVgClone -Partition lpar1 -Disk hdisk5 -Confirm:$false -ErrorAction Stop } DiskInUse NewRootVgCloneCommand ResourceUnavailable
        }

        It 'a disk too small for rootvg: DiskTooSmall' {
            $null = Assert-PowerRefused { Start-RootVgMirror -Partition lpar1 -Disk hdisk3 -Confirm:$false -ErrorAction Stop } DiskTooSmall StartRootVgMirrorCommand InvalidArgument
        }

        It 'a partition not at the level the bundle requires: BundleRequirementNotMet' {
            $null = Assert-PowerRefused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $script:lab 'updates/7300-03-01') -Confirm:$false -ErrorAction Stop } BundleRequirementNotMet InvokeLiveUpdateCommand InvalidOperation
        }

        It 'output that does not parse: UnexpectedOutput, naming the command and the line' {
            Start-Sleep -Milliseconds 2100
            Set-FrameFault $script:frame @(@{ endpoint = 'lpar1'; match = 'lspv'; action = 'garbage'; text = "hdisk0 00f6 rootvg active extra words`n"; times = 1 })
            $err = Assert-PowerRefused { Get-PhysicalVolume -ErrorAction Stop } UnexpectedOutput GetPhysicalVolumeCommand InvalidData
            $err.Exception.Message | Should -Match "'lspv'"
            $err.Exception.Message | Should -Match 'extra words'
        }
    }

    Context 'not enough processors or memory on the frame' {
        It 'too few free processors: InsufficientFrameResources, and Test-LiveUpdate says why' {
            Reset-PowerFrame $script:frame -ProcUnits 1.6
            $lab = Join-Path $TestDrive 'few-processors'
            $null = New-PowerLab -Frame $script:frame -Path $lab
            $check = (Test-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02')).Checks | Where-Object Name -EQ 'FrameResources'
            $check.Passed | Should -BeFalse
            $check.ErrorId | Should -Be 'InsufficientFrameResources'
            $null = Assert-PowerRefused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -Confirm:$false -ErrorAction Stop } InsufficientFrameResources InvokeLiveUpdateCommand ResourceUnavailable
        }

        It 'too little free memory: InsufficientFrameResources' {
            Reset-PowerFrame $script:frame -MemoryMB 10240
            $lab = Join-Path $TestDrive 'little-memory'
            $null = New-PowerLab -Frame $script:frame -Path $lab
            (Get-LiveUpdateSystem).AvailableMemoryMB | Should -Be 1024
            $null = Assert-PowerRefused { Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -Confirm:$false -ErrorAction Stop } InsufficientFrameResources InvokeLiveUpdateCommand ResourceUnavailable
        }
    }

    Context 'a connection dropped in the middle of a step' {
        It 'leaves the operation interrupted; once the partition answers again, Resume-LiveUpdate finishes it' {
            Reset-PowerFrame $script:frame
            $lab = Join-Path $TestDrive 'dropped'
            $null = New-PowerLab -Frame $script:frame -Path $lab
            $apps = @(Get-Application).Name
            # mirrorvg runs, then its connection drops, and so does every later command on lpar1 until the fault is cleared.
            Set-FrameFault $script:frame @(@{ endpoint = 'lpar1'; match = 'mirrorvg'; action = 'drop'; after = $true; sticky = $true; times = 1 })
            $result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failure
            $result.Status | Should -Be 'Interrupted'
            $result.ErrorId | Should -Be 'SshConnectionLost'
            $failure[0].FullyQualifiedErrorId | Should -BeLike 'LiveUpdateInterrupted,*'
            Set-FrameFault $script:frame
            $op = @(Get-LiveUpdateOperation -Unfinished)
            $op.Count | Should -Be 1
            $resumed = Resume-LiveUpdate -Id $op[0].Id -Confirm:$false -ErrorAction SilentlyContinue
            $resumed.Status | Should -Be 'RolledBack'
            $null = Assert-LiveUpdateInvariant -Lab $lab -Applications $apps -FromLevel '7300-02-01' -ToLevel '7300-02-02' -Result $resumed
            (Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-02-02') -Confirm:$false).Status | Should -Be 'Succeeded'
        }

        It 'the emulator knew every command the backend sent' {
            Get-FrameUnknownCommand $script:frame | Should -BeNullOrEmpty
        }
    }
}
