/* Test-only stand-in for Windows' bcryptprimitives.dll, which Wine 8.0 lacks. Rust's standard
 * library (1.78+) imports ProcessPrng from it, so without this no Rust .exe starts under Wine 8.0
 * (status c0000135). Real Windows 10/11 ships the DLL: never put this file in a release.
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c
 *        bcryptprimitives.def -ladvapi32 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
