# Backend-neutral pieces of the reliability matrix: a lab for the backend under test, a way to run a live update
# in a child process that an injected fault kills, and the invariants every fault point must hold.

. (Join-Path $PSScriptRoot 'Power.ps1')

function Get-MatrixBackend {
    if ($env:LIVEUPDATE_MATRIX_BACKEND) { $env:LIVEUPDATE_MATRIX_BACKEND } else { 'Simulated' }
}

function Get-MatrixSkipReason {
    # Why the matrix cannot run on the backend under test here, or $null.
    switch (Get-MatrixBackend) {
        'Simulated' { $null }
        { $_ -in 'Container', 'Linux' } { . (Join-Path $PSScriptRoot 'Linux.ps1'); Get-LinuxSkipReason }
        'Power' { Get-PowerSkipReason }
        'VirtualMachine' { . (Join-Path $PSScriptRoot 'VirtualMachine.ps1'); Get-VirtualMachineSkipReason }
        default { "the matrix does not know the backend '$_'" }
    }
}

function New-MatrixLab {
    param([Parameter(Mandatory)] [string] $Path)
    if ((Get-MatrixBackend) -eq 'Power') {
        # One emulated frame for the whole matrix, reset for each lab; Remove-MatrixFrame stops it.
        if (-not (Get-Variable -Name MatrixFrame -Scope Script -ValueOnly -ErrorAction SilentlyContinue)) { $script:MatrixFrame = New-PowerFrame -Applications 1 }
        else { Reset-PowerFrame $script:MatrixFrame }
        return New-PowerLab -Frame $script:MatrixFrame -Path $Path
    }
    New-LiveUpdateLab -Path $Path -Backend (Get-MatrixBackend)
}

function Remove-MatrixFrame {
    # Stops what New-MatrixLab started for the whole matrix (the emulated Power frame), if anything.
    if (Get-Variable -Name MatrixFrame -Scope Script -ValueOnly -ErrorAction SilentlyContinue) {
        Get-FrameUnknownCommand $script:MatrixFrame | Should -BeNullOrEmpty -Because 'the emulator must know every command the backend sends'
        Remove-PowerFrame $script:MatrixFrame
        $script:MatrixFrame = $null
    }
}

function Get-LevelText {
    # A level as release-technology level-service pack: the build week (7300-02-01-2346) does not order levels.
    param([Parameter(Mandatory)] $Level)
    ($Level.ToString() -split '-')[0..2] -join '-'
}

function Get-NextBundle {
    # The sample bundle that leads from the partition's current level to the next one.
    param([Parameter(Mandatory)] [string] $Lab, [string] $Partition = 'lpar1')
    $level = Get-LevelText (Get-LogicalPartition $Partition).OsLevel
    Get-ChildItem (Join-Path $Lab 'updates') -Directory | Where-Object {
        $m = Get-Content (Join-Path $_.FullName 'manifest.json') -Raw | ConvertFrom-Json
        $m.requiresLevel -eq $level
    } | Select-Object -First 1 -ExpandProperty FullName
}

function Get-PwshCommand {
    # The PowerShell that runs these tests, as a file and the arguments that start it.
    $exe = Join-Path $PSHOME 'pwsh'
    if ((Test-Path $exe) -and -not $IsWindows) { return @{ File = $exe; Args = @() } }
    $dll = Join-Path $PSHOME 'pwsh.dll'
    @{ File = (Get-Process -Id $PID).Path; Args = @($dll) }
}

function Start-PwshChild {
    # Starts a new PowerShell process that imports the module under test and runs the script; returns the process
    # with its standard output and error being read (.Out and .Err tasks).
    param([Parameter(Mandatory)] [string] $Script, [hashtable] $Environment = @{})
    $pwsh = Get-PwshCommand
    $full = "`$ErrorActionPreference = 'Stop'`n`$PSStyle.OutputRendering = 'PlainText'`nImport-Module '$($env:LIVEUPDATE_MODULE)'`n" + $Script
    $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh.File)
    foreach ($a in $pwsh.Args) { $psi.ArgumentList.Add($a) }
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $full) { $psi.ArgumentList.Add($a) }
    $psi.Environment['NO_COLOR'] = '1'
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $p = [System.Diagnostics.Process]::Start($psi)
    $p | Add-Member -NotePropertyName Out -NotePropertyValue $p.StandardOutput.ReadToEndAsync()
    $p | Add-Member -NotePropertyName Err -NotePropertyValue $p.StandardError.ReadToEndAsync() -PassThru
}

function Wait-PwshChild {
    param([Parameter(Mandatory)] $Process, [int] $Seconds = 120)
    if (-not $Process.WaitForExit($Seconds * 1000)) { $Process.Kill(); throw "The child process $($Process.Id) did not end within $Seconds s." }
    $Process.WaitForExit()
    # A killed PowerShell leaves its diagnostics pipe behind; the process was ours, so is the pipe.
    Get-ChildItem ([IO.Path]::GetTempPath()) -Filter "CoreFxPipe_PSHost.*.$($Process.Id).*" -ErrorAction SilentlyContinue | Remove-Item -Force
    [pscustomobject]@{ ExitCode = $Process.ExitCode; Out = $Process.Out.Result; Err = $Process.Err.Result }
}

function Invoke-LiveUpdateInChild {
    # Runs Invoke-LiveUpdate in a new process with LIVEUPDATE_FAULT set; returns the process's exit code.
    param([string] $Lab, [string] $Bundle, [string] $Fault)
    $child = Start-PwshChild -Environment @{ LIVEUPDATE_FAULT = $Fault } -Script @"
`$null = Connect-LiveUpdateSystem -Path '$Lab'
Invoke-LiveUpdate -Partition lpar1 -UpdatePath '$Bundle' | Out-Null
"@
    (Wait-PwshChild $child).ExitCode
}

function Assert-LiveUpdateInvariant {
    # What must hold after any fault: the applications run on exactly one partition with every acknowledged record,
    # in order, without a gap; no disk, volume group, partition or lock is left over; the partition is at the old or
    # the new level and the result says which.
    param(
        [Parameter(Mandatory)] [string] $Lab,
        [Parameter(Mandatory)] [string[]] $Applications,
        [Parameter(Mandatory)] [string] $FromLevel,
        [Parameter(Mandatory)] [string] $ToLevel,
        $Result
    )
    $partitions = @(Get-LogicalPartition)
    $partitions.Name | Should -Be @('lpar1') -Because 'no surrogate partition may be left over'
    $lpar = $partitions[0]
    $lpar.State | Should -Be 'Running'
    $level = Get-LevelText $lpar.OsLevel
    $FromLevel = Get-LevelText $FromLevel
    $ToLevel = Get-LevelText $ToLevel
    $level | Should -BeIn @($FromLevel, $ToLevel)

    $apps = @(Get-Application)
    ($apps.Name | Sort-Object) | Should -Be ($Applications | Sort-Object) -Because 'each application exists exactly once'
    foreach ($app in $apps) {
        $app.Partition | Should -Be 'lpar1'
        $app.State | Should -Be 'Running'
        $check = Test-ApplicationData -Application $app.Name
        $check.InOrder | Should -BeTrue -Because "$($app.Name) must hold its records in order without a gap (first gap at $($check.FirstGap))"
        $check.Found | Should -Be $check.Acknowledged -Because "$($app.Name) must hold every acknowledged record and nothing else"
    }

    $updated = $level -eq $ToLevel
    $vgs = @(Get-VolumeGroup -Partition lpar1)
    @($vgs | Where-Object Role -eq 'Root').Count | Should -Be 1
    @($vgs | Where-Object Role -notin 'Root', 'OldRoot', 'Data' | ForEach-Object Name) | Should -BeNullOrEmpty -Because 'no clone or mirror volume group may be left over'
    if ($updated) { $vgs.Name | Should -Contain 'old_rootvg' -Because 'the old rootvg is kept as the way back' }
    @(Get-VolumeGroup | Where-Object Partition -ne 'lpar1').Count | Should -Be 0
    $inUse = @(Get-PhysicalVolume | Where-Object State -eq 'InUse' | ForEach-Object Name | Sort-Object)
    $inUse | Should -Be @($vgs.Disks | Sort-Object) -Because 'only the disks of rootvg (and old_rootvg) may be in use'
    @(Get-LiveUpdateOperation -Unfinished).Count | Should -Be 0 -Because 'no operation may be left in flight'
    @(Get-ChildItem (Join-Path $Lab 'locks') -File -ErrorAction SilentlyContinue).Count | Should -Be 0 -Because 'no lock may be left over'

    if ($Result) {
        Get-LevelText $Result.OsLevel | Should -Be $level -Because 'the result says at which level the partition ends'
        $Result.Status.ToString() | Should -Be ($(if ($updated) { 'Succeeded' } else { 'RolledBack' }))
    }
    $updated
}
