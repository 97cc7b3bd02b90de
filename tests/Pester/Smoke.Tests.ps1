BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
}

Describe 'Module' {
    It 'exports the seven flow cmdlets' {
        $names = (Get-Command -Module LiveUpdate).Name
        foreach ($c in 'New-RootVgClone', 'Start-RootVgMirror', 'Install-CloneUpdate', 'Start-UpdatedPartition', 'Import-MirrorVg', 'Move-Application', 'Invoke-LiveUpdate') {
            $names | Should -Contain $c
        }
    }
}
