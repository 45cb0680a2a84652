/* pv.c - the guest kit's paravirtual kernel (API and design in kit_pv.h):
 * the ring-0 boot stub that drops to ring 1, the trap stubs the trap table
 * points at (each returns through the IRET hypercall), the default trap,
 * system-call and upcall handlers, console and checks through
 * CONSOLE_WRITE, ring-3 programs, and a page mapping by MMU_UPDATE. */
#include "kit_pv.h"

struct kit_jmpbuf {
    uint32_t ebx, esi, edi, ebp, esp, eip, eflags, ds, es, fs, gs;
};
int kit_setjmp(struct kit_jmpbuf *jb) __attribute__((returns_twice));
KIT_NORETURN void kit_longjmp(struct kit_jmpbuf *jb, int v);

volatile struct pv_shared pv_shared __attribute__((aligned(4096)));
uint32_t *pv_pd;
void (*pv_on_events)(uint32_t bits);

static uint8_t kstack[16384] __attribute__((aligned(16)));
static uint8_t trap_stack[8192] __attribute__((aligned(16)));
static pv_handler_fn handlers[256];
static uint8_t hflags[256];
static bool hset[256];
struct trap_info {
    uint8_t vec, flags;
    uint16_t cs;
    uint32_t eip;
};
static struct trap_info table[256];
static unsigned checks, failures;
static struct kit_jmpbuf user_jb;
static uint32_t user_ret;

void pv_trap_dispatch(struct pv_frame *f);
KIT_NORETURN void pv_iret_failed(uint32_t err);

/* 256 stubs, 16 bytes apart: push a zero error code where the CPU pushes
 * none, the vector, then the common part: save the registers, call the C
 * dispatcher, restore, drop vector and error code, and return with the
 * IRET hypercall (EAX saved on top of the hardware frame). */
__asm__(".text\n"
        ".balign 16\n"
        ".globl pv_stubs\n"
        "pv_stubs:\n"
        ".set vec, 0\n"
        ".rept 256\n"
        ".balign 16\n"
        ".if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17)\n"
        "nop; nop\n"
        ".else\n"
        "pushl $0\n"
        ".endif\n"
        "pushl $vec\n"
        "jmp pv_trap_common\n"
        ".set vec, vec + 1\n"
        ".endr\n"
        "pv_trap_common:\n"
        "pushal\n"
        "pushl %esp\n"
        "call pv_trap_dispatch\n"
        "addl $4, %esp\n"
        "popal\n"
        "addl $8, %esp\n"
        "pushl %eax\n"
        "movl $9, %eax\n"
        "vmcall\n"
        "pushl %eax\n"
        "call pv_iret_failed\n"
        /* ring 3: where a user function returns to (EAX = its value) */
        ".globl pv_user_exit_stub\n"
        "pv_user_exit_stub:\n"
        "movl %eax, %ebx\n"
        "movl $0, %eax\n"
        "int $0x80\n"
        "ud2\n");
extern char pv_stubs[], pv_user_exit_stub[];

uint32_t pv_stub(int vector)
{
    return (uint32_t)pv_stubs + 16u * (uint32_t)vector;
}

int pv_printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = kit_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    pv_call(HC_CONSOLE_WRITE, (uint32_t)buf, (uint32_t)n, 0, 0);
    return n;
}

static bool vcheck(bool ok, const char *fmt, va_list ap)
{
    char buf[256];
    kit_vsnprintf(buf, sizeof(buf), fmt, ap);
    checks++;
    if (!ok)
        failures++;
    pv_printf("%s - %s\n", ok ? "ok" : "not ok", buf);
    return ok;
}

bool pv_check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vcheck(ok, fmt, ap);
    va_end(ap);
    return ok;
}

bool pv_check_eq(uint64_t got, uint64_t want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vcheck(got == want, fmt, ap);
    va_end(ap);
    if (got != want)
        pv_printf("#   got %llx, want %llx\n", got, want);
    return got == want;
}

void pv_done(void)
{
    pv_printf("# %u checks, %u failed\n", checks, failures);
    pv_call(HC_SHUTDOWN, failures ? 1 : 0, 0, 0, 0);
    for (;;)
        pv_call(HC_BLOCK, 0, 0, 0, 0);
}

void pv_fail(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    kit_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    pv_printf("# %s\n", buf);
    failures++;
    pv_done();
}

void pv_iret_failed(uint32_t err)
{
    pv_fail("the IRET hypercall failed: %d", (int)err);
}

void pv_user_exit(uint32_t code)
{
    user_ret = code;
    kit_longjmp(&user_jb, 1);
}

static uint32_t sys_call(uint32_t nr, uint32_t a, uint32_t b)
{
    switch (nr) {
    case KIT_SYS_EXIT:
        pv_user_exit(a);
    case KIT_SYS_WRITE:
        return pv_call(HC_CONSOLE_WRITE, a, b, 0, 0);
    case KIT_SYS_NULL:
        return 0;
    case KIT_SYS_GETPID:
        return 42;
    }
    return (uint32_t)-1;
}

void pv_trap_dispatch(struct pv_frame *f)
{
    if (handlers[f->vector]) {
        handlers[f->vector](f);
        return;
    }
    if (f->vector == 0x80) {
        f->eax = sys_call(f->eax, f->ebx, f->ecx);
        return;
    }
    if (f->vector == PV_UPCALL_VECTOR) {
        uint32_t bits = __atomic_exchange_n(&pv_shared.pending, 0,
                                            __ATOMIC_SEQ_CST);
        if (pv_on_events)
            pv_on_events(bits);
        return;
    }
    pv_fail("unexpected trap %u (error %#x) at %04x:%08x, cr2 %#x",
            f->vector, f->error, f->cs, f->eip, pv_shared.cr2);
}

static uint32_t load_table(void)
{
    unsigned n = 0;
    for (int v = 0; v < 256; v++)
        if (hset[v])
            table[n++] = (struct trap_info){(uint8_t)v, hflags[v],
                                            PV_SEL_KCODE, pv_stub(v)};
    return pv_call(HC_SET_TRAP_TABLE, (uint32_t)table, n, 0, 0);
}

uint32_t pv_set_handler(int vector, pv_handler_fn fn, uint8_t flags)
{
    handlers[vector] = fn;
    hflags[vector] = flags;
    hset[vector] = true;
    return load_table();
}

uint32_t pv_setup(void)
{
    for (int v = 0; v < 32; v++) {
        hset[v] = true;
        hflags[v] = (v == VEC_BP || v == VEC_OF) ? PV_TRAP_DPL3 : 0;
    }
    hset[0x80] = true;
    hflags[0x80] = PV_TRAP_DPL3;
    hset[PV_UPCALL_VECTOR] = true;
    uint32_t r = load_table();
    if (!r)
        r = pv_call(HC_STACK_SWITCH, PV_SEL_KDATA,
                    (uint32_t)trap_stack + sizeof(trap_stack), 0, 0);
    if (!r)
        r = pv_call(HC_SET_CALLBACK, (uint32_t)&pv_shared, PV_UPCALL_VECTOR,
                    0, 0);
    return r;
}

uint32_t pv_run_user(uint32_t (*fn)(void *arg), void *arg, void *ustack_top)
{
    if (kit_setjmp(&user_jb))
        return user_ret;
    uint32_t *sp = ustack_top;
    *--sp = (uint32_t)arg;
    *--sp = (uint32_t)pv_user_exit_stub;
    /* the IRET frame: eax, eip, cs, eflags (IF), esp, ss; DS/ES become
     * the ring-3 data segment first (ring 1 may load it) */
    __asm__ volatile("movw %w0, %%ds\n\t"
                     "movw %w0, %%es\n\t"
                     "pushl %0\n\t"
                     "pushl %1\n\t"
                     "pushl $0x202\n\t"
                     "pushl $0x1b\n\t"
                     "pushl %2\n\t"
                     "pushl $0\n\t"
                     "movl $9, %%eax\n\t"
                     "vmcall\n\t"
                     "pushl %%eax\n\t"
                     "call pv_iret_failed"
                     :: "r"(0x23u), "r"(sp), "r"(fn) : "eax", "memory");
    __builtin_unreachable();
}

uint32_t pv_map(uint32_t va, uint32_t pa, uint32_t flags)
{
    static uint32_t req[2];
    uint32_t *pte = kit_pte(pv_pd, va);
    if (!pte)
        return PV_ERR(PV_EINVAL);
    req[0] = (uint32_t)pte;
    req[1] = flags ? (pa & ~0xfffu) | flags | PTE_P : 0;
    return pv_call(HC_MMU_UPDATE, (uint32_t)req, 1, 2, va);
}

static void (*kmain_fn)(void);

static KIT_NORETURN void ring1_entry(void)
{
    kmain_fn();
    pv_done();
}

void pv_boot(void (*kmain)(void))
{
    kmain_fn = kmain;
    kit_gdt_set(6, 0, 0xfffff, 0xba, 0xc); /* ring 1 code */
    kit_gdt_set(7, 0, 0xfffff, 0xb2, 0xc); /* ring 1 data */
    pv_pd = kit_pd_new();
    kit_map_identity(pv_pd, 0, PV_RAM_MAPPED, PTE_W | PTE_U, false);
    /* a page table for [1 GiB, 1 GiB + 4 MiB), empty: for demand paging */
    kit_map_4k(pv_pd, 0x40000000u, 0, PTE_W | PTE_U);
    kit_unmap(pv_pd, 0x40000000u);
    kit_paging_enable(pv_pd);
    __asm__ volatile("movw %w0, %%ds\n\t"
                     "movw %w0, %%es\n\t"
                     "pushl %0\n\t"
                     "pushl %1\n\t"
                     "pushl $0x202\n\t"
                     "pushl %2\n\t"
                     "pushl %3\n\t"
                     "iret"
                     :: "r"((uint32_t)PV_SEL_KDATA),
                        "r"((uint32_t)kstack + sizeof(kstack)),
                        "i"(PV_SEL_KCODE), "r"(ring1_entry) : "memory");
    __builtin_unreachable();
}
