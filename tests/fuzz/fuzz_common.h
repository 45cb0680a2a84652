/* fuzz_common.h - shared by the libFuzzer harnesses in tests/fuzz: a bare
 * machine for the loaders (RAM only, as tests/unit/test_loaders.c makes
 * it), a do-nothing engine for the device harness, and a byte reader. */
#ifndef POPEK_FUZZ_COMMON_H
#define POPEK_FUZZ_COMMON_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/machine.h"
#include "loaders/loader.h"

#define FUZZ_RAM_MAX (64u << 20)

/* A machine with RAM only (loaders need nothing else).  The RAM is one
 * mapping reused across inputs (zeroed with MADV_DONTNEED: much cheaper
 * than calloc under ASan) and placed so that it ends at a PROT_NONE guard
 * page: a write past the end of guest RAM crashes at once. */
static inline struct machine *fuzz_bare_machine(uint64_t ram_size)
{
    static uint8_t *area;
    if (!area) {
        area = mmap(NULL, FUZZ_RAM_MAX + 4096, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (area == MAP_FAILED)
            abort();
        mprotect(area + FUZZ_RAM_MAX, 4096, PROT_NONE);
    }
    madvise(area, FUZZ_RAM_MAX, MADV_DONTNEED);
    struct machine *m = calloc(1, sizeof(*m));
    m->ram_size = ram_size;
    m->ram = area + FUZZ_RAM_MAX - ram_size;
    return m;
}

static inline void fuzz_free_bare(struct machine *m)
{
    free(m);
}

/* Reads the input front to back; past the end it yields zeros. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint32_t fuzz_get(struct fuzz_in *in, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        uint8_t b = 0;
        if (in->n) {
            b = *in->p++;
            in->n--;
        }
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

/* A loader input: one flags byte (RAM size, long mode ok, initrd length
 * from the next 2 bytes taken from the end), then the kernel image. */
static inline int fuzz_load(const uint8_t *data, size_t size,
                            int (*loader)(struct machine *,
                                          const struct boot_request *,
                                          struct cpu_state *))
{
    if (size < 3)
        return 0;
    static const uint64_t rams[4] = {2u << 20, 4u << 20, 16u << 20,
                                     64u << 20};
    uint8_t flags = data[0];
    size_t ilen = (size_t)(data[1] | data[2] << 8);
    data += 3;
    size -= 3;
    if (!(flags & 4) || ilen > size)
        ilen = 0;
    struct boot_request r = {
        .kernel = data, .kernel_len = size - ilen, .kernel_name = "fuzz",
        .initrd = ilen ? data + size - ilen : NULL, .initrd_len = ilen,
        .initrd_name = "fuzz-initrd",
        .cmdline = (flags & 8) ? "console=ttyS0 fuzz=1" : NULL,
        .long_mode_ok = (flags & 16) != 0};
    struct machine *m = fuzz_bare_machine(rams[flags & 3]);
    struct cpu_state s;
    memset(&s, 0, sizeof(s));
    loader(m, &r, &s);
    fuzz_free_bare(m);
    return 0;
}

#endif
