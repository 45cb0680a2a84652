/* vmlinux.c - boots an uncompressed Linux kernel ELF ("vmlinux", as
 * scripts/fetch-linux.sh extracts it from Debian's bzImage) the way the
 * bzImage decompressor would after unpacking it: segments at their physical
 * addresses, a boot_params built from a synthesized setup header, and a jump
 * to e_entry - startup_32 in flat protected mode (ELF32) or startup_64 in
 * identity-mapped long mode (ELF64) - with ESI/RSI = boot_params.  This
 * skips the decompression, which costs hundreds of millions of emulated
 * instructions on slow engines.  A vmlinux is an ELF with a "Linux" note
 * and no multiboot header. */
#include <string.h>

#include "../core/util.h"
#include "boot_priv.h"
#include "elf_image.h"

#define VMLINUX_HDR_END 0x270
#define VMLINUX_INITRD_MAX 0x37ffffff /* below a 32-bit kernel's lowmem */
#define VMLINUX_CMDLINE_MAX 2047

bool vmlinux_detect(const uint8_t *img, size_t len)
{
    return img && elf_is_elf(img, len) &&
           elf_has_note_owner(img, len, "Linux");
}

/* The setup header a bzImage would have carried (boot protocol 2.15). */
static void synth_header(uint8_t *h, uint64_t entry, bool is64)
{
    memset(h, 0, LINUX_HDR_LIMIT);
    h[HDR_SETUP_SECTS] = 4;
    wr16(h + HDR_BOOT_FLAG, 0xaa55);
    h[HDR_JUMP] = 0xeb;
    h[HDR_JUMP + 1] = (uint8_t)(VMLINUX_HDR_END - 0x202);
    memcpy(h + HDR_MAGIC, "HdrS", 4);
    wr16(h + HDR_VERSION, 0x020f);
    h[HDR_LOADFLAGS] = LOADED_HIGH;
    wr32(h + HDR_CODE32_START, (uint32_t)entry);
    wr32(h + HDR_INITRD_ADDR_MAX, VMLINUX_INITRD_MAX);
    wr32(h + HDR_KERNEL_ALIGNMENT, 0x200000);
    wr16(h + HDR_XLOADFLAGS, is64 ? XLF_KERNEL_64 : 0);
    wr32(h + HDR_CMDLINE_SIZE, VMLINUX_CMDLINE_MAX);
}

int vmlinux_load(struct machine *m, const struct boot_request *req,
                 struct cpu_state *entry)
{
    struct boot_request r = *req;
    if (!r.kernel_name)
        r.kernel_name = "kernel";
    const char *name = r.kernel_name;
    if (!r.kernel || r.kernel_len == 0)
        return fail("%s: empty file", name);
    if (m->ram_size < BOOT_LOW_END + BP_SIZE)
        return fail("%s: guest RAM is too small", name);
    struct elf_image e;
    if (elf_parse(r.kernel, r.kernel_len, name, &e) < 0)
        return -1;
    bool is64 = e.bits == 64;
    if (is64 && !r.long_mode_ok)
        return fail("%s is a 64-bit kernel: it needs an engine with long "
                    "mode (kvm)", name);
    uint64_t end = 0;
    char what[32];
    for (unsigned i = 0; i < e.nseg; i++) {
        const struct elf_seg *s = &e.seg[i];
        snprintf(what, sizeof(what), "segment %u", i);
        if (boot_check_kernel_range(m, name, what, s->paddr, s->memsz) < 0)
            return -1;
        for (unsigned j = 0; j < i; j++)
            if (ranges_overlap(s->paddr, s->memsz, e.seg[j].paddr,
                               e.seg[j].memsz))
                return fail("%s: segments %u and %u overlap at %#llx", name,
                            j, i, (unsigned long long)s->paddr);
        if (s->paddr + s->memsz > end)
            end = s->paddr + s->memsz;
    }
    uint64_t rip = elf_virt_to_phys(&e, e.entry);
    bool inside = false;
    for (unsigned i = 0; i < e.nseg; i++)
        inside |= rip >= e.seg[i].paddr && rip - e.seg[i].paddr < e.seg[i].memsz;
    if (!inside)
        return fail("%s: entry point %#llx is outside the loaded segments",
                    name, (unsigned long long)e.entry);

    uint8_t hdr[LINUX_HDR_LIMIT];
    synth_header(hdr, rip, is64);
    struct linux_params lp = {
        .hdr = hdr, .hdr_end = VMLINUX_HDR_END, .code32_start = rip,
        .need_end = align_up(end, PAGE_SIZE_4K),
        .initrd_max = VMLINUX_INITRD_MAX, .cmdline_max = VMLINUX_CMDLINE_MAX,
    };
    uint64_t initrd_at = 0;
    if (r.initrd && linux_place_initrd(m, &r, &lp, &initrd_at) < 0)
        return -1;
    if (linux_write_cmdline(m, &r, &lp) < 0)
        return -1;
    for (unsigned i = 0; i < e.nseg; i++) {
        const struct elf_seg *s = &e.seg[i];
        if (boot_copy(m, name, s->paddr, r.kernel + s->offset, s->filesz) < 0 ||
            boot_zero(m, name, s->paddr + s->filesz, s->memsz - s->filesz) < 0)
            return -1;
    }
    if (r.initrd &&
        boot_copy(m, name, initrd_at, r.initrd, r.initrd_len) < 0)
        return -1;
    linux_write_boot_params(m, &r, &lp, initrd_at);
    linux_set_entry(m, entry, is64, rip);
    return 0;
}
