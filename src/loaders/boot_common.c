/* boot_common.c - pieces shared by the multiboot and bzImage loaders: the
 * e820 memory map of popek's PC, flat 32-bit and long-mode entry states
 * (GDT and identity-mapped page tables written into guest RAM), and
 * bounds-checked copies of untrusted image data into guest memory. */
#include <string.h>

#include "../core/util.h"
#include "boot_priv.h"

int boot_e820(struct machine *m, struct e820_entry *e, int max)
{
    struct e820_entry map[] = {
        {0, BIOS_HOLE_START, 1},
        {BIOS_HOLE_START, 0xa0000 - BIOS_HOLE_START, 2},
        /* The BIOS area with the MP and ACPI tables (src/firmware). */
        {0xe0000, 0x20000, 2},
        {BIOS_HOLE_END, m->ram_size > BIOS_HOLE_END
                            ? m->ram_size - BIOS_HOLE_END : 0, 1},
    };
    int n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(map) && n < max; i++)
        if (map[i].size)
            e[n++] = map[i];
    return n;
}

/* An 8-byte segment descriptor. */
static uint64_t gdt_entry(uint32_t base, uint32_t limit, uint8_t access,
                          uint8_t flags)
{
    return (uint64_t)(limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) |
           ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
           ((uint64_t)(flags & 0xf) << 52) | ((uint64_t)(base >> 24) << 56);
}

#define GDT_CODE32 0x9b /* present, DPL 0, code, execute/read, accessed */
#define GDT_DATA 0x93   /* present, DPL 0, data, read/write, accessed */
#define GDT_FLAGS32 0xc /* G=1, D/B=1 */
#define GDT_FLAGS64 0xa /* G=1, L=1 */

/* The task register and LDTR that a CPU has after reset: usable enough for
 * hardware virtualization's guest-state checks. */
static void boot_system_segments(struct cpu_state *s)
{
    struct seg_reg *tr = &s->seg[SEG_TR], *ldt = &s->seg[SEG_LDTR];
    memset(tr, 0, sizeof(*tr));
    tr->limit = 0xffff;
    tr->type = 0xb; /* busy 32-bit TSS */
    tr->present = 1;
    memset(ldt, 0, sizeof(*ldt));
    ldt->limit = 0xffff;
    ldt->type = 0x2; /* LDT */
    ldt->present = 1;
}

void boot_set_stack(struct cpu_state *s)
{
    s->gpr[R_ESP] = BOOT_STACK_TOP;
}

void boot_flat32(struct machine *m, struct cpu_state *s, uint64_t gdt_gpa,
                 uint16_t cs, uint16_t ds)
{
    unsigned ci = cs >> 3, di = ds >> 3;
    unsigned n = (ci > di ? ci : di) + 1;
    uint8_t *gdt = gpa_to_hva(m, gdt_gpa, (uint64_t)n * 8);
    if (gdt) {
        memset(gdt, 0, (size_t)n * 8);
        wr64(gdt + ci * 8, gdt_entry(0, 0xfffff, GDT_CODE32, GDT_FLAGS32));
        wr64(gdt + di * 8, gdt_entry(0, 0xfffff, GDT_DATA, GDT_FLAGS32));
    }
    s->gdt.base = gdt_gpa;
    s->gdt.limit = (uint16_t)(n * 8 - 1);
    s->idt.base = 0;
    s->idt.limit = 0;
    seg_flat32(&s->seg[SEG_CS], cs, true);
    for (int i = SEG_ES; i <= SEG_GS; i++)
        if (i != SEG_CS)
            seg_flat32(&s->seg[i], ds, false);
    boot_system_segments(s);
    s->cr0 = CR0_PE | CR0_ET;
    s->cr3 = 0;
    s->cr4 = 0;
    s->efer = 0;
    s->rflags = 0x2; /* IF=0 */
}

void boot_long64(struct machine *m, struct cpu_state *s, uint64_t pt_gpa,
                 uint64_t gdt_gpa)
{
    /* PML4, PDPT, then 4 page directories of 2 MiB pages = 4 GiB. */
    uint8_t *pt = gpa_to_hva(m, pt_gpa, BOOT_PAGE_TABLES_SIZE);
    if (pt) {
        memset(pt, 0, BOOT_PAGE_TABLES_SIZE);
        wr64(pt, (pt_gpa + 0x1000) | 3); /* present, writable */
        for (uint64_t i = 0; i < 4; i++)
            wr64(pt + 0x1000 + i * 8, (pt_gpa + 0x2000 + i * 0x1000) | 3);
        for (uint64_t i = 0; i < 4 * 512; i++)
            wr64(pt + 0x2000 + i * 8, (i << 21) | 0x83); /* P, RW, PS */
    }
    uint8_t *gdt = gpa_to_hva(m, gdt_gpa, 4 * 8);
    if (gdt) {
        wr64(gdt, 0);
        wr64(gdt + 0x08, gdt_entry(0, 0xfffff, GDT_CODE32, GDT_FLAGS32));
        wr64(gdt + 0x10, gdt_entry(0, 0xfffff, GDT_CODE32, GDT_FLAGS64));
        wr64(gdt + 0x18, gdt_entry(0, 0xfffff, GDT_DATA, GDT_FLAGS32));
    }
    s->gdt.base = gdt_gpa;
    s->gdt.limit = 4 * 8 - 1;
    s->idt.base = 0;
    s->idt.limit = 0;
    seg_flat32(&s->seg[SEG_CS], 0x10, true);
    s->seg[SEG_CS].l = 1;
    s->seg[SEG_CS].db = 0;
    for (int i = SEG_ES; i <= SEG_GS; i++)
        if (i != SEG_CS)
            seg_flat32(&s->seg[i], 0x18, false);
    boot_system_segments(s);
    s->cr0 = CR0_PE | CR0_ET | CR0_PG;
    s->cr3 = pt_gpa;
    s->cr4 = CR4_PAE;
    s->efer = EFER_LME | EFER_LMA;
    s->rflags = 0x2;
}

int boot_check_kernel_range(struct machine *m, const char *file,
                            const char *what, uint64_t gpa, uint64_t len)
{
    return boot_check_range(m, file, what, gpa, len, BOOT_LOW_END);
}

int boot_check_range(struct machine *m, const char *file, const char *what,
                     uint64_t gpa, uint64_t len, uint64_t low_end)
{
    if (gpa >= m->ram_size || len > m->ram_size - gpa)
        return fail("%s: %s at %#llx-%#llx lies outside guest RAM (%llu MiB)",
                    file, what, (unsigned long long)gpa,
                    (unsigned long long)(gpa + len),
                    (unsigned long long)(m->ram_size >> 20));
    if (ranges_overlap(gpa, len, 0, low_end))
        return fail("%s: %s at %#llx-%#llx overlaps the boot structures "
                    "below %#llx", file, what, (unsigned long long)gpa,
                    (unsigned long long)(gpa + len),
                    (unsigned long long)low_end);
    if (ranges_overlap(gpa, len, BIOS_HOLE_START,
                       BIOS_HOLE_END - BIOS_HOLE_START))
        return fail("%s: %s at %#llx-%#llx overlaps the BIOS/VGA hole "
                    "%#llx-%#llx", file, what, (unsigned long long)gpa,
                    (unsigned long long)(gpa + len),
                    (unsigned long long)BIOS_HOLE_START,
                    (unsigned long long)BIOS_HOLE_END);
    return 0;
}

int boot_copy(struct machine *m, const char *file, uint64_t gpa,
              const void *src, uint64_t len)
{
    if (!len)
        return 0;
    uint8_t *p = gpa_to_hva(m, gpa, len);
    if (!p)
        return fail("%s: %llu bytes at %#llx do not fit in guest RAM "
                    "(%llu MiB)", file, (unsigned long long)len,
                    (unsigned long long)gpa,
                    (unsigned long long)(m->ram_size >> 20));
    memcpy(p, src, len);
    return 0;
}

int boot_zero(struct machine *m, const char *file, uint64_t gpa,
              uint64_t len)
{
    if (!len)
        return 0;
    uint8_t *p = gpa_to_hva(m, gpa, len);
    if (!p)
        return fail("%s: %llu bytes at %#llx do not fit in guest RAM "
                    "(%llu MiB)", file, (unsigned long long)len,
                    (unsigned long long)gpa,
                    (unsigned long long)(m->ram_size >> 20));
    memset(p, 0, len);
    return 0;
}
