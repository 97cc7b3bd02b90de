# Output for people and scripts: a view per output type that fits 80 columns, durations read as 0.425s or 2m05s,
# JSON that converts cleanly, and Export-Clixml/Import-Clixml round trips that keep values and views.

BeforeDiscovery {
    $script:types = @(
        'ManagedSystem', 'LogicalPartition', 'PhysicalVolume', 'VolumeGroup', 'LogicalVolume', 'ApplicationInstance',
        'RootVgClone', 'RootVgMirror', 'ApplicationMigration', 'LiveUpdateResult', 'LiveUpdatePreview', 'PhaseResult',
        'PreviewCheck', 'PlannedStep', 'LiveUpdateOperation', 'OperationStep', 'ApplicationDataCheck', 'HostFinding'
    ) | ForEach-Object { @{ Type = $_ } }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    $script:model = 'LiveUpdate.Engine.Model.'
    $lab = Join-Path $TestDrive 'lab'
    $samples = @{}
    $samples.ManagedSystem = New-LiveUpdateLab -Path $lab
    $bundle = Join-Path $lab 'updates/7300-02-02'
    $samples.LiveUpdatePreview = Test-LiveUpdate -Partition lpar1 -UpdatePath $bundle
    $samples.PreviewCheck = $samples.LiveUpdatePreview.Checks
    $samples.PlannedStep = $samples.LiveUpdatePreview.Plan
    # The steps by hand, to meet every intermediate type.
    $samples.RootVgClone = New-RootVgClone -Partition lpar1 -Disk hdisk1 | Install-CloneUpdate -Path $bundle
    $samples.RootVgMirror = Start-RootVgMirror -Partition lpar1 -Disk hdisk2
    $surrogate = Start-UpdatedPartition -Clone lpar1
    $null = Import-MirrorVg -Mirror lpar1 -Partition $surrogate
    $samples.VolumeGroup = Get-VolumeGroup
    $samples.LogicalPartition = Get-LogicalPartition
    $samples.PhysicalVolume = Get-PhysicalVolume
    $samples.LogicalVolume = $samples.VolumeGroup[0].LogicalVolumes
    $samples.ApplicationMigration = Get-Application | Move-Application -Destination $surrogate
    $samples.ApplicationInstance = Get-Application
    Remove-VolumeGroup -Name old_rootvg -Partition lpar1 -Confirm:$false
    # A second update, composed: 7300-03-01 requires the 7300-02-02 that the steps installed.
    $samples.LiveUpdateResult = Invoke-LiveUpdate -Partition lpar1 -UpdatePath (Join-Path $lab 'updates/7300-03-01')
    $samples.PhaseResult = $samples.LiveUpdateResult.Phases
    $samples.LiveUpdateOperation = Get-LiveUpdateOperation
    $samples.OperationStep = $samples.LiveUpdateOperation[0].Steps
    $samples.ApplicationDataCheck = Get-Application | Test-ApplicationData
    # The checks of a host description, here of a folder that holds none (a simulated lab): findings all the same.
    $samples.HostFinding = Test-LiveUpdateHost -Path $lab

    $script:samples = $samples
    $script:deserialized = @{}
    foreach ($name in $samples.Keys) {
        $file = Join-Path $TestDrive "$name.xml"
        $samples[$name] | Export-Clixml -Path $file
        $script:deserialized[$name] = @(Import-Clixml -Path $file)
    }

    function Get-View([string] $TypeName, [type] $Control) {
        (Get-FormatData -TypeName $TypeName -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition |
            Where-Object { $_.Control -is $Control }
    }
}

AfterAll {
    Remove-LiveUpdateLab -Path (Join-Path $TestDrive 'lab') -Confirm:$false -ErrorAction SilentlyContinue
}

Describe 'The view of <Type>' -ForEach $types {
    BeforeAll {
        $objects = @($samples[$Type])
        $table = Get-View ($model + $Type) ([System.Management.Automation.TableControl]) | Select-Object -First 1
    }

    It 'has objects to show' {
        $objects.Count | Should -BeGreaterThan 0
        $objects[0].GetType().FullName | Should -Be ($model + $Type)
    }

    It 'has a table view, for live and deserialized objects alike' {
        $table | Should -Not -BeNullOrEmpty
        Get-View ('Deserialized.' + $model + $Type) ([System.Management.Automation.TableControl]) | Should -Not -BeNullOrEmpty
    }

    It 'fits 80 columns with every column shown and no value cut short' {
        $text = $objects | Format-Table | Out-String -Width 80
        $lines = $text -split "`r?`n"
        $lines | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
        $text | Should -Not -Match ([regex]::Escape([string][char]0x2026))
        $header = $lines | Where-Object { $_.Trim() } | Select-Object -First 1
        foreach ($label in $table.Control.Headers.Label) { $header | Should -Match ([regex]::Escape($label)) }
    }

    It 'shows a deserialized copy exactly like the live object' {
        $live = $objects | Format-Table | Out-String -Width 80
        $copy = $deserialized[$Type] | Format-Table | Out-String -Width 80
        $copy | Should -BeExactly $live
        ($deserialized[$Type] | Format-List | Out-String -Width 80) | Should -BeExactly ($objects | Format-List | Out-String -Width 80)
    }

    It 'round-trips through Export-Clixml with its values and a Deserialized type name' {
        $copy = $deserialized[$Type]
        $copy.Count | Should -Be $objects.Count
        for ($i = 0; $i -lt $objects.Count; $i++) {
            $copy[$i].pstypenames[0] | Should -Be ('Deserialized.' + $model + $Type)
            foreach ($property in $objects[$i].psobject.Properties) {
                $value = $property.Value
                $other = $copy[$i].($property.Name)
                if ($value -is [System.Collections.IEnumerable] -and $value -isnot [string]) {
                    @($other).Count | Should -Be @($value).Count -Because "$Type.$($property.Name) keeps its items"
                    if (@($value).Count -and @($value)[0] -is [string]) { ($other -join ',') | Should -Be ($value -join ',') }
                }
                else {
                    "$other" | Should -Be "$value" -Because "$Type.$($property.Name) keeps its value"
                }
            }
        }
    }

    It 'converts to JSON without warnings at depth 4 and keeps its values' {
        $json = $objects | ConvertTo-Json -Depth 4 -WarningVariable warnings -ErrorAction Stop
        $warnings | Should -BeNullOrEmpty
        $back = @($json | ConvertFrom-Json)
        $back.Count | Should -Be $objects.Count
        foreach ($property in $objects[0].psobject.Properties) {
            $value = $property.Value
            $other = $back[0].($property.Name)
            switch ($value) {
                { $_ -is [TimeSpan] } { $other.TotalSeconds | Should -Be $value.TotalSeconds; break }
                { $_ -is [LiveUpdate.Engine.Model.OsLevel] } { $other.Text | Should -Be $value.ToString(); break }
                { $_ -is [string] -or $_ -is [bool] -or $_ -is [long] -or $_ -is [int] } { $other | Should -Be $value; break }
            }
        }
    }
}

Describe 'Coverage of the views' {
    It 'has a sample and a view for every model type that a cmdlet writes, directly or in a property' {
        Import-Module $env:LIVEUPDATE_MODULE
        $reachable = [System.Collections.Generic.HashSet[type]]::new()
        $queue = [System.Collections.Generic.Queue[type]]::new()
        foreach ($command in Get-Command -Module LiveUpdate) { foreach ($t in $command.OutputType.Type) { if ($t) { $queue.Enqueue($t) } } }
        while ($queue.Count) {
            $t = $queue.Dequeue()
            if ($t.IsArray) { $t = $t.GetElementType() }
            if ($t.IsGenericType) { foreach ($a in $t.GetGenericArguments()) { $queue.Enqueue($a) }; continue }
            if ($t.Namespace -ne 'LiveUpdate.Engine.Model' -or $t.IsEnum -or $t -eq [LiveUpdate.Engine.Model.OsLevel] -or -not $reachable.Add($t)) { continue }
            foreach ($p in $t.GetProperties()) { $queue.Enqueue($p.PropertyType) }
        }
        $reachable.Count | Should -BeGreaterThan 10
        foreach ($t in $reachable) {
            $samples.Keys | Should -Contain $t.Name -Because "$($t.Name) is written by a cmdlet and needs a view test"
        }
    }
}

Describe 'Deserialized results for later inspection' {
    It 'turns every enumeration of the model back into itself' {
        $enums = [LiveUpdate.Engine.Model.OsLevel].Assembly.GetExportedTypes() | Where-Object { $_.IsEnum -and $_.Namespace -eq 'LiveUpdate.Engine.Model' }
        $enums | Should -Not -BeNullOrEmpty
        foreach ($enum in $enums) {
            $copy = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize([enum]::GetValues($enum)[-1]))
            $copy | Should -BeOfType $enum -Because "$($enum.Name) must rehydrate"
        }
    }

    It 'compare states and OS levels as live results do' {
        $copy = $deserialized.LiveUpdateResult[0]
        $copy.Status | Should -BeOfType ([LiveUpdate.Engine.Model.LiveUpdateStatus])
        $copy.Status -eq 'Succeeded' | Should -BeTrue
        $copy.OsLevel | Should -BeOfType ([LiveUpdate.Engine.Model.OsLevel])
        $copy.OsLevel -gt '7300-02-02' | Should -BeTrue
        $copy.OsLevel -eq $samples.LiveUpdateResult.OsLevel | Should -BeTrue
        $copy.Phases[0].pstypenames[0] | Should -Be 'Deserialized.LiveUpdate.Engine.Model.PhaseResult'
        ($copy.Phases | Measure-Object -Property { $_.Duration.TotalSeconds } -Sum).Sum |
            Should -Be ($samples.LiveUpdateResult.Phases | Measure-Object -Property { $_.Duration.TotalSeconds } -Sum).Sum
    }
}

Describe 'Views that a table cannot hold' {
    It 'shows a <Type> as a list by default, with its phases, applications or checks one per line' -ForEach @(
        @{ Type = 'LiveUpdateResult'; Expect = 'Phases\s+:\s+Verify' }
        @{ Type = 'LiveUpdatePreview'; Expect = 'Checks\s+:\s+PASS Partition' }
    ) {
        $first = (Get-FormatData -TypeName ($model + $Type) -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition | Select-Object -First 1
        $first.Control | Should -BeOfType ([System.Management.Automation.ListControl])
        $text = $samples[$Type] | Out-String -Width 80
        $text | Should -Match $Expect
        $text -split "`r?`n" | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
    }

    It 'shows an operation as a table by default and as a list with its steps on request' {
        $first = (Get-FormatData -TypeName ($model + 'LiveUpdateOperation') -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition | Select-Object -First 1
        $first.Control | Should -BeOfType ([System.Management.Automation.TableControl])
        $text = $samples.LiveUpdateOperation[0] | Format-List | Out-String -Width 80
        $text | Should -Match 'Steps\s+:\s+Verify\s+Succeeded'
        $text -split "`r?`n" | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
    }

    It 'reads durations as a person would: <Text>' -ForEach @(
        @{ Seconds = 0.425; Text = '0.425s' }
        @{ Seconds = 36.56; Text = '36.6s' }
        @{ Seconds = 125; Text = '2m05s' }
        @{ Seconds = 3720; Text = '1h02m' }
        @{ Seconds = 273600; Text = '3d04h' }
    ) {
        [LiveUpdate.PowerShell.Display]::Duration([TimeSpan]::FromSeconds($Seconds)) | Should -Be $Text
    }

    It 'shows the result durations in that form, never as 00:04:10.5060297' {
        $text = $samples.LiveUpdateResult | Format-Table | Out-String
        $text | Should -Match '\d+m\d\ds'
        $text | Should -Not -Match '\d\d:\d\d:\d\d'
    }
}
