/* fw_cfg.c - QEMU's firmware configuration device, the traditional port
 * interface only: a 16-bit selector at base (0x510) picks an item, and
 * byte reads of base+1 (0x511) stream its contents from offset 0 (past the
 * end they read 0).  Guests written for QEMU (kvm-unit-tests, firmware)
 * read the CPU count and the RAM size here.  Items: the signature "QEMU"
 * (0x0000), the interface ID (0x0001: bit 0 = traditional interface, no
 * DMA), a zero UUID (0x0002), the RAM size (0x0003, 64-bit), NOGRAPHIC
 * (0x0004), NB_CPUS (0x0005) and MAX_CPUS (0x000f) = 1, and the file
 * directory (0x0019: a big-endian count, here 0 files).  Writes to the data
 * port are ignored, as in QEMU since 2.4; unknown selectors read as 0. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_ID 0x0001
#define FW_CFG_UUID 0x0002
#define FW_CFG_RAM_SIZE 0x0003
#define FW_CFG_NOGRAPHIC 0x0004
#define FW_CFG_NB_CPUS 0x0005
#define FW_CFG_MAX_CPUS 0x000f
#define FW_CFG_FILE_DIR 0x0019
#define FW_CFG_MAX_ITEMS 16
#define FW_CFG_ITEM_MAX 64

struct fw_cfg_item {
    uint16_t key;
    uint32_t len;
    uint8_t data[FW_CFG_ITEM_MAX];
};

struct fw_cfg {
    struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
    int n;
    uint16_t sel;
    uint32_t off;
    const struct fw_cfg_item *cur; /* NULL: the selector names no item */
};

static void add_le(struct fw_cfg *f, uint16_t key, uint64_t v, unsigned len)
{
    struct fw_cfg_item *it = &f->items[f->n++];
    it->key = key;
    it->len = len;
    io_put(it->data, len, v);
}

static void add_bytes(struct fw_cfg *f, uint16_t key, const void *p,
                      unsigned len)
{
    struct fw_cfg_item *it = &f->items[f->n++];
    it->key = key;
    it->len = len;
    memcpy(it->data, p, len);
}

static void fw_cfg_select(struct fw_cfg *f, uint16_t sel)
{
    f->sel = sel;
    f->off = 0;
    f->cur = NULL;
    for (int i = 0; i < f->n; i++)
        if (f->items[i].key == (sel & 0xbfff)) /* bit 14: write (ignored) */
            f->cur = &f->items[i];
}

/* The selector (offset 0, 16-bit) and the data port (offset 1). */
static void fw_cfg_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                      bool is_write)
{
    struct fw_cfg *f = dev;
    if (offset == 0) {
        if (is_write)
            fw_cfg_select(f, (uint16_t)io_get(data, len > 2 ? 2 : len));
        else
            memset(data, 0, len);
        return;
    }
    if (is_write)
        return;
    for (unsigned i = 0; i < len; i++) {
        data[i] = 0;
        if (f->cur && f->off < f->cur->len)
            data[i] = f->cur->data[f->off++];
    }
}

static void fw_cfg_reset(void *opaque)
{
    fw_cfg_select(opaque, FW_CFG_SIGNATURE);
}

int fw_cfg_create(struct machine *m, struct io_space *bus, uint16_t base)
{
    struct fw_cfg *f = calloc(1, sizeof(*f));
    if (!f || machine_add_device(m, "fw_cfg", f, fw_cfg_reset, NULL) < 0) {
        free(f);
        return fail("out of memory");
    }
    static const uint8_t uuid[16];
    static const uint8_t no_files[4]; /* big-endian count 0 */
    add_bytes(f, FW_CFG_SIGNATURE, "QEMU", 4);
    add_le(f, FW_CFG_ID, 1, 4);
    add_bytes(f, FW_CFG_UUID, uuid, sizeof(uuid));
    add_le(f, FW_CFG_RAM_SIZE, m->ram_size, 8);
    add_le(f, FW_CFG_NOGRAPHIC, 1, 2);
    add_le(f, FW_CFG_NB_CPUS, 1, 2);
    add_le(f, FW_CFG_MAX_CPUS, 1, 2);
    add_bytes(f, FW_CFG_FILE_DIR, no_files, sizeof(no_files));
    fw_cfg_reset(f);
    return io_register(bus, base, 2, fw_cfg_io, f, "fw_cfg");
}
