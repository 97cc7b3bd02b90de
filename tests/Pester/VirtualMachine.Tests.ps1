# The VirtualMachine backend: libvirt domains with kernels of their own under QEMU, a synchronous block mirror, a
# live update that changes the kernel. Needs root on Linux with QEMU, libvirt, the guest agent, busybox, e2fsprogs
# and Debian's cloud kernels; skipped elsewhere with the reason printed. One lab serves every test.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Support/VirtualMachine.ps1')
    $script:vmSkip = Get-VirtualMachineSkipReason
    if ($script:vmSkip) { Write-Host "VirtualMachine backend tests skipped: $script:vmSkip" -ForegroundColor Yellow }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    . (Join-Path $PSScriptRoot 'Support/VirtualMachine.ps1')
    . (Join-Path $PSScriptRoot 'Support/Matrix.ps1')
    function Get-HostSnapshot {
        [pscustomobject]@{
            Domains    = @(& virsh -c qemu:///system list --all --name 2>$null | Where-Object { $_ } | Sort-Object)
            Namespaces = @(& ip netns list | ForEach-Object { ($_ -split ' ')[0] } | Where-Object { $_ -eq 'lu-libvirt' })
            Loops      = @(& losetup --noheadings --list --output NAME,BACK-FILE 2>$null | Where-Object { $_ -match 'lu-vm-' } | Sort-Object)
            Mounts     = @(Get-Content /proc/mounts | Where-Object { $_ -match 'lu-vm-|lu-libvirt|libvirt' } | Sort-Object)
            Daemons    = @(Get-Process -Name libvirtd, virtlogd, qemu-system-x86_64 -ErrorAction SilentlyContinue | Where-Object { (Get-Content "/proc/$($_.Id)/stat" -ErrorAction SilentlyContinue) -notmatch '\) Z ' } | ForEach-Object Id | Sort-Object)
            Taps       = @(& ip -o link 2>$null | Where-Object { $_ -match 'vnet|tap' })
        }
    }
    function Assert-Lpar1 {
        # lpar1 runs the newer kernel (asked inside the guest), keeps its name, address and identity, and recordd
        # holds every acknowledged record in order.
        param($Identity, [long[]] $Acked)
        $lpar = Get-LogicalPartition lpar1
        $lpar.State | Should -Be 'Running'
        $lpar.Uuid | Should -Be $Identity.Uuid
        $lpar.Address | Should -Be $Identity.Address
        $lpar.HostName | Should -Be $Identity.HostName
        @(Get-LogicalPartition).Name | Should -Be @('lpar1')
        $domain = Get-VmDomain lpar1 -Lab $script:lab
        $domain | Should -Not -BeNullOrEmpty -Because 'virsh list --title shows lpar1'
        (Invoke-Guest $domain '/bin/uname', '-r').Trim() | Should -Be $script:newerKernel
        (Invoke-Guest $domain '/bin/hostname').Trim() | Should -Be $Identity.HostName
        (Invoke-Guest $domain '/bin/ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0') | Should -Match ([regex]::Escape($Identity.Address + '/'))
        $lpar.Kernel | Should -Be $script:newerKernel
        $check = Get-Application recordd | Test-ApplicationData
        $check.InOrder | Should -BeTrue
        $check.Found | Should -BeGreaterOrEqual $check.Acknowledged
        $records = Invoke-Guest $domain '/bin/cat', '/srv/recordd/records.log'
        $clients = @($records -split "`n" | Where-Object { $_ -match ' t1 (\d+)$' } | ForEach-Object { [long]$Matches[1] })
        foreach ($n in $Acked) { $clients | Should -Contain $n -Because "record $n was acknowledged" }
    }
}

Describe 'VirtualMachine backend' -Tag 'VirtualMachine', 'Root' -Skip:([bool]$script:vmSkip) {
    BeforeAll {
        $script:before = Get-HostSnapshot
        $script:lab = Join-Path ([IO.Path]::GetTempPath()) ("lu-vm-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        $script:clock = [Diagnostics.Stopwatch]::StartNew()
        $null = New-LiveUpdateLab -Backend VirtualMachine -Path $script:lab
        Write-Host "VM lab ready in $([math]::Round($script:clock.Elapsed.TotalSeconds, 1)) s"
        $script:desc = Get-Content (Join-Path $script:lab 'liveupdate-vmhost.json') -Raw | ConvertFrom-Json
        $script:ns = $script:desc.daemonNamespace
        $script:service = ($script:desc.applications[0].serviceAddress -split '/')[0]
        $script:identity = Get-LogicalPartition lpar1
        $script:olderKernel = $script:identity.Kernel
        $script:newerKernel = (Get-ChildItem (Join-Path $script:lab 'updates/7300-02-02/payload') -Filter 'linux-image-*.deb').Name -replace '^linux-image-([^_]+)_.*$', '$1'
        $script:clients = [Collections.Generic.List[object]]::new()
        $script:hostFiles = '/etc/passwd', '/etc/shadow', '/etc/hostname', '/etc/hosts'
    }
    AfterAll {
        foreach ($c in $script:clients) { if (-not $c.HasExited) { $c.Kill() } }
        if (Test-Path $script:lab) { Remove-LiveUpdateLab -Path $script:lab -Confirm:$false }
    }

    It 'boots lpar1 on the older kernel' {
        $script:olderKernel | Should -Match '^6\.1\.'
        (Invoke-Guest (Get-VmDomain lpar1 -Lab $script:lab) '/bin/uname', '-r').Trim() | Should -Be $script:olderKernel
        $script:newerKernel | Should -Match '^6\.12\.'
    }

    It 'runs the seven steps by hand: lpar1 then runs the newer kernel with every acknowledged record' {
        $log = Join-Path $script:lab 'client1.log'
        $client = Start-RecordClient -Namespace $script:ns -Address $script:service -Log $log
        $script:clients.Add($client)
        Start-Sleep -Seconds 1
        $lpar = Get-LogicalPartition lpar1
        $clone = $lpar | New-RootVgClone -Disk hdisk2
        $mirror = $lpar | Start-RootVgMirror -Disk hdisk3
        # The mirror is synchronous: paused at a random instant while the guest writes, the ended copy is identical.
        $domain = Get-VmDomain lpar1 -Lab $script:lab
        Invoke-Guest $domain '/bin/sh', '-c', 'setsid sh -c "echo \$\$ > /run/churn.pid; while :; do dd if=/dev/urandom of=/srv/churn bs=64k count=8 conv=fsync 2>/dev/null; done" </dev/null >/dev/null 2>&1 &' | Out-Null
        Start-Sleep -Milliseconds (Get-Random -Minimum 200 -Maximum 1500)
        & virsh -c qemu:///system suspend $domain | Out-Null
        try {
            & virsh -c qemu:///system blockjob $domain sda --abort | Out-Null
            & qemu-img compare -U -f raw -F raw (Get-PhysicalVolume hdisk1).Location (Get-PhysicalVolume hdisk3).Location | Out-Host
            $LASTEXITCODE | Should -Be 0 -Because 'every write that completed in the guest was on the mirror too'
        }
        finally { & virsh -c qemu:///system resume $domain | Out-Null }
        Invoke-Guest $domain '/bin/sh', '-c', 'kill -TERM -$(cat /run/churn.pid); rm -f /srv/churn' | Out-Null
        # The test ended the module's mirror job; it starts the same job again so that the steps go on.
        & virsh -c qemu:///system blockcopy $domain sda (Get-PhysicalVolume hdisk3).Location --synchronous-writes --transient-job --reuse-external --format raw --wait | Out-Null
        $LASTEXITCODE | Should -Be 0
        $clone = $clone | Install-CloneUpdate -Path (Join-Path $script:lab 'updates/7300-02-02')
        $clone.OsLevel.ToString() | Should -Be '7300-02-02'
        $sur = $clone | Start-UpdatedPartition
        $sur.Kernel | Should -Be $script:newerKernel
        (Get-LogicalPartition lpar1).Kernel | Should -Be $script:olderKernel -Because 'the running partition was never touched'
        $null = $mirror | Import-MirrorVg -Partition $sur
        $moves = @(Get-Application -Partition lpar1 | Move-Application -Destination $sur)
        $moves[0].Status | Should -Be 'Moved'
        $moves[0].BlackoutCopiedBytes | Should -Be 0 -Because 'a synchronous mirror leaves nothing to copy at the blackout'
        Start-Sleep -Milliseconds 500
        $acked = Stop-RecordClient $client $log
        $acked.Count | Should -BeGreaterThan 20
        Write-Host "Move-Application: blackout $([math]::Round($moves[0].Blackout * 1000)) ms, $($acked.Count) records acknowledged"
        Assert-Lpar1 $script:identity $acked
        (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '7300-02-02'
        @(Get-VolumeGroup -Partition lpar1 | Where-Object Name -eq 'old_rootvg').Count | Should -Be 1
        Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false
    }

    It 'Invoke-LiveUpdate keeps the newer kernel, the identity and every record; the blackout copied 0 bytes' {
        $log = Join-Path $script:lab 'client2.log'
        $client = Start-RecordClient -Namespace $script:ns -Address $script:service -Log $log
        $script:clients.Add($client)
        Start-Sleep -Seconds 1
        $script:beforeInvoke = (Get-LogicalPartition lpar1).OsLevel.ToString()
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $script:lab 'updates/7300-02-03')
        Start-Sleep -Milliseconds 500
        $acked = Stop-RecordClient $client $log
        $r.Status | Should -Be 'Succeeded'
        $r.Applications[0].BlackoutCopiedBytes | Should -Be 0
        Write-Host "Invoke-LiveUpdate: blackout $([math]::Round($r.Blackout * 1000)) ms in $([math]::Round($r.Duration, 1)) s"
        Assert-Lpar1 $script:identity $acked
    }

    It 'Undo-LiveUpdate goes back to the level before the last update, with the identity and every record' {
        $log = Join-Path $script:lab 'client3.log'
        $client = Start-RecordClient -Namespace $script:ns -Address $script:service -Log $log
        $script:clients.Add($client)
        Start-Sleep -Seconds 1
        $undone = (Get-LogicalPartition lpar1).OsLevel.ToString()
        $r = Undo-LiveUpdate -Partition lpar1 -Confirm:$false
        Start-Sleep -Milliseconds 500
        $acked = Stop-RecordClient $client $log
        $r.Status | Should -Be 'Succeeded'
        (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be $script:beforeInvoke
        Assert-Lpar1 $script:identity $acked
        @(Get-VolumeGroup -Partition lpar1 | Where-Object Role -eq 'OldRoot').Count | Should -Be 1 -Because "the level it left ($undone) is kept as old_rootvg"
        Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false
    }


    It 'refuses bad input with a stable error id and changes nothing' {
        # A description of a real host naming a domain that does not exist, a disk that a process holds open, a URI
        # where no libvirt answers (and none may be started).
        $other = Join-Path $script:lab 'other'
        New-Item -ItemType Directory $other | Out-Null
        $d = Get-Content (Join-Path $script:lab 'liveupdate-vmhost.json') -Raw | ConvertFrom-Json
        $d.lab = $false
        foreach ($disk in $d.disks) { $disk.file = Join-Path $script:lab $disk.file }
        $rootvg = (Get-VolumeGroup rootvg -Partition lpar1).Disks
        $d.partitions[0].rootDisk = $rootvg[0]
        $d.partitions[0].dataDisks = @($rootvg[1])
        $d.applications[0].dataDisk = $rootvg[1]
        # The lab's recordd has no health command, only its port: a host whose bridge the backend does not create may
        # not reach the guests' network, and there the description needs the command.
        $d.createBridge = $false
        $d | ConvertTo-Json -Depth 8 | Set-Content (Join-Path $other 'liveupdate-vmhost.json')
        { Connect-LiveUpdateSystem -Path $other -ErrorAction Stop } | Should -Throw -ErrorId 'HostDescriptionInvalid*'
        $d.createBridge = $true
        $d.partitions[0].domain = 'no-such-domain'
        $d | ConvertTo-Json -Depth 8 | Set-Content (Join-Path $other 'liveupdate-vmhost.json')
        { Connect-LiveUpdateSystem -Path $other -ErrorAction Stop } | Should -Throw -ErrorId 'DomainNotFound*'
        $d.partitions[0].domain = Get-VmDomain lpar1 -Lab $script:lab
        # A connect that failed leaves the session connected to nothing: the lab is named.
        $free = @(Get-PhysicalVolume -System $script:lab | Where-Object State -eq 'Free')[0]
        $held = [IO.File]::Open($free.Location, 'Open', 'Read', 'ReadWrite')
        try {
            $d | ConvertTo-Json -Depth 8 | Set-Content (Join-Path $other 'liveupdate-vmhost.json')
            { Connect-LiveUpdateSystem -Path $other -ErrorAction Stop } | Should -Throw -ErrorId 'DiskInUse*'
        }
        finally { $held.Dispose() }
        $d.uri = 'qemu+unix:///system?socket=/run/lu-none/sock'
        $d | ConvertTo-Json -Depth 8 | Set-Content (Join-Path $other 'liveupdate-vmhost.json')
        { Connect-LiveUpdateSystem -Path $other -ErrorAction Stop } | Should -Throw -ErrorId 'LibvirtUnavailable*'
        Test-Path (Join-Path $other 'liveupdate-vmstate.json') | Should -BeFalse -Because 'a refused description leaves no state behind'
        Remove-Item $other -Recurse -Force
        $null = Connect-LiveUpdateSystem -Path $script:lab
        $level = (Get-LogicalPartition lpar1).OsLevel.ToString()

        # A bundle whose kernel package is corrupt: the update rolls back before anything reaches lpar1.
        $bad = Join-Path $script:lab 'bad-kernel'
        Copy-Item (Get-NextBundle -Lab $script:lab) $bad -Recurse
        $m = Get-Content (Join-Path $bad 'manifest.json') -Raw | ConvertFrom-Json
        $deb = Join-Path $bad 'payload/linux-image-0.0.1-lab_1_amd64.deb'
        [IO.File]::WriteAllBytes($deb, [byte[]](1..4096 | ForEach-Object { $_ % 251 }))
        $m.packages += [pscustomobject]@{ name = 'linux-image-0.0.1-lab'; version = '1'; kind = 'deb'; file = 'payload/linux-image-0.0.1-lab_1_amd64.deb'; sha256 = (Get-FileHash $deb).Hash.ToLowerInvariant(); size = 4096 }
        $m | ConvertTo-Json -Depth 6 | Set-Content (Join-Path $bad 'manifest.json')
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bad -ErrorAction SilentlyContinue
        $r.Status | Should -Be 'RolledBack'
        $r.ErrorId | Should -Be 'KernelPackageCorrupt'
        (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be $level
        @(Get-VolumeGroup | Where-Object Role -notin 'Root', 'OldRoot').Count | Should -Be 0
        Remove-Item $bad -Recurse -Force

        # A guest whose agent does not work: nothing is cloned. The free disk is looked up while the agent still
        # answers (connecting to the lab reads the guests).
        $free = @(Get-PhysicalVolume -System $script:lab | Where-Object State -eq 'Free')[0].Name
        $domain = Get-VmDomain lpar1 -Lab $script:lab
        Invoke-Guest $domain '/bin/killall', 'qemu-ga' -NoWait
        Start-Sleep -Seconds 1
        { Get-LogicalPartition lpar1 | New-RootVgClone -Disk $free -ErrorAction Stop } | Should -Throw -ErrorId 'GuestAgentUnavailable*'
        @(Get-VolumeGroup | Where-Object Role -notin 'Root', 'OldRoot').Count | Should -Be 0
        & virsh -c qemu:///system destroy $domain | Out-Null
        $null = Connect-LiveUpdateSystem -Path $script:lab
        (Get-Application recordd).State | Should -Be 'Running' -Because 'connecting to a lab boots its stopped partition and starts its applications'
    }

    It 'never follows a link the partition planted: host files are unchanged after an update and a rollback' {
        $hashes = $script:hostFiles | Where-Object { Test-Path $_ } | ForEach-Object { Get-FileHash $_ }
        $domain = Get-VmDomain lpar1 -Lab $script:lab
        $plant = 'cd /etc/liveupdate && rm -f packages && ln -s /etc/shadow packages && ln -sf /dev/zero /etc/motd && ln -sf /proc/1/root /opt/recordd/host && ln -sf /nonexistent /etc/dangling && rm -f /opt/recordd/VERSION && ln -s /etc/passwd /opt/recordd/VERSION && ln -sf /etc/hostname /etc/hostname.host && sync'
        Invoke-Guest $domain '/bin/sh', '-c', $plant | Out-Null
        $env:LIVEUPDATE_FAULT = 'Boot:During'
        try { $null = Connect-LiveUpdateSystem -Path $script:lab; $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Get-NextBundle -Lab $script:lab) -ErrorAction SilentlyContinue -ErrorVariable failure }
        finally { $env:LIVEUPDATE_FAULT = $null }
        $null = Connect-LiveUpdateSystem -Path $script:lab
        $r | Should -Not -BeNullOrEmpty -Because "the injected fault rolls the update back ($($failure | Select-Object -First 1))"
        $r.Status | Should -Be 'RolledBack'
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Get-NextBundle -Lab $script:lab)
        $r.Status | Should -Be 'Succeeded'
        foreach ($h in $hashes) { (Get-FileHash $h.Path).Hash | Should -Be $h.Hash -Because "$($h.Path) is the host's" }
        (Invoke-Guest (Get-VmDomain lpar1 -Lab $script:lab) '/bin/cat', '/opt/recordd/VERSION') | Should -Match '^\d+$' -Because 'the overlay replaced the planted link inside the image'
    }

    It 'Remove-LiveUpdateLab leaves the host as it was' {
        foreach ($c in $script:clients) { if (-not $c.HasExited) { $c.Kill() } }
        Remove-LiveUpdateLab -Path $script:lab -Confirm:$false
        Test-Path $script:lab | Should -BeFalse
        $after = Get-HostSnapshot
        $after.Domains | Should -Be $script:before.Domains
        $after.Namespaces | Should -Be $script:before.Namespaces
        $after.Loops | Should -Be $script:before.Loops
        $after.Mounts | Should -Be $script:before.Mounts
        $after.Daemons | Should -Be $script:before.Daemons
        $after.Taps | Should -Be $script:before.Taps
        Write-Host "VM suite: $([math]::Round($script:clock.Elapsed.TotalSeconds, 1)) s"
    }

}
