/* test_loaders.c - unit tests of the kernel loaders (src/loaders): builds
 * small multiboot ELF32/ELF64 and a.out-kludge kernels, fake bzImages and
 * initrds in memory, loads them into a hand-made machine (calloc'd RAM), and
 * checks guest memory, the multiboot info / boot_params, the e820 map and
 * the entry registers; then feeds corrupt and truncated images and checks
 * that the error names the file and the problem.  If scripts/fetch-linux.sh
 * has filled cache/linux, the real Debian kernels are loaded too. */
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "core/machine.h"
#include "core/util.h"
#include "loaders/loader.h"
#include "test.h"

#define MiB (1ull << 20)

/* ---- helpers ---- */

static struct machine *new_machine(uint64_t ram_size)
{
    struct machine *m = calloc(1, sizeof(*m));
    m->ram_size = ram_size;
    m->ram = malloc(ram_size);
    memset(m->ram, 0xaa, ram_size); /* so zeroing shows */
    return m;
}

static void free_machine(struct machine *m)
{
    free(m->ram);
    free(m);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static int has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* Load through load_kernel(); returns its result. */
static int load(struct machine *m, const uint8_t *k, size_t klen,
                const char *name, const uint8_t *initrd, size_t ilen,
                const char *iname, const char *cmdline, bool lm,
                struct cpu_state *s)
{
    struct boot_request r = {.kernel = k, .kernel_len = klen,
                             .kernel_name = name, .initrd = initrd,
                             .initrd_len = ilen, .initrd_name = iname,
                             .cmdline = cmdline, .long_mode_ok = lm};
    memset(s, 0, sizeof(*s));
    return load_kernel(m, &r, s);
}

/* The multiboot header: magic, flags, checksum (+ a.out kludge fields). */
static void put_mb_header(uint8_t *p, uint32_t flags)
{
    put32(p, 0x1badb002);
    put32(p + 4, flags);
    put32(p + 8, (uint32_t)(0u - 0x1badb002u - flags));
}

/* An ELF32 multiboot kernel: segment 0 (text, 0x100 bytes of pattern with
 * the multiboot header at its start) at paddr 0x100000, segment 1 (data
 * 0x80 bytes + 0x1000 bss) at 0x200000.  Returns the length. */
#define ELF_BUF 0x3000
static size_t make_elf32(uint8_t *b, uint32_t entry)
{
    memset(b, 0, ELF_BUF);
    memcpy(b, "\x7f" "ELF", 4);
    b[4] = 1; b[5] = 1; b[6] = 1;
    put16(b + 16, 2);   /* ET_EXEC */
    put16(b + 18, 3);   /* EM_386 */
    put32(b + 20, 1);
    put32(b + 24, entry);
    put32(b + 28, 52);  /* phoff */
    put16(b + 40, 52);
    put16(b + 42, 32);
    put16(b + 44, 3);   /* phnum: 2 loads + a PT_NOTE */
    uint8_t *ph = b + 52;
    put32(ph, 1); put32(ph + 4, 0x1000); put32(ph + 8, 0x100000);
    put32(ph + 12, 0x100000); put32(ph + 16, 0x100); put32(ph + 20, 0x100);
    ph += 32;
    put32(ph, 1); put32(ph + 4, 0x1100); put32(ph + 8, 0x200000);
    put32(ph + 12, 0x200000); put32(ph + 16, 0x80); put32(ph + 20, 0x1080);
    ph += 32;
    put32(ph, 4); put32(ph + 4, 0x1180); put32(ph + 16, 8); /* PT_NOTE */
    for (int i = 0; i < 0x180; i++)
        b[0x1000 + i] = (uint8_t)(i * 7 + 1);
    put_mb_header(b + 0x1000, 0x3); /* page align + mem info */
    return 0x1188;
}

/* An ELF64 multiboot kernel: one segment, vaddr 0xffffffff80100000,
 * paddr 0x100000, entry given as a virtual address. */
static size_t make_elf64(uint8_t *b)
{
    memset(b, 0, ELF_BUF);
    memcpy(b, "\x7f" "ELF", 4);
    b[4] = 2; b[5] = 1; b[6] = 1;
    put16(b + 16, 2);
    put16(b + 18, 62);  /* EM_X86_64 */
    put32(b + 20, 1);
    put64(b + 24, 0xffffffff80100010ull);
    put64(b + 32, 64);  /* phoff */
    put16(b + 52, 64);
    put16(b + 54, 56);
    put16(b + 56, 1);
    uint8_t *ph = b + 64;
    put32(ph, 1);
    put64(ph + 8, 0x1000);
    put64(ph + 16, 0xffffffff80100000ull);
    put64(ph + 24, 0x100000);
    put64(ph + 32, 0x200);
    put64(ph + 40, 0x2000);
    for (int i = 0; i < 0x200; i++)
        b[0x1000 + i] = (uint8_t)(i ^ 0x5a);
    put_mb_header(b + 0x1000, 0);
    return 0x1200;
}

/* A flat a.out-kludge image: header at file offset 0x40, loaded at
 * 0x300000 (file offset 0), 0x400 bytes + 0x800 bss, entry 0x300080. */
static size_t make_aout(uint8_t *b)
{
    memset(b, 0, 0x400);
    for (int i = 0; i < 0x400; i++)
        b[i] = (uint8_t)(i * 3 + 5);
    uint8_t *h = b + 0x40;
    put_mb_header(h, 1u << 16);
    put32(h + 12, 0x300040);       /* header_addr */
    put32(h + 16, 0x300000);       /* load_addr */
    put32(h + 20, 0x300400);       /* load_end_addr */
    put32(h + 24, 0x300c00);       /* bss_end_addr */
    put32(h + 28, 0x300080);       /* entry */
    return 0x400;
}

/* A cpio newc entry; returns bytes written. */
static size_t cpio_entry(uint8_t *p, const char *name, uint32_t mode,
                         const void *data, uint32_t size)
{
    uint32_t namesize = (uint32_t)strlen(name) + 1;
    char hdr[111];
    snprintf(hdr, sizeof(hdr),
             "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
             1u, mode, 0u, 0u, 1u, 0u, size, 0u, 0u, 0u, 0u, namesize, 0u);
    size_t off = 0;
    memcpy(p, hdr, 110);
    off = 110;
    memcpy(p + off, name, namesize);
    off += namesize;
    while (off % 4)
        p[off++] = 0;
    memcpy(p + off, data, size);
    off += size;
    while (off % 4)
        p[off++] = 0;
    return off;
}

static size_t make_cpio(uint8_t *p)
{
    static const char init[] = "#!/bin/sh\necho hello\n";
    size_t n = cpio_entry(p, "init", 0100755, init, sizeof(init) - 1);
    n += cpio_entry(p + n, "bin", 040755, "", 0);
    n += cpio_entry(p + n, "TRAILER!!!", 0, "", 0);
    return n;
}

static size_t gzip_buf(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return n;
}

/* A fake bzImage: 4 setup sectors + 1 boot sector, then pm_len bytes of
 * "kernel" pattern. */
struct bz_opts {
    uint16_t version;
    uint8_t loadflags, relocatable;
    uint16_t xloadflags;
    uint32_t init_size, initrd_max, cmdline_size, align;
    uint64_t pref;
};
#define BZ_SETUP (5 * 512)
static uint8_t *make_bzimage(const struct bz_opts *o, size_t pm_len,
                             size_t *len)
{
    *len = BZ_SETUP + pm_len;
    uint8_t *b = calloc(1, *len);
    b[0x1f1] = 4;
    put32(b + 0x1f4, (uint32_t)(pm_len / 16));
    put16(b + 0x1fe, 0xaa55);
    b[0x200] = 0xeb;
    b[0x201] = 0x6a; /* header ends at 0x26c */
    memcpy(b + 0x202, "HdrS", 4);
    put16(b + 0x206, o->version);
    b[0x211] = o->loadflags;
    put32(b + 0x214, 0x100000);
    put32(b + 0x22c, o->initrd_max);
    put32(b + 0x230, o->align);
    b[0x234] = o->relocatable;
    put16(b + 0x236, o->xloadflags);
    put32(b + 0x238, o->cmdline_size);
    put64(b + 0x258, o->pref);
    put32(b + 0x260, o->init_size);
    for (size_t i = 0; i < pm_len; i++)
        b[BZ_SETUP + i] = (uint8_t)(i * 13 + 3);
    return b;
}

static const struct bz_opts bz_default = {
    .version = 0x20f, .loadflags = 0x01, .relocatable = 1,
    .xloadflags = 0, .init_size = 0x400000, .initrd_max = 0x7fffffff,
    .cmdline_size = 2047, .align = 0x200000, .pref = 0x1000000,
};

/* Check a GDT descriptor is a flat present ring-0 segment (code or data). */
static int gdt_flat(struct machine *m, const struct cpu_state *s, uint16_t sel,
                    bool code, bool long64)
{
    if (sel + 7u > s->gdt.limit)
        return 0;
    uint64_t d = get64(m->ram + s->gdt.base + sel);
    uint32_t limit = (uint32_t)(d & 0xffff) | (uint32_t)((d >> 48) & 0xf) << 16;
    uint32_t base = (uint32_t)((d >> 16) & 0xffffff) | (uint32_t)(d >> 56) << 24;
    uint8_t access = (uint8_t)(d >> 40), flags = (uint8_t)((d >> 52) & 0xf);
    if (limit != 0xfffff || base != 0 || !(access & 0x80) || (access & 0x60))
        return 0;
    if (code != !!(access & 0x08))
        return 0;
    if (long64)
        return flags == 0xa;
    return flags == 0xc;
}

/* ---- tests ---- */

static void test_e820(void)
{
    struct machine *m = new_machine(4 * MiB);
    m->ram_size = 128 * MiB; /* boot_e820 only looks at the size */
    struct e820_entry e[8];
    int n = boot_e820(m, e, 8);
    CHECK(n == 4);
    CHECK(e[0].addr == 0 && e[0].size == 0x9fc00 && e[0].type == 1);
    CHECK(e[1].addr == 0x9fc00 && e[1].size == 0x400 && e[1].type == 2);
    CHECK(e[2].addr == 0xe0000 && e[2].size == 0x20000 && e[2].type == 2);
    CHECK(e[3].addr == 0x100000 && e[3].size == 127 * MiB && e[3].type == 1);
    CHECK(boot_e820(m, e, 2) == 2);
    m->ram_size = 4 * MiB;
    free_machine(m);
}

static void test_mb_elf32(void)
{
    struct machine *m = new_machine(16 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x100010);
    const uint8_t mod[] = "module-bytes-0123456789";
    struct cpu_state s;
    int rc = load(m, k, klen, "k32.elf", mod, sizeof(mod), "mod.bin",
                  "console=ttyS0 x=1", false, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (rc)
        goto out;
    /* segments: copied, bss zeroed */
    CHECK(!memcmp(m->ram + 0x100000, k + 0x1000, 0x100));
    CHECK(!memcmp(m->ram + 0x200000, k + 0x1100, 0x80));
    bool bss_zero = true;
    for (int i = 0x80; i < 0x1080; i++)
        bss_zero &= m->ram[0x200000 + i] == 0;
    CHECK(bss_zero);
    CHECK(m->ram[0x201080] == 0xaa); /* nothing past memsz */
    /* entry state */
    CHECK(s.rip == 0x100010);
    CHECK(s.gpr[R_EAX] == 0x2badb002);
    CHECK((s.cr0 & CR0_PE) && !(s.cr0 & CR0_PG));
    CHECK(!(s.rflags & FLAG_IF) && (s.rflags & 2));
    CHECK(s.efer == 0 && s.cr4 == 0);
    /* QEMU's multiboot selectors: CS 0x08, data 0x10 */
    CHECK(s.seg[SEG_CS].sel == 0x08 && s.seg[SEG_CS].db && s.seg[SEG_CS].limit == 0xffffffff);
    CHECK(s.seg[SEG_DS].sel == 0x10 && s.seg[SEG_SS].sel == 0x10 &&
          s.seg[SEG_ES].sel == 0x10 && s.seg[SEG_FS].sel == 0x10 &&
          s.seg[SEG_GS].sel == 0x10);
    CHECK(s.gdt.base < 0x10000 && s.gdt.base > 0);
    CHECK(gdt_flat(m, &s, 0x08, true, false));
    CHECK(gdt_flat(m, &s, 0x10, false, false));
    /* multiboot info after the kernel */
    uint32_t info = (uint32_t)s.gpr[R_EBX];
    CHECK(info >= 0x201080 && info % 4096 == 0 && info + 120 < m->ram_size);
    const uint8_t *mi = m->ram + info;
    uint32_t flags = get32(mi);
    CHECK((flags & 0x1) && (flags & 0x4) && (flags & 0x8) && (flags & 0x40) &&
          (flags & 0x200));
    CHECK(get32(mi + 4) == 639);
    CHECK(get32(mi + 8) == (16 * MiB - MiB) / 1024);
    /* "FILE ARGS", as GRUB and QEMU pass it */
    CHECK(!strcmp((char *)m->ram + get32(mi + 16), "k32.elf console=ttyS0 x=1"));
    CHECK(!strcmp((char *)m->ram + get32(mi + 64), "popek"));
    CHECK(get32(mi + 20) == 1);
    const uint8_t *mods = m->ram + get32(mi + 24);
    uint32_t ms = get32(mods), me = get32(mods + 4);
    CHECK(ms % 4096 == 0 && ms > info && me - ms == sizeof(mod));
    CHECK(!memcmp(m->ram + ms, mod, sizeof(mod)));
    CHECK(!strcmp((char *)m->ram + get32(mods + 8), "mod.bin"));
    /* mmap = boot_e820 in multiboot form */
    struct e820_entry e[8];
    int n = boot_e820(m, e, 8);
    CHECK(get32(mi + 44) == (uint32_t)n * 24);
    const uint8_t *mm = m->ram + get32(mi + 48);
    for (int i = 0; i < n; i++, mm += 24) {
        CHECK(get32(mm) == 20);
        CHECK(get64(mm + 4) == e[i].addr && get64(mm + 12) == e[i].size &&
              get32(mm + 20) == e[i].type);
    }
out:
    free_machine(m);
}

static void test_mb_elf32_no_cmdline_no_module(void)
{
    struct machine *m = new_machine(8 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x100000);
    struct cpu_state s;
    int rc = load(m, k, klen, "k32.elf", NULL, 0, NULL, NULL, false, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (!rc) {
        const uint8_t *mi = m->ram + s.gpr[R_EBX];
        /* no arguments: the file name and a space, as QEMU does */
        CHECK(!strcmp((char *)m->ram + get32(mi + 16), "k32.elf "));
        CHECK(get32(mi + 20) == 0);         /* no modules */
        CHECK(get32(mi + 8) == 7 * 1024);
    }
    free_machine(m);
}

static void test_mb_elf64_long_mode(void)
{
    struct machine *m = new_machine(8 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf64(k);
    struct cpu_state s;
    int rc = load(m, k, klen, "k64.elf", NULL, 0, NULL, "a b", true, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (rc)
        goto out;
    CHECK(!memcmp(m->ram + 0x100000, k + 0x1000, 0x200));
    CHECK(m->ram[0x100200] == 0 && m->ram[0x101fff] == 0);
    CHECK(s.rip == 0x100010); /* virtual entry mapped to physical */
    CHECK(s.gpr[R_EAX] == 0x2badb002 && s.gpr[R_EDI] == 0x2badb002);
    CHECK(s.gpr[R_EBX] == s.gpr[R_ESI] && s.gpr[R_EBX] >= 0x102000);
    CHECK((s.cr0 & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG));
    CHECK(s.cr4 & CR4_PAE);
    CHECK((s.efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA));
    CHECK(s.seg[SEG_CS].l == 1 && s.seg[SEG_CS].db == 0);
    CHECK(gdt_flat(m, &s, s.seg[SEG_CS].sel, true, true));
    CHECK(gdt_flat(m, &s, s.seg[SEG_DS].sel, false, false));
    /* walk the page tables for a few addresses up to 4 GiB */
    uint64_t probes[] = {0, 0x100000, 0x40000000ull * 3 + 0x200000 * 5 + 0x1234,
                         0xffffffffull};
    for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
        uint64_t va = probes[i];
        uint64_t pml4e = get64(m->ram + (s.cr3 & ~0xfffull) + ((va >> 39) & 511) * 8);
        CHECK(pml4e & 1);
        uint64_t pdpte = get64(m->ram + (pml4e & 0xffffff000ull) + ((va >> 30) & 511) * 8);
        CHECK(pdpte & 1);
        uint64_t pde = get64(m->ram + (pdpte & 0xffffff000ull) + ((va >> 21) & 511) * 8);
        CHECK((pde & 0x81) == 0x81);
        CHECKF(((pde & ~0x1fffffull & 0xfffffffffull) | (va & 0x1fffff)) == va,
               "va %#llx not identity mapped", (unsigned long long)va);
    }
out:
    free_machine(m);
}

static void test_mb_elf64_needs_long_mode(void)
{
    struct machine *m = new_machine(8 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf64(k);
    struct cpu_state s;
    CHECK(load(m, k, klen, "k64.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "k64.elf is a 64-bit kernel") &&
           has(popek_error(), "long mode"), "%s", popek_error());
    free_machine(m);
}

static void test_mb_aout_kludge(void)
{
    struct machine *m = new_machine(8 * MiB);
    uint8_t k[0x400];
    size_t klen = make_aout(k);
    struct cpu_state s;
    int rc = load(m, k, klen, "flat.bin", NULL, 0, NULL, "", false, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (!rc) {
        CHECK(!memcmp(m->ram + 0x300000, k, 0x400));
        CHECK(m->ram[0x300400] == 0 && m->ram[0x300bff] == 0);
        CHECK(s.rip == 0x300080 && s.gpr[R_EAX] == 0x2badb002);
        CHECK(s.gpr[R_EBX] >= 0x300c00);
        CHECK((s.cr0 & CR0_PE) && !(s.cr0 & CR0_PG));
    }
    /* header_addr that does not match the file */
    put32(k + 0x40 + 12, 0x300400);
    CHECK(load(m, k, klen, "flat.bin", NULL, 0, NULL, "", false, &s) < 0);
    CHECKF(has(popek_error(), "flat.bin: ") && has(popek_error(), "header_addr"),
           "%s", popek_error());
    /* entry outside the image */
    make_aout(k);
    put32(k + 0x40 + 28, 0x400000);
    CHECK(load(m, k, klen, "flat.bin", NULL, 0, NULL, "", false, &s) < 0);
    CHECKF(has(popek_error(), "flat.bin: entry point"), "%s", popek_error());
    /* load_end past EOF */
    make_aout(k);
    put32(k + 0x40 + 20, 0x300800);
    CHECK(load(m, k, klen, "flat.bin", NULL, 0, NULL, "", false, &s) < 0);
    CHECKF(has(popek_error(), "flat.bin: truncated"), "%s", popek_error());
    free_machine(m);
}

static void test_mb_bad_checksum(void)
{
    struct machine *m = new_machine(8 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x100000);
    put32(k + 0x1008, get32(k + 0x1008) + 1);
    struct cpu_state s;
    CHECK(load(m, k, klen, "bad.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "bad.elf: ") &&
           has(popek_error(), "bad checksum"), "%s", popek_error());
    free_machine(m);
}

static void test_mb_unsupported_flags(void)
{
    struct machine *m = new_machine(8 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x100000);
    put_mb_header(k + 0x1000, 0x3 | (1u << 5));
    struct cpu_state s;
    CHECK(load(m, k, klen, "f.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "f.elf: ") && has(popek_error(), "unsupported"),
           "%s", popek_error());
    free_machine(m);
}

static void test_mb_truncated_phdrs(void)
{
    struct machine *m = new_machine(8 * MiB);
    uint8_t k[ELF_BUF];
    make_elf32(k, 0x100000);
    put32(k + 28, 0x1170); /* program headers run past the end */
    struct cpu_state s;
    CHECK(load(m, k, 0x1188, "t.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "t.elf: truncated") &&
           has(popek_error(), "program headers"), "%s", popek_error());
    free_machine(m);
}

static void test_mb_segment_past_eof(void)
{
    struct machine *m = new_machine(8 * MiB);
    uint8_t k[ELF_BUF];
    make_elf32(k, 0x100000);
    put32(k + 52 + 32 + 16, 0x800); /* data filesz runs past EOF */
    put32(k + 52 + 32 + 20, 0x1080);
    struct cpu_state s;
    CHECK(load(m, k, 0x1188, "eof.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "eof.elf: truncated: segment 1") &&
           has(popek_error(), "past the end of the file"), "%s", popek_error());
    /* a pure-bss segment reads nothing from the file: its offset is moot */
    put32(k + 52 + 32 + 4, 0x999999);
    put32(k + 52 + 32 + 16, 0);
    CHECKF(load(m, k, 0x1188, "eof.elf", NULL, 0, NULL, NULL, false, &s) == 0,
           "%s", popek_error());
    CHECK(m->ram[0x200000] == 0 && m->ram[0x20107f] == 0);
    free_machine(m);
}

static void test_mb_segment_outside_ram(void)
{
    struct machine *m = new_machine(4 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x100000);
    put32(k + 52 + 32 + 12, 0x3ff000); /* data+bss ends past 4 MiB */
    struct cpu_state s;
    CHECK(load(m, k, klen, "big.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "big.elf: segment 1") &&
           has(popek_error(), "outside guest RAM"), "%s", popek_error());
    /* a huge paddr must not wrap around */
    put32(k + 52 + 32 + 12, 0xfffff000);
    CHECK(load(m, k, klen, "big.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "outside guest RAM"), "%s", popek_error());
    free_machine(m);
}

static void test_mb_segment_in_low_area(void)
{
    struct machine *m = new_machine(4 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x410);
    put32(k + 52 + 12, 0x400); /* the BIOS data area */
    put32(k + 52 + 8, 0x400);
    struct cpu_state s;
    CHECK(load(m, k, klen, "low.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "low.elf: segment 0") &&
           has(popek_error(), "boot structures"), "%s", popek_error());
    put32(k + 52 + 12, 0xa0000); /* VGA hole */
    put32(k + 52 + 8, 0xa0000);
    CHECK(load(m, k, klen, "low.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "BIOS/VGA hole"), "%s", popek_error());
    free_machine(m);
}

/* A multiboot kernel below 0x10000 (kvm-unit-tests' realmode test loads
 * at 0x4000): loaded there, with popek's GDT and stack moved out of its
 * way, after the boot information. */
static void test_mb_low_load_moves_boot_structures(void)
{
    struct machine *m = new_machine(4 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x4010);
    put32(k + 52 + 12, 0x4000); /* segment 0 at 0x4000 */
    put32(k + 52 + 8, 0x4000);
    put32(k + 52 + 32 + 12, 0x5000); /* segment 1 at 0x5000 (+bss) */
    put32(k + 52 + 32 + 8, 0x5000);
    struct cpu_state s;
    int rc = load(m, k, klen, "low.elf", NULL, 0, NULL, "a=1", false, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (rc)
        goto out;
    CHECK(!memcmp(m->ram + 0x4000, k + 0x1000, 0x100));
    CHECK(!memcmp(m->ram + 0x5000, k + 0x1100, 0x80));
    CHECK(m->ram[0x5080] == 0 && m->ram[0x607f] == 0); /* bss */
    CHECK(s.rip == 0x4010);
    uint32_t info = (uint32_t)s.gpr[R_EBX];
    CHECK(info >= 0x6080 && info % 4096 == 0);
    CHECK(!strcmp((char *)m->ram + get32(m->ram + info + 16), "low.elf a=1"));
    /* GDT and stack: clear of the kernel [0x4000, 0x6080) */
    CHECK(s.gdt.base >= 0x6080 && s.gdt.base > info);
    CHECK(gdt_flat(m, &s, 0x08, true, false));
    CHECK(gdt_flat(m, &s, 0x10, false, false));
    CHECK(s.gpr[R_ESP] > s.gdt.base + 0x1000 && s.gpr[R_ESP] <= m->ram_size);
    CHECK(s.seg[SEG_CS].sel == 0x08 && s.seg[SEG_SS].sel == 0x10);
out:
    free_machine(m);
}

/* A tiny kernel just above the BIOS data area: its boot information lands
 * in the usual low area, so the GDT and stack go after that instead. */
static void test_mb_tiny_low_kernel(void)
{
    struct machine *m = new_machine(4 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x610);
    put32(k + 52 + 12, 0x600);
    put32(k + 52 + 8, 0x600);
    put32(k + 52 + 32 + 12, 0x700); /* data at 0x700 */
    put32(k + 52 + 32 + 8, 0x700);
    put32(k + 52 + 32 + 20, 0x80);  /* no bss: the kernel ends at 0x780 */
    struct cpu_state s;
    int rc = load(m, k, klen, "tiny.elf", NULL, 0, NULL, NULL, false, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (!rc) {
        uint32_t info = (uint32_t)s.gpr[R_EBX];
        CHECK(info == 0x1000);
        CHECK(s.gdt.base > info); /* not on top of the boot information */
        CHECK(!strcmp((char *)m->ram + get32(m->ram + info + 16), "tiny.elf "));
        CHECK(gdt_flat(m, &s, 0x08, true, false));
    }
    free_machine(m);
}

/* A kernel that ends just below the EBDA: the boot information goes above
 * the BIOS hole rather than into it. */
static void test_mb_info_skips_bios_hole(void)
{
    struct machine *m = new_machine(4 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x9e010);
    put32(k + 52 + 12, 0x9e000);
    put32(k + 52 + 8, 0x9e000);
    put32(k + 52 + 32 + 12, 0x9e100); /* bss to 0x9f180 */
    put32(k + 52 + 32 + 8, 0x9e100);
    struct cpu_state s;
    int rc = load(m, k, klen, "edge.elf", NULL, 0, NULL, NULL, false, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (!rc) {
        CHECK(s.gpr[R_EBX] == 0x100000);
        CHECK(s.gdt.base == 0x1000); /* the low area stayed free */
    }
    free_machine(m);
}

static void test_mb_info_does_not_fit(void)
{
    struct machine *m = new_machine(4 * MiB);
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x100000);
    size_t mlen = 2 * MiB;
    uint8_t *mod = calloc(1, mlen);
    struct cpu_state s;
    CHECK(load(m, k, klen, "k.elf", mod, mlen, "big.mod", NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "k.elf: ") && has(popek_error(), "do not fit"),
           "%s", popek_error());
    free(mod);
    free_machine(m);
}

static void test_not_a_kernel(void)
{
    struct machine *m = new_machine(4 * MiB);
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 31 + 7);
    struct cpu_state s;
    CHECK(load(m, junk, sizeof(junk), "junk.bin", NULL, 0, NULL, NULL, false,
               &s) < 0);
    CHECKF(!strcmp(popek_error(),
                   "junk.bin: not a multiboot kernel or a Linux bzImage"),
           "%s", popek_error());
    CHECK(load(m, junk, 0, "empty.bin", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "empty.bin: empty file"), "%s", popek_error());
    /* a multiboot-less ELF is not a kernel either */
    uint8_t k[ELF_BUF];
    size_t klen = make_elf32(k, 0x100000);
    put32(k + 0x1000, 0);
    CHECK(load(m, k, klen, "plain.elf", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "plain.elf: not a multiboot"), "%s",
           popek_error());
    free_machine(m);
}

static void test_bz_32bit_entry(void)
{
    struct machine *m = new_machine(64 * MiB);
    size_t klen;
    uint8_t *k = make_bzimage(&bz_default, 0x3000, &klen);
    uint8_t cpio[1024], gz[1024];
    size_t clen = make_cpio(cpio);
    size_t glen = gzip_buf(cpio, clen, gz, sizeof(gz));
    struct cpu_state s;
    int rc = load(m, k, klen, "bzImage", gz, glen, "initrd.img",
                  "console=ttyS0 reboot=k", false, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (rc)
        goto out;
    /* relocatable: loaded at pref_address */
    CHECK(!memcmp(m->ram + 0x1000000, k + BZ_SETUP, 0x3000));
    CHECK(s.rip == 0x1000000);
    CHECK(s.seg[SEG_CS].sel == 0x10);
    CHECK(s.seg[SEG_DS].sel == 0x18 && s.seg[SEG_ES].sel == 0x18 &&
          s.seg[SEG_SS].sel == 0x18);
    CHECK(gdt_flat(m, &s, 0x10, true, false) && gdt_flat(m, &s, 0x18, false, false));
    CHECK(s.gpr[R_EBP] == 0 && s.gpr[R_EDI] == 0 && s.gpr[R_EBX] == 0);
    CHECK(!(s.rflags & FLAG_IF) && (s.cr0 & CR0_PE) && !(s.cr0 & CR0_PG));
    uint64_t bpa = s.gpr[R_ESI];
    CHECK(bpa > 0 && bpa + 4096 <= 0x10000);
    const uint8_t *bp = m->ram + bpa;
    CHECK(!memcmp(bp + 0x202, "HdrS", 4));             /* header copied */
    CHECK(get32(bp + 0x230) == 0x200000);              /* kernel_alignment */
    CHECK(get32(bp + 0x260) == 0x400000);              /* init_size */
    CHECK(bp[0x210] == 0xff);                          /* type_of_loader */
    CHECK(bp[0x211] & 0x01);                           /* LOADED_HIGH kept */
    CHECK(get32(bp + 0x214) == 0x1000000);             /* code32_start */
    CHECK(bp[0x1ef] == 0);                             /* sentinel */
    CHECK(!strcmp((char *)m->ram + get32(bp + 0x228), "console=ttyS0 reboot=k"));
    uint32_t ri = get32(bp + 0x218), rs = get32(bp + 0x21c);
    CHECK(rs == glen && ri % 4096 == 0);
    CHECK(ri + rs <= 64 * MiB && ri + rs > 64 * MiB - 4096); /* as high as possible */
    CHECK(!memcmp(m->ram + ri, gz, glen));
    CHECK(get32(bp + 0x1e0) == 63 * 1024);             /* alt_mem_k */
    CHECK(get16(bp + 0x002) == 63 * 1024);             /* ext_mem_k */
    struct e820_entry e[8];
    int n = boot_e820(m, e, 8);
    CHECK(bp[0x1e8] == n);
    for (int i = 0; i < n; i++) {
        const uint8_t *t = bp + 0x2d0 + i * 20;
        CHECK(get64(t) == e[i].addr && get64(t + 8) == e[i].size &&
              get32(t + 16) == e[i].type);
    }
out:
    free(k);
    free_machine(m);
}

static void test_bz_nonrelocatable_and_initrd_max(void)
{
    struct machine *m = new_machine(64 * MiB);
    struct bz_opts o = bz_default;
    o.relocatable = 0;
    o.pref = 0x100000;
    o.initrd_max = 0x1ffffff; /* 32 MiB - 1 */
    size_t klen;
    uint8_t *k = make_bzimage(&o, 0x2000, &klen);
    uint8_t cpio[1024];
    size_t clen = make_cpio(cpio);
    struct cpu_state s;
    int rc = load(m, k, klen, "bz", cpio, clen, "plain.cpio", NULL, false, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (!rc) {
        const uint8_t *bp = m->ram + s.gpr[R_ESI];
        CHECK(s.rip == 0x100000);
        CHECK(!memcmp(m->ram + 0x100000, k + BZ_SETUP, 0x2000));
        uint32_t ri = get32(bp + 0x218), rs = get32(bp + 0x21c);
        CHECK(ri + rs <= 0x2000000 && ri + rs > 0x2000000 - 4096);
        CHECK(m->ram[get32(bp + 0x228)] == 0); /* empty command line */
    }
    free(k);
    free_machine(m);
}

static void test_bz_64bit_entry(void)
{
    struct machine *m = new_machine(64 * MiB);
    struct bz_opts o = bz_default;
    o.xloadflags = 0x3; /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
    size_t klen;
    uint8_t *k = make_bzimage(&o, 0x1000, &klen);
    struct cpu_state s;
    int rc = load(m, k, klen, "bz64", NULL, 0, NULL, "x", true, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (!rc) {
        CHECK(s.rip == 0x1000000 + 0x200);
        CHECK(s.gpr[R_ESI] > 0 && !memcmp(m->ram + s.gpr[R_ESI] + 0x202, "HdrS", 4));
        CHECK((s.efer & EFER_LMA) && (s.cr0 & CR0_PG) && (s.cr4 & CR4_PAE));
        CHECK(s.seg[SEG_CS].sel == 0x10 && s.seg[SEG_CS].l);
        CHECK(s.seg[SEG_DS].sel == 0x18);
        CHECK(gdt_flat(m, &s, 0x10, true, true) && gdt_flat(m, &s, 0x18, false, false));
        CHECK(!(s.rflags & FLAG_IF));
    }
    CHECK(load(m, k, klen, "bz64", NULL, 0, NULL, "x", false, &s) < 0);
    CHECKF(has(popek_error(), "bz64 is a 64-bit kernel"), "%s", popek_error());
    free(k);
    free_machine(m);
}

static void test_bz_old_protocol(void)
{
    struct machine *m = new_machine(64 * MiB);
    struct bz_opts o = bz_default;
    o.version = 0x204;
    size_t klen;
    uint8_t *k = make_bzimage(&o, 0x1000, &klen);
    struct cpu_state s;
    CHECK(load(m, k, klen, "old.bz", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "old.bz: ") && has(popek_error(), "2.04") &&
           has(popek_error(), "2.06"), "%s", popek_error());
    free(k);
    free_machine(m);
}

static void test_bz_not_loaded_high(void)
{
    struct machine *m = new_machine(64 * MiB);
    struct bz_opts o = bz_default;
    o.loadflags = 0;
    size_t klen;
    uint8_t *k = make_bzimage(&o, 0x1000, &klen);
    struct cpu_state s;
    CHECK(load(m, k, klen, "zImage", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "zImage: ") && has(popek_error(), "LOADED_HIGH"),
           "%s", popek_error());
    free(k);
    free_machine(m);
}

static void test_bz_bad_boot_flag_and_truncation(void)
{
    struct machine *m = new_machine(64 * MiB);
    size_t klen;
    uint8_t *k = make_bzimage(&bz_default, 0x1000, &klen);
    struct cpu_state s;
    /* the protected-mode part a sector shorter than syssize says */
    CHECK(load(m, k, klen - 512, "cut.bz", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "cut.bz: truncated"), "%s", popek_error());
    /* cut inside the setup code */
    CHECK(load(m, k, 0x600, "cut.bz", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "cut.bz: truncated"), "%s", popek_error());
    put16(k + 0x1fe, 0x1234);
    CHECK(load(m, k, klen, "flag.bz", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "flag.bz: bad boot sector signature"), "%s",
           popek_error());
    free(k);
    free_machine(m);
}

/* syssize rounded up past the end of the file (Debian's memtest86+ is 8
 * bytes short): loaded as QEMU does, the missing tail zeroed. */
static void test_bz_syssize_rounded_past_eof(void)
{
    struct machine *m = new_machine(64 * MiB);
    size_t klen;
    uint8_t *k = make_bzimage(&bz_default, 0x1000, &klen);
    struct cpu_state s;
    int rc = load(m, k, klen - 8, "memtest.bin", NULL, 0, NULL, NULL, false,
                  &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (!rc) {
        CHECK(!memcmp(m->ram + 0x1000000, k + BZ_SETUP, 0x1000 - 8));
        bool zero = true;
        for (int i = 0x1000 - 8; i < 0x1000; i++)
            zero &= m->ram[0x1000000 + i] == 0;
        CHECK(zero);
        CHECK(s.rip == 0x1000000);
    }
    rc = load(m, k, klen - 511, "memtest.bin", NULL, 0, NULL, NULL, false,
              &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    free(k);
    free_machine(m);
}

static void test_bz_initrd_too_big(void)
{
    struct machine *m = new_machine(32 * MiB);
    size_t klen;
    uint8_t *k = make_bzimage(&bz_default, 0x1000, &klen);
    /* a valid cpio archive of 14 MiB: more than is left above the kernel
     * (16 MiB + 4 MiB init_size) */
    size_t ilen = 14 * MiB;
    uint8_t *ird = calloc(1, ilen), *zeros = calloc(1, ilen);
    size_t n = cpio_entry(ird, "big", 0100644, zeros, (uint32_t)(ilen - 4096));
    cpio_entry(ird + n, "TRAILER!!!", 0, "", 0);
    free(zeros);
    struct cpu_state s;
    CHECK(load(m, k, klen, "bz", ird, ilen, "huge.img", NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "huge.img: initrd of") &&
           has(popek_error(), "does not fit"), "%s", popek_error());
    free(ird);
    free(k);
    free_machine(m);
}

static void test_bz_kernel_too_big(void)
{
    struct machine *m = new_machine(16 * MiB);
    size_t klen;
    uint8_t *k = make_bzimage(&bz_default, 0x1000, &klen); /* needs 20 MiB */
    struct cpu_state s;
    CHECK(load(m, k, klen, "bz", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "bz: the kernel needs guest RAM") &&
           has(popek_error(), "--mem"), "%s", popek_error());
    free(k);
    free_machine(m);
}

static void test_bz_cmdline_too_long(void)
{
    struct machine *m = new_machine(64 * MiB);
    struct bz_opts o = bz_default;
    o.cmdline_size = 16;
    size_t klen;
    uint8_t *k = make_bzimage(&o, 0x1000, &klen);
    struct cpu_state s;
    CHECK(load(m, k, klen, "bz", NULL, 0, NULL, "0123456789abcdef", false, &s) == 0);
    CHECK(load(m, k, klen, "bz", NULL, 0, NULL, "0123456789abcdefg", false, &s) < 0);
    CHECKF(has(popek_error(), "bz: command line is 17 bytes") &&
           has(popek_error(), "at most 16"), "%s", popek_error());
    free(k);
    free_machine(m);
}

static void test_bz_truncated_gzip_initrd(void)
{
    struct machine *m = new_machine(64 * MiB);
    size_t klen;
    uint8_t *k = make_bzimage(&bz_default, 0x1000, &klen);
    uint8_t cpio[1024], gz[1024];
    size_t glen = gzip_buf(cpio, make_cpio(cpio), gz, sizeof(gz));
    struct cpu_state s;
    CHECK(load(m, k, klen, "bz", gz, glen - 4, "initrd.img", NULL, false, &s) < 0);
    CHECKF(!strcmp(popek_error(), "initrd.img: truncated: gzip stream at "
                                  "offset 0 ends before its trailer"),
           "%s", popek_error());
    gz[glen - 1] ^= 0x40; /* wrong length in the trailer */
    CHECK(load(m, k, klen, "bz", gz, glen, "initrd.img", NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "initrd.img: corrupt gzip"), "%s", popek_error());
    free(k);
    free_machine(m);
}

/* initrd_check is private; exercise it through bzImage loads. */
static int load_initrd(struct machine *m, const uint8_t *k, size_t klen,
                       const uint8_t *ird, size_t ilen)
{
    struct cpu_state s;
    return load(m, k, klen, "bz", ird, ilen, "rd", NULL, false, &s);
}

static void test_initrd_formats(void)
{
    struct machine *m = new_machine(64 * MiB);
    size_t klen;
    uint8_t *k = make_bzimage(&bz_default, 0x1000, &klen);
    uint8_t cpio[1024], buf[4096];
    size_t clen = make_cpio(cpio);
    /* plain cpio, and cpio + zero padding + gzip'd cpio (concatenated) */
    CHECKF(load_initrd(m, k, klen, cpio, clen) == 0, "%s", popek_error());
    memcpy(buf, cpio, clen);
    memset(buf + clen, 0, 512);
    size_t glen = gzip_buf(cpio, clen, buf + clen + 512, sizeof(buf) - clen - 512);
    CHECKF(load_initrd(m, k, klen, buf, clen + 512 + glen) == 0, "%s",
           popek_error());
    /* cpio without its trailer */
    CHECK(load_initrd(m, k, klen, cpio, clen - 124) < 0);
    CHECKF(has(popek_error(), "rd: truncated: cpio") &&
           has(popek_error(), "TRAILER!!!"), "%s", popek_error());
    /* cpio whose file data is cut */
    CHECK(load_initrd(m, k, klen, cpio, 130) < 0);
    CHECKF(has(popek_error(), "rd: truncated: cpio entry \"init\""), "%s",
           popek_error());
    /* not an archive */
    CHECK(load_initrd(m, k, klen, (const uint8_t *)"hello world", 11) < 0);
    CHECKF(has(popek_error(), "rd: not an initramfs"), "%s", popek_error());
    CHECK(load_initrd(m, k, klen, (const uint8_t *)"", 0) < 0);
    CHECKF(has(popek_error(), "rd: empty file"), "%s", popek_error());
    /* gzip of something that is not cpio */
    glen = gzip_buf((const uint8_t *)"not cpio at all", 15, buf, sizeof(buf));
    CHECK(load_initrd(m, k, klen, buf, glen) < 0);
    CHECKF(has(popek_error(), "does not contain a cpio"), "%s", popek_error());
    /* zstd: one frame, single segment, one raw last block holding the cpio */
    size_t z = 0;
    memcpy(buf, "\x28\xb5\x2f\xfd", 4);
    z = 4;
    buf[z++] = 0x60;                      /* FCS 2 bytes, single segment */
    put16(buf + z, (uint16_t)(clen - 256));
    z += 2;
    uint32_t bh = 1u | (uint32_t)clen << 3; /* last, raw */
    buf[z++] = (uint8_t)bh;
    buf[z++] = (uint8_t)(bh >> 8);
    buf[z++] = (uint8_t)(bh >> 16);
    memcpy(buf + z, cpio, clen);
    z += clen;
    CHECKF(load_initrd(m, k, klen, buf, z) == 0, "%s", popek_error());
    CHECK(load_initrd(m, k, klen, buf, z - 1) < 0);
    CHECKF(has(popek_error(), "rd: truncated: zstd"), "%s", popek_error());
    /* xz: only the stream footer is checked */
    memset(buf, 0x11, 64);
    memcpy(buf, "\xfd" "7zXZ\0", 6);
    buf[62] = 'Y';
    buf[63] = 'Z';
    CHECKF(load_initrd(m, k, klen, buf, 64) == 0, "%s", popek_error());
    CHECK(load_initrd(m, k, klen, buf, 50) < 0);
    CHECKF(has(popek_error(), "rd: truncated: xz"), "%s", popek_error());
    free(k);
    free_machine(m);
}

/* Turn the ELF32 multiboot kernel into a Linux vmlinux: no multiboot
 * header, a PT_NOTE with a "Linux" note.  Returns the new length. */
static size_t make_vmlinux32(uint8_t *k)
{
    make_elf32(k, 0x100010);
    memset(k + 0x1000, 0, 12);                  /* no multiboot header */
    put32(k + 0x1180, 6);                       /* namesz */
    put32(k + 0x1184, 0);                       /* descsz */
    put32(k + 0x1188, 1);                       /* type */
    memcpy(k + 0x118c, "Linux\0\0", 8);
    put32(k + 52 + 64 + 16, 20);                /* PT_NOTE filesz */
    return 0x1194;
}

static void test_vmlinux32(void)
{
    struct machine *m = new_machine(64 * MiB);
    uint8_t k[ELF_BUF], cpio[1024];
    size_t klen = make_vmlinux32(k);
    size_t clen = make_cpio(cpio);
    struct cpu_state s;
    int rc = load(m, k, klen, "vmlinux", cpio, clen, "rd.cpio", "quiet", false, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (rc)
        goto out;
    CHECK(!memcmp(m->ram + 0x100000, k + 0x1000, 0x100));
    CHECK(m->ram[0x200080] == 0 && m->ram[0x20107f] == 0); /* bss */
    CHECK(s.rip == 0x100010 && s.seg[SEG_CS].sel == 0x10 &&
          s.seg[SEG_DS].sel == 0x18 && !(s.cr0 & CR0_PG));
    CHECK(s.gpr[R_EBX] == 0 && s.gpr[R_EDI] == 0 && s.gpr[R_EBP] == 0);
    const uint8_t *bp = m->ram + s.gpr[R_ESI];
    CHECK(get16(bp + 0x1fe) == 0xaa55 && !memcmp(bp + 0x202, "HdrS", 4));
    CHECK(get16(bp + 0x206) >= 0x206 && bp[0x210] == 0xff && (bp[0x211] & 1));
    CHECK(!strcmp((char *)m->ram + get32(bp + 0x228), "quiet"));
    uint32_t ri = get32(bp + 0x218), rs = get32(bp + 0x21c);
    CHECK(rs == clen && ri >= 0x202000 && ri + rs <= 64 * MiB &&
          !memcmp(m->ram + ri, cpio, clen));
    CHECK(bp[0x1e8] == 4);
    /* without the Linux note it is just an ELF: not a kernel */
    memset(k + 0x118c, 'x', 5);
    CHECK(load(m, k, klen, "vmlinux", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "vmlinux: not a multiboot kernel or a Linux "
               "bzImage"), "%s", popek_error());
out:
    free_machine(m);
}

static void test_vmlinux64(void)
{
    struct machine *m = new_machine(64 * MiB);
    uint8_t k[ELF_BUF];
    make_elf64(k);
    memset(k + 0x1000, 0, 12); /* no multiboot header */
    /* second program header: PT_NOTE at 0x1200 holding a "Linux" note */
    put16(k + 56, 2);
    uint8_t *ph = k + 64 + 56;
    put32(ph, 4);
    put64(ph + 8, 0x1200);
    put64(ph + 32, 20);
    put32(k + 0x1200, 6);
    put32(k + 0x1208, 1);
    memcpy(k + 0x120c, "Linux\0\0", 8);
    size_t klen = 0x1220;
    struct cpu_state s;
    int rc = load(m, k, klen, "vmlinux64", NULL, 0, NULL, NULL, true, &s);
    CHECKF(rc == 0, "load: %s", popek_error());
    if (!rc) {
        CHECK(s.rip == 0x100010 && (s.efer & EFER_LMA) && s.seg[SEG_CS].l);
        CHECK(!memcmp(m->ram + s.gpr[R_ESI] + 0x202, "HdrS", 4));
        CHECK(get16(m->ram + s.gpr[R_ESI] + 0x236) & 1); /* XLF_KERNEL_64 */
    }
    CHECK(load(m, k, klen, "vmlinux64", NULL, 0, NULL, NULL, false, &s) < 0);
    CHECKF(has(popek_error(), "vmlinux64 is a 64-bit kernel"), "%s",
           popek_error());
    free_machine(m);
}

/* Every truncation and many single-byte corruptions of valid images must
 * give either success or an error naming the file - never a crash (the
 * ASan build checks the memory accesses). */
static void test_truncations_and_corruptions(void)
{
    struct machine *m = new_machine(64 * MiB);
    uint8_t e32[ELF_BUF], e64[ELF_BUF], aout[0x400];
    size_t l32 = make_elf32(e32, 0x100000), l64 = make_elf64(e64);
    size_t laout = make_aout(aout);
    size_t lbz;
    uint8_t *bz = make_bzimage(&bz_default, 0x800, &lbz);
    uint8_t vml[ELF_BUF];
    size_t lvml = make_vmlinux32(vml);
    struct { uint8_t *img; size_t len; bool lm; } imgs[] = {
        {e32, l32, false}, {e64, l64, true}, {aout, laout, false},
        {bz, lbz, true}, {vml, lvml, false},
    };
    struct cpu_state s;
    int bad = 0;
    for (size_t i = 0; i < ARRAY_SIZE(imgs); i++) {
        for (size_t n = 0; n < imgs[i].len; n += (n < 0x300 ? 1 : 7)) {
            int rc = load(m, imgs[i].img, n, "cut.img", NULL, 0, NULL, NULL,
                          imgs[i].lm, &s);
            if (rc < 0 && !has(popek_error(), "cut.img"))
                bad++;
            if (n == 0 && rc == 0)
                bad++;
        }
        uint8_t *copy = malloc(imgs[i].len);
        for (size_t pos = 0; pos < imgs[i].len && pos < 0x300; pos++) {
            memcpy(copy, imgs[i].img, imgs[i].len);
            copy[pos] ^= 0xff;
            int rc = load(m, copy, imgs[i].len, "bits.img", NULL, 0, NULL,
                          NULL, imgs[i].lm, &s);
            if (rc < 0 && !has(popek_error(), "bits.img"))
                bad++;
        }
        free(copy);
    }
    CHECKF(bad == 0, "%d loads failed without naming the file", bad);
    free(bz);
    free_machine(m);
}

/* The real Debian kernels, if scripts/fetch-linux.sh has fetched them. */
static void test_real_debian_kernels(void)
{
    uint8_t *k = NULL, *ird = NULL;
    size_t klen, ilen = 0;
    if (read_file("cache/linux/vmlinuz-686", &k, &klen) < 0)
        SKIP("cache/linux/vmlinuz-686 not fetched (scripts/fetch-linux.sh)");
    if (read_file("cache/linux/initramfs.gz", &ird, &ilen) < 0)
        ird = NULL;
    struct machine *m = new_machine(128 * MiB);
    struct cpu_state s;
    int rc = load(m, k, klen, "vmlinuz-686", ird, ilen, "initramfs.gz",
                  "console=ttyS0", false, &s);
    CHECKF(rc == 0, "%s", popek_error());
    if (!rc) {
        CHECK(s.rip == 0x1000000 && !(s.efer & EFER_LMA));
        CHECK(!memcmp(m->ram + s.gpr[R_ESI] + 0x202, "HdrS", 4));
    }
    free(k);
    if (read_file("cache/linux/vmlinuz-amd64", &k, &klen) == 0) {
        rc = load(m, k, klen, "vmlinuz-amd64", ird, ilen, "initramfs.gz",
                  "console=ttyS0", true, &s);
        CHECKF(rc == 0, "%s", popek_error());
        CHECK(rc != 0 || (s.rip == 0x1000200 && (s.efer & EFER_LMA)));
        free(k);
    }
    /* the uncompressed vmlinux ELFs fetch-linux.sh extracts */
    static const struct { const char *path; bool is64; } vml[] = {
        {"cache/linux/vmlinux-686", false}, {"cache/linux/vmlinux-amd64", true},
    };
    for (size_t i = 0; i < ARRAY_SIZE(vml); i++) {
        if (read_file(vml[i].path, &k, &klen) < 0)
            continue;
        rc = load(m, k, klen, vml[i].path, ird, ilen, "initramfs.gz",
                  "console=ttyS0", true, &s);
        CHECKF(rc == 0, "%s", popek_error());
        CHECK(rc != 0 || (s.rip == 0x1000000 &&
                          !!(s.efer & EFER_LMA) == vml[i].is64 &&
                          !memcmp(m->ram + s.gpr[R_ESI] + 0x202, "HdrS", 4)));
        free(k);
    }
    free(ird);
    free_machine(m);
}

int main(void)
{
    RUN(test_e820);
    RUN(test_mb_elf32);
    RUN(test_mb_elf32_no_cmdline_no_module);
    RUN(test_mb_elf64_long_mode);
    RUN(test_mb_elf64_needs_long_mode);
    RUN(test_mb_aout_kludge);
    RUN(test_mb_bad_checksum);
    RUN(test_mb_unsupported_flags);
    RUN(test_mb_truncated_phdrs);
    RUN(test_mb_segment_past_eof);
    RUN(test_mb_segment_outside_ram);
    RUN(test_mb_segment_in_low_area);
    RUN(test_mb_low_load_moves_boot_structures);
    RUN(test_mb_info_skips_bios_hole);
    RUN(test_mb_tiny_low_kernel);
    RUN(test_mb_info_does_not_fit);
    RUN(test_not_a_kernel);
    RUN(test_bz_32bit_entry);
    RUN(test_bz_nonrelocatable_and_initrd_max);
    RUN(test_bz_64bit_entry);
    RUN(test_bz_old_protocol);
    RUN(test_bz_not_loaded_high);
    RUN(test_bz_bad_boot_flag_and_truncation);
    RUN(test_bz_syssize_rounded_past_eof);
    RUN(test_bz_initrd_too_big);
    RUN(test_bz_kernel_too_big);
    RUN(test_bz_cmdline_too_long);
    RUN(test_bz_truncated_gzip_initrd);
    RUN(test_initrd_formats);
    RUN(test_vmlinux32);
    RUN(test_vmlinux64);
    RUN(test_truncations_and_corruptions);
    RUN(test_real_debian_kernels);
    TEST_MAIN_END();
}
