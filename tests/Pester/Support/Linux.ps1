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
