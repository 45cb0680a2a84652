/* loader.h - kernel loaders: multiboot (v1) ELF32/ELF64 kernels and Linux
 * bzImage through the 32-bit (and, on engines with long mode, 64-bit) boot
 * protocol.  A loader copies the image into guest RAM, builds the boot
 * information (multiboot info / boot_params, e820 map, command line,
 * modules / initrd) and describes the entry register state. */
#ifndef POPEK_LOADER_H
#define POPEK_LOADER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/cpu_state.h"

struct machine;

struct boot_request {
    const uint8_t *kernel;     /* the kernel image bytes */
    size_t kernel_len;
    const char *kernel_name;   /* file name, for error messages */
    const uint8_t *initrd;     /* may be NULL */
    size_t initrd_len;
    const char *initrd_name;
    const char *cmdline;       /* may be NULL */
    bool long_mode_ok;         /* the engine can enter 64-bit guests */
};

/* Detect the format and load.  On error returns -1 with a fail() message
 * naming the file and the problem. */
int load_kernel(struct machine *m, const struct boot_request *req,
                struct cpu_state *entry);

/* Individual formats (used by load_kernel and the unit tests). */
bool multiboot_detect(const uint8_t *img, size_t len);
int multiboot_load(struct machine *m, const struct boot_request *req,
                   struct cpu_state *entry);
bool bzimage_detect(const uint8_t *img, size_t len);
int bzimage_load(struct machine *m, const struct boot_request *req,
                 struct cpu_state *entry);
/* An uncompressed Linux vmlinux ELF (as scripts/fetch-linux.sh extracts from
 * a bzImage): loaded by its segments and entered through the same 32-/64-bit
 * boot protocol as a bzImage, skipping the in-guest decompressor. */
bool vmlinux_detect(const uint8_t *img, size_t len);
int vmlinux_load(struct machine *m, const struct boot_request *req,
                 struct cpu_state *entry);

/* What a kernel image is, without loading it (probe.c): its format and
 * whether it runs in 64-bit mode (needs an engine with long mode).  A
 * 32-bit Linux kernel always turns on 32-bit (or PAE) paging. */
struct kernel_info {
    const char *format;  /* "multiboot", "bzImage" or "vmlinux" */
    bool is64;
    bool linux_kernel;
};
/* 0 and *ki filled, or -1 if the format is not recognised. */
int kernel_probe(const uint8_t *img, size_t len, struct kernel_info *ki);

/* Shared helpers (boot_common.c). */
struct e820_entry {
    uint64_t addr, size;
    uint32_t type; /* 1 = RAM, 2 = reserved */
} __attribute__((packed));
/* The machine's e820 map: low RAM, the BIOS hole, RAM above 1 MiB. */
int boot_e820(struct machine *m, struct e820_entry *e, int max);
/* Write a flat GDT at gpa and set a 32-bit flat protected-mode entry state
 * with code selector cs, data selector ds. */
void boot_flat32(struct machine *m, struct cpu_state *s, uint64_t gdt_gpa,
                 uint16_t cs, uint16_t ds);
/* Build identity-mapped long-mode page tables (first 4 GiB, 2 MiB pages) at
 * pt_gpa and a 64-bit GDT at gdt_gpa, and set a long-mode entry state. */
void boot_long64(struct machine *m, struct cpu_state *s, uint64_t pt_gpa,
                 uint64_t gdt_gpa);

#endif
