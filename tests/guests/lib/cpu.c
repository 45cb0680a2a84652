/* cpu.c - the kit's CPU set-up and trap handling: kit_start (called by
 * entry.S), the GDT/TSS/IDT, kit_trap_dispatch (called by every stub in
 * traps.S), kit_try, ring-3 execution and the system call table. */
#include "kit.h"

struct kit_jmpbuf {
    uint32_t ebx, esi, edi, ebp, esp, eip, eflags, ds, es, fs, gs;
};
int kit_setjmp(struct kit_jmpbuf *jb) __attribute__((returns_twice));
KIT_NORETURN void kit_longjmp(struct kit_jmpbuf *jb, int v);
void kit_enter_ring3(uint32_t eip, uint32_t esp);
void kit_trap_dispatch(struct kit_frame *f);
uint32_t kit_syscall_dispatch(uint32_t nr, uint32_t a, uint32_t b, uint32_t c);
void kit_start(uint32_t magic, struct multiboot_info *mbi);
extern char kit_stub_base[], kit_user_return[], kit_sysenter_entry[];

struct multiboot_info *kit_mbi;
bool kit_multiboot_ok;
uint8_t kit_boot_imr[2];
struct kit_tss kit_tss __attribute__((aligned(128)));
volatile struct kit_trap kit_last_trap;

static uint64_t gdt[KIT_GDT_ENTRIES] __attribute__((aligned(8)));
static uint64_t idt[256] __attribute__((aligned(8)));
static kit_handler_fn handlers[256];
static kit_syscall_fn syscalls[KIT_SYS_MAX];
static struct kit_jmpbuf *volatile try_jb;
static struct kit_jmpbuf *volatile user_jb;
static volatile uint32_t user_exit_code;
static uint8_t sysenter_stack[4096] __attribute__((aligned(16)));

struct __attribute__((packed)) dtr {
    uint16_t limit;
    uint32_t base;
};

void kit_gdt_set(int idx, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    if (idx <= 0 || idx >= KIT_GDT_ENTRIES)
        kit_panic("kit_gdt_set: bad index %d", idx);
    gdt[idx] = (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) |
               ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
               ((uint64_t)(flags & 0xf) << 52) | ((uint64_t)(base >> 24) << 56);
}

void kit_idt_set(int vector, uint32_t handler, uint16_t sel, uint8_t type, uint8_t dpl)
{
    idt[vector & 0xff] = (handler & 0xffff) | ((uint64_t)sel << 16) |
                         ((uint64_t)(0x80 | (dpl & 3) << 5 | (type & 0xf)) << 40) |
                         ((uint64_t)(handler >> 16) << 48);
}

uint32_t kit_idt_stub(int vector)
{
    return (uint32_t)kit_stub_base + 16u * (uint32_t)(vector & 0xff);
}

static void cpu_tables_init(void)
{
    kit_gdt_set(1, 0, 0xfffff, 0x9a, 0xc);          /* 0x08 ring 0 code */
    kit_gdt_set(2, 0, 0xfffff, 0x92, 0xc);          /* 0x10 ring 0 data */
    kit_gdt_set(3, 0, 0xfffff, 0xfa, 0xc);          /* 0x18 ring 3 code */
    kit_gdt_set(4, 0, 0xfffff, 0xf2, 0xc);          /* 0x20 ring 3 data */
    kit_tss.ss0 = KIT_SEL_KDATA;
    extern char kit_stack_top[];
    kit_tss.esp0 = (uint32_t)kit_stack_top;
    kit_tss.iomap = sizeof(kit_tss); /* beyond the limit: no I/O bitmap */
    kit_gdt_set(5, (uint32_t)&kit_tss, sizeof(kit_tss) - 1, 0x89, 0x0);
    struct dtr g = {sizeof(gdt) - 1, (uint32_t)gdt};
    __asm__ volatile("lgdt %0\n\t"
                     "ljmp %1, $1f\n"
                     "1:\n\t"
                     "mov %2, %%ds\n\t"
                     "mov %2, %%es\n\t"
                     "mov %2, %%fs\n\t"
                     "mov %2, %%gs\n\t"
                     "mov %2, %%ss\n\t"
                     "ltr %w3"
                     :: "m"(g), "i"(KIT_SEL_KCODE), "r"((uint32_t)KIT_SEL_KDATA),
                        "r"((uint32_t)KIT_SEL_TSS) : "memory");
    for (int v = 0; v < 256; v++)
        kit_idt_set(v, kit_idt_stub(v), KIT_SEL_KCODE, 0xe,
                    (v == 0x80 || v == VEC_BP || v == VEC_OF) ? 3 : 0);
    struct dtr i = {sizeof(idt) - 1, (uint32_t)idt};
    __asm__ volatile("lidt %0" :: "m"(i) : "memory");
}

void kit_set_handler(int vector, kit_handler_fn fn)
{
    handlers[vector & 0xff] = fn;
}

void kit_syscall_set(unsigned nr, kit_syscall_fn fn)
{
    if (nr >= KIT_SYS_MAX)
        kit_panic("kit_syscall_set: bad number %u", nr);
    syscalls[nr] = fn;
}

static const char *const vec_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "9",
    "#TS", "#NP", "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM"};

uint32_t kit_syscall_dispatch(uint32_t nr, uint32_t a, uint32_t b, uint32_t c)
{
    if (nr == KIT_SYS_EXIT) {
        user_exit_code = a;
        if (!user_jb)
            kit_panic("exit system call outside kit_run_user");
        kit_longjmp(user_jb, 1);
    }
    if (nr < KIT_SYS_MAX && syscalls[nr])
        return syscalls[nr](a, b, c);
    switch (nr) {
    case KIT_SYS_WRITE:
        for (uint32_t i = 0; i < b; i++)
            kit_putc(((const char *)a)[i]);
        return b;
    case KIT_SYS_NULL:
        return 0;
    case KIT_SYS_GETPID:
        return 42;
    default:
        return (uint32_t)-1;
    }
}

void kit_trap_dispatch(struct kit_frame *f)
{
    uint32_t v = f->vector;
    if (v < 32) {
        kit_last_trap.vector = v;
        kit_last_trap.error = f->error;
        kit_last_trap.eip = f->eip;
        kit_last_trap.cs = f->cs;
        kit_last_trap.cr2 = v == VEC_PF ? read_cr2() : 0;
        kit_last_trap.count++;
    }
    if (handlers[v]) {
        handlers[v](f);
        return;
    }
    if (v == 0x80) {
        f->eax = kit_syscall_dispatch(f->eax, f->ebx, f->ecx, f->edx);
        return;
    }
    if (v < 32 && try_jb)
        kit_longjmp(try_jb, (int)v + 1);
    /* Spurious IRQ 7 / 15 (line dropped before INTA): not in service, no
     * EOI for itself (the master gets one for the cascade). */
    extern uint8_t kit_pic_base[2];
    if (kit_pic_base[0] && v == kit_pic_base[0] + 7u && !(kit_pic_isr() & 0x80))
        return;
    if (kit_pic_base[1] && v == kit_pic_base[1] + 7u && !(kit_pic_isr() & 0x8000)) {
        outb(0x20, 0x20);
        return;
    }
    kit_printf("# unexpected %s %u: error %#x eip %#x cs %#x cr2 %#x\n",
               v < 32 && vec_names[v] ? vec_names[v] : "vector", v, f->error,
               f->eip, f->cs, v == VEC_PF ? read_cr2() : 0);
    kit_fail();
}

int kit_try(void (*fn)(void *arg), void *arg)
{
    struct kit_jmpbuf jb;
    struct kit_jmpbuf *volatile prev = try_jb;
    struct kit_jmpbuf *volatile prev_user = user_jb;
    int v = kit_setjmp(&jb);
    if (v == 0) {
        try_jb = &jb;
        fn(arg);
        try_jb = prev;
        return -1;
    }
    try_jb = prev;
    user_jb = prev_user; /* unwound out of any kit_run_user inside fn */
    return v - 1;
}

uint32_t kit_run_user(uint32_t (*fn)(void *arg), void *arg, void *ustack_top)
{
    struct kit_jmpbuf jb;
    struct kit_jmpbuf *volatile prev = user_jb;
    uint32_t *sp = (uint32_t *)((uint32_t)ustack_top & ~15u);
    *--sp = (uint32_t)arg;
    *--sp = (uint32_t)kit_user_return;
    if (kit_setjmp(&jb) == 0) {
        user_jb = &jb;
        kit_enter_ring3((uint32_t)fn, (uint32_t)sp);
    }
    __asm__ volatile("mov %0, %%ds; mov %0, %%es; mov %0, %%fs; mov %0, %%gs"
                     :: "r"((uint32_t)KIT_SEL_KDATA));
    user_jb = prev;
    return user_exit_code;
}

void kit_sys_exit(uint32_t code)
{
    kit_syscall(KIT_SYS_EXIT, code, 0, 0);
    for (;;)
        __asm__ volatile("ud2");
}

uint32_t kit_sys_write(const char *s)
{
    return kit_syscall(KIT_SYS_WRITE, (uint32_t)s, (uint32_t)strlen(s), 0);
}

void kit_sysenter_init(void)
{
    wrmsr(MSR_SYSENTER_CS, KIT_SEL_KCODE);
    wrmsr(MSR_SYSENTER_ESP, (uint32_t)(sysenter_stack + sizeof(sysenter_stack)));
    wrmsr(MSR_SYSENTER_EIP, (uint32_t)kit_sysenter_entry);
}

static char cmdline_copy[512];

const char *kit_cmdline(void)
{
    return cmdline_copy;
}

void kit_start(uint32_t magic, struct multiboot_info *mbi)
{
    kit_serial_init();
    kit_multiboot_ok = magic == MULTIBOOT_BOOTLOADER_MAGIC;
    kit_mbi = kit_multiboot_ok ? mbi : NULL;
    if (kit_mbi && (kit_mbi->flags & MBI_FLAG_CMDLINE) && kit_mbi->cmdline) {
        const char *s = (const char *)kit_mbi->cmdline;
        size_t i = 0;
        for (; s[i] && i < sizeof(cmdline_copy) - 1; i++)
            cmdline_copy[i] = s[i];
        cmdline_copy[i] = 0;
    }
    cpu_tables_init();
    /* A BIOS may leave its timer tick running on IRQ 0 at vector 8 (QEMU's
     * SeaBIOS does, and popek for multiboot kernels): mask both 8259s
     * (kit_boot_imr keeps what was found); guests unmask what they use. */
    kit_boot_imr[0] = inb(0x21);
    kit_boot_imr[1] = inb(0xa1);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    int r = main(kit_mbi);
    if (r != 0) {
        kit_printf("# main returned %d\n", r);
        kit_failures++;
    }
    kit_done();
}
