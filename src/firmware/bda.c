/* bda.c - the BIOS data area at 0x400 and the extended BIOS data area at
 * FW_EBDA, as a PC BIOS leaves them: the EBDA segment at 0x40E, the base
 * memory size in KiB at 0x413 (Linux and xv6 read both to find where
 * firmware data lives and to search for the MP floating pointer), COM1's
 * port at 0x400, and the EBDA's own size word.  Also fw_write_tables(),
 * which runs every builder on the machine's RAM, and the checksum helpers. */
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "firmware.h"

uint8_t fw_checksum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

void fw_fix_checksum(uint8_t *p, size_t len, size_t at)
{
    p[at] = 0;
    p[at] = (uint8_t)(0x100 - fw_checksum(p, len));
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void fw_bda_build(uint8_t *low)
{
    uint8_t *bda = low + 0x400;
    memset(bda, 0, 0x100);
    put16(bda + 0x00, 0x3f8);                  /* COM1 */
    put16(bda + 0x0e, (uint16_t)(FW_EBDA >> 4)); /* EBDA segment */
    put16(bda + 0x10, 0x0002 | (1u << 9));     /* equipment: FPU, 1 serial port */
    put16(bda + 0x13, FW_BASE_MEM_KIB);
    uint8_t *ebda = low + FW_EBDA;
    memset(ebda, 0, FW_EBDA_KIB * 1024);
    ebda[0] = FW_EBDA_KIB;                     /* size in KiB */
}

int fw_write_tables(struct machine *m)
{
    uint8_t *low = gpa_to_hva(m, 0, FW_LOW_SIZE);
    if (!low)
        return fail("guest RAM is too small for the BIOS area");
    memset(low + FW_AREA_START, 0, FW_AREA_END - FW_AREA_START);
    fw_bda_build(low);
    if (!fw_mptable_build(low) || !fw_acpi_build(low))
        return fail("the firmware tables do not fit in the BIOS area");
    return 0;
}
