# The emulated Power frame of tests/Emulators/Power for the Pester suites: started, reset and removed here; a lab
# folder with a description of it (liveupdate-power.json), its known hosts and the sample bundles.

$script:PowerEmulator = Join-Path $PSScriptRoot '../../Emulators/Power'
$script:Python = '/usr/bin/python3'

# Why the Power tests cannot run here, or $null when they can.
function Get-PowerSkipReason {
    if (-not $IsLinux) { return 'they need Linux (network namespaces)' }
    if ((& id -u) -ne '0') { return 'they need root (network namespaces, sshd)' }
    $needed = [ordered]@{ '/usr/sbin/sshd' = 'openssh-server'; $script:Python = 'python3'; '/usr/bin/ssh-keygen' = 'openssh-client'; '/usr/bin/unshare' = 'util-linux' }
    $missing = @($needed.Keys | Where-Object { -not (Test-Path $_) })
    if ($missing) { return "these are missing: $($missing -join ', ') (apt-get install $(($missing | ForEach-Object { $needed[$_] }) -join ' '))" }
    if (-not (Get-Command ip -CommandType Application -ErrorAction SilentlyContinue)) { return 'ip is missing (apt-get install iproute2)' }
    $null
}

function Invoke-PowerEmulator {
    param([Parameter(Mandatory)] [string[]] $Arguments)
    $out = & $script:Python -S -E (Join-Path $script:PowerEmulator 'lab.py') @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "lab.py $($Arguments -join ' ') failed: $($out -join "`n")" }
    $out
}

# Starts an emulated frame (HMC, VIOS, partition slots, lpar1 with its applications); returns its facts.
function New-PowerFrame {
    param([string] $Id = ('p' + [guid]::NewGuid().ToString('N').Substring(0, 5)), [int] $Applications = 1, [double] $ProcUnits = 4.0, [int] $MemoryMB = 32768)
    $frame = Join-Path ([IO.Path]::GetTempPath()) "lu-frame-$Id"
    $json = Invoke-PowerEmulator @('up', '--frame', $frame, '--id', $Id, '--apps', "$Applications", '--proc-units', "$ProcUnits", '--mem', "$MemoryMB")
    $facts = ($json | Select-Object -Last 1) | ConvertFrom-Json
    $facts | Add-Member -NotePropertyName Options -NotePropertyValue @{ Applications = $Applications; ProcUnits = $ProcUnits; MemoryMB = $MemoryMB } -PassThru
}

# A fresh frame state on the running endpoints (lpar1 rebooted from hdisk0, nothing left of earlier tests).
function Reset-PowerFrame {
    param([Parameter(Mandatory)] $Frame, [double] $ProcUnits = $Frame.Options.ProcUnits, [int] $MemoryMB = $Frame.Options.MemoryMB)
    $null = Invoke-PowerEmulator @('reset', '--frame', $Frame.frame, '--id', $Frame.id, '--apps', "$($Frame.Options.Applications)", '--proc-units', "$ProcUnits", '--mem', "$MemoryMB")
}

# Stops every process of the frame (by pid) and removes its namespaces, links and folder.
function Remove-PowerFrame {
    param([Parameter(Mandatory)] $Frame)
    $null = Invoke-PowerEmulator @('down', '--frame', $Frame.frame, '--id', $Frame.id, '--remove')
}

# Writes a lab folder that describes the frame and connects to it.
function New-PowerLab {
    param([Parameter(Mandatory)] $Frame, [Parameter(Mandatory)] [string] $Path, [switch] $NoKnownHosts, [switch] $NoConnect, [hashtable] $Change = @{})
    New-Item -ItemType Directory -Force $Path | Out-Null
    & chmod 700 $Path
    $apps = foreach ($a in $Frame.applications) {
        [ordered]@{
            name = $a.name; partition = 'lpar1'; volumeGroup = $a.vg; mountPoint = $a.mount; serviceAddress = $a.address; netmask = '255.255.255.0'
            start = @('/opt/recordd/bin/recordd-ctl', 'start', $a.mount, $a.address, "$($a.port)")
            stop = @('/opt/recordd/bin/recordd-ctl', 'stop', $a.mount)
            health = @('/opt/recordd/bin/recordd-ctl', 'health', $a.address, "$($a.port)")
            healthTimeoutSeconds = 10; recordsFile = "$($a.mount)/records.log"
        }
    }
    $description = [ordered]@{
        format = 'LiveUpdate.PowerSystem/1'; lab = $true
        hmc = [ordered]@{ address = $Frame.hmc; port = 22; user = 'hscroot'; keyFile = $Frame.clientKey }
        managedSystem = $Frame.system
        vios = [ordered]@{ name = 'vios1' }
        knownHosts = 'known_hosts'
        partitions = @([ordered]@{ name = 'lpar1'; address = $Frame.lpar1; user = 'root'; keyFile = $Frame.clientKey; netmask = $Frame.netmask; interface = 'en0' })
        surrogateAddresses = @($Frame.surrogateAddresses)
        applications = @($apps)
    }
    foreach ($k in $Change.Keys) { $description[$k] = $Change[$k] }
    $description | ConvertTo-Json -Depth 6 | Set-Content -Path (Join-Path $Path 'liveupdate-power.json')
    if (-not $NoKnownHosts) {
        $lines = @("$($Frame.hmc) $(($Frame.hostKeys.hmc -split ' ')[0..1] -join ' ')", "$($Frame.lpar1) $(($Frame.hostKeys.lpar1 -split ' ')[0..1] -join ' ')",
            "$($Frame.vios) $(($Frame.hostKeys.vios -split ' ')[0..1] -join ' ')")
        Set-Content -Path (Join-Path $Path 'known_hosts') -Value $lines
        & chmod 600 (Join-Path $Path 'known_hosts')
    }
    $null = [LiveUpdate.Engine.Backends.Simulated.LabBuilder]::WriteSampleBundles((Join-Path $Path 'updates'), [LiveUpdate.Engine.Model.OsLevel]::Parse('7300-02-01'))
    if (-not $NoConnect) { Connect-LiveUpdateSystem -Path $Path }
}

# Every command the frame received since the last reset (endpoint, argv, exit code, whether it changes the frame).
function Get-FrameCommand {
    param([Parameter(Mandatory)] $Frame)
    $file = Join-Path $Frame.frame 'commands.log'
    if (-not (Test-Path $file)) { return @() }
    @(Get-Content $file | ForEach-Object { $_ | ConvertFrom-Json })
}

# Commands the emulator did not know (each one a test failure).
function Get-FrameUnknownCommand {
    param([Parameter(Mandatory)] $Frame)
    $file = Join-Path $Frame.frame 'unknown.log'
    if (-not (Test-Path $file)) { return @() }
    @(Get-Content $file)
}

function Clear-FrameCommand {
    param([Parameter(Mandatory)] $Frame)
    $file = Join-Path $Frame.frame 'commands.log'
    if (Test-Path $file) { Remove-Item $file }
}

# Injects faults into the frame: a list of @{ endpoint; match; action = drop|garbage|noresults|fail; times; after }.
function Set-FrameFault {
    param([Parameter(Mandatory)] $Frame, [object[]] $Rule = @())
    $file = Join-Path $Frame.frame 'faults.json'
    if ($Rule.Count -eq 0) { if (Test-Path $file) { Remove-Item $file }; return }
    ConvertTo-Json -InputObject @($Rule) -Depth 4 | Set-Content $file
}

# The frame's state (the emulator's own JSON) for checks that look behind the backend.
function Get-FrameState {
    param([Parameter(Mandatory)] $Frame)
    Get-Content (Join-Path $Frame.frame 'state.json') -Raw | ConvertFrom-Json
}

# Starts a client that appends records to an application's service address until Stop-PowerRecordClient.
function Start-PowerRecordClient {
    param([Parameter(Mandatory)] $Frame, [Parameter(Mandatory)] [string] $Folder, [int] $Application = 0)
    New-Item -ItemType Directory -Force $Folder | Out-Null
    $app = @($Frame.applications)[$Application]
    $p = Start-Process -FilePath $script:Python -ArgumentList @('-S', '-E', (Join-Path $script:PowerEmulator 'client.py'), $app.address, "$($app.port)", $Folder) -PassThru
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while (@(Get-PowerAcknowledged $Folder).Count -lt 10 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
    $p
}

function Stop-PowerRecordClient {
    param([Parameter(Mandatory)] $Process, [Parameter(Mandatory)] [string] $Folder)
    New-Item -ItemType File -Force (Join-Path $Folder 'stop') | Out-Null
    if (-not $Process.WaitForExit(15000)) { Stop-Process -Id $Process.Id -Force }
}

function Get-PowerAcknowledged {
    param([Parameter(Mandatory)] [string] $Folder)
    $file = Join-Path $Folder 'acked'
    if (-not (Test-Path $file)) { return @() }
    @(Get-Content $file | Where-Object { $_ } | ForEach-Object {
            $n, $t = $_ -split ' '
            [pscustomobject]@{ N = [long]$n; Time = [double]::Parse($t, [Globalization.CultureInfo]::InvariantCulture) }
        })
}

# The records of an application as every copy of its logical volume on the emulated disks holds them (the copies must agree).
function Get-PowerRecord {
    param([Parameter(Mandatory)] $Frame, [int] $Application = 0)
    $app = @($Frame.applications)[$Application]
    $state = Get-FrameState $Frame
    $vg = $state.vgda.PSObject.Properties | Where-Object { $_.Value.lvs.PSObject.Properties.Name -contains $app.lv } | Select-Object -First 1
    if (-not $vg) { throw "The frame has no volume group with $($app.lv)." }
    $copies = @($vg.Value.lvs.($app.lv).copies | ForEach-Object { [IO.File]::ReadAllText((Join-Path $Frame.frame "disks/$_/lv/$($app.lv)/records.log")) })
    foreach ($c in $copies) { if ($c -ne $copies[0]) { throw "The copies of $($app.lv) differ." } }
    @($copies[0] -split "`n" | Where-Object { $_ } | ForEach-Object {
            $seq, $client, $n = $_ -split ' '
            [pscustomobject]@{ Seq = [long]$seq; Client = $client; N = [long]$n }
        })
}

# The ODM of the AIX image on a disk of the frame (what the partition booted from it would know).
function Get-FrameOdm {
    param([Parameter(Mandatory)] $Frame, [Parameter(Mandatory)] [string] $Disk)
    Get-Content -Raw (Join-Path $Frame.frame "disks/$Disk/lv/hd4/etc/odm.json") | ConvertFrom-Json
}

# Checks that every acknowledged record is in the data, numbered from 1 without a gap; returns the records.
function Assert-PowerRecordsKept {
    param([Parameter(Mandatory)] $Frame, [Parameter(Mandatory)] [string] $Folder, [int] $Application = 0)
    $acked = @(Get-PowerAcknowledged $Folder)
    $records = @(Get-PowerRecord -Frame $Frame -Application $Application)
    $present = [Collections.Generic.HashSet[long]]::new()
    foreach ($r in $records | Where-Object Client -EQ 'client') { [void]$present.Add($r.N) }
    @($acked | Where-Object { -not $present.Contains($_.N) } | ForEach-Object N) | Should -BeNullOrEmpty -Because 'every record the client saw acknowledged must be in the data'
    for ($i = 0; $i -lt $records.Count; $i++) { $records[$i].Seq | Should -Be ($i + 1) -Because 'the records are numbered without a gap' }
    $acked
}
