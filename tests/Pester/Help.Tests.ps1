# Help: every exported cmdlet and every parameter has help (written in docs/en-US in PlatyPS's schema, shipped as MAML),
# the markdown's metadata matches the cmdlets, and every example runs against a lab.
#
# The examples' convention (stated in about_LiveUpdate): an example runs in a folder that holds a new lab in ./lab,
# made and connected with New-LiveUpdateLab -Path ./lab. Each example here gets a folder and a lab of its own. An
# example with an output block must print exactly that (Out-String -Width 80, trailing blanks ignored).

BeforeDiscovery {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    $script:commands = Get-Command -Module LiveUpdate -CommandType Cmdlet | Sort-Object Name | ForEach-Object { @{ Name = $_.Name } }
    $script:examples = foreach ($command in Get-Command -Module LiveUpdate -CommandType Cmdlet | Sort-Object Name) {
        $i = 0
        foreach ($example in (Get-Help $command.Name -Full).examples.example) {
            $i++
            @{ Command = $command.Name; Number = $i; Title = ($example.title -replace '^-+\s*|\s*-+$', ''); Code = $example.code }
        }
    }
}

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot '../../src/LiveUpdate.Build/MarkdownHelp.psm1') -Force
    $script:docs = Join-Path $PSScriptRoot '../../docs/en-US'
    $script:builder = Get-Module MarkdownHelp

    function Get-Page([string] $Name) { Read-MarkdownHelp -Path (Join-Path $docs "$Name.md") }

    function Get-Normalized([string] $Text) {
        $lines = @(($Text -replace "`r", '') -split "`n" | ForEach-Object TrimEnd)
        $first = 0; while ($first -lt $lines.Count -and -not $lines[$first]) { $first++ }
        $last = $lines.Count - 1; while ($last -ge $first -and -not $lines[$last]) { $last-- }
        if ($last -lt $first) { return '' }
        $lines[$first..$last] -join "`n"
    }
}

Describe 'Help of <Name>' -ForEach $commands {
    BeforeAll {
        $command = Get-Command $Name
        $help = Get-Help $Name -Full
        $page = Get-Page $Name
        $parameters = $command.Parameters.Values | Where-Object { $_.Name -notin [System.Management.Automation.PSCmdlet]::CommonParameters }
    }

    It 'has a page in docs/en-US with no placeholder left' {
        Test-Path (Join-Path $docs "$Name.md") | Should -BeTrue
        Get-Content (Join-Path $docs "$Name.md") -Raw | Should -Not -Match '\{\{'
        $page.FrontMatter['external help file'] | Should -Be 'LiveUpdate.dll-Help.xml'
        $page.FrontMatter['Module Name'] | Should -Be 'LiveUpdate'
        $page.FrontMatter['schema'] | Should -Be '2.0.0'
    }

    It 'shows its synopsis and description in Get-Help' {
        $help.Synopsis | Should -Be $page.Synopsis
        $flat = { param($text) ($text -replace '\s+', ' ').Trim() }
        $shown = & $flat ($help.description.Text -join ' ')
        $written = & $flat $page.Description
        $shown.Length | Should -BeGreaterThan 100
        $shown.StartsWith($written.Substring(0, 100)) | Should -BeTrue -Because "Get-Help shows '$($written.Substring(0, 100))...'"
    }

    It 'has at least two examples' {
        @($help.examples.example).Count | Should -BeGreaterOrEqual 2
        $help.examples.example | ForEach-Object { $_.code | Should -Not -BeNullOrEmpty; ($_.remarks.Text -join '') | Should -Not -BeNullOrEmpty }
    }

    It 'describes every parameter' {
        foreach ($p in $parameters) {
            $entry = $help.parameters.parameter | Where-Object name -eq $p.Name
            $entry | Should -Not -BeNullOrEmpty -Because "-$($p.Name) needs help"
            ($entry.description.Text -join ' ') | Should -Not -BeNullOrEmpty -Because "-$($p.Name) needs a description"
        }
        ($help.parameters.parameter.name | Sort-Object) | Should -Be ($parameters.Name | Sort-Object) -Because 'the help documents no parameter the cmdlet lacks'
    }

    It 'has the metadata of the cmdlet for every parameter (type, sets, aliases, position, pipeline, wildcards)' {
        foreach ($p in $parameters) {
            $expected = & $builder { param($c, $p, $d) Get-ParameterMeta $c $p $d } $command $p $page.Parameters[$p.Name].Meta['Default value']
            foreach ($key in $expected.Keys) {
                $page.Parameters[$p.Name].Meta[$key] | Should -Be $expected[$key] -Because "-$($p.Name) $key in $Name.md must match the cmdlet (build.ps1 docs refreshes it)"
            }
        }
    }

    It 'has the syntax of the cmdlet' {
        $expected = foreach ($set in $command.ParameterSets) { & $builder { param($s, $n) Get-SyntaxLine $s $n } $set $Name }
        ($page.Syntax.Text | Sort-Object) | Should -Be ($expected | Sort-Object)
    }

    It 'names its inputs and outputs' {
        $help.inputTypes.inputType.type.name | Should -Not -BeNullOrEmpty
        $help.returnValues.returnValue.type.name | Should -Not -BeNullOrEmpty
        foreach ($t in $command.OutputType) {
            $page.Outputs.Type | Should -Contain $(if ($t.Type -eq [void]) { 'None' } else { $t.Type.FullName })
        }
    }

    It 'links to about_LiveUpdate' {
        $help.relatedLinks.navigationLink.linkText | Should -Contain 'about_LiveUpdate'
    }
}

Describe 'Get-Help -Full' {
    It 'shows synopsis, syntax, description, parameters, inputs, outputs, notes and examples of Invoke-LiveUpdate' {
        $text = Get-Help Invoke-LiveUpdate -Full | Out-String -Width 120
        foreach ($heading in 'NAME', 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'Example 1: Update a partition', 'RELATED LINKS') {
            $text | Should -Match ([regex]::Escape($heading))
        }
        $text | Should -Match '-UpdatePath <String>'
        $text | Should -Match 'Accept pipeline input\?\s+True \(ByPropertyName, ByValue\)'
        $text | Should -Match 'LiveUpdate.Engine.Model.LiveUpdateResult'
        $text | Should -Match 'point of no return'
    }

    It 'shows the about_LiveUpdate topic, 80 columns wide' {
        $text = Get-Help about_LiveUpdate | Out-String
        $text | Should -Match 'SHORT DESCRIPTION'
        $text | Should -Match 'The point of no return is the moment the first application stops'
        $text | Should -Match 'altinst_rootvg'
        (Get-Content (Join-Path (Split-Path (Get-Module LiveUpdate).Path) 'en-US/about_LiveUpdate.help.txt')) |
            Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
    }
}

Describe 'About topics' {
    It 'ships <_> and Get-Help finds it' -ForEach (Get-ChildItem (Join-Path $PSScriptRoot '../../docs/en-US') -Filter 'about_*.md').BaseName {
        Test-Path (Join-Path (Split-Path (Get-Module LiveUpdate).Path) "en-US/$_.help.txt") | Should -BeTrue
        (Get-Help $_ | Out-String) | Should -Match "TOPIC\s+$_"
    }
}

Describe 'Example <Number> of <Command>: <Title>' -ForEach $examples {
    BeforeAll {
        $folder = Join-Path $TestDrive "$Command-$Number"
        $null = New-Item -ItemType Directory -Path $folder
        $expected = (Get-Page $Command).Examples[$Number - 1]
    }

    AfterAll {
        Get-Job | Remove-Job -Force
        Remove-Item Env:LIVEUPDATE_FAULT -ErrorAction SilentlyContinue
        Remove-Item -LiteralPath $folder -Recurse -Force
    }

    It 'is the code of the markdown page' {
        $Code | Should -Be $expected.Code
    }

    It 'runs against a new lab in ./lab without an error' {
        Push-Location $folder
        try {
            $null = New-LiveUpdateLab -Path ./lab
            $output = & {
                $ErrorActionPreference = 'Stop'
                $WarningPreference = 'SilentlyContinue'
                & ([scriptblock]::Create($Code))
            } | Out-String -Width 80
        }
        finally { Pop-Location }
        if ($expected.Output) { Get-Normalized $output | Should -Be (Get-Normalized $expected.Output) }
    }
}
