# Logging: the engine logs through Microsoft.Extensions.Logging on its worker thread; the cmdlets relay it to the
# Verbose, Debug, Warning and Information streams on the pipeline thread, and -LogPath (or $LiveUpdateLogPath)
# appends every entry as a JSON line for audit.

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    $lab = Join-Path $TestDrive 'lab'
    $null = New-LiveUpdateLab -Path $lab
    $bundle = Join-Path $lab 'updates/7300-02-02'
    $log = Join-Path $TestDrive 'update.jsonl'
    $records = Invoke-LiveUpdate -Partition lpar1 -UpdatePath $bundle -LogPath $log -Verbose -Debug -InformationVariable information 4>&1 5>&1
    $result = $records | Where-Object { $_ -is [LiveUpdate.Engine.Model.LiveUpdateResult] }
    $verbose = @($records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
    $debug = @($records | Where-Object { $_ -is [System.Management.Automation.DebugRecord] } | ForEach-Object Message)
    $lines = @(Get-Content -Path $log | ConvertFrom-Json)
}

AfterAll {
    Remove-Item Env:LIVEUPDATE_FAULT -ErrorAction SilentlyContinue
    Remove-LiveUpdateLab -Path $lab -Confirm:$false
}

Describe 'The streams' {
    It 'tell the story in Verbose, in the order it happened, though the engine ran on another thread' {
        $result.Status | Should -Be 'Succeeded'
        $begin = [array]::IndexOf($verbose, ($verbose | Where-Object { $_ -like "*Live update of lpar1 from 7300-02-01 to 7300-02-02 begins" }))
        $copy = [array]::IndexOf($verbose, ($verbose | Where-Object { $_ -like 'Copying rootvg of lpar1*' }))
        $noReturn = [array]::IndexOf($verbose, ($verbose | Where-Object { $_ -like '*Point of no return*' }))
        $stop = [array]::IndexOf($verbose, ($verbose | Where-Object { $_ -like 'Stopping db2inst1 on lpar1*' }))
        $begin | Should -BeGreaterOrEqual 0
        $copy | Should -BeGreaterThan $begin
        $noReturn | Should -BeGreaterThan $copy
        $stop | Should -BeGreaterThan $noReturn
    }

    It 'relay Debug entries written on the worker thread' {
        $entry = $debug | Where-Object { $_ -like 'Invoke-LiveUpdate works on*worker thread*' }
        $entry | Should -Not -BeNullOrEmpty
        [int]($entry -replace '.*worker thread (\d+);.*', '$1') | Should -Not -Be ([System.Threading.Thread]::CurrentThread.ManagedThreadId)
    }

    It 'give scripts Information records tagged with the operation id' {
        $tagged = @($information | Where-Object { $_.Tags -contains 'LiveUpdate' -and $_.Tags -contains $result.OperationId })
        $tagged.Count | Should -BeGreaterThan 5
        $tagged[0].Tags | Should -Contain 'Information'
        $tagged.MessageData | Should -Contain 'Copying rootvg of lpar1 (13824 MB) to hdisk1 as altinst_rootvg'
    }

    It 'warn when an application fails its health check and the update goes back' {
        $other = Join-Path $TestDrive 'health'
        $env:LIVEUPDATE_FAULT = 'Health:During'
        try { $null = New-LiveUpdateLab -Path $other }
        finally { Remove-Item Env:LIVEUPDATE_FAULT }
        $healthLog = Join-Path $TestDrive 'health.jsonl'
        $r = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $other 'updates/7300-02-02') -LogPath $healthLog -WarningVariable warnings -WarningAction SilentlyContinue -ErrorAction SilentlyContinue -ErrorVariable errors
        $r.Status | Should -Be 'RolledBack'
        $warnings.Message | Should -Contain "db2inst1 did not answer 'db2 connect to SAMPLE' on lpar1_surrogate within 60s"
        ($warnings.Message | Where-Object { $_ -like '*Rolling back*' }) | Should -Not -BeNullOrEmpty
        $errors[0].FullyQualifiedErrorId | Should -Be 'LiveUpdateRolledBack,LiveUpdate.PowerShell.Commands.InvokeLiveUpdateCommand'
        $audit = @(Get-Content $healthLog | ConvertFrom-Json)
        ($audit | Where-Object level -eq 'Warning').message | Should -Contain "db2inst1 did not answer 'db2 connect to SAMPLE' on lpar1_surrogate within 60s"
        $failure = $audit | Where-Object level -eq 'Error'
        $failure.data.ErrorId | Should -Be 'LiveUpdateRolledBack'
        $failure.operation | Should -Be $r.OperationId
        Remove-LiveUpdateLab -Path $other -Confirm:$false
        $null = Connect-LiveUpdateSystem -Path $lab
    }
}

Describe 'The JSON-lines audit log' {
    It 'has one JSON object per line, in time order' {
        $lines.Count | Should -BeGreaterThan 10
        $times = $lines | ForEach-Object { [DateTimeOffset]::Parse($_.time, [cultureinfo]::InvariantCulture) }
        for ($i = 1; $i -lt $times.Count; $i++) { $times[$i] | Should -BeGreaterOrEqual $times[$i - 1] }
    }

    It 'begins with the command, its parameters and who ran it, and ends when it finished' {
        $lines[0].message | Should -Be 'Invoke-LiveUpdate started'
        $lines[0].category | Should -Be 'LiveUpdate.Audit'
        $lines[0].data.Partition | Should -Be 'lpar1'
        $lines[0].data.UpdatePath | Should -Be $bundle
        $lines[0].data.User | Should -Be ([Environment]::UserName)
        $lines[-1].message | Should -Be 'Invoke-LiveUpdate finished'
        $lines[-1].operation | Should -Be $result.OperationId
    }

    It 'holds every engine entry with its level, operation id, message template and values' {
        $engine = @($lines | Where-Object category -eq 'LiveUpdate.Invoke-LiveUpdate')
        ($engine | Where-Object level -eq 'Information').Count | Should -Be ($verbose | Where-Object { $_ -notlike 'Performing the operation*' }).Count
        $engine | Where-Object level -ne 'Debug' | ForEach-Object { $_.operation | Should -Be $result.OperationId }
        $copy = $engine | Where-Object template -eq 'Copying rootvg of {Partition} ({UsedMB} MB) to {Disks} as altinst_rootvg'
        $copy.data.Partition | Should -Be 'lpar1'
        $copy.data.UsedMB | Should -Be 13824
        $copy.message | Should -Be 'Copying rootvg of lpar1 (13824 MB) to hdisk1 as altinst_rootvg'
    }

    It 'follows $LiveUpdateLogPath when -LogPath is not given, and -LogPath wins over it' {
        $preferred = Join-Path $TestDrive 'preferred.jsonl'
        $explicit = Join-Path $TestDrive 'explicit.jsonl'
        $LiveUpdateLogPath = $preferred
        $null = New-RootVgClone -Partition lpar1 -Disk hdisk2
        $null = Get-PhysicalVolume -LogPath $explicit
        Remove-Variable LiveUpdateLogPath
        $entries = @(Get-Content $preferred | ConvertFrom-Json)
        $entries.command | Select-Object -Unique | Should -Be 'New-RootVgClone'
        $entries.message | Should -Contain 'Copying rootvg of lpar1 (13824 MB) to hdisk2 as altinst_rootvg'
        @(Get-Content $explicit | ConvertFrom-Json).command | Select-Object -Unique | Should -Be 'Get-PhysicalVolume'
    }

    It 'records an error with its id, category and target' {
        $file = Join-Path $TestDrive 'error.jsonl'
        { New-RootVgClone -Partition lpar1 -Disk hdisk0 -LogPath $file -ErrorAction Stop } | Should -Throw
        $failure = Get-Content $file | ConvertFrom-Json | Where-Object level -eq 'Error'
        $failure.data.ErrorId | Should -Not -BeNullOrEmpty
        $failure.data.Category | Should -Not -BeNullOrEmpty
        $failure.data.Target | Should -Not -BeNullOrEmpty
    }

    It 'refuses a log file that cannot be written before anything changes' {
        $missing = Join-Path $TestDrive 'no/such/folder/audit.jsonl'
        $e = { New-RootVgClone -Partition lpar1 -Disk hdisk4 -LogPath $missing -ErrorAction Stop } |
            Should -Throw -ErrorId 'LogPathNotWritable,LiveUpdate.PowerShell.Commands.NewRootVgCloneCommand' -PassThru
        $e.CategoryInfo.Category | Should -Be 'PermissionDenied'
        $e.TargetObject | Should -Be $missing
        (Get-PhysicalVolume -Name hdisk4).State | Should -Be 'Free'
    }

    It 'is written by a background job too' {
        $file = Join-Path $TestDrive 'job.jsonl'
        $other = Join-Path $TestDrive 'joblab'
        $null = New-LiveUpdateLab -Path $other
        $job = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $other 'updates/7300-02-02') -AsJob -LogPath $file
        $r = $job | Wait-Job | Receive-Job
        $job | Remove-Job
        $entries = @(Get-Content $file | ConvertFrom-Json)
        $entries[0].message | Should -Be 'Invoke-LiveUpdate started'
        $entries[1].message | Should -Be "The live update of lpar1 runs as job $($job.Name) ($($job.Id))"
        ($entries | Where-Object operation -eq $r.OperationId).Count | Should -BeGreaterThan 10
        $entries[-1].message | Should -Match "^Job .* ended Completed: Succeeded$"
        Remove-LiveUpdateLab -Path $other -Confirm:$false
        $null = Connect-LiveUpdateSystem -Path $lab
    }
}
