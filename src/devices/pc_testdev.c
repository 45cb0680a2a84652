/* pc_testdev.c - QEMU's pc-testdev, the ISA test device kvm-unit-tests
 * drives (its semantics follow QEMU's hw/misc/pc-testdev.c):
 *   0xe0-0xe3  a 32-bit register: an access of len bytes at 0xe0+k reads
 *              or writes bytes k..k+len-1 of it (the "ioport" tests);
 *   0xe4-0xe7  "flush page": a 32-bit write names a guest page whose host
 *              mapping QEMU re-protects; popek's engines need no such help,
 *              so it is accepted and ignored;
 *   0xe8-0xeb  the same register, byte-wise (QEMU's "ioport-byte");
 *   0x2000-0x2017  IRQ lines: a byte write to 0x2000+n sets ISA IRQ / GSI
 *              n to (value != 0); reads return 0;
 *   0xff000000 64 KiB of scratch memory (MMIO, not RAM: every access is a
 *              device access, for the emulator tests).
 * The machine's interrupt controller decides where GSI n goes. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define TESTDEV_IOMEM_LEN 0x10000
#define TESTDEV_IRQ_LINES 24

struct testdev {
    struct machine *m;
    uint32_t ioport_data;
    uint8_t iomem[TESTDEV_IOMEM_LEN];
};

static void testdev_ioport(void *dev, uint64_t offset, uint8_t *data,
                           unsigned len, bool is_write)
{
    struct testdev *t = dev;
    for (unsigned i = 0; i < len; i++) {
        unsigned shift = (unsigned)((offset + i) & 3) * 8;
        if (is_write)
            t->ioport_data = (t->ioport_data & ~(0xffu << shift)) |
                             (uint32_t)data[i] << shift;
        else
            data[i] = (uint8_t)(t->ioport_data >> shift);
    }
}

static void testdev_flush(void *dev, uint64_t offset, uint8_t *data,
                          unsigned len, bool is_write)
{
    (void)dev;
    (void)offset;
    if (!is_write)
        memset(data, 0xff, len);
}

static void testdev_irq(void *dev, uint64_t offset, uint8_t *data,
                        unsigned len, bool is_write)
{
    struct testdev *t = dev;
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    for (unsigned i = 0; i < len && offset + i < TESTDEV_IRQ_LINES; i++)
        machine_set_irq(t->m, (int)(offset + i), data[i] != 0);
}

static void testdev_iomem(void *dev, uint64_t offset, uint8_t *data,
                          unsigned len, bool is_write)
{
    struct testdev *t = dev;
    if (is_write)
        memcpy(&t->iomem[offset], data, len);
    else
        memcpy(data, &t->iomem[offset], len);
}

int pc_testdev_create(struct machine *m, struct io_space *bus,
                      struct io_space *mem)
{
    struct testdev *t = calloc(1, sizeof(*t));
    if (!t || machine_add_device(m, "pc-testdev", t, NULL, NULL) < 0) {
        free(t);
        return fail("out of memory");
    }
    t->m = m;
    if (io_register(bus, 0xe0, 4, testdev_ioport, t, "pc-testdev-ioport") < 0 ||
        io_register(bus, 0xe4, 4, testdev_flush, t, "pc-testdev-flush") < 0 ||
        io_register(bus, 0xe8, 4, testdev_ioport, t,
                    "pc-testdev-ioport-byte") < 0 ||
        io_register(bus, 0x2000, TESTDEV_IRQ_LINES, testdev_irq, t,
                    "pc-testdev-irq") < 0 ||
        io_register(mem, 0xff000000u, TESTDEV_IOMEM_LEN, testdev_iomem, t,
                    "pc-testdev-iomem") < 0)
        return -1;
    return 0;
}
