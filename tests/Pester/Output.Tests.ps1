# Output for people and scripts: a view per output type that fits 80 columns, durations read as 0.425s or 2m05s,
# JSON that converts cleanly, and Export-Clixml/Import-Clixml round trips that keep values and views.

BeforeDiscovery {
    $script:types = @(
        'ManagedSystem', 'LogicalPartition', 'PhysicalVolume', 'VolumeGroup', 'LogicalVolume', 'ApplicationInstance',
        'RootVgClone', 'RootVgMirror', 'ApplicationMigration', 'LiveUpdateResult', 'LiveUpdatePreview', 'PhaseResult',
        'PreviewCheck', 'PlannedStep', 'LiveUpdateOperation', 'OperationStep', 'ApplicationDataCheck', 'HostFinding', 'LiveUpdateBundle',
        'LiveUpdate.Engine.Bundles.BundlePackage', 'LiveUpdate.PowerShell.LiveUpdateConnection'
    ) | ForEach-Object { @{ Type = $_ } }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    $script:model = 'LiveUpdate.Engine.Model.'
    # A type of the model is named short; the others by their full name.
    function Get-TypeName([string] $Type) { if ($Type.Contains('.')) { $Type } else { $model + $Type } }
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
    $samples.LiveUpdateBundle = @((Test-LiveUpdateBundle $bundle), (Test-LiveUpdateBundle (Join-Path $lab 'updates/nosuch')))
    $samples['LiveUpdate.Engine.Bundles.BundlePackage'] = $samples.LiveUpdateBundle[0].Packages
    $samples['LiveUpdate.PowerShell.LiveUpdateConnection'] = Connect-LiveUpdateSystem -Path $lab -PassThru

    $script:samples = $samples
    $script:deserialized = @{}
    foreach ($name in $samples.Keys) {
        $file = Join-Path $TestDrive "$name.xml"
        $samples[$name] | Export-Clixml -Path $file
        $script:deserialized[$name] = @(Import-Clixml -Path $file)
    }

    function Get-ViewColumn($Views) {
        # Every column (table) and item (list) of the views: the name it shows and how it gets its value.
        foreach ($view in $Views) {
            if ($view.Control -is [System.Management.Automation.TableControl]) {
                $headers = $view.Control.Headers
                $items = $view.Control.Rows[0].Columns
                for ($i = 0; $i -lt $headers.Count; $i++) {
                    $name = if ($headers[$i].Label) { $headers[$i].Label } else { $items[$i].DisplayEntry.Value }
                    [pscustomobject]@{ Control = 'table'; Name = $name; Entry = $items[$i].DisplayEntry }
                }
            }
            else {
                foreach ($item in $view.Control.Entries[0].Items) {
                    $name = if ($item.Label) { $item.Label } else { $item.DisplayEntry.Value }
                    [pscustomobject]@{ Control = 'list'; Name = $name; Entry = $item.DisplayEntry }
                }
            }
        }
    }

    function Get-ViewValue($Object, $Column) {
        # The text a column shows for an object, before any wrapping (the view's own wrapping at words left out).
        $code = $Column.Entry.Value -replace '\[LiveUpdate\.PowerShell\.Display\]::Wrap\((\$_\.\w+), \d+\)', '$1' -replace "(Lines\(.*'), \d+\)$", '$1)'
        $value = if ($Column.Entry.ValueType -eq 'ScriptBlock') { $Object | ForEach-Object ([scriptblock]::Create($code)) }
        else { $Object.($Column.Entry.Value) }
        if ($value -is [System.Collections.IEnumerable] -and $value -isnot [string]) { $value = @($value) -join ', ' }
        "$value"
    }

    function Assert-JsonValue($Value, $Json, [string] $Where) {
        # A value read back from ConvertTo-Json | ConvertFrom-Json is the value a script would expect.
        foreach ($property in $Value.psobject.Properties) {
            $v = $property.Value
            $j = $Json.($property.Name)
            $what = "$Where.$($property.Name)"
            if ($null -eq $v) { $j | Should -BeNullOrEmpty -Because $what; continue }
            # (not a switch: it would enumerate a list value)
            if ($v -is [enum]) { $j | Should -BeOfType string -Because "$what is an enumeration, written by name"; $j | Should -Be $v.ToString() }
            elseif ($v -is [string]) { $j | Should -BeExactly $v -Because $what }
            elseif ($v -is [bool]) { $j | Should -Be $v -Because $what }
            elseif ($v -is [double] -or $v -is [long] -or $v -is [int]) { [double]$j | Should -Be ([double]$v) -Because "$what is a number" }
            elseif ($v -is [DateTimeOffset]) { ([DateTimeOffset]$j).UtcTicks | Should -Be $v.UtcTicks -Because "$what is a point in time" }
            elseif ($v -is [System.Collections.IEnumerable]) {
                $items = @($v)
                @($j).Count | Should -Be $items.Count -Because "$what keeps its items"
                for ($k = 0; $k -lt $items.Count; $k++) {
                    if ($items[$k] -is [string]) { @($j)[$k] | Should -BeExactly $items[$k] }
                    else { Assert-JsonValue $items[$k] @($j)[$k] "$what[$k]" }
                }
            }
            else { throw "$what is a $($v.GetType().FullName), which JSON does not read back as such" }
        }
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
        $table = Get-View (Get-TypeName $Type) ([System.Management.Automation.TableControl]) | Select-Object -First 1
    }

    It 'has objects to show' {
        $objects.Count | Should -BeGreaterThan 0
        $objects[0].GetType().FullName | Should -Be (Get-TypeName $Type)
    }

    It 'has a table view, for live and deserialized objects alike' {
        $table | Should -Not -BeNullOrEmpty
        Get-View ('Deserialized.' + (Get-TypeName $Type)) ([System.Management.Automation.TableControl]) | Should -Not -BeNullOrEmpty
    }

    It 'fits 80 columns with every column shown and no value cut short' {
        # A console of 80 columns gives a table 79 (PowerShell keeps the last one free).
        $text = $objects | Format-Table | Out-String -Width 79
        $lines = $text -split "`r?`n"
        $lines | Where-Object { $_.Length -gt 79 } | Should -BeNullOrEmpty
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
            $copy[$i].pstypenames[0] | Should -Be ('Deserialized.' + (Get-TypeName $Type))
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

    It 'names every column of every view after a property of the object, live and deserialized' {
        foreach ($name in (Get-TypeName $Type), ('Deserialized.' + (Get-TypeName $Type))) {
            $views = @((Get-FormatData -TypeName $name -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition)
            $views.Count | Should -BeGreaterThan 0
            foreach ($object in @($objects[0], $deserialized[$Type][0])) {
                $properties = @($object.psobject.Properties.Name)
                foreach ($column in (Get-ViewColumn $views)) {
                    $properties | Should -Contain $column.Name -Because "the $($column.Control) view of $name shows '$($column.Name)', which Where-Object must see"
                }
            }
        }
    }

    It 'breaks no word when it fits a value into 80 columns' {
        $views = @((Get-FormatData -TypeName (Get-TypeName $Type) -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition)
        foreach ($view in $views) {
            $format = if ($view.Control -is [System.Management.Automation.TableControl]) { 'Format-Table' } else { 'Format-List' }
            $text = $objects | & $format -View $view.Name | Out-String -Width 79
            $known = [System.Collections.Generic.HashSet[string]]::new([StringComparer]::Ordinal)
            foreach ($column in (Get-ViewColumn @($view))) {
                foreach ($word in $column.Name -split '\s+') { [void]$known.Add($word) }
                foreach ($object in $objects) {
                    foreach ($word in ((Get-ViewValue $object $column) -split '\s+')) { [void]$known.Add($word) }
                }
            }
            # A word longer than its line can only be broken, and then after a separator (/ - _ ,); any other piece of
            # a word is a fault of the view.
            $atSeparator = {
                param($piece)
                foreach ($word in $known) {
                    if ($word.Length -le $piece.Length) { continue }
                    $at = $word.IndexOf($piece, [StringComparison]::Ordinal)
                    while ($at -ge 0) {
                        $startsClean = $at -eq 0 -or '/-_,'.Contains($word[$at - 1])
                        $endsClean = $at + $piece.Length -eq $word.Length -or '/-_,'.Contains($piece[-1])
                        if ($startsClean -and $endsClean) { return $true }
                        $at = $word.IndexOf($piece, $at + 1, [StringComparison]::Ordinal)
                    }
                }
                $false
            }
            $broken = @($text -split '\s+' | Where-Object { $_ -and $_ -notmatch '^[-:]+$' -and -not $known.Contains($_) } |
                Where-Object { -not (& $atSeparator $_) })
            $broken | Should -BeNullOrEmpty -Because "the $format view of $Type must wrap at word boundaries (these are pieces of words)"
        }
    }

    It 'converts to JSON without switches: enumerations by name, durations in seconds, levels as text' {
        foreach ($object in $objects) {
            $json = $object | ConvertTo-Json -WarningVariable warnings -ErrorAction Stop
            $warnings | Should -BeNullOrEmpty -Because 'the default depth holds a whole result'
            $json | Should -Not -Match '"(Ticks|TotalSeconds|TechnologyLevel|value)"' -Because 'no TimeSpan, OS level or PowerShell wrapper spills its members'
            Assert-JsonValue $object ($json | ConvertFrom-Json) $Type
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
            if ($t.Namespace -notin 'LiveUpdate.Engine.Model', 'LiveUpdate.Engine.Bundles', 'LiveUpdate.PowerShell' -or $t.IsEnum -or $t -eq [LiveUpdate.Engine.Model.OsLevel] -or
                $t.IsSubclassOf([System.Management.Automation.Job]) -or -not $reachable.Add($t)) { continue }
            foreach ($p in $t.GetProperties()) { $queue.Enqueue($p.PropertyType) }
        }
        $reachable.Count | Should -BeGreaterThan 10
        foreach ($t in $reachable) {
            $samples.Keys | Should -Contain $(if ($t.Namespace -eq 'LiveUpdate.Engine.Model') { $t.Name } else { $t.FullName }) -Because "$($t.Name) is written by a cmdlet and needs a view test"
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
        $copy.OsLevel | Should -BeOfType string
        $copy.OsLevel -gt '7300-02-02' | Should -BeTrue -Because 'levels are text that sorts and compares as levels do' 
        $copy.OsLevel -eq $samples.LiveUpdateResult.OsLevel | Should -BeTrue
        $copy.Phases[0].pstypenames[0] | Should -Be 'Deserialized.LiveUpdate.Engine.Model.PhaseResult'
        ($copy.Phases | Measure-Object -Property Duration -Sum).Sum |
            Should -Be ($samples.LiveUpdateResult.Phases | Measure-Object -Property Duration -Sum).Sum
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
        [LiveUpdate.PowerShell.Display]::Duration([double]$Seconds) | Should -Be $Text
    }

    It 'shows the result durations in that form, never as 00:04:10.5060297' {
        $text = $samples.LiveUpdateResult | Format-Table | Out-String
        $text | Should -Match '\d+m\d\ds'
        $text | Should -Not -Match '\d\d:\d\d:\d\d'
    }
}
