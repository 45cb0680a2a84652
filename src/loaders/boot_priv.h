/* boot_priv.h - private to the loaders: the fixed low-memory layout that
 * every loader uses for its boot structures, little-endian field access on
 * untrusted images, bounds-checked copies into guest RAM, and the Linux
 * boot-protocol pieces shared by bzimage.c and vmlinux.c.
 *
 * Low memory [0, BOOT_LOW_END) is reserved for popek's boot structures;
 * kernels may not load there:
 *   0x01000  GDT (flat 32-bit and 64-bit descriptors)
 *   0x02000  long-mode page tables: PML4, PDPT, 4 PDs (6 pages, to 0x8000)
 *   0x08000  Linux boot_params (the zero page)
 *   0x09000  Linux command line (up to 4 KiB)
 *   0x10000  initial stack top (grows down from here, to 0xA000)
 * The BIOS/VGA hole [0x9FC00, 0x100000) is also off limits for kernels. */
#ifndef POPEK_BOOT_PRIV_H
#define POPEK_BOOT_PRIV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/machine.h"
#include "loader.h"

#define BOOT_GDT 0x1000ull
#define BOOT_PAGE_TABLES 0x2000ull
#define BOOT_PAGE_TABLES_SIZE 0x6000ull
#define BOOT_ZERO_PAGE 0x8000ull
#define BOOT_CMDLINE 0x9000ull
#define BOOT_CMDLINE_MAX 0x1000ull
#define BOOT_STACK_TOP 0x10000ull
#define BOOT_LOW_END 0x10000ull
#define BIOS_HOLE_START 0x9fc00ull
#define BIOS_HOLE_END 0x100000ull
#define BOOT_E820_MAX 8

#define PAGE_SIZE_4K 0x1000ull

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}
static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Does [a, a+alen) overlap [b, b+blen)? */
static inline bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
                                  uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

/* Check that a kernel may occupy guest-physical [gpa, gpa+len): inside RAM,
 * above the reserved low area and outside the BIOS hole.  `what` names the
 * piece for the error ("segment 2", "a.out image").  -1 with fail(). */
int boot_check_kernel_range(struct machine *m, const char *file,
                            const char *what, uint64_t gpa, uint64_t len);
/* The same with a smaller reserved low area [0, low_end) (multiboot
 * kernels, which popek's boot structures move out of the way of). */
int boot_check_range(struct machine *m, const char *file, const char *what,
                     uint64_t gpa, uint64_t len, uint64_t low_end);

/* Copy / zero guest-physical memory; -1 with fail() naming `file` if the
 * range is not all RAM. */
int boot_copy(struct machine *m, const char *file, uint64_t gpa,
              const void *src, uint64_t len);
int boot_zero(struct machine *m, const char *file, uint64_t gpa,
              uint64_t len);

/* A boot stack and the common register conventions of both protocols. */
void boot_set_stack(struct cpu_state *s);

/* Find a multiboot v1 header (magic 0x1BADB002, 32-bit aligned, in the
 * first 8 KiB).  With want_checksum, only headers whose checksum is right;
 * without, any magic (to explain a bad checksum).  Returns the offset or -1. */
long multiboot_find_header(const uint8_t *img, size_t len, bool want_checksum);

/* ---- Linux boot protocol (bzimage.c; also used by vmlinux.c) ---- */
/* Setup header fields: offsets in both the image and boot_params. */
#define HDR_START 0x1f1
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_SETUP_DATA 0x250
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define LINUX_HDR_LIMIT 0x290 /* boot_params fields after the header start here */

/* Other boot_params fields. */
#define BP_EXT_MEM_K 0x002
#define BP_ALT_MEM_K 0x1e0
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_SIZE 0x1000

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01
#define KERNEL_LOAD_ADDR 0x100000ull

/* A Linux kernel being loaded: its setup header (bytes at the offsets of
 * boot_params, up to hdr_end) and the limits it sets. */
struct linux_params {
    const uint8_t *hdr;
    size_t hdr_end;
    uint64_t code32_start; /* written into boot_params */
    uint64_t need_end;     /* end of the memory the kernel itself uses */
    uint32_t initrd_max;   /* last byte the initrd may occupy */
    uint32_t cmdline_max;  /* longest command line, without the NUL */
};
int linux_place_initrd(struct machine *m, const struct boot_request *req,
                       const struct linux_params *lp, uint64_t *at);
int linux_write_cmdline(struct machine *m, const struct boot_request *req,
                        const struct linux_params *lp);
void linux_write_boot_params(struct machine *m, const struct boot_request *req,
                             const struct linux_params *lp, uint64_t initrd_at);
/* 32-bit (CS 0x10, DS 0x18) or 64-bit entry with ESI/RSI = boot_params. */
void linux_set_entry(struct machine *m, struct cpu_state *entry, bool is64,
                     uint64_t rip);

/* Validate an initrd: a cpio newc archive, or gzip/xz/zstd-compressed ones,
 * possibly concatenated (as Linux accepts them).  -1 with fail() naming
 * `name` and the problem. */
int initrd_check(const uint8_t *p, size_t len, const char *name);

#endif
