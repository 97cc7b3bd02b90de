#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# The reliability matrix: every step of the flow x {fail before, fail during, fail after, process killed}. After each
# fault the invariants of Support/Matrix.ps1 must hold and a new live update must succeed. Backend-neutral: set
# LIVEUPDATE_MATRIX_BACKEND=Container, Power or VirtualMachine (the backends Support/Matrix.ps1 knows) to run it there.
# LIVEUPDATE_MATRIX_MODES=During,Kill keeps only those timings (build.ps1 test does so on the Power and VM backends;
# -Full tries every timing); LIVEUPDATE_MATRIX_REUSE=1 runs every case in one lab.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Support/Matrix.ps1')
    $script:matrixSkip = Get-MatrixSkipReason
    if ($script:matrixSkip) { Write-Host "Fault matrix on the $(Get-MatrixBackend) backend skipped: $script:matrixSkip" -ForegroundColor Yellow }
    $modes = 'Before', 'During', 'After', 'Kill'
    $steps = 'Verify', 'Clone', 'Mirror', 'Install', 'Boot', 'Import', 'Move', 'TakeOver'
    $cases = foreach ($step in $steps) {
        foreach ($mode in $modes) { @{ Step = $step; Mode = $mode } }
    }
    $cases += @{ Step = 'Health'; Mode = 'During' }
    # LIVEUPDATE_MATRIX_MODES (e.g. During,Kill) keeps only those modes: the matrix on a slow backend in the default test command.
    if ($env:LIVEUPDATE_MATRIX_MODES) { $cases = @($cases | Where-Object { $_.Mode -in ($env:LIVEUPDATE_MATRIX_MODES -split ',') -and $_.Step -ne 'Health' }) }
    # The last case is the one after which a reused lab must still take a whole live update (see the follow-up below).
    for ($i = 0; $i -lt $cases.Count; $i++) { $cases[$i].Last = $i -eq $cases.Count - 1 }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    . (Join-Path $PSScriptRoot 'Support/Matrix.ps1')
    $script:tried = 0
    $script:held = 0
    $script:reused = $null
    $script:failures = [System.Collections.Generic.List[string]]::new()
}

AfterAll {
    Remove-MatrixFrame
    Write-Host ("Fault matrix on the {0} backend: {1} fault points tried, {2} held" -f (Get-MatrixBackend), $script:tried, $script:held)
    foreach ($f in $script:failures) { Write-Host "  did not hold: $f" }
}

Describe 'Fault matrix' -Tag 'Reliability' -Skip:([bool]$script:matrixSkip) {
    BeforeEach {
        $env:LIVEUPDATE_FAULT = $null
        # LIVEUPDATE_MATRIX_REUSE: one lab for every case (a lab left consistent after a fault is what the invariants assert).
        if ($env:LIVEUPDATE_MATRIX_REUSE -and $script:reused -and (Test-Path $script:reused)) {
            $lab = $script:reused
            $null = Connect-LiveUpdateSystem -Path $lab
            foreach ($old in @(Get-VolumeGroup -Partition lpar1 | Where-Object Role -eq 'OldRoot')) { Remove-VolumeGroup -Name $old.Name -Partition lpar1 -Confirm:$false }
        }
        else {
            $lab = Join-Path ([IO.Path]::GetTempPath()) ("lu-matrix-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
            $null = New-MatrixLab -Path $lab
            if ($env:LIVEUPDATE_MATRIX_REUSE) { $script:reused = $lab }
        }
        $from = (Get-LogicalPartition lpar1).OsLevel.ToString()
        $bundle = Get-NextBundle -Lab $lab
        $to = (Get-Content (Join-Path $bundle 'manifest.json') -Raw | ConvertFrom-Json).targetLevel
        $apps = @(Get-Application -Partition lpar1 | ForEach-Object Name)
    }
    AfterEach {
        $env:LIVEUPDATE_FAULT = $null
        if (-not $env:LIVEUPDATE_MATRIX_REUSE -and (Test-Path $lab)) { Remove-LiveUpdateLab -Path $lab -Confirm:$false }
    }
    AfterAll {
        if ($script:reused -and (Test-Path $script:reused)) { Remove-LiveUpdateLab -Path $script:reused -Confirm:$false }
    }

    It '<Step> <Mode>: the applications keep their data and nothing is left over' -ForEach $cases {
        $script:tried++
        $name = "$Step $Mode"
        try {
            if ($Mode -eq 'Kill') {
                $code = Invoke-LiveUpdateInChild -Lab $lab -Bundle $bundle -Fault "${Step}:During:Kill"
                $code | Should -Not -Be 0 -Because 'the injected fault kills the process that hosts the update'
                $null = Connect-LiveUpdateSystem -Path $lab
                $interrupted = @(Get-LiveUpdateOperation -Unfinished)
                $interrupted.Count | Should -Be 1
                $interrupted[0].State | Should -Be 'Interrupted'
                $result = Resume-LiveUpdate -Id $interrupted[0].Id -Confirm:$false -ErrorAction SilentlyContinue
                # Every step can be done again: an update killed at any step and resumed forward finishes forward.
                $result.Status | Should -Be 'Succeeded' -Because "Resume-LiveUpdate redoes the $Step step that the killed process left unfinished ($($result.ErrorId): $($result.Reason))"
            }
            else {
                $env:LIVEUPDATE_FAULT = "${Step}:$Mode"
                $null = Connect-LiveUpdateSystem -Path $lab
                $result = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -ErrorAction SilentlyContinue -ErrorVariable failure
                $env:LIVEUPDATE_FAULT = $null
                $null = Connect-LiveUpdateSystem -Path $lab
                if ($result.Status -ne 'Succeeded') {
                    $failure | Should -Not -BeNullOrEmpty -Because 'a live update that did not succeed writes an error'
                    $result.FailedStep | Should -Be ($(if ($Step -eq 'Health') { 'Move' } else { $Step }))
                    $result.Reason | Should -Not -BeNullOrEmpty
                }
                if ($Step -eq 'Health') {
                    $result.Status | Should -Be 'RolledBack' -Because 'a failed health check sends the update back'
                    $result.ErrorId | Should -Be 'HealthCheckFailed'
                    $result.Reason | Should -Match $apps[0]
                }
            }
            $result | Should -Not -BeNullOrEmpty
            $updated = Assert-LiveUpdateInvariant -Lab $lab -Applications $apps -FromLevel $from -ToLevel $to -Result $result

            # A new live update afterwards succeeds. In a reused lab the next case's update runs every step up to its
            # fault point on what this one left; the whole update follows the last case (and every case without reuse).
            if ($env:LIVEUPDATE_MATRIX_REUSE -and -not $Last) { $script:held++; return }
            $next = Get-NextBundle -Lab $lab
            $again = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $next
            $again.Status | Should -Be 'Succeeded'
            $null = Assert-LiveUpdateInvariant -Lab $lab -Applications $apps -FromLevel $(if ($updated) { $to } else { $from }) -ToLevel $again.ToLevel.ToString() -Result $again
            $script:held++
        }
        catch {
            $script:failures.Add("$name — $($_.Exception.Message)")
            throw
        }
    }

    It 'every fault point held' {
        $script:tried | Should -BeGreaterThan 0
        $script:held | Should -Be $script:tried
    }
}
