// Wine 8 has no bcryptprimitives.dll, and Rust's std (>= 1.78) takes its randomness (HashMap
// keys) from that DLL's ProcessPrng, so a Rust DLL does not load under Wine without it. This
// stand-in, placed next to node.exe, answers from advapi32's RtlGenRandom. Test use only:
// real Windows (8 and later) has the DLL.
#include <windows.h>

BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length); // RtlGenRandom

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (!SystemFunction036(data, n)) return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}
