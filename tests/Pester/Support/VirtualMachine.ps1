# Helpers of the VM backend's tests: why they cannot run here, commands in a guest through virsh (independent of the
# module), and a client of recordd that appends records from the lab's network namespace.

function Get-VirtualMachineSkipReason {
    if (-not $IsLinux) { return 'they need Linux' }
    if ((& id -u) -ne '0') { return 'they need root' }
    $needed = @{ 'qemu-system-x86_64' = 'qemu-system-x86'; 'qemu-img' = 'qemu-utils'; 'libvirtd' = 'libvirt-daemon-driver-qemu'; 'virsh' = 'libvirt-clients'
        'qemu-ga' = 'qemu-guest-agent'; 'busybox' = 'busybox-static'; 'debugfs' = 'e2fsprogs'; 'depmod' = 'kmod'; 'xz' = 'xz-utils'; 'ip' = 'iproute2' }
    $missing = @($needed.Keys | Where-Object { -not (Get-Command $_ -CommandType Application -ErrorAction SilentlyContinue) } | Sort-Object)
    if ($missing) { return "these tools are missing: $($missing -join ', ') (apt-get install $(($missing | ForEach-Object { $needed[$_] } | Sort-Object -Unique) -join ' '))" }
    if (-not (& apt-cache depends linux-image-cloud-amd64 2>$null | Select-String 'Depends: linux-image-')) {
        if (-not (Get-ChildItem /var/cache/liveupdate/kernels -Filter 'linux-image-*.deb' -ErrorAction SilentlyContinue)) { return "Debian's registry serves no cloud kernel here and none is cached (apt-get update)" }
    }
    $null
}

function Get-VmDomain {
    # The running libvirt domain of this lab whose title is the partition's name (the one users see in virsh list
    # --title). Other labs on the same daemon have domains titled lpar1 too: only names of this lab's id count.
    param([string] $Partition = 'lpar1', [Parameter(Mandatory)] [string] $Lab)
    $id = (Get-Content (Join-Path $Lab 'liveupdate-vmhost.json') -Raw | ConvertFrom-Json).id
    foreach ($line in & virsh -c qemu:///system list --title) {
        $f = -split $line
        if ($f.Count -ge 4 -and $f[0] -match '^\d+$' -and $f[1].StartsWith("lu$id-") -and $f[3] -eq $Partition) { return $f[1] }
    }
}

function Invoke-Guest {
    # Runs a program with its arguments in a guest through its agent (virsh qemu-agent-command) and returns its output.
    param([Parameter(Mandatory)] [string] $Domain, [Parameter(Mandatory)] [string[]] $Command, [switch] $NoWait)
    $exec = @{ execute = 'guest-exec'; arguments = @{ path = $Command[0]; arg = @($Command | Select-Object -Skip 1); 'capture-output' = (-not $NoWait) } } | ConvertTo-Json -Compress -Depth 5
    $pid_ = ((& virsh -c qemu:///system qemu-agent-command $Domain $exec) -join '' | ConvertFrom-Json).return.pid
    if ($NoWait) { return }
    for ($i = 0; $i -lt 500; $i++) {
        $status = ((& virsh -c qemu:///system qemu-agent-command $Domain (@{ execute = 'guest-exec-status'; arguments = @{ pid = $pid_ } } | ConvertTo-Json -Compress)) -join '' | ConvertFrom-Json).return
        if ($status.exited) {
            $out = if ($status.PSObject.Properties.Name -contains 'out-data') { $status.'out-data' } else { '' }
            return [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($out))
        }
        Start-Sleep -Milliseconds 20
    }
    throw "guest command $($Command -join ' ') did not end"
}

function Start-RecordClient {
    # Appends records to recordd every few milliseconds from the lab's namespace (a bounded loop that ends by itself
    # or when the stop file appears); the acknowledged sequence numbers go to the log file.
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [string] $Address, [Parameter(Mandatory)] [string] $Log, [int] $Seconds = 300)
    $script = "end=`$((`$(date +%s)+$Seconds)); n=0; while [ `$(date +%s) -lt `$end ] && [ ! -e '$Log.stop' ]; do n=`$((n+1)); printf 'APPEND t1 %d\n' `$n 2>/dev/null | busybox nc -w 2 $Address 7000 >> '$Log' 2>/dev/null; busybox usleep 20000; done"
    $psi = [Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in 'netns', 'exec', $Namespace, 'sh', '-c', $script) { $psi.ArgumentList.Add($a) }
    [Diagnostics.Process]::Start($psi)
}

function Stop-RecordClient {
    param([Parameter(Mandatory)] $Process, [Parameter(Mandatory)] [string] $Log)
    New-Item -ItemType File "$Log.stop" -Force | Out-Null
    if (-not $Process.WaitForExit(10000)) { $Process.Kill() }
    @(Get-Content $Log -ErrorAction SilentlyContinue | Where-Object { $_ -match '^ACK \d+ t1 (\d+)$' } | ForEach-Object { [long]$Matches[1] })
}
