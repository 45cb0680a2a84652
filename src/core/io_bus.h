/* io_bus.h - the port I/O bus and the physical memory map.  Devices register
 * a handler for a range of ports or guest-physical addresses; every access
 * goes through io_access(), with ONE handler signature for port and
 * memory-mapped I/O (as in kvmtool).  Overlapping registrations are refused;
 * accesses nobody claims read as all ones and are counted. */
#ifndef POPEK_IO_BUS_H
#define POPEK_IO_BUS_H
#include <stdbool.h>
#include <stdint.h>

/* offset: address relative to the base the device registered;
 * data: little-endian bytes, len 1, 2, 4 or 8. */
typedef void (*io_fn)(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                      bool is_write);

enum io_kind { IO_HANDLER, IO_RAM };

struct io_range {
    uint64_t base, len;
    enum io_kind kind;
    io_fn fn;
    void *dev;
    const char *name;
    uint8_t *host; /* IO_RAM: host address of base */
};

struct io_space {
    const char *name; /* "port" or "mmio" */
    struct io_range *r; /* sorted by base */
    int n, cap;
    uint64_t unclaimed_reads, unclaimed_writes;
    uint64_t last_unclaimed; /* address of the most recent unclaimed access */
};

void io_space_init(struct io_space *s, const char *name);
void io_space_free(struct io_space *s);
/* Returns -1 (with fail()) if [base, base+len) overlaps an existing range. */
int io_register(struct io_space *s, uint64_t base, uint64_t len, io_fn fn,
                void *dev, const char *name);
/* Remove the range registered at base for dev (a PCI BAR being moved or
 * disabled).  -1 with fail() if there is no such range. */
int io_unregister(struct io_space *s, uint64_t base, void *dev);
/* Register guest RAM in the memory map (so MMIO cannot overlap it). */
int io_register_ram(struct io_space *s, uint64_t base, uint64_t len,
                    uint8_t *host, const char *name);
const struct io_range *io_find(const struct io_space *s, uint64_t addr);
/* Perform an access.  Unclaimed reads fill data with 0xff. */
void io_access(struct io_space *s, uint64_t addr, uint8_t *data, unsigned len,
               bool is_write);

/* Little-endian helpers for handlers. */
static inline uint32_t io_get(const uint8_t *d, unsigned len)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)d[i] << (8 * i);
    return v;
}
static inline void io_put(uint8_t *d, unsigned len, uint64_t v)
{
    for (unsigned i = 0; i < len; i++)
        d[i] = (uint8_t)(v >> (8 * i));
}

#endif
