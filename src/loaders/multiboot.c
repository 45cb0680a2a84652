/* multiboot.c - Multiboot v1 loader.  Loads ELF32 and ELF64 kernels by their
 * PT_LOAD segments (at p_paddr) or, with the a.out kludge (header flags bit
 * 16), a flat image by the header's address fields.  Builds the multiboot
 * information structure (memory sizes, command line, loader name, the initrd
 * as module 0, an e820-style memory map) in guest RAM just after the kernel,
 * then describes the entry state: 32-bit flat protected mode with
 * EAX=0x2BADB002 / EBX=info, or - for ELF64 kernels on engines with long
 * mode - 64-bit long mode with identity-mapped page tables and the same
 * values also in EDI/ESI.
 *
 * As QEMU's multiboot loader (which guests written for QEMU expect): the
 * command line is "KERNEL-FILE-NAME ARGS" (as GRUB and QEMU pass it), the
 * 32-bit entry has CS=0x08 and DS=ES=FS=GS=SS=0x10 in a flat GDT, and a
 * kernel may load anywhere in RAM above the BIOS data area (0x500) and
 * outside the BIOS hole: popek's entry GDT, page tables and stack use the
 * usual low area (0x1000-0x10000) only if the kernel leaves it free, and
 * otherwise go after the boot information. */
#include <stdlib.h>
#include <string.h>

#include "../core/util.h"
#include "boot_priv.h"
#include "elf_image.h"

#define MB_MAGIC 0x1badb002u
#define MB_BOOT_MAGIC 0x2badb002u
#define MB_SEARCH 8192
#define MB_FLAG_PAGE_ALIGN (1u << 0)
#define MB_FLAG_MEMINFO (1u << 1)
#define MB_FLAG_VIDEO (1u << 2)
#define MB_FLAG_AOUT_KLUDGE (1u << 16)
#define MB_FLAGS_KNOWN (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMINFO | MB_FLAG_VIDEO)

/* multiboot_info flags and field offsets */
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER_NAME (1u << 9)
#define MBI_SIZE 120
#define MBI_OFF_FLAGS 0
#define MBI_OFF_MEM_LOWER 4
#define MBI_OFF_MEM_UPPER 8
#define MBI_OFF_CMDLINE 16
#define MBI_OFF_MODS_COUNT 20
#define MBI_OFF_MODS_ADDR 24
#define MBI_OFF_MMAP_LENGTH 44
#define MBI_OFF_MMAP_ADDR 48
#define MBI_OFF_LOADER_NAME 64
#define MB_MMAP_ENTRY 24 /* size field + 20-byte e820 entry */
/* Below this, RAM holds the real-mode IVT and the BIOS data area. */
#define MB_LOW_RESERVED 0x500ull
/* popek's entry structures: GDT page, long-mode page tables, then the
 * stack up to the end; at BOOT_GDT normally, elsewhere if the kernel
 * overlaps that. */
#define MB_AREA_SIZE (BOOT_LOW_END - BOOT_GDT)
#define MB_SEL_CODE 0x08
#define MB_SEL_DATA 0x10

long multiboot_find_header(const uint8_t *img, size_t len, bool want_checksum)
{
    size_t end = len < MB_SEARCH ? len : MB_SEARCH;
    for (size_t off = 0; off + 12 <= end; off += 4) {
        if (rd32(img + off) != MB_MAGIC)
            continue;
        uint32_t sum = rd32(img + off) + rd32(img + off + 4) +
                       rd32(img + off + 8);
        if (!want_checksum || sum == 0)
            return (long)off;
    }
    return -1;
}

bool multiboot_detect(const uint8_t *img, size_t len)
{
    return img && multiboot_find_header(img, len, true) >= 0;
}

/* Where the kernel went: [lo, hi) physical, and its entry point. */
struct mb_loaded {
    uint64_t lo, hi, entry;
    bool long_mode;
};

static int load_aout_kludge(struct machine *m, const struct boot_request *req,
                            size_t hdr_off, struct mb_loaded *out)
{
    const char *name = req->kernel_name;
    const uint8_t *h = req->kernel + hdr_off;
    if (hdr_off + 32 > req->kernel_len)
        return fail("%s: truncated: multiboot header at offset %#zx lacks "
                    "its a.out kludge address fields", name, hdr_off);
    uint32_t header_addr = rd32(h + 12), load_addr = rd32(h + 16);
    uint32_t load_end = rd32(h + 20), bss_end = rd32(h + 24);
    uint32_t entry = rd32(h + 28);
    if (header_addr < load_addr || header_addr - load_addr > hdr_off)
        return fail("%s: multiboot a.out kludge: header_addr %#x and "
                    "load_addr %#x do not match the header's file offset "
                    "%#zx", name, header_addr, load_addr, hdr_off);
    size_t file_off = hdr_off - (header_addr - load_addr);
    uint64_t load_size;
    if (load_end) {
        if (load_end < load_addr)
            return fail("%s: multiboot a.out kludge: load_end_addr %#x is "
                        "below load_addr %#x", name, load_end, load_addr);
        load_size = load_end - load_addr;
        if (load_size > req->kernel_len - file_off)
            return fail("%s: truncated: a.out kludge image needs %#llx bytes "
                        "from offset %#zx, file has %zu", name,
                        (unsigned long long)load_size, file_off,
                        req->kernel_len);
    } else {
        load_size = req->kernel_len - file_off;
    }
    uint64_t end = (uint64_t)load_addr + load_size;
    if (bss_end) {
        if (bss_end < end)
            return fail("%s: multiboot a.out kludge: bss_end_addr %#x is "
                        "below the end of the loaded image %#llx", name,
                        bss_end, (unsigned long long)end);
        end = bss_end;
    }
    if (end == load_addr)
        return fail("%s: multiboot a.out kludge image is empty", name);
    if (boot_check_range(m, name, "a.out kludge image", load_addr,
                         end - load_addr, MB_LOW_RESERVED) < 0)
        return -1;
    if (entry < load_addr || entry >= end)
        return fail("%s: entry point %#x is outside the loaded image "
                    "%#x-%#llx", name, entry, load_addr,
                    (unsigned long long)end);
    if (boot_copy(m, name, load_addr, req->kernel + file_off, load_size) < 0 ||
        boot_zero(m, name, load_addr + load_size,
                  end - load_addr - load_size) < 0)
        return -1;
    out->lo = load_addr;
    out->hi = end;
    out->entry = entry;
    out->long_mode = false;
    return 0;
}

static int load_elf(struct machine *m, const struct boot_request *req,
                    struct mb_loaded *out)
{
    const char *name = req->kernel_name;
    struct elf_image e;
    if (elf_parse(req->kernel, req->kernel_len, name, &e) < 0)
        return -1;
    if (e.bits == 64 && !req->long_mode_ok)
        return fail("%s is a 64-bit kernel: it needs an engine with long "
                    "mode (kvm)", name);
    char what[32];
    out->lo = UINT64_MAX;
    out->hi = 0;
    for (unsigned i = 0; i < e.nseg; i++) {
        const struct elf_seg *s = &e.seg[i];
        snprintf(what, sizeof(what), "segment %u", i);
        if (boot_check_range(m, name, what, s->paddr, s->memsz,
                             MB_LOW_RESERVED) < 0)
            return -1;
        for (unsigned j = 0; j < i; j++)
            if (ranges_overlap(s->paddr, s->memsz, e.seg[j].paddr,
                               e.seg[j].memsz))
                return fail("%s: segments %u and %u overlap at %#llx", name,
                            j, i, (unsigned long long)s->paddr);
        if (s->paddr < out->lo)
            out->lo = s->paddr;
        if (s->paddr + s->memsz > out->hi)
            out->hi = s->paddr + s->memsz;
    }
    for (unsigned i = 0; i < e.nseg; i++) {
        const struct elf_seg *s = &e.seg[i];
        if (boot_copy(m, name, s->paddr, req->kernel + s->offset,
                      s->filesz) < 0 ||
            boot_zero(m, name, s->paddr + s->filesz, s->memsz - s->filesz) < 0)
            return -1;
    }
    out->entry = elf_virt_to_phys(&e, e.entry);
    bool inside = false;
    for (unsigned i = 0; i < e.nseg; i++)
        if (out->entry >= e.seg[i].paddr &&
            out->entry - e.seg[i].paddr < e.seg[i].memsz)
            inside = true;
    if (!inside)
        return fail("%s: entry point %#llx is outside the loaded segments",
                    name, (unsigned long long)e.entry);
    out->long_mode = e.bits == 64;
    return 0;
}

/* The first page-aligned address at or above at where len bytes stay
 * clear of the BIOS hole. */
static uint64_t place_clear_of_hole(uint64_t at, uint64_t len)
{
    at = align_up(at, PAGE_SIZE_4K);
    if (ranges_overlap(at, len, BIOS_HOLE_START,
                       BIOS_HOLE_END - BIOS_HOLE_START))
        at = BIOS_HOLE_END;
    return at;
}

/* Build the multiboot information structure at the first page after the
 * kernel (or after the BIOS hole, if it would reach into it), followed by
 * its strings, the module list and the memory map; the module itself goes
 * on the next page boundary.  Returns the info address (and in *end_out
 * the end of all it wrote) or -1. */
static int64_t build_info(struct machine *m, const struct boot_request *req,
                          uint64_t kernel_end, uint64_t *end_out)
{
    const char *name = req->kernel_name;
    const char *args = req->cmdline ? req->cmdline : "";
    const char *mod_name = req->initrd_name ? req->initrd_name : "";
    const char *loader = "popek";
    struct e820_entry e820[BOOT_E820_MAX];
    int n820 = boot_e820(m, e820, BOOT_E820_MAX);
    /* "FILE ARGS", as QEMU (and GRUB) pass the kernel's command line. */
    size_t cmd_len = strlen(name) + 1 + strlen(args) + 1;
    char *cmdline = malloc(cmd_len);
    if (!cmdline)
        return fail("out of memory");
    snprintf(cmdline, cmd_len, "%s %s", name, args);
    size_t mod_name_len = strlen(mod_name) + 1;
    size_t loader_len = strlen(loader) + 1;

    uint64_t info = align_up(kernel_end, PAGE_SIZE_4K);
    uint64_t loader_at = 0, cmd_at = 0, mods_at = 0, mod_name_at = 0;
    uint64_t mmap_at = 0, end = 0, mod_at = 0;
    uint64_t mod_len = req->initrd ? req->initrd_len : 0;
    for (int pass = 0; pass < 2; pass++) {
        loader_at = info + MBI_SIZE;
        cmd_at = loader_at + loader_len;
        mods_at = align_up(cmd_at + cmd_len, 16);
        mod_name_at = mods_at + 16;
        mmap_at = align_up(mod_name_at + mod_name_len, 8);
        end = mmap_at + (uint64_t)n820 * MB_MMAP_ENTRY;
        mod_at = align_up(end, PAGE_SIZE_4K);
        if (req->initrd)
            end = mod_at + mod_len;
        uint64_t moved = place_clear_of_hole(info, end - info);
        if (moved == info)
            break;
        info = moved;
    }
    if (end > m->ram_size || end < info) {
        free(cmdline);
        return fail("%s: kernel (to %#llx), boot information%s do not fit in "
                    "%llu MiB of guest RAM (need %llu KiB; use --mem)", name,
                    (unsigned long long)kernel_end,
                    req->initrd ? " and module" : "",
                    (unsigned long long)(m->ram_size >> 20),
                    (unsigned long long)((end + 1023) >> 10));
    }

    uint8_t *mbi = gpa_to_hva(m, info, end - info);
    memset(mbi, 0, (size_t)(mmap_at - info)); /* structure and strings */
    wr32(mbi + MBI_OFF_FLAGS,
         MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
    wr32(mbi + MBI_OFF_MEM_LOWER, (uint32_t)(BIOS_HOLE_START >> 10));
    wr32(mbi + MBI_OFF_MEM_UPPER, (uint32_t)((m->ram_size - BIOS_HOLE_END) >> 10));
    wr32(mbi + MBI_OFF_CMDLINE, (uint32_t)cmd_at);
    wr32(mbi + MBI_OFF_LOADER_NAME, (uint32_t)loader_at);
    memcpy(mbi + (loader_at - info), loader, loader_len);
    memcpy(mbi + (cmd_at - info), cmdline, cmd_len);
    free(cmdline);

    wr32(mbi + MBI_OFF_MODS_COUNT, req->initrd ? 1 : 0);
    wr32(mbi + MBI_OFF_MODS_ADDR, (uint32_t)mods_at);
    if (req->initrd) {
        uint8_t *mod = mbi + (mods_at - info);
        wr32(mod, (uint32_t)mod_at);
        wr32(mod + 4, (uint32_t)(mod_at + mod_len));
        wr32(mod + 8, (uint32_t)mod_name_at);
        memcpy(mbi + (mod_name_at - info), mod_name, mod_name_len);
        memcpy(mbi + (mod_at - info), req->initrd, mod_len);
    }

    wr32(mbi + MBI_OFF_MMAP_LENGTH, (uint32_t)(n820 * MB_MMAP_ENTRY));
    wr32(mbi + MBI_OFF_MMAP_ADDR, (uint32_t)mmap_at);
    for (int i = 0; i < n820; i++) {
        uint8_t *e = mbi + (mmap_at - info) + (uint64_t)i * MB_MMAP_ENTRY;
        wr32(e, 20);
        wr64(e + 4, e820[i].addr);
        wr64(e + 12, e820[i].size);
        wr32(e + 20, e820[i].type);
    }
    *end_out = end;
    return (int64_t)info;
}

int multiboot_load(struct machine *m, const struct boot_request *req,
                   struct cpu_state *entry)
{
    const char *name = req->kernel_name ? req->kernel_name : "kernel";
    struct boot_request r = *req;
    r.kernel_name = name;
    if (!r.kernel || r.kernel_len == 0)
        return fail("%s: empty file", name);
    long off = multiboot_find_header(r.kernel, r.kernel_len, true);
    if (off < 0) {
        long bad = multiboot_find_header(r.kernel, r.kernel_len, false);
        if (bad >= 0)
            return fail("%s: multiboot header at offset %#lx has a bad "
                        "checksum", name, bad);
        return fail("%s: no multiboot header in the first %d bytes", name,
                    MB_SEARCH);
    }
    uint32_t flags = rd32(r.kernel + off + 4);
    if (flags & 0xffffu & ~MB_FLAGS_KNOWN)
        return fail("%s: multiboot header requires unsupported features "
                    "(flags %#x)", name, flags);
    struct mb_loaded k = {0};
    if (flags & MB_FLAG_AOUT_KLUDGE) {
        if (load_aout_kludge(m, &r, (size_t)off, &k) < 0)
            return -1;
    } else if (elf_is_elf(r.kernel, r.kernel_len)) {
        if (load_elf(m, &r, &k) < 0)
            return -1;
    } else {
        return fail("%s: not an ELF file, and its multiboot header has no "
                    "a.out kludge addresses (flags bit 16)", name);
    }
    uint64_t info_end = 0;
    int64_t info = build_info(m, &r, k.hi, &info_end);
    if (info < 0)
        return -1;
    /* popek's GDT, page tables and stack: out of the kernel's way. */
    uint64_t area = BOOT_GDT;
    if (ranges_overlap(k.lo, k.hi - k.lo, BOOT_GDT, MB_AREA_SIZE) ||
        ranges_overlap((uint64_t)info, info_end - (uint64_t)info, BOOT_GDT,
                       MB_AREA_SIZE)) {
        area = place_clear_of_hole(info_end, MB_AREA_SIZE);
        if (area + MB_AREA_SIZE > m->ram_size)
            return fail("%s: kernel and boot information (to %#llx) leave no "
                        "room for the entry GDT and stack in %llu MiB of "
                        "guest RAM (use --mem)", name,
                        (unsigned long long)info_end,
                        (unsigned long long)(m->ram_size >> 20));
    }
    memset(entry, 0, sizeof(*entry));
    if (k.long_mode) {
        boot_long64(m, entry, area + (BOOT_PAGE_TABLES - BOOT_GDT), area);
        entry->gpr[R_EDI] = MB_BOOT_MAGIC;
        entry->gpr[R_ESI] = (uint64_t)info;
    } else {
        boot_flat32(m, entry, area, MB_SEL_CODE, MB_SEL_DATA);
    }
    entry->gpr[R_EAX] = MB_BOOT_MAGIC;
    entry->gpr[R_EBX] = (uint64_t)info;
    entry->rip = k.entry;
    entry->gpr[R_ESP] = area + MB_AREA_SIZE;
    return 0;
}
