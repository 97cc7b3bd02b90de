# Shared by the acceptance tests (dot-source it in BeforeAll): labs in temporary folders, snapshots of what a lab
# persists, the records of the applications' data files, and hand-made bad bundles and lab states.

Import-Module $env:LIVEUPDATE_MODULE -Force

$script:ModulePath = $env:LIVEUPDATE_MODULE

function New-TestLab {
    # Creates (and connects) a lab in a new folder under $TestDrive, which Pester removes after the file's tests.
    param([string] $Name = 'lab', [hashtable] $Parameters = @{})
    $path = Join-Path $TestDrive ('{0}-{1}' -f $Name, [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-LiveUpdateLab -Path $path @Parameters | Out-Null
    $path
}

function Get-LabSnapshot {
    # What a lab persists: the bytes of system.state, and every folder and file (relative path and SHA-256). Also
    # takes a part of a lab (a disk's folder), which has no state file.
    param([Parameter(Mandatory)] [string] $Path)
    $root = [IO.Path]::GetFullPath($Path)
    $entries = foreach ($entry in [IO.Directory]::GetFileSystemEntries($root, '*', [IO.SearchOption]::AllDirectories) | Sort-Object) {
        $relative = [IO.Path]::GetRelativePath($root, $entry)
        if ([IO.Directory]::Exists($entry)) { "$relative/" }
        else { '{0} {1}' -f $relative, [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([IO.File]::ReadAllBytes($entry))) }
    }
    [pscustomobject]@{
        State = if (Test-Path -LiteralPath (Join-Path $root 'system.state')) { [Convert]::ToBase64String([IO.File]::ReadAllBytes((Join-Path $root 'system.state'))) }
        Files = $entries -join "`n"
    }
}

function Assert-LabUnchanged {
    # Compares a snapshot taken before with the lab as it is now. -IgnoreLocks leaves out the lock files (.lock and
    # locks/), which name the process that holds a lock and are no state of the system.
    param([Parameter(Mandatory)] $Before, [Parameter(Mandatory)] [string] $Path, [switch] $IgnoreLocks)
    $after = Get-LabSnapshot $Path
    if ($IgnoreLocks) {
        $state = { param($files) ($files -split "`n" | Where-Object { $_ -notmatch '^(\.lock|locks)[ /]' }) -join "`n" }
        & $state $after.Files | Should -Be (& $state $Before.Files) -Because 'no file or folder of the lab but a lock may change'
    }
    else {
        $after.Files | Should -Be $Before.Files -Because 'no file or folder of the lab may change'
    }
    $after.State | Should -Be $Before.State -Because 'system.state must keep its exact bytes'
}

function Get-DataRecord {
    # The sequence numbers of an application's data file on the copy of its volume group held by one disk.
    param([Parameter(Mandatory)] [string] $Lab, [Parameter(Mandatory)] [string] $Disk, [Parameter(Mandatory)] [string] $DataPath)
    $file = Join-Path $Lab "disks/$Disk/$($DataPath.TrimStart('/'))"
    if (-not (Test-Path -LiteralPath $file)) { return , [long[]]@() }
    $lines = [IO.File]::ReadAllLines($file)
    $records = [long[]]::new($lines.Length)
    for ($i = 0; $i -lt $lines.Length; $i++) { $records[$i] = [long]::Parse($lines[$i].Substring(0, 8)) }
    , $records
}

function Get-SequenceGap {
    # Describes the first place where the records are not 1, 2, 3, ... in order; nothing when they are.
    param([long[]] $Sequence)
    for ($i = 0; $i -lt $Sequence.Count; $i++) {
        if ($Sequence[$i] -ne $i + 1) { return "record #$($i + 1) is $($Sequence[$i]), expected $($i + 1)" }
    }
}

function Edit-LabState {
    # Rewrites a state file of a lab (default: the domain of lpar1) with a valid checksum after $Change has edited its
    # parsed content (a hashtable), and moves the frame's generation on as a save does, so that a connected session
    # reads it again: the way to set up a situation that no cmdlet creates (a partition that was shut down, say).
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [scriptblock] $Change, [string] $File = 'domains/lpar1.state')
    function Update-StateFile([string] $Full, [scriptblock] $Edit) {
        $text = [IO.File]::ReadAllText($Full)
        $newline = $text.IndexOf("`n")
        $prefix = $text.Substring(0, $text.IndexOf('sha256=') + 'sha256='.Length)
        $content = $text.Substring($newline + 1) | ConvertFrom-Json -AsHashtable -DateKind String
        & $Edit $content
        $body = $content | ConvertTo-Json -Depth 32
        $hash = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes($body))).ToLowerInvariant()
        [IO.File]::WriteAllText($Full, "$prefix$hash`n$body")
    }
    Update-StateFile (Join-Path $Path $File) $Change
    if ($File -ne 'system.state') { Update-StateFile (Join-Path $Path 'system.state') { param($frame) $frame.Generation++ } }
}

function Copy-Bundle {
    # Copies a bundle folder to a new folder under $TestDrive and returns the copy's path.
    param([Parameter(Mandatory)] [string] $Path, [string] $Name = 'bundle')
    $target = Join-Path $TestDrive ('{0}-{1}' -f $Name, [guid]::NewGuid().ToString('N').Substring(0, 8))
    Copy-Item -LiteralPath $Path -Destination $target -Recurse
    $target
}

function Edit-BundleManifest {
    # Changes fields of a bundle's manifest.json (a hashtable of name = value; $null removes the field).
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [hashtable] $Set)
    $file = Join-Path $Path 'manifest.json'
    $manifest = Get-Content -LiteralPath $file -Raw | ConvertFrom-Json -AsHashtable
    foreach ($key in $Set.Keys) {
        if ($null -eq $Set[$key]) { $manifest.Remove($key) } else { $manifest[$key] = $Set[$key] }
    }
    Set-Content -LiteralPath $file -Value ($manifest | ConvertTo-Json -Depth 8) -NoNewline
}
