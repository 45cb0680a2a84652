/* fw_cfg.c - QEMU's firmware configuration device on ports 0x510/0x511 as
 * kvm-unit-tests reads it (a 16-bit selector write, then byte reads): the
 * "QEMU" signature, the interface ID (traditional, no DMA), one CPU
 * (NB_CPUS and MAX_CPUS), the RAM size the multiboot memory map shows
 * (popek-args give 64 MiB), an empty file directory, zeros past the end
 * of an item and for unknown selectors.
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
    CHECK_EQ(fw_cfg_get(0x0001, 4), 1, "ID: traditional interface, no DMA");
    CHECK_EQ(fw_cfg_get(0x0005, 2), 1, "NB_CPUS = 1");
    CHECK_EQ(fw_cfg_get(0x000f, 2), 1, "MAX_CPUS = 1");
    uint64_t ram = fw_cfg_get(0x0003, 8);
    CHECK_EQ(ram, 64ull << 20, "RAM_SIZE = 64 MiB");
    CHECK(mbi && (uint64_t)(mbi->mem_upper + 1024) * 1024 == ram,
          "RAM_SIZE agrees with the multiboot memory size");
    CHECK_EQ(fw_cfg_get(0x0019, 4), 0, "file directory: no files");
    CHECK_EQ(fw_cfg_get(0x7abc, 4), 0, "an unknown selector reads 0");
    /* Selecting again starts the item over. */
    (void)fw_cfg_get(0x0000, 3);
    CHECK_EQ(fw_cfg_get(0x0000, 4), 0x554d4551, "reselecting restarts at byte 0");
    return 0;
}
