# The README's short session runs as it is written (in a new folder, with the module under test).

BeforeAll {
    Import-Module $env:LIVEUPDATE_MODULE -Force
    $readme = Get-Content (Join-Path $PSScriptRoot '../../README.md') -Raw
    $script:session = [regex]::Match($readme, '(?s)## A short session\s+```powershell\r?\n(.*?)```').Groups[1].Value
}

Describe 'The short session of the README' {
    It 'runs without an error and ends disconnected' {
        $session | Should -Not -BeNullOrEmpty
        $folder = Join-Path $TestDrive 'session'
        $null = New-Item -ItemType Directory -Path $folder
        Push-Location $folder
        try {
            $code = $session -replace 'Import-Module \./out/LiveUpdate', "Import-Module '$env:LIVEUPDATE_MODULE'"
            # Interactively the session answers Undo-LiveUpdate's question; here the answer is yes.
            $null = & { $ErrorActionPreference = 'Stop'; $ConfirmPreference = 'None'; & ([scriptblock]::Create($code)) } 6>&1
            (Get-LogicalPartition -System ./lab lpar1).OsLevel | Should -Be '7300-02-01' -Because 'the session ends by going back two levels'
            (Test-LiveUpdateBundle ./sp.zip).Verified | Should -BeTrue
            { Get-LogicalPartition -ErrorAction Stop } | Should -Throw -ErrorId 'NotConnected,LiveUpdate.PowerShell.Commands.GetLogicalPartitionCommand'
        }
        finally {
            Pop-Location
            Remove-LiveUpdateLab -Path (Join-Path $folder 'lab') -Confirm:$false -ErrorAction SilentlyContinue
        }
    }
}
