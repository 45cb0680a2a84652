/* disasm.c - Zydis-based disassembly for traces (see disasm.h). */
#include "disasm.h"

#include <stdio.h>
#include <string.h>

#include <Zydis/Zydis.h>

static int disasm_mode(ZydisMachineMode mode, const uint8_t *p, size_t n,
                       uint32_t eip, char *out, size_t outlen)
{
    ZydisDisassembledInstruction di;
    if (outlen == 0)
        return -1;
    if (ZYAN_SUCCESS(ZydisDisassembleIntel(mode, eip, p, n, &di))) {
        snprintf(out, outlen, "%s", di.text);
        return di.info.length;
    }
    /* Undecodable: show the bytes. */
    size_t w = (size_t)snprintf(out, outlen, "(bad)");
    for (size_t k = 0; k < n && k < 15 && w + 3 < outlen; k++)
        w += (size_t)snprintf(out + w, outlen - w, " %02x", p[k]);
    return -1;
}

int disasm32(const uint8_t *p, size_t n, uint32_t eip, char *out, size_t outlen)
{
    return disasm_mode(ZYDIS_MACHINE_MODE_LEGACY_32, p, n, eip, out, outlen);
}

int disasm16(const uint8_t *p, size_t n, uint32_t eip, char *out, size_t outlen)
{
    return disasm_mode(ZYDIS_MACHINE_MODE_LEGACY_16, p, n, eip, out, outlen);
}
