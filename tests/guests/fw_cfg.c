/* fw_cfg.c - QEMU's firmware configuration device on ports 0x510/0x511 as
 * kvm-unit-tests reads it (a 16-bit selector write, then byte reads): the
 * "QEMU" signature, the interface ID (traditional, no DMA), one CPU
 * (NB_CPUS and MAX_CPUS), the RAM size the multiboot memory map shows
 * (popek-args give 64 MiB), the file directory's count, zeros past the end
 * of an item and for unknown selectors.  The same output under QEMU.
 * popek-args: --mem 64M */
#include "kit.h"

#define FW_CFG_CTL 0x510
#define FW_CFG_DATA 0x511

static uint64_t fw_cfg_get(uint16_t key, int bytes)
{
    outw(FW_CFG_CTL, key);
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
    return v;
}

int main(struct multiboot_info *mbi)
{
    char sig[5];
    outw(FW_CFG_CTL, 0x0000);
    for (int i = 0; i < 4; i++)
        sig[i] = (char)inb(FW_CFG_DATA);
    sig[4] = 0;
    CHECK(!strcmp(sig, "QEMU"), "signature \"QEMU\"");
    CHECK_EQ(inb(FW_CFG_DATA), 0, "reads past the end of an item are 0");
    /* popek: 1 (no DMA); QEMU: 3 */
    CHECK(fw_cfg_get(0x0001, 4) & 1, "ID: the traditional interface");
    CHECK_EQ(fw_cfg_get(0x0005, 2), 1, "NB_CPUS = 1");
    CHECK_EQ(fw_cfg_get(0x000f, 2), 1, "MAX_CPUS = 1");
    uint64_t ram = fw_cfg_get(0x0003, 8);
    CHECK_EQ(ram, 64ull << 20, "RAM_SIZE = 64 MiB");
    /* A BIOS may keep some of the top for itself: within 1 MiB. */
    uint64_t mb = mbi ? (uint64_t)(mbi->mem_upper + 1024) * 1024 : 0;
    CHECK(mb <= ram && mb + (1u << 20) >= ram,
          "RAM_SIZE agrees with the multiboot memory size");
    uint32_t files = (uint32_t)fw_cfg_get(0x0019, 4);
    files = files >> 24 | (files >> 8 & 0xff00) | (files << 8 & 0xff0000) | files << 24;
    CHECK(files < 64, "file directory: a big-endian count (popek: 0 files)");
    CHECK_EQ(fw_cfg_get(0x7abc, 4), 0, "an unknown selector reads 0");
    /* Selecting again starts the item over. */
    (void)fw_cfg_get(0x0000, 3);
    CHECK_EQ(fw_cfg_get(0x0000, 4), 0x554d4551, "reselecting restarts at byte 0");
    return 0;
}
