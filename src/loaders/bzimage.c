/* bzimage.c - Linux bzImage loader (Documentation/arch/x86/boot.rst, boot
 * protocol 2.06 or later).  Skips the real-mode setup code and enters the
 * protected-mode kernel directly: through the 32-bit boot protocol (flat
 * protected mode, CS=0x10, DS=0x18, ESI=boot_params) or, for 64-bit kernels
 * on engines with long mode, the 64-bit one (identity-mapped long mode,
 * RSI=boot_params, RIP=load address+0x200).  Builds boot_params (the "zero
 * page") with the image's setup header, the e820 map, the command line and
 * the initrd, placed as high as the kernel allows.  The boot_params,
 * initrd and entry helpers (linux_*) are shared with vmlinux.c. */
#include <string.h>

#include "../core/util.h"
#include "boot_priv.h"

/* How far syssize may reach past the end of the file (rounding). */
#define BZ_SYSSIZE_ROUNDING 512u

bool bzimage_detect(const uint8_t *img, size_t len)
{
    if (!img || len < HDR_VERSION)
        return false;
    return rd16(img + HDR_BOOT_FLAG) == 0xaa55 ||
           !memcmp(img + HDR_MAGIC, "HdrS", 4);
}

/* What we learn from the image's setup header. */
struct bz_info {
    struct linux_params lp; /* header, limits, need_end */
    uint16_t version;
    size_t setup_len;       /* boot sector + setup code */
    const uint8_t *pm;      /* protected-mode kernel */
    size_t pm_len;
    uint64_t zero_len;      /* syssize rounded past the end of the file */
    uint64_t load, runtime; /* where it goes and where it will run */
    bool is64;
};

static int parse_header(const struct boot_request *req, struct bz_info *bz)
{
    const char *name = req->kernel_name;
    const uint8_t *img = req->kernel;
    size_t len = req->kernel_len;
    if (len < 0x264)
        return fail("%s: truncated: %zu bytes is too short for a Linux "
                    "bzImage setup header", name, len);
    if (rd16(img + HDR_BOOT_FLAG) != 0xaa55)
        return fail("%s: bad boot sector signature %#x (want 0xaa55)", name,
                    rd16(img + HDR_BOOT_FLAG));
    if (memcmp(img + HDR_MAGIC, "HdrS", 4))
        return fail("%s: no \"HdrS\" setup header: Linux boot protocol older "
                    "than 2.00; popek needs 2.06 or later", name);
    bz->version = rd16(img + HDR_VERSION);
    if (bz->version < 0x206)
        return fail("%s: Linux boot protocol %u.%02u is too old: popek needs "
                    "2.06 or later", name, bz->version >> 8,
                    bz->version & 0xff);
    if (!(img[HDR_LOADFLAGS] & LOADED_HIGH))
        return fail("%s: LOADED_HIGH is clear in loadflags (a zImage?): "
                    "popek loads only bzImage kernels", name);
    unsigned sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
    bz->setup_len = (size_t)(sects + 1) * 512;
    if (bz->setup_len >= len)
        return fail("%s: truncated: the setup code (%zu bytes) leaves no "
                    "protected-mode kernel in %zu bytes", name, bz->setup_len,
                    len);
    bz->pm = img + bz->setup_len;
    bz->pm_len = len - bz->setup_len;
    /* syssize counts 16-byte paragraphs, and build tools round it up (to
     * a paragraph or a sector) past the end of the file: Debian's
     * memtest86+ is 8 bytes short.  QEMU loads what the file has, so do
     * the same (and zero the rest); a shortfall of a whole sector or more
     * is a truncated file. */
    uint64_t syssize = (uint64_t)rd32(img + HDR_SYSSIZE) * 16;
    if (syssize >= (uint64_t)bz->pm_len + BZ_SYSSIZE_ROUNDING)
        return fail("%s: truncated: the protected-mode kernel has %zu bytes "
                    "but the header says %llu", name, bz->pm_len,
                    (unsigned long long)syssize);
    bz->zero_len = syssize > bz->pm_len ? syssize - bz->pm_len : 0;
    bz->lp.hdr = img;
    bz->lp.hdr_end = 0x202 + (size_t)img[HDR_JUMP + 1];
    if (bz->lp.hdr_end > LINUX_HDR_LIMIT)
        bz->lp.hdr_end = LINUX_HDR_LIMIT;
    bz->lp.initrd_max = rd32(img + HDR_INITRD_ADDR_MAX);
    bz->lp.cmdline_max = rd32(img + HDR_CMDLINE_SIZE);
    bz->is64 = bz->version >= 0x20c &&
               (rd16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64);
    return 0;
}

/* Choose the load address and the memory the kernel will use: it
 * decompresses to its runtime address (the load address rounded up to
 * kernel_alignment, at least pref_address) and needs init_size bytes there. */
static int place_kernel(struct machine *m, const struct boot_request *req,
                        struct bz_info *bz)
{
    const uint8_t *img = req->kernel;
    bool relocatable = img[HDR_RELOCATABLE] != 0;
    uint64_t pref = 0, init_size = 0, align = 0;
    if (bz->version >= 0x20a) {
        pref = rd64(img + HDR_PREF_ADDRESS);
        init_size = rd32(img + HDR_INIT_SIZE);
    }
    align = rd32(img + HDR_KERNEL_ALIGNMENT);
    bz->load = KERNEL_LOAD_ADDR;
    if (relocatable && pref >= KERNEL_LOAD_ADDR && !(pref & 0xfff))
        bz->load = pref;
    bz->runtime = bz->load;
    if (relocatable && align && !(align & (align - 1)))
        bz->runtime = align_up(bz->load, align);
    if (pref > bz->runtime)
        bz->runtime = pref;
    if (!init_size)
        init_size = (uint64_t)bz->pm_len * 4; /* before 2.10: a guess */
    bz->lp.code32_start = bz->load;
    bz->lp.need_end = bz->runtime + init_size;
    if (bz->load + bz->pm_len + bz->zero_len > bz->lp.need_end)
        bz->lp.need_end = bz->load + bz->pm_len + bz->zero_len;
    if (bz->lp.need_end > m->ram_size)
        return fail("%s: the kernel needs guest RAM up to %llu MiB (loaded "
                    "at %#llx, runs at %#llx, init_size %llu KiB) but there "
                    "are only %llu MiB (use --mem)", req->kernel_name,
                    (unsigned long long)((bz->lp.need_end + (1 << 20) - 1) >> 20),
                    (unsigned long long)bz->load,
                    (unsigned long long)bz->runtime,
                    (unsigned long long)(init_size >> 10),
                    (unsigned long long)(m->ram_size >> 20));
    return 0;
}

/* Put the initrd as high as allowed (below initrd_addr_max and RAM end),
 * page aligned, above everything the kernel uses. */
int linux_place_initrd(struct machine *m, const struct boot_request *req,
                       const struct linux_params *lp, uint64_t *at)
{
    const char *iname = req->initrd_name ? req->initrd_name : "initrd";
    if (initrd_check(req->initrd, req->initrd_len, iname) < 0)
        return -1;
    uint64_t limit = (uint64_t)lp->initrd_max + 1;
    if (limit > m->ram_size)
        limit = m->ram_size;
    uint64_t top = limit > req->initrd_len ? limit - req->initrd_len : 0;
    top &= ~(PAGE_SIZE_4K - 1);
    if (req->initrd_len > limit || top < lp->need_end)
        return fail("%s: initrd of %llu KiB does not fit in guest RAM between "
                    "the kernel (up to %#llx) and %#llx (%llu MiB of RAM; use "
                    "--mem)", iname,
                    (unsigned long long)((req->initrd_len + 1023) >> 10),
                    (unsigned long long)lp->need_end,
                    (unsigned long long)limit,
                    (unsigned long long)(m->ram_size >> 20));
    *at = top;
    return 0;
}

int linux_write_cmdline(struct machine *m, const struct boot_request *req,
                        const struct linux_params *lp)
{
    const char *cmd = req->cmdline ? req->cmdline : "";
    size_t n = strlen(cmd);
    uint64_t max = lp->cmdline_max;
    if (max > BOOT_CMDLINE_MAX - 1)
        max = BOOT_CMDLINE_MAX - 1;
    if (n > max)
        return fail("%s: command line is %zu bytes; this kernel accepts at "
                    "most %llu", req->kernel_name, n,
                    (unsigned long long)max);
    return boot_copy(m, req->kernel_name, BOOT_CMDLINE, cmd, n + 1);
}

void linux_write_boot_params(struct machine *m, const struct boot_request *req,
                             const struct linux_params *lp, uint64_t initrd_at)
{
    uint8_t *bp = gpa_to_hva(m, BOOT_ZERO_PAGE, BP_SIZE);
    memset(bp, 0, BP_SIZE);
    memcpy(bp + HDR_START, lp->hdr + HDR_START, lp->hdr_end - HDR_START);
    bp[HDR_TYPE_OF_LOADER] = 0xff;
    bp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
    wr16(bp + HDR_HEAP_END_PTR, 0xfe00 - 0x200);
    wr32(bp + HDR_CODE32_START, (uint32_t)lp->code32_start);
    wr32(bp + HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE);
    wr32(bp + HDR_RAMDISK_IMAGE, req->initrd ? (uint32_t)initrd_at : 0);
    wr32(bp + HDR_RAMDISK_SIZE, req->initrd ? (uint32_t)req->initrd_len : 0);
    if (lp->hdr_end >= HDR_SETUP_DATA + 8)
        wr64(bp + HDR_SETUP_DATA, 0);

    uint64_t ext_k = (m->ram_size - BIOS_HOLE_END) >> 10;
    wr16(bp + BP_EXT_MEM_K, (uint16_t)(ext_k > 0xfc00 ? 0xfc00 : ext_k));
    wr32(bp + BP_ALT_MEM_K, (uint32_t)ext_k);
    struct e820_entry e820[BOOT_E820_MAX];
    int n = boot_e820(m, e820, BOOT_E820_MAX);
    bp[BP_E820_ENTRIES] = (uint8_t)n;
    for (int i = 0; i < n && i < BP_E820_MAX; i++) {
        uint8_t *e = bp + BP_E820_TABLE + i * 20;
        wr64(e, e820[i].addr);
        wr64(e + 8, e820[i].size);
        wr32(e + 16, e820[i].type);
    }
}

/* The entry state of both Linux boot protocols. */
void linux_set_entry(struct machine *m, struct cpu_state *entry, bool is64,
                     uint64_t rip)
{
    memset(entry, 0, sizeof(*entry));
    if (is64)
        boot_long64(m, entry, BOOT_PAGE_TABLES, BOOT_GDT);
    else
        boot_flat32(m, entry, BOOT_GDT, 0x10, 0x18);
    entry->rip = rip;
    entry->gpr[R_ESI] = BOOT_ZERO_PAGE;
    boot_set_stack(entry);
}

int bzimage_load(struct machine *m, const struct boot_request *req,
                 struct cpu_state *entry)
{
    struct boot_request r = *req;
    if (!r.kernel_name)
        r.kernel_name = "kernel";
    if (!r.kernel || r.kernel_len == 0)
        return fail("%s: empty file", r.kernel_name);
    if (m->ram_size < BOOT_LOW_END + BP_SIZE)
        return fail("%s: guest RAM is too small", r.kernel_name);
    struct bz_info bz;
    memset(&bz, 0, sizeof(bz));
    if (parse_header(&r, &bz) < 0)
        return -1;
    if (bz.is64 && !r.long_mode_ok)
        return fail("%s is a 64-bit kernel: it needs an engine with long "
                    "mode (kvm)", r.kernel_name);
    if (place_kernel(m, &r, &bz) < 0)
        return -1;
    uint64_t initrd_at = 0;
    if (r.initrd && linux_place_initrd(m, &r, &bz.lp, &initrd_at) < 0)
        return -1;
    if (linux_write_cmdline(m, &r, &bz.lp) < 0)
        return -1;
    if (boot_copy(m, r.kernel_name, bz.load, bz.pm, bz.pm_len) < 0 ||
        boot_zero(m, r.kernel_name, bz.load + bz.pm_len, bz.zero_len) < 0)
        return -1;
    if (r.initrd &&
        boot_copy(m, r.kernel_name, initrd_at, r.initrd, r.initrd_len) < 0)
        return -1;
    linux_write_boot_params(m, &r, &bz.lp, initrd_at);
    linux_set_entry(m, entry, bz.is64, bz.is64 ? bz.load + 0x200 : bz.load);
    return 0;
}
