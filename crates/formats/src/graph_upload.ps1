<#
.SYNOPSIS
    Uploads hardware OATH tokens exported by tokendesk (`tokendesk export --format graph`) to
    Microsoft Entra ID through Microsoft Graph (beta): create each token, assign it to its user,
    activate it with the code it shows now.
.DESCRIPTION
    Needs the Microsoft Graph PowerShell SDK (Install-Module Microsoft.Graph.Authentication) and
    an account with the Authentication Policy Administrator role (create) and the
    Authentication Administrator role (assign, activate). The Graph hardware OATH API is beta:
    Microsoft may change it. The export was checked against Microsoft's documented schema, not
    against a live tenant; try one token first (-First 1).
    The verification code for activation is computed here from the token's secret and this
    computer's clock, so the clock must be right (within a few seconds).
    The file holds token secrets: delete it when the upload is done.
.PARAMETER Path
    The JSON file written by tokendesk.
.PARAMETER First
    Upload only the first N tokens (0: all).
.PARAMETER SkipActivation
    Create and assign only; users activate their tokens themselves.
.EXAMPLE
    ./tokendesk-graph.ps1 -Path ./tokens-graph.json -First 1
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)][string]$Path,
    [int]$First = 0,
    [switch]$SkipActivation
)
$ErrorActionPreference = 'Stop'

function ConvertFrom-Base32([string]$Text) {
    $alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
    $bits = 0; $value = 0
    $out = New-Object System.Collections.Generic.List[byte]
    foreach ($c in $Text.ToUpperInvariant().TrimEnd('=').ToCharArray()) {
        $i = $alphabet.IndexOf($c)
        if ($i -lt 0) { throw 'a secretKey is not base32' }
        $value = (($value -shl 5) -bor $i) -band 0xFFFF
        $bits += 5
        if ($bits -ge 8) {
            $bits -= 8
            $out.Add([byte](($value -shr $bits) -band 0xFF))
        }
    }
    return , $out.ToArray()
}

# RFC 6238 TOTP, 6 digits, for the activation code.
function Get-TotpCode([string]$SecretKey, [int]$Period, [string]$HashFunction) {
    $key = ConvertFrom-Base32 $SecretKey
    $counter = [long][Math]::Floor([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() / $Period)
    $message = [BitConverter]::GetBytes($counter)
    if ([BitConverter]::IsLittleEndian) { [Array]::Reverse($message) }
    if ($HashFunction -eq 'hmacsha256') {
        $hmac = New-Object System.Security.Cryptography.HMACSHA256 (, $key)
    } else {
        $hmac = New-Object System.Security.Cryptography.HMACSHA1 (, $key)
    }
    $hash = $hmac.ComputeHash($message)
    $hmac.Dispose()
    $offset = $hash[$hash.Length - 1] -band 0x0F
    $binary = (($hash[$offset] -band 0x7F) -shl 24) -bor ($hash[$offset + 1] -shl 16) -bor
              ($hash[$offset + 2] -shl 8) -bor $hash[$offset + 3]
    return ($binary % 1000000).ToString('D6')
}

$doc = Get-Content -Raw -LiteralPath $Path | ConvertFrom-Json
if ($doc.format -ne 'tokendesk-graph-hardware-oath/1') {
    throw "$Path is not a tokendesk Graph export (format tokendesk-graph-hardware-oath/1)"
}
$tokens = @($doc.tokens)
if ($First -gt 0) { $tokens = $tokens | Select-Object -First $First }

Connect-MgGraph -Scopes 'Policy.ReadWrite.AuthenticationMethod', 'UserAuthenticationMethod.ReadWrite.All' -NoWelcome

$done = 0
foreach ($t in $tokens) {
    $upn = $t.userPrincipalName
    $serial = $t.create.body.serialNumber
    if (-not $PSCmdlet.ShouldProcess("$serial for $upn", 'create, assign and activate')) { continue }
    try {
        $create = $t.create.body | ConvertTo-Json -Depth 5
        $device = Invoke-MgGraphRequest -Method $t.create.method -Uri $t.create.url -Body $create -ContentType 'application/json'
        $assign = ($t.assign.body | ConvertTo-Json -Depth 5).Replace('{deviceId}', $device.id)
        $method = Invoke-MgGraphRequest -Method $t.assign.method -Uri $t.assign.url -Body $assign -ContentType 'application/json'
        if (-not $SkipActivation) {
            $code = Get-TotpCode $t.create.body.secretKey ([int]$t.create.body.timeIntervalInSeconds) $t.create.body.hashFunction
            $activate = ($t.activate.body | ConvertTo-Json -Depth 5).Replace('{verificationCode}', $code)
            $url = $t.activate.url.Replace('{hardwareOathMethodId}', $method.id)
            Invoke-MgGraphRequest -Method $t.activate.method -Uri $url -Body $activate -ContentType 'application/json' | Out-Null
        }
        $done++
        Write-Host "[$done/$($tokens.Count)] $serial -> $upn"
    } catch {
        Write-Error "token $serial for ${upn}: $($_.Exception.Message); fix it and run again with the remaining tokens"
        break
    }
}
Write-Host "uploaded $done of $($tokens.Count) token(s); delete $Path now"
