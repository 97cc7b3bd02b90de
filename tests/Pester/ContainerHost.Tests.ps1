# A real Linux host as its administrator describes it, from about_LiveUpdate_Container alone: a Debian-like root of
# its own on loop disks (Debian's packages unpacked with dpkg-deb -x, which is what debootstrap does, without its
# download and configuration time), redis as the service with its data on a logical volume of its own, the init, the
# control script, the configuration and the description taken from the about topic's samples. It is checked with
# Test-LiveUpdateHost, live-updated under a client that counts acknowledged writes, rolled back on an injected fault,
# and removed, after which only the user's own disks and files remain.
# Needs root on Linux with the container backend's tools and Debian's .deb files in /var/cache/apt/archives (.ci/run
# fetches them with apt-get download); skipped elsewhere with the reason printed.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Support/Linux.ps1')
    $script:debs = @('libc6', 'libgcc-s1', 'libatomic1', 'libstdc++6', 'libjemalloc2', 'liblzf1', 'libssl3', 'libsystemd0', 'libcap2',
        'libgcrypt20', 'libgpg-error0', 'liblz4-1', 'liblzma5', 'libzstd1', 'libbz2-1.0', 'libmd0', 'libselinux1', 'libpcre2-8-0', 'zlib1g',
        'libacl1', 'dpkg', 'tar', 'libc-bin', 'busybox-static', 'redis-tools', 'redis-server')
    $script:hostSkip = Get-LinuxSkipReason
    if (-not $script:hostSkip) {
        $missing = @($script:debs | Where-Object { -not (Get-ChildItem "/var/cache/apt/archives/$($_)_*.deb" -ErrorAction SilentlyContinue) })
        if ($missing) { $script:hostSkip = "Debian's packages are not in /var/cache/apt/archives: $($missing -join ' ') (cd /var/cache/apt/archives && apt-get download ...; .ci/run does)" }
    }
    if ($script:hostSkip) { Write-Host "Container host tests skipped: $script:hostSkip" -ForegroundColor Yellow }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    . (Join-Path $PSScriptRoot 'Support/Linux.ps1')
    $script:debs = @('libc6', 'libgcc-s1', 'libatomic1', 'libstdc++6', 'libjemalloc2', 'liblzf1', 'libssl3', 'libsystemd0', 'libcap2',
        'libgcrypt20', 'libgpg-error0', 'liblz4-1', 'liblzma5', 'libzstd1', 'libbz2-1.0', 'libmd0', 'libselinux1', 'libpcre2-8-0', 'zlib1g',
        'libacl1', 'dpkg', 'tar', 'libc-bin', 'busybox-static', 'redis-tools', 'redis-server')

    # The fenced blocks of the about topic, by the path its first comment line names (or the language of the fence).
    $about = Get-Content (Join-Path $PSScriptRoot '../../docs/en-US/about_LiveUpdate_Container.md') -Raw
    $script:samples = @{}
    foreach ($m in [regex]::Matches($about, '(?ms)^```(\w+)\n(.*?)^```')) {
        $body = $m.Groups[2].Value
        $named = [regex]::Match($body, '^(?:#!.*\n)?# (/[^:\s]+)')
        $key = if ($named.Success) { $named.Groups[1].Value } else { $m.Groups[1].Value }
        if (-not $script:samples.ContainsKey($key)) { $script:samples[$key] = $body }
    }

    function Invoke-Checked([string] $File, [string[]] $Arguments) {
        $out = & $File @Arguments 2>&1
        if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed ($LASTEXITCODE): $out" }
        $out
    }

    # As the administrator: the root file system mounted where the docs mount it, for a change by hand.
    function Invoke-OnRoot([scriptblock] $Change) {
        New-Item -ItemType Directory -Force $script:mnt | Out-Null
        Invoke-Checked mount @($script:loops[0], $script:mnt) | Out-Null
        try { & $Change (Join-Path $script:mnt 'root') }
        finally { Invoke-Checked umount @($script:mnt) | Out-Null }
    }

    # A client that appends to the list "acks" (RPUSH) as fast as it can, a connection each, and notes every
    # acknowledged write with its time; it runs on the bridge's side of the network, where clients are.
    $script:clientScript = @'
#!/bin/bash
# usage: kv-client ADDRESS PORT FOLDER    (stops when FOLDER/stop exists)
addr=$1; port=$2; out=$3; n=0
while [ ! -e "$out/stop" ]; do
  n=$((n+1))
  while :; do
    r=$(printf 'RPUSH acks %d\r\nQUIT\r\n' "$n" | timeout 3 busybox nc -w 1 "$addr" "$port" 2>/dev/null)
    if [[ $r == :* ]]; then echo "$n $EPOCHREALTIME" >> "$out/acked"; break; fi
    [ -e "$out/stop" ] && break 2
    sleep 0.01
  done
done
'@

    function Get-Acknowledged {
        $file = Join-Path $script:clientFolder 'acked'
        if (-not (Test-Path $file)) { return @() }
        @(Get-Content $file | ForEach-Object {
                $n, $t = $_ -split ' '
                [pscustomobject]@{ N = [long]$n; Time = [double]::Parse($t, [Globalization.CultureInfo]::InvariantCulture) }
            })
    }

    function Wait-Acknowledged([int] $More) {
        $count = @(Get-Acknowledged).Count
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while (@(Get-Acknowledged).Count -lt $count + $More -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
    }

    # What redis holds in "acks", read as a client would (RESP over one connection).
    function Get-StoredValues {
        $reply = "LRANGE acks 0 -1`r`nQUIT`r`n" | & ip netns exec $script:netns timeout 10 busybox nc -w 2 $script:serviceAddress 6379
        $lines = @($reply -split "`r?`n")
        $values = [Collections.Generic.HashSet[long]]::new()
        for ($i = 1; $i -lt $lines.Count; $i++) { if ($lines[$i - 1] -match '^\$\d+$' -and $lines[$i] -match '^\d+$') { [void]$values.Add([long]$lines[$i]) } }
        , $values
    }

    function Assert-EveryAcknowledgedWriteStored {
        # Acknowledged first, stored after: the client may go on writing in between.
        $acked = @(Get-Acknowledged)
        $stored = Get-StoredValues
        $acked.Count | Should -BeGreaterThan 20
        $lost = @($acked | Where-Object { -not $stored.Contains($_.N) } | ForEach-Object N)
        $lost | Should -BeNullOrEmpty -Because 'redis acknowledged them after fsync'
    }

    function Get-LargestGap {
        $acked = @(Get-Acknowledged)
        $largest = 0.0
        for ($i = 1; $i -lt $acked.Count; $i++) { $largest = [Math]::Max($largest, $acked[$i].Time - $acked[$i - 1].Time) }
        $largest # seconds, as the module reports durations
    }

    # What of the host is this suite's: mounts under its folders, its namespaces, links and processes (others may
    # come and go meanwhile on a shared machine).
    function Get-OwnResources {
        $snap = Get-HostSnapshot
        [pscustomobject]@{
            Mounts     = @($snap.Mounts | Where-Object { $_.StartsWith($TestDrive) })
            Namespaces = @($snap.Namespaces | Where-Object { $_.StartsWith("lu$($script:tag)") })
            Links      = @($snap.Links | Where-Object { $_ -match $script:tag })
            Processes  = @($snap.Processes | Where-Object { $_ -match "lu$($script:tag)|$([regex]::Escape($TestDrive))" })
        }
    }
    function Assert-NothingOfOursLeft {
        $own = Get-OwnResources
        $own.Mounts | Should -BeNullOrEmpty
        $own.Namespaces | Should -BeNullOrEmpty
        $own.Links | Should -BeNullOrEmpty
        $own.Processes | Should -BeNullOrEmpty
    }
    $net = Get-Random -Minimum 1 -Maximum 250
    $script:tag = -join ((1..5) | ForEach-Object { [char](Get-Random -Minimum 97 -Maximum 123) })
    $script:netns = "lu$($script:tag)n"
    $script:serviceAddress = "198.19.$net.20"
    $script:hostDir = Join-Path $TestDrive 'kv-host'
    $script:userDisks = Join-Path $TestDrive 'user-disks'
    $script:mnt = Join-Path $TestDrive 'mnt-kv'
    New-Item -ItemType Directory -Force $script:hostDir, $script:userDisks | Out-Null
    & chmod 0700 $script:hostDir
    # The user's own files in the folder, which removing the host must leave.
    Set-Content -Path (Join-Path $script:hostDir 'NOTES.txt') -Value 'the administrator''s notes'

    # Disks: three sparse files of the user's, attached as loop devices by the user.
    $script:loops = foreach ($i in 0..3) {
        $file = Join-Path $script:userDisks "disk$i.img"
        $f = [IO.File]::Create($file); $f.SetLength(512MB); $f.Dispose()
        (Invoke-Checked losetup @('--find', '--show', $file)).Trim()
    }

    # The root volume group as step 2 of the docs makes it, with Debian's packages unpacked into it.
    Invoke-Checked mkfs.btrfs @('-q', '-f', '-L', 'kv-root', $script:loops[0]) | Out-Null
    New-Item -ItemType Directory -Force $script:mnt | Out-Null
    Invoke-Checked mount @($script:loops[0], $script:mnt) | Out-Null
    try {
        $root = Join-Path $script:mnt 'root'
        Invoke-Checked btrfs @('subvolume', 'create', $root) | Out-Null
        New-Item -ItemType Directory -Force (Join-Path $root 'var/lib') | Out-Null
        Invoke-Checked btrfs @('subvolume', 'create', (Join-Path $root 'var/lib/redis')) | Out-Null
        foreach ($deb in $script:debs) { Invoke-Checked dpkg-deb @('-x', (Get-ChildItem "/var/cache/apt/archives/$($deb)_*.deb" | Select-Object -First 1).FullName, $root) | Out-Null }
        Invoke-Checked chroot @($root, '/bin/busybox', '--install', '-s', '/bin') | Out-Null
        foreach ($dir in 'etc/liveupdate', 'etc/redis', 'usr/local/sbin', 'var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/log', 'run', 'tmp', 'proc', 'sys', 'dev', 'root') {
            New-Item -ItemType Directory -Force (Join-Path $root $dir) | Out-Null
        }
        foreach ($f in 'var/lib/dpkg/status', 'var/lib/dpkg/available') { Set-Content -Path (Join-Path $root $f) -Value '' -NoNewline }
        Set-Content -Path (Join-Path $root 'etc/passwd') -Value 'root:x:0:0:root:/root:/bin/sh'
        Set-Content -Path (Join-Path $root 'etc/group') -Value 'root:x:0:'
        Set-Content -Path (Join-Path $root 'etc/hostname') -Value 'kv1'
        # Step 3 of the docs: the init, the control script and the configuration, as the about topic shows them.
        foreach ($path in '/sbin/init', '/usr/local/sbin/kv-ctl', '/etc/redis/kv.conf') {
            $script:samples[$path] | Should -Not -BeNullOrEmpty -Because "about_LiveUpdate_Container shows $path"
            $file = Join-Path $root $path.TrimStart('/')
            if (Get-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue) { Remove-Item -LiteralPath $file -Force }
            [IO.File]::WriteAllText($file, $script:samples[$path])
        }
        & chmod 755 (Join-Path $root 'sbin/init') (Join-Path $root 'usr/local/sbin/kv-ctl')
    }
    finally { Invoke-Checked umount @($script:mnt) | Out-Null }

    # The description: the about topic's sample, with this machine's disks, an id, and a network of the test's own
    # (a namespace and bridge the backend makes) instead of the sample's br0.
    $d = $script:samples['json'] | ConvertFrom-Json
    $d.name = "kv-test-$($script:tag)"
    $d.id = $script:tag
    $d.network.namespace = $script:netns
    $d.network.createNamespace = $true
    $d.network.bridge = 'kvbr0'
    $d.network.createBridge = $true
    $d.network.gateway = "198.19.$net.254/24"
    for ($i = 0; $i -lt 3; $i++) { $d.disks[$i].device = $script:loops[$i] }
    # A fourth disk, so that a second update finds two free disks while old_rootvg is kept.
    $d.disks += [pscustomobject]@{ name = 'hdisk3'; device = $script:loops[3] }
    $d.partitions[0].address = "198.19.$net.10/24"
    $d.applications[0].serviceAddress = "$($script:serviceAddress)/24"
    $script:description = $d
    $d | ConvertTo-Json -Depth 8 | Set-Content -Path (Join-Path $script:hostDir 'liveupdate-host.json')

    # Updates: the sample service pack (an overlay and a Debian package that the clone's own dpkg installs) and the
    # technology level after it.
    $script:updates = Join-Path $TestDrive 'updates'
    $null = [LiveUpdate.Engine.Backends.Containers.ContainerLabBuilder]::WriteSampleBundles($script:updates, [LiveUpdate.Engine.Model.OsLevel]::Parse('1200-01-01'))
    $script:clientFolder = Join-Path $TestDrive 'kv-client'
    $script:client = $null
}

AfterAll {
    if ((Get-Variable -Name client -Scope Script -ErrorAction SilentlyContinue) -and $script:client -and -not $script:client.HasExited) { New-Item -ItemType File -Force (Join-Path $script:clientFolder 'stop') | Out-Null; $null = $script:client.WaitForExit(15000) }
    if ($script:hostDir -and (Test-Path (Join-Path $script:hostDir 'liveupdate-state.json'))) { Remove-LiveUpdateHost -Path $script:hostDir -Confirm:$false -ErrorAction Continue }
    if ($script:mnt -and (& findmnt --noheadings $script:mnt)) { & umount $script:mnt }
    foreach ($loop in $script:loops) { Remove-TestLoopDevice $loop $TestDrive }
}

Describe 'A Linux host of the administrator''s own, from the docs alone' -Tag 'Container', 'Linux', 'Root' -Skip:($null -ne $script:hostSkip) {
    It 'Test-LiveUpdateHost finds, one finding a line, that the root has no OS level file' {
        $findings = @(Test-LiveUpdateHost -Path $script:hostDir)
        $failed = @($findings | Where-Object Status -EQ 'Failed')
        $failed.Check | Should -Be @('OsLevel')
        $failed[0].Message | Should -Match 'etc/liveupdate/oslevel'
        @($findings | Where-Object { $_.Check -eq 'LogicalVolume' -and $_.Status -eq 'Passed' }).Count | Should -Be 2
        @($findings | Where-Object { $_.Check -eq 'Application' -and $_.Status -eq 'Passed' }).Target | Should -Contain 'kv:health'
        (Test-LiveUpdateHost -Path $script:hostDir -Quiet) | Should -BeFalse
        # One finding a line: each row of the table starts with its status (a long message wraps under its column).
        $rows = @(($findings | Format-Table -HideTableHeaders | Out-String -Width 120) -split "`n" | Where-Object { $_ -match '^(Passed|Warning|Failed)\s' })
        $rows.Count | Should -Be $findings.Count
        # It looked read-only and let go: nothing is mounted or attached, and the folder holds what it held.
        Assert-NothingOfOursLeft
        @(Get-ChildItem -Force $script:hostDir).Name | Sort-Object | Should -Be @('liveupdate-host.json', 'NOTES.txt')
    }

    It 'Connect-LiveUpdateSystem refuses it (OsLevelMissing), naming the file, and leaves nothing behind' {
        $e = { Connect-LiveUpdateSystem -Path $script:hostDir -ErrorAction Stop } | Should -Throw -ErrorId 'OsLevelMissing,LiveUpdate.PowerShell.Commands.ConnectLiveUpdateSystemCommand' -PassThru
        $e.Exception.Message | Should -Match 'etc/liveupdate/oslevel'
        Assert-NothingOfOursLeft
        @(Get-ChildItem -Force $script:hostDir).Name | Sort-Object | Should -Be @('liveupdate-host.json', 'NOTES.txt')
    }

    It 'New-LiveUpdateHostDescription reads the logical volumes and the host name off the root' {
        $draft = Join-Path $TestDrive 'draft'
        $file = New-LiveUpdateHostDescription -Path $draft -RootDisk $script:loops[0] -FreeDisk $script:loops[1], $script:loops[2] -Address '198.19.0.10/24' `
            -Bridge kvbr0 -CreateBridge -NetworkNamespace "$($script:netns)d" -CreateNamespace -Confirm:$false -WarningVariable notes -WarningAction SilentlyContinue
        $file.Name | Should -Be 'liveupdate-host.json'
        $written = Get-Content $file.FullName -Raw | ConvertFrom-Json
        $written.partitions[0].hostName | Should -Be 'kv1'
        @($written.partitions[0].logicalVolumes | ForEach-Object { "$($_.name)=$($_.mountPoint)" }) | Should -Be @('root=/', 'redis=/var/lib/redis')
        $written.disks.device | Should -Be $script:loops[0..2]
        ($notes -join ' ') | Should -Match 'oslevel'
        Assert-NothingOfOursLeft
        { New-LiveUpdateHostDescription -Path $draft -RootDisk $script:loops[0] -Address '198.19.0.10/24' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'HostDescriptionExists,LiveUpdate.PowerShell.Commands.NewLiveUpdateHostDescriptionCommand'
    }

    It 'passes Test-LiveUpdateHost once the OS level file is there, as the docs write it' {
        Invoke-OnRoot { param($root) Set-Content -Path (Join-Path $root 'etc/liveupdate/oslevel') -Value '1200-01-01' }
        @(Test-LiveUpdateHost -Path $script:hostDir | Where-Object Status -EQ 'Failed') | Should -BeNullOrEmpty
        Test-LiveUpdateHost -Path $script:hostDir -Quiet | Should -BeTrue
    }

    It 'connects: lpar1 boots at 1200-01-01 and redis acknowledges writes from a client on the bridge' {
        $system = Connect-LiveUpdateSystem -Path $script:hostDir
        $system.Backend | Should -Be 'Container'
        $p = Get-LogicalPartition lpar1
        $p.State | Should -Be 'Running'
        $p.OsLevel.ToString() | Should -Be '1200-01-01'
        (Get-Application kv).State | Should -Be 'Running'
        (Get-PhysicalVolume | Where-Object State -EQ 'Free').Name | Should -Be @('hdisk1', 'hdisk2', 'hdisk3')
        New-Item -ItemType Directory -Force $script:clientFolder | Out-Null
        $clientFile = Join-Path $script:clientFolder 'kv-client'
        Set-Content -Path $clientFile -Value $script:clientScript -NoNewline
        $script:client = Start-Process -FilePath ip -ArgumentList @('netns', 'exec', $script:netns, 'bash', $clientFile, $script:serviceAddress, '6379', $script:clientFolder) -PassThru
        Wait-Acknowledged 20
        @(Get-Acknowledged).Count | Should -BeGreaterThan 19
    }

    It 'live-updates lpar1 while the client writes: every acknowledged write stays, the blackout is what the client saw' {
        $result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $script:updates '1200-01-02') -Confirm:$false
        $result.Status | Should -Be 'Succeeded' -Because $result.Reason
        Wait-Acknowledged 20
        (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '1200-01-02'
        (Get-LogicalPartition lpar1).RootDisks | Should -Be @('hdisk1')
        (Get-VolumeGroup -Name old_rootvg).Disks | Should -Be @('hdisk0')
        $result.Applications[0].DataVerified | Should -BeTrue
        Assert-EveryAcknowledgedWriteStored
        $gap = Get-LargestGap
        Write-Host ("    blackout reported {0:N0} ms, client's longest pause {1:N0} ms" -f ($result.Blackout * 1000), ($gap * 1000))
        # The health command is a process (a shell and redis-cli) run inside the partition: its first PONG comes up to
        # one run of it after redis is ready, so the reported blackout may exceed what the client saw by that much.
        $gap | Should -BeGreaterThan ($result.Blackout - 0.3) # seconds
        $gap | Should -BeLessThan ($result.Blackout + 1.5)
        # The service address is configured as described, prefix and all.
        $partitionNs = @(& ip netns list | ForEach-Object { ($_ -split ' ')[0] } | Where-Object { $_ -like "lu$($script:tag)p*" })
        $addresses = $partitionNs | ForEach-Object { & ip -n $_ -o addr show } | Out-String
        $addresses | Should -Match ([regex]::Escape("$($script:serviceAddress)/24"))
    }

    It 'rolls back an update whose health check fails (injected), with every acknowledged write' {
        $env:LIVEUPDATE_FAULT = 'Health:During'
        try {
            Connect-LiveUpdateSystem -Path $script:hostDir | Out-Null
            $result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $script:updates '1200-02-01') -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failed
        }
        finally { Remove-Item Env:LIVEUPDATE_FAULT; Connect-LiveUpdateSystem -Path $script:hostDir | Out-Null }
        $result.Status | Should -Be 'RolledBack' -Because ($failed | Out-String)
        $failed[0].FullyQualifiedErrorId | Should -Match '^LiveUpdateRolledBack'
        Wait-Acknowledged 20
        New-Item -ItemType File -Force (Join-Path $script:clientFolder 'stop') | Out-Null
        $script:client.WaitForExit(15000) | Should -BeTrue
        (Get-LogicalPartition lpar1).OsLevel.ToString() | Should -Be '1200-01-02'
        (Get-Application kv).Partition | Should -Be 'lpar1'
        (Get-Application kv).State | Should -Be 'Running'
        @(Get-LogicalPartition).Count | Should -Be 1
        Assert-EveryAcknowledgedWriteStored
    }

    It 'Remove-LiveUpdateHost removes what LiveUpdate made and leaves only the user''s disks and files' {
        Remove-LiveUpdateHost -Path $script:hostDir -Confirm:$false
        @(Get-ChildItem -Force $script:hostDir).Name | Sort-Object | Should -Be @('liveupdate-host.json', 'NOTES.txt')
        (Get-Content (Join-Path $script:hostDir 'NOTES.txt')) | Should -Be 'the administrator''s notes'
        Assert-NothingOfOursLeft
        # The user's loop devices stay attached: they are the user's, not the backend's.
        foreach ($loop in $script:loops) { & losetup $loop | Should -Not -BeNullOrEmpty }
        # hdisk1 holds the partition's root at the new level, hdisk0 the old root; the mirror disk is blank again.
        (& blkid -o value -s TYPE $script:loops[1]) | Should -Be 'btrfs'
        (& blkid -o value -s TYPE $script:loops[0]) | Should -Be 'btrfs'
        & blkid -p $script:loops[2] | Should -BeNullOrEmpty
        & blkid -p $script:loops[3] | Should -BeNullOrEmpty
        (Get-Content (Join-Path $script:hostDir 'liveupdate-host.json') -Raw | ConvertFrom-Json).partitions[0].rootDisks | Should -Be @('hdisk1')
        { Remove-LiveUpdateLab -Path $script:hostDir -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'HostNotALab,LiveUpdate.PowerShell.Commands.RemoveLiveUpdateLabCommand'
    }
}
