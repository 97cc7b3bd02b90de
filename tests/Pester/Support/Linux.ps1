# Why tests of the Linux backend cannot run here, or $null when they can.
function Get-LinuxSkipReason {
    if (-not $IsLinux) { return 'they need Linux' }
    if ((& id -u) -ne '0') { return 'they need root' }
    $needed = @{ 'btrfs' = 'btrfs-progs'; 'mkfs.btrfs' = 'btrfs-progs'; 'systemd-nspawn' = 'systemd-container'; 'busybox' = 'busybox-static'
        'ip' = 'iproute2'; 'nsenter' = 'util-linux'; 'losetup' = 'mount'; 'start-stop-daemon' = 'dpkg'; 'dpkg-deb' = 'dpkg'; 'sysctl' = 'procps'; 'bash' = 'bash'
    }
    $missing = @($needed.Keys | Where-Object { -not (Get-Command $_ -CommandType Application -ErrorAction SilentlyContinue) } | Sort-Object)
    if ($missing) { return "these tools are missing: $($missing -join ', ') (apt-get install $(($missing | ForEach-Object { $needed[$_] } | Sort-Object -Unique) -join ' '))" }
    $null
}

# What a lab may leave behind on the host: loop devices, mounts, network links and namespaces, processes in other pid
# namespaces (containers) or naming systemd-nspawn.
function Get-HostSnapshot {
    $ownPidNs = (Get-Item "/proc/$PID/ns/pid").LinkTarget
    $processes = foreach ($dir in Get-ChildItem /proc -Directory | Where-Object Name -Match '^\d+$') {
        try {
            $ns = (Get-Item "$($dir.FullName)/ns/pid" -ErrorAction Stop).LinkTarget
            $cmd = [IO.File]::ReadAllText("$($dir.FullName)/cmdline").Replace([char]0, ' ').Trim()
            if ($ns -ne $ownPidNs -or $cmd -match 'systemd-nspawn') { "$($dir.Name) $cmd" }
        }
        catch { }
    }
    [pscustomobject]@{
        Loops      = @(& losetup --noheadings --list --output 'NAME,BACK-FILE' | ForEach-Object { $_.Trim() } | Sort-Object)
        Mounts     = @(Get-Content /proc/self/mountinfo | ForEach-Object { ($_ -split ' ')[4] } | Sort-Object)
        Links      = @(& ip -o link show | ForEach-Object { ($_ -split ':')[1].Trim() } | Sort-Object)
        Namespaces = @(& ip netns list | ForEach-Object { ($_ -split ' ')[0] } | Sort-Object)
        Processes  = @($processes | Sort-Object)
    }
}


# Detaches a loop device that a test attached, after detaching (lazily) the copies of the test's own mounts of it, under
# $Under, that other mount namespaces made while they existed (a namespace made with private propagation keeps them).
function Remove-TestLoopDevice([string] $Loop, [string] $Under) {
    foreach ($info in Get-ChildItem /proc/[0-9]*/mountinfo -ErrorAction SilentlyContinue) {
        $lines = try { [IO.File]::ReadAllLines($info.FullName) } catch { @() }
        foreach ($line in $lines | Where-Object { $_ -match " - \S+ $([regex]::Escape($Loop)) " }) {
            $mountPoint = ($line -split ' ')[4]
            if ($mountPoint.StartsWith($Under)) { & nsenter "--mount=/proc/$($info.Directory.Name)/ns/mnt" -- umount --lazy $mountPoint 2>$null }
        }
    }
    & btrfs device scan --forget $Loop 2>$null
    & losetup --detach $Loop 2>$null
}
