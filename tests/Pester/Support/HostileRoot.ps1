# A partition root filled with hostile links, and the host files they point at, for any backend that edits a
# partition's or a clone's tree from the host (the container backend's clone, the VM backend's offline image edit).
#
#   $watch = New-HostileRoot -Root <the partition's / as the host sees it> -HostFolder <a folder of the test's>
#   $before = Get-HostFileState $watch
#   ... live update, roll back ...
#   Assert-HostFileState $watch $before
#
# The links: files the backend writes (its packages and level files, the host name) pointing at host files; a folder
# a package installs into pointing at the host's /etc (absolute, as a partition would plant it); and links to a host
# file, a host folder, /dev/zero, /proc/1/root and nowhere in a folder of their own and on the data volume. A backend
# that follows none of them leaves every watched host file as it was; the links themselves may be replaced in the
# partition's copy, never followed.

function New-HostileRoot {
    param(
        [Parameter(Mandatory)] [string] $Root,
        [Parameter(Mandatory)] [string] $HostFolder,
        # Where the partition keeps data that the mirror carries (a folder on a logical volume of its own).
        [string] $DataFolder = 'srv/recordd'
    )
    New-Item -ItemType Directory -Force -Path $HostFolder | Out-Null
    $sentinels = foreach ($name in 'packages', 'hostname', 'oslevel', 'planted') {
        $file = Join-Path $HostFolder "host-$name"
        Set-Content -Path $file -Value "host file $name, never to be written by a live update" -NoNewline
        $file
    }
    $hostDir = Join-Path $HostFolder 'host-dir'
    New-Item -ItemType Directory -Force -Path $hostDir | Out-Null
    Set-Content -Path (Join-Path $hostDir 'inside') -Value 'a host folder' -NoNewline

    function Plant([string] $Relative, [string] $Target) {
        $path = Join-Path $Root $Relative
        New-Item -ItemType Directory -Force -Path (Split-Path $path) | Out-Null
        # A link (dangling or not) or anything else at the name goes first.
        $existing = Get-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue
        if ($existing) { Remove-Item -LiteralPath $path -Recurse -Force }
        $null = New-Item -ItemType SymbolicLink -Path $path -Target $Target
    }
    # What the backend writes itself: replaced by a file of its own, the host file untouched.
    Plant 'etc/liveupdate/packages' $sentinels[0]
    Plant 'etc/hostname' $sentinels[1]
    # What a package installs into: a folder that is a link to the host's /etc.
    Plant 'usr/share/lab-base' '/etc'
    # Links that lead out of the tree, to devices, into another root, nowhere.
    foreach ($dir in 'opt/hostile', $DataFolder) {
        Plant "$dir/to-host-file" $sentinels[3]
        Plant "$dir/to-host-dir" $hostDir
        Plant "$dir/to-dev-zero" '/dev/zero'
        Plant "$dir/to-proc-1-root" '/proc/1/root'
        Plant "$dir/dangling" '/nonexistent/liveupdate/dangling'
    }
    # The host files to watch: the sentinels, the host folder and the host's own files the links name.
    @($sentinels) + @($hostDir, '/etc/hostname', '/etc/passwd', '/etc/hosts', '/etc/release', '/etc/motd')
}

# A hash of each watched file (a listing with hashes for a folder; 'absent' for one that is not there).
function Get-HostFileState {
    param([Parameter(Mandatory)] [string[]] $Paths)
    $state = [ordered]@{}
    foreach ($p in $Paths) {
        $state[$p] = if (Test-Path -LiteralPath $p -PathType Container) {
            (Get-ChildItem -LiteralPath $p -Recurse -Force | Sort-Object FullName | ForEach-Object {
                    "$($_.FullName) $(if ($_.PSIsContainer) { 'dir' } else { (Get-FileHash -LiteralPath $_.FullName -Algorithm SHA256).Hash })"
                }) -join "`n"
        }
        elseif (Test-Path -LiteralPath $p) { (Get-FileHash -LiteralPath $p -Algorithm SHA256).Hash }
        else { 'absent' }
    }
    $state
}

function Assert-HostFileState {
    param([Parameter(Mandatory)] [string[]] $Paths, [Parameter(Mandatory)] $Before)
    $after = Get-HostFileState $Paths
    foreach ($p in $Paths) { $after[$p] | Should -Be $Before[$p] -Because "the host's $p must be as it was" }
}
