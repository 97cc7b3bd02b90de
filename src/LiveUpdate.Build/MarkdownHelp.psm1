# Help for the LiveUpdate cmdlets, written as markdown in PlatyPS's schema (2.0.0) under docs/<culture>/, and turned
# into what PowerShell reads: MAML external help (<assembly>-Help.xml) and about_*.help.txt topics.
#
#   Update-MarkdownHelp    writes or refreshes docs/<culture>/<Cmdlet>.md from the loaded cmdlets: the front matter,
#                          SYNTAX and every parameter's metadata come from the cmdlet; the prose is kept, and what
#                          is missing gets a {{ Fill ... }} placeholder that the help tests refuse.
#   ConvertTo-MamlHelp     reads the markdown and writes the MAML and about topics into a module folder.
#   Read-MarkdownHelp      the parsed form of one page, for both and for the tests.
#
# PlatyPS itself is not needed; its users can still work on the same markdown.

Set-StrictMode -Version 3.0

$script:CommonParametersText = 'This cmdlet supports the common parameters: -Debug, -ErrorAction, -ErrorVariable, -InformationAction, -InformationVariable, -OutBuffer, -OutVariable, -PipelineVariable, -ProgressAction, -Verbose, -WarningAction, and -WarningVariable. For more information, see [about_CommonParameters](http://go.microsoft.com/fwlink/?LinkID=113216).'
$script:MetaKeys = 'Type', 'Parameter Sets', 'Aliases', 'Required', 'Position', 'Default value', 'Accept pipeline input', 'Accept wildcard characters'
# Documented under CommonParameters; -WhatIf and -Confirm get pages of their own, as PlatyPS writes them.
$script:Common = [System.Management.Automation.PSCmdlet]::CommonParameters + 'UseTransaction'


# ---------------------------------------------------------------------------------------------------- reading

function Get-Section {
    # The lines of each "## NAME" section of a page, keyed by NAME.
    param([string[]] $Lines)
    $sections = [ordered]@{}
    $current = $null
    $fence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```') { $fence = -not $fence }
        if (-not $fence -and $line -match '^## (.+?)\s*$') {
            $current = $Matches[1]
            $sections[$current] = [System.Collections.Generic.List[string]]::new()
            continue
        }
        if ($null -ne $current) { $sections[$current].Add($line) }
    }
    $sections
}

function Split-Heading {
    # Splits lines at "### Heading" (outside code fences) into @{ Heading; Lines }.
    param([string[]] $Lines)
    $parts = [System.Collections.Generic.List[object]]::new()
    $current = $null
    $fence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```') { $fence = -not $fence }
        if (-not $fence -and $line -match '^### (.+?)\s*$') {
            $current = [pscustomobject]@{ Heading = $Matches[1]; Lines = [System.Collections.Generic.List[string]]::new() }
            $parts.Add($current)
            continue
        }
        if ($null -ne $current) { $current.Lines.Add($line) }
    }
    $parts
}

function Get-Fence {
    # The fenced code blocks of some lines: @{ Language; Text; Start; End } (line indexes of the fences).
    param([string[]] $Lines)
    $blocks = [System.Collections.Generic.List[object]]::new()
    $start = -1
    $language = ''
    for ($i = 0; $i -lt $Lines.Count; $i++) {
        if ($Lines[$i] -match '^```(\S*)') {
            if ($start -lt 0) { $start = $i; $language = $Matches[1] }
            else {
                $text = if ($i - $start -gt 1) { ($Lines[($start + 1)..($i - 1)] -join "`n") } else { '' }
                $blocks.Add([pscustomobject]@{ Language = $language; Text = $text; Start = $start; End = $i })
                $start = -1
            }
        }
    }
    $blocks
}

function Get-Prose {
    # Lines without their fenced blocks, trimmed of blank lines at both ends, as one string.
    param([string[]] $Lines)
    $out = [System.Collections.Generic.List[string]]::new()
    $fence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```') { $fence = -not $fence; continue }
        if (-not $fence) { $out.Add($line) }
    }
    ($out -join "`n").Trim()
}

function Read-MarkdownHelp {
    <#
    .SYNOPSIS
        Reads a cmdlet help page in PlatyPS's markdown schema into an object.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, ValueFromPipeline, ValueFromPipelineByPropertyName)] [Alias('FullName')] [string] $Path)
    process {
        $text = (Get-Content -LiteralPath $Path -Raw) -replace "`r`n", "`n"
        $lines = $text -split "`n"
        $front = [ordered]@{}
        $body = $lines
        if ($lines[0] -eq '---') {
            $end = [array]::IndexOf($lines, '---', 1)
            foreach ($l in $lines[1..($end - 1)]) { if ($l -match '^([^:]+):\s*(.*)$') { $front[$Matches[1]] = $Matches[2].Trim() } }
            $body = $lines[($end + 1)..($lines.Count - 1)]
        }
        $name = ($body | Where-Object { $_ -match '^# \S' } | Select-Object -First 1) -replace '^# ', ''
        $sections = Get-Section $body

        $parts = @(Split-Heading $sections['SYNTAX'])
        if ($parts.Count -eq 0) { $parts = @([pscustomobject]@{ Heading = '__AllParameterSets (Default)'; Lines = $sections['SYNTAX'] }) }
        $syntax = foreach ($part in $parts) {
            [pscustomobject]@{
                SetName   = $part.Heading -replace '\s*\(Default\)$', ''
                IsDefault = $part.Heading -match '\(Default\)$'
                Text      = @(Get-Fence $part.Lines | ForEach-Object Text) | Select-Object -First 1
            }
        }

        $examples = foreach ($part in Split-Heading $sections['EXAMPLES']) {
            $fences = @(Get-Fence $part.Lines)
            $code = $fences | Where-Object Language -in 'powershell', 'PowerShell', 'ps1', '' | Select-Object -First 1
            $output = $fences | Where-Object Language -eq 'output' | Select-Object -First 1
            [pscustomobject]@{
                Title   = $part.Heading
                Code    = if ($code) { $code.Text } else { $null }
                Output  = if ($output) { $output.Text } else { $null }
                Remarks = Get-Prose $part.Lines
            }
        }

        $parameters = [ordered]@{}
        $commonText = $null
        foreach ($part in Split-Heading $sections['PARAMETERS']) {
            if ($part.Heading -eq 'CommonParameters') { $commonText = Get-Prose $part.Lines; continue }
            $yaml = (Get-Fence $part.Lines) | Where-Object Language -eq 'yaml' | Select-Object -First 1
            $meta = [ordered]@{}
            if ($yaml) { foreach ($l in $yaml.Text -split "`n") { if ($l -match '^([^:]+):\s*(.*)$') { $meta[$Matches[1].Trim()] = $Matches[2].Trim() } } }
            $parameters[$part.Heading.TrimStart('-')] = [pscustomobject]@{
                Name        = $part.Heading.TrimStart('-')
                Description = Get-Prose $part.Lines
                Meta        = $meta
            }
        }

        $typed = {
            param($sectionLines)
            foreach ($part in Split-Heading $sectionLines) { [pscustomobject]@{ Type = $part.Heading; Description = Get-Prose $part.Lines } }
        }

        $links = foreach ($l in $sections['RELATED LINKS']) {
            if ($l -match '^\[(.+?)\]\((.*?)\)') { [pscustomobject]@{ Text = $Matches[1]; Uri = $Matches[2] } }
        }

        [pscustomobject]@{
            Path             = (Resolve-Path -LiteralPath $Path).ProviderPath
            FrontMatter      = $front
            Name             = $name
            Synopsis         = Get-Prose $sections['SYNOPSIS']
            Syntax           = @($syntax)
            Description      = Get-Prose $sections['DESCRIPTION']
            Examples         = @($examples)
            Parameters       = $parameters
            CommonParameters = $commonText
            Inputs           = @(& $typed $sections['INPUTS'])
            Outputs          = @(& $typed $sections['OUTPUTS'])
            Notes            = Get-Prose $sections['NOTES']
            Links            = @($links)
        }
    }
}

# ---------------------------------------------------------------------------------------------------- writing markdown

function Get-TypeName([type] $Type) {
    # The short name PlatyPS writes: String, PartitionIdentity, DiskIdentity[], SwitchParameter.
    if ($Type.IsArray) { return (Get-TypeName $Type.GetElementType()) + '[]' }
    if ($Type.IsGenericType -and $Type.GetGenericTypeDefinition() -eq [Nullable`1]) { return (Get-TypeName $Type.GetGenericArguments()[0]) }
    $Type.Name
}

function Get-ParameterMeta {
    # The yaml block of one parameter, from the cmdlet's metadata.
    param([System.Management.Automation.CommandInfo] $Command, [System.Management.Automation.ParameterMetadata] $Parameter, [string] $DefaultValue)
    $sets = @($Command.ParameterSets | Where-Object { $_.Parameters.Name -contains $Parameter.Name })
    $attributes = @($Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
    $allSets = $sets.Count -eq $Command.ParameterSets.Count -and ($attributes.ParameterSetName | Select-Object -Unique) -eq '__AllParameterSets'
    $inSet = foreach ($s in $sets) { $s.Parameters | Where-Object Name -eq $Parameter.Name }
    $positions = @($inSet.Position | Where-Object { $_ -ge 0 } | Select-Object -Unique)
    $pipeline = @()
    if ($inSet.ValueFromPipelineByPropertyName -contains $true) { $pipeline += 'ByPropertyName' }
    if ($inSet.ValueFromPipeline -contains $true) { $pipeline += 'ByValue' }
    $wildcards = [bool]($Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
    [ordered]@{
        'Type'                       = Get-TypeName $Parameter.ParameterType
        'Parameter Sets'             = if ($allSets) { '(All)' } else { ($sets.Name | Sort-Object) -join ', ' }
        'Aliases'                    = ($Parameter.Aliases | Sort-Object) -join ', '
        'Required'                   = if ($inSet.IsMandatory -contains $true) { if ($inSet.IsMandatory -contains $false) { "True ($((@($sets | Where-Object { ($_.Parameters | Where-Object Name -eq $Parameter.Name).IsMandatory }).Name) -join ', ')), False (others)" } else { 'True' } } else { 'False' }
        'Position'                   = if ($positions.Count -eq 1) { "$($positions[0])" } else { 'Named' }
        'Default value'              = if ($DefaultValue) { $DefaultValue } elseif ($Parameter.SwitchParameter) { 'False' } else { 'None' }
        'Accept pipeline input'      = if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }
        'Accept wildcard characters' = if ($wildcards) { 'True' } else { 'False' }
    }
}

function Get-SyntaxLine {
    param([System.Management.Automation.CommandParameterSetInfo] $Set, [string] $CommandName)
    $parts = foreach ($p in $Set.Parameters | Where-Object { $_.Name -notin $script:Common } |
            Sort-Object @{ Expression = { if ($_.Position -ge 0) { $_.Position } else { [int]::MaxValue } } }, @{ Expression = { -not $_.IsMandatory } }) {
        $type = Get-TypeName $p.ParameterType
        $name = if ($p.Position -ge 0) { "[-$($p.Name)]" } else { "-$($p.Name)" }
        $part = if ($p.ParameterType -eq [System.Management.Automation.SwitchParameter]) { $name } else { "$name <$type>" }
        if ($p.IsMandatory) { $part } else { "[$part]" }
    }
    # The common risk-mitigation parameters go last, as Get-Command -Syntax writes them.
    $ordered = @($parts | Where-Object { $_ -notmatch '^\[-(WhatIf|Confirm)\]$' }) + @($parts | Where-Object { $_ -match '^\[-(WhatIf|Confirm)\]$' })
    (@($CommandName) + $ordered + '[<CommonParameters>]') -join ' '
}

function Format-Text([string] $Text, [string] $Placeholder) {
    if ([string]::IsNullOrWhiteSpace($Text)) { "{{ $Placeholder }}" } else { $Text }
}

function ConvertTo-MarkdownPage {
    # One page: the cmdlet's metadata merged with the prose of the existing page (if any).
    param([System.Management.Automation.CommandInfo] $Command, $Existing, [string] $OnlineRoot)
    if ($null -eq $Existing) {
        $Existing = [pscustomobject]@{ Synopsis = ''; Description = ''; Examples = @(); Parameters = [ordered]@{}; Inputs = @(); Outputs = @(); Notes = ''; Links = @() }
    }
    $name = $Command.Name
    $sb = [System.Text.StringBuilder]::new()
    $w = { param($line) [void]$sb.Append($line).Append("`n") }
    & $w '---'
    & $w "external help file: $($Command.ImplementingType.Assembly.GetName().Name).dll-Help.xml"
    & $w "Module Name: $($Command.ModuleName)"
    & $w "online version: $(if ($OnlineRoot) { "$OnlineRoot/$name.md" })"
    & $w 'schema: 2.0.0'
    & $w '---'
    & $w ''
    & $w "# $name"
    & $w ''
    & $w '## SYNOPSIS'
    & $w (Format-Text $Existing.Synopsis "Fill in the Synopsis")
    & $w ''
    & $w '## SYNTAX'
    foreach ($set in $Command.ParameterSets | Sort-Object { -not $_.IsDefault }, Name) {
        & $w ''
        # One parameter set has no heading; several are named, the default one marked, as PlatyPS writes them.
        if ($Command.ParameterSets.Count -gt 1) { & $w "### $($set.Name)$(if ($set.IsDefault) { ' (Default)' })" }
        & $w '```'
        & $w (Get-SyntaxLine $set $name)
        & $w '```'
    }
    & $w ''
    & $w '## DESCRIPTION'
    & $w (Format-Text $Existing.Description "Fill in the Description")
    & $w ''
    & $w '## EXAMPLES'
    $examples = @($Existing.Examples)
    if ($examples.Count -eq 0) { $examples = @([pscustomobject]@{ Title = 'Example 1'; Code = '{{ Add example code here }}'; Output = $null; Remarks = '{{ Add example description here }}' }) }
    foreach ($example in $examples) {
        & $w ''
        & $w "### $($example.Title)"
        & $w '```powershell'
        & $w $example.Code
        & $w '```'
        if ($example.Output) {
            & $w ''
            & $w '```output'
            & $w $example.Output
            & $w '```'
        }
        & $w ''
        & $w (Format-Text $example.Remarks 'Add example description here')
    }
    & $w ''
    & $w '## PARAMETERS'
    $parameters = $Command.Parameters.Values | Where-Object { $_.Name -notin $script:Common } |
        Sort-Object @{ Expression = { $_.Name -in 'WhatIf', 'Confirm' } }, Name
    foreach ($p in $parameters) {
        $old = if ($Existing.Parameters.Contains($p.Name)) { $Existing.Parameters[$p.Name] } else { $null }
        $description = if ($old) { $old.Description } elseif ($p.Name -eq 'WhatIf') { 'Shows what would happen if the cmdlet runs. The cmdlet is not run.' } elseif ($p.Name -eq 'Confirm') { 'Prompts you for confirmation before running the cmdlet.' } else { $null }
        $default = if ($old -and $old.Meta.Contains('Default value') -and $old.Meta['Default value'] -notin 'None', 'False') { $old.Meta['Default value'] } else { $null }
        & $w ''
        & $w "### -$($p.Name)"
        & $w (Format-Text $description "Fill $($p.Name) Description")
        & $w ''
        & $w '```yaml'
        $meta = Get-ParameterMeta $Command $p $default
        foreach ($key in $script:MetaKeys) {
            if ($key -eq 'Required') { & $w '' }
            & $w ("$($key): $($meta[$key])".TrimEnd())
        }
        & $w '```'
    }
    & $w ''
    & $w '### CommonParameters'
    & $w $script:CommonParametersText
    & $w ''
    & $w '## INPUTS'
    $inputs = @($Existing.Inputs)
    if ($inputs.Count -eq 0) { $inputs = @([pscustomobject]@{ Type = 'None'; Description = '{{ Fill in the Inputs }}' }) }
    foreach ($i in $inputs) { & $w ''; & $w "### $($i.Type)"; & $w (Format-Text $i.Description 'Fill in the input description') }
    & $w ''
    & $w '## OUTPUTS'
    $outputs = @($Existing.Outputs)
    if ($outputs.Count -eq 0) { $outputs = foreach ($t in $Command.OutputType) { [pscustomobject]@{ Type = $t.Name; Description = '' } } }
    foreach ($o in $outputs) { & $w ''; & $w "### $($o.Type)"; & $w (Format-Text $o.Description 'Fill in the output description') }
    & $w ''
    & $w '## NOTES'
    if ($Existing.Notes) { & $w $Existing.Notes }
    & $w ''
    & $w '## RELATED LINKS'
    $links = @($Existing.Links)
    if ($links.Count -eq 0) { $links = @([pscustomobject]@{ Text = 'about_LiveUpdate'; Uri = 'about_LiveUpdate.md' }) }
    foreach ($l in $links) { & $w ''; & $w "[$($l.Text)]($($l.Uri))" }
    $sb.ToString()
}

function Update-MarkdownHelp {
    <#
    .SYNOPSIS
        Writes or refreshes the markdown help of every cmdlet of a loaded module.
    .DESCRIPTION
        The front matter, SYNTAX and every parameter's yaml block are generated from the cmdlet; the synopsis,
        description, examples, parameter descriptions, inputs, outputs, notes and links of an existing page are
        kept. Parameters that no longer exist disappear; new ones get a placeholder.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param(
        [Parameter(Mandatory)] [string] $Module,
        [Parameter(Mandatory)] [string] $Path,
        [string] $OnlineRoot
    )
    $null = New-Item -ItemType Directory -Force -Path $Path
    foreach ($command in Get-Command -Module $Module -CommandType Cmdlet | Sort-Object Name) {
        $file = Join-Path $Path "$($command.Name).md"
        $existing = if (Test-Path $file) { Read-MarkdownHelp -Path $file } else { $null }
        $page = ConvertTo-MarkdownPage -Command $command -Existing $existing -OnlineRoot $OnlineRoot
        $current = if (Test-Path $file) { (Get-Content -LiteralPath $file -Raw) -replace "`r`n", "`n" } else { '' }
        if ($page -ne $current -and $PSCmdlet.ShouldProcess($file, 'Write markdown help')) {
            [System.IO.File]::WriteAllText($file, $page, [System.Text.UTF8Encoding]::new($false))
            Write-Verbose "Wrote $file"
        }
    }
}

# ---------------------------------------------------------------------------------------------------- MAML

function ConvertTo-PlainText([string] $Text) {
    # Markdown inline syntax as a terminal reads it: links as their text (with the address when it is a web one),
    # no emphasis marks; `code` keeps its backticks.
    $Text = [regex]::Replace($Text, '\[([^\]]+)\]\((https?://[^)]+)\)', '$1 ($2)')
    $Text = [regex]::Replace($Text, '\[([^\]]+)\]\([^)]*\)', '$1')
    $Text = [regex]::Replace($Text, '\*\*([^*]+)\*\*', '$1')
    [regex]::Replace($Text, '(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])', '$1')
}

function Get-Paragraph([string] $Text) {
    # Paragraphs for maml:para: blank lines separate them; list items and preformatted lines stay on their own.
    $paras = [System.Collections.Generic.List[string]]::new()
    $current = [System.Collections.Generic.List[string]]::new()
    $flush = { if ($current.Count) { $paras.Add((ConvertTo-PlainText ($current -join ' '))); $current.Clear() } }
    $fence = $false
    foreach ($line in ($Text -split "`n")) {
        if ($line -match '^```') { & $flush; $fence = -not $fence; continue }
        if ($fence) { $paras.Add($line); continue }
        if ([string]::IsNullOrWhiteSpace($line)) { & $flush; continue }
        if ($line -match '^\s*([-*]|\d+\.)\s') { & $flush; $current.Add($line.Trim()); continue }
        if ($line -match '^\s{4,}') { & $flush; $paras.Add($line); continue }
        $current.Add($line.Trim())
    }
    & $flush
    $paras
}

$script:Ns = @{
    maml    = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
    MSHelp  = 'http://msdn.microsoft.com/mshelp'
}

function Write-Para([System.Xml.XmlWriter] $X, [string] $Text) {
    foreach ($p in Get-Paragraph $Text) { $X.WriteElementString('maml', 'para', $script:Ns.maml, $p) }
}

function Write-Description([System.Xml.XmlWriter] $X, [string] $Text) {
    $X.WriteStartElement('maml', 'description', $script:Ns.maml)
    Write-Para $X $Text
    $X.WriteEndElement()
}

function Write-MamlParameter([System.Xml.XmlWriter] $X, $Parameter) {
    $m = $Parameter.Meta
    $isSwitch = $m['Type'] -eq 'SwitchParameter'
    $position = if ($m['Position'] -match '^\d+$') { $m['Position'] } else { 'named' }
    $aliases = if ($m['Aliases']) { $m['Aliases'] } else { 'none' }
    $X.WriteStartElement('command', 'parameter', $script:Ns.command)
    $X.WriteAttributeString('required', ($m['Required'] -like 'True*').ToString().ToLowerInvariant())
    $X.WriteAttributeString('variableLength', ($m['Type'] -like '*[[]]').ToString().ToLowerInvariant())
    $X.WriteAttributeString('globbing', ($m['Accept wildcard characters'] -eq 'True').ToString().ToLowerInvariant())
    $X.WriteAttributeString('pipelineInput', $m['Accept pipeline input'])
    $X.WriteAttributeString('position', $position)
    $X.WriteAttributeString('aliases', $aliases)
    $X.WriteElementString('maml', 'name', $script:Ns.maml, $Parameter.Name)
    Write-Description $X $Parameter.Description
    if (-not $isSwitch) {
        $X.WriteStartElement('command', 'parameterValue', $script:Ns.command)
        $X.WriteAttributeString('required', 'true')
        $X.WriteAttributeString('variableLength', ($m['Type'] -like '*[[]]').ToString().ToLowerInvariant())
        $X.WriteString($m['Type'])
        $X.WriteEndElement()
    }
    $X.WriteStartElement('dev', 'type', $script:Ns.dev)
    $X.WriteElementString('maml', 'name', $script:Ns.maml, $m['Type'])
    $X.WriteElementString('maml', 'uri', $script:Ns.maml, '')
    $X.WriteEndElement()
    $X.WriteElementString('dev', 'defaultValue', $script:Ns.dev, $m['Default value'])
    $X.WriteEndElement()
}

function Get-SyntaxToken([string] $Text) {
    # The parameters of a syntax line in order, each required or not: [[-A] <T>] and [-A <T>] and [-A] are optional,
    # [-A] <T>, -A <T> and -A are required.
    $pattern = '\[\[-(?<o>\w+)\] <[^>]+>\]|\[-(?<o>\w+) <[^>]+>\]|\[-(?<r>\w+)\] <[^>]+>|\[-(?<o>\w+)\]|-(?<r>\w+) <[^>]+>|-(?<r>\w+)'
    $parameters = if ($Text.Contains(' ')) { $Text.Substring($Text.IndexOf(' ') + 1) } else { '' } # after the command's name
    foreach ($m in [regex]::Matches($parameters, $pattern)) {
        $required = $m.Groups['r'].Success
        [pscustomobject]@{ Name = $(if ($required) { $m.Groups['r'].Value } else { $m.Groups['o'].Value }); Required = $required }
    }
}

function Write-MamlCommand([System.Xml.XmlWriter] $X, $Page) {
    $verb, $noun = $Page.Name -split '-', 2
    $X.WriteStartElement('command', 'command', $script:Ns.command)
    foreach ($prefix in 'maml', 'command', 'dev', 'MSHelp') { $X.WriteAttributeString('xmlns', $prefix, $null, $script:Ns[$prefix]) }

    $X.WriteStartElement('command', 'details', $script:Ns.command)
    $X.WriteElementString('command', 'name', $script:Ns.command, $Page.Name)
    $X.WriteElementString('command', 'verb', $script:Ns.command, $verb)
    $X.WriteElementString('command', 'noun', $script:Ns.command, $noun)
    Write-Description $X $Page.Synopsis
    $X.WriteEndElement()

    Write-Description $X $Page.Description

    $X.WriteStartElement('command', 'syntax', $script:Ns.command)
    foreach ($set in $Page.Syntax) {
        $X.WriteStartElement('command', 'syntaxItem', $script:Ns.command)
        $X.WriteElementString('maml', 'name', $script:Ns.maml, $Page.Name)
        foreach ($token in Get-SyntaxToken $set.Text) {
            if (-not $Page.Parameters.Contains($token.Name)) { continue }
            $p = $Page.Parameters[$token.Name]
            # In a syntax item, a parameter is required as it is in that set.
            $copy = [pscustomobject]@{ Name = $p.Name; Description = $p.Description; Meta = [ordered]@{} + $p.Meta }
            $copy.Meta['Required'] = if ($token.Required) { 'True' } else { 'False' }
            Write-MamlParameter $X $copy
        }
        $X.WriteEndElement()
    }
    $X.WriteEndElement()

    $X.WriteStartElement('command', 'parameters', $script:Ns.command)
    foreach ($p in $Page.Parameters.Values) { Write-MamlParameter $X $p }
    $X.WriteEndElement()

    foreach ($kind in @(@{ List = 'inputTypes'; Item = 'inputType'; Items = $Page.Inputs }, @{ List = 'returnValues'; Item = 'returnValue'; Items = $Page.Outputs })) {
        $X.WriteStartElement('command', $kind.List, $script:Ns.command)
        foreach ($t in $kind.Items) {
            $X.WriteStartElement('command', $kind.Item, $script:Ns.command)
            $X.WriteStartElement('dev', 'type', $script:Ns.dev)
            $X.WriteElementString('maml', 'name', $script:Ns.maml, $t.Type)
            $X.WriteEndElement()
            Write-Description $X $t.Description
            $X.WriteEndElement()
        }
        $X.WriteEndElement()
    }

    $X.WriteStartElement('maml', 'alertSet', $script:Ns.maml)
    $X.WriteStartElement('maml', 'alert', $script:Ns.maml)
    Write-Para $X $Page.Notes
    $X.WriteEndElement()
    $X.WriteEndElement()

    $X.WriteStartElement('command', 'examples', $script:Ns.command)
    foreach ($e in $Page.Examples) {
        $X.WriteStartElement('command', 'example', $script:Ns.command)
        $X.WriteElementString('maml', 'title', $script:Ns.maml, "-------------------------- $($e.Title) --------------------------")
        $X.WriteElementString('dev', 'code', $script:Ns.dev, $e.Code)
        $X.WriteStartElement('dev', 'remarks', $script:Ns.dev)
        # The output as one paragraph, so that Get-Help keeps its lines together as they are.
        if ($e.Output) { $X.WriteElementString('maml', 'para', $script:Ns.maml, $e.Output) }
        Write-Para $X $e.Remarks
        $X.WriteEndElement()
        $X.WriteEndElement()
    }
    $X.WriteEndElement()

    $X.WriteStartElement('command', 'relatedLinks', $script:Ns.command)
    $links = @()
    if ($Page.FrontMatter['online version']) { $links += [pscustomobject]@{ Text = 'Online Version:'; Uri = $Page.FrontMatter['online version'] } }
    $links += $Page.Links
    foreach ($l in $links) {
        $X.WriteStartElement('maml', 'navigationLink', $script:Ns.maml)
        $X.WriteElementString('maml', 'linkText', $script:Ns.maml, $l.Text)
        $X.WriteElementString('maml', 'uri', $script:Ns.maml, $(if ($l.Uri -match '^https?://') { $l.Uri } else { '' }))
        $X.WriteEndElement()
    }
    $X.WriteEndElement()

    $X.WriteEndElement()
}

function ConvertTo-AboutText {
    # An about topic's markdown as the plain text Get-Help shows: headings, then text indented and wrapped at 80.
    param([string] $Markdown)
    $out = [System.Collections.Generic.List[string]]::new()
    $wrap = {
        param([string] $text, [int] $indent)
        $pad = ' ' * $indent
        $line = ''
        foreach ($word in ($text -split '\s+' | Where-Object { $_ })) {
            if ($line.Length -and ($pad.Length + $line.Length + 1 + $word.Length) -gt 80) { $out.Add($pad + $line); $line = $word }
            elseif ($line.Length) { $line += " $word" }
            else { $line = $word }
        }
        if ($line.Length) { $out.Add($pad + $line) }
    }
    $paragraph = [System.Collections.Generic.List[string]]::new()
    $indent = 4
    $flush = {
        if ($paragraph.Count) {
            $first = $paragraph[0]
            if ($first -match '^([-*]|\d+\.)\s') {
                # a list item: its continuation lines hang under its text
                $marker = ($first -split '\s', 2)[0]
                $text = ConvertTo-PlainText (($paragraph -join ' ').Substring($marker.Length).Trim())
                $before = $out.Count
                & $wrap $text ($indent + $marker.Length + 1)
                $out[$before] = (' ' * $indent) + $marker + ' ' + $out[$before].TrimStart()
            }
            else { & $wrap (ConvertTo-PlainText ($paragraph -join ' ')) $indent }
            $paragraph.Clear()
        }
    }
    $fence = $false
    $lines = ($Markdown -replace "`r`n", "`n") -split "`n"
    $seenTitle = $false
    foreach ($line in $lines) {
        if ($line -match '^```') { & $flush; $fence = -not $fence; continue }
        if ($fence) { $out.Add((' ' * ($indent + 4)) + $line); continue }
        if ($line -match '^# (.+)$') {
            & $flush
            if (-not $seenTitle) { $out.Add('TOPIC'); $out.Add("    $($Matches[1])"); $seenTitle = $true; continue }
            if ($out.Count -and $out[-1] -ne '') { $out.Add('') }
            $out.Add($Matches[1].ToUpperInvariant()); $indent = 4; continue
        }
        if ($line -match '^## (.+)$') {
            & $flush
            if ($Matches[1] -match '^about_') { continue } # PlatyPS repeats the topic name as a level-2 heading
            if ($out.Count -and $out[-1] -ne '') { $out.Add('') }
            $out.Add("    $($Matches[1])"); $indent = 4; continue
        }
        if ($line -match '^### (.+)$') {
            & $flush
            if ($out.Count -and $out[-1] -ne '') { $out.Add('') }
            $out.Add("    $($Matches[1].ToUpperInvariant())"); continue
        }
        if ([string]::IsNullOrWhiteSpace($line)) { & $flush; if ($out.Count -and $out[-1] -ne '') { $out.Add('') }; continue }
        if ($line -match '^\s*([-*]|\d+\.)\s') { & $flush }
        if ($line -match '^\|') { & $flush; $out.Add((' ' * $indent) + $line); continue }
        $paragraph.Add($line.Trim())
    }
    & $flush
    ($out -join [Environment]::NewLine).TrimEnd() + [Environment]::NewLine
}

function ConvertTo-MamlHelp {
    <#
    .SYNOPSIS
        Turns the markdown help of a folder into MAML external help and about topics.
    .OUTPUTS
        The files written.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Path,
        [Parameter(Mandatory)] [string] $OutputPath
    )
    $null = New-Item -ItemType Directory -Force -Path $OutputPath
    $pages = @(Get-ChildItem -Path $Path -Filter '*.md' | Where-Object Name -notlike 'about_*' | Read-MarkdownHelp)
    foreach ($group in $pages | Group-Object { $_.FrontMatter['external help file'] }) {
        $file = Join-Path $OutputPath $group.Name
        $settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [System.Text.UTF8Encoding]::new($false) }
        $x = [System.Xml.XmlWriter]::Create($file, $settings)
        try {
            $x.WriteStartDocument()
            $x.WriteStartElement('helpItems', 'http://msh')
            $x.WriteAttributeString('schema', 'maml')
            foreach ($page in $group.Group | Sort-Object Name) { Write-MamlCommand $x $page }
            $x.WriteEndElement()
            $x.WriteEndDocument()
        }
        finally { $x.Dispose() }
        Get-Item $file
    }
    foreach ($about in Get-ChildItem -Path $Path -Filter 'about_*.md') {
        $file = Join-Path $OutputPath ($about.BaseName + '.help.txt')
        [System.IO.File]::WriteAllText($file, (ConvertTo-AboutText (Get-Content -LiteralPath $about.FullName -Raw)), [System.Text.UTF8Encoding]::new($false))
        Get-Item $file
    }
}

Export-ModuleMember -Function Read-MarkdownHelp, Update-MarkdownHelp, ConvertTo-MamlHelp, ConvertTo-AboutText
