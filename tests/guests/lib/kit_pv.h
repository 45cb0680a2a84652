/* kit_pv.h - the guest kit's paravirtual kernel (pv.c): a small kernel
 * that runs its own code in ring 1 and user programs in ring 3 and does
 * all privileged work through popek's hypercalls (docs/hypercalls.md).
 *
 * pv_boot() is the only ring-0 code: as a domain builder would, it adds
 * the ring-1 segments to the kit's GDT, identity-maps the first 8 MiB
 * (4 KiB pages, user-accessible) and turns paging on, then drops to ring 1
 * with iret and calls kmain there.  From then on the kernel uses:
 * SET_TRAP_TABLE (every vector's handler is a stub in pv.c that calls the
 * C handler set with pv_set_handler and returns with the IRET hypercall),
 * STACK_SWITCH (traps from ring 3 arrive on pv.c's trap stack),
 * SET_CALLBACK (the shared page pv_shared, upcalls on PV_UPCALL_VECTOR),
 * CONSOLE_WRITE (pv_printf), MMU_UPDATE, NEW_BASEPTR, SET_TIMER, BLOCK and
 * SHUTDOWN (pv_done).  kit_printf and the kit's CHECKs must not be used
 * after pv_boot: they write COM1, which ring 1 may not. */
#ifndef KIT_PV_H
#define KIT_PV_H
#include "kit.h"

#define PV_SEL_KCODE 0x31   /* GDT 6: ring 1 flat code */
#define PV_SEL_KDATA 0x39   /* GDT 7: ring 1 flat data */
#define PV_UPCALL_VECTOR 0x50
#define PV_RAM_MAPPED (8u << 20)

enum { HC_VERSION = 0, HC_CONSOLE_WRITE = 1, HC_MMU_UPDATE = 2,
       HC_TLB_FLUSH = 3, HC_YIELD = 4, HC_BLOCK = 5, HC_SET_TRAP_TABLE = 6,
       HC_SET_CALLBACK = 7, HC_STACK_SWITCH = 8, HC_IRET = 9,
       HC_SET_TIMER = 10, HC_EVENT_SEND = 11, HC_NEW_BASEPTR = 12,
       HC_SHUTDOWN = 13, HC_PORT_IO = 14 };
#define PV_EPERM 1u
#define PV_EFAULT 14u
#define PV_EINVAL 22u
#define PV_ENOSYS 38u
#define PV_ERR(e) ((uint32_t)-(int32_t)(e))
#define PV_TRAP_DPL3 3u     /* trap table flags: int n from ring 3 */
#define PV_TRAP_MASK 4u     /* entering masks events */
#define PV_EV_TIMER 1u

static inline uint32_t pv_call(uint32_t nr, uint32_t b, uint32_t c, uint32_t d,
                               uint32_t s)
{
    uint32_t a = nr;
    __asm__ volatile("vmcall" : "+a"(a), "+b"(b), "+c"(c), "+d"(d), "+S"(s)
                     :: "memory");
    return a;
}
/* The same, also returning EBX (MMU_UPDATE and SET_TRAP_TABLE put the
 * index of a refused entry there). */
static inline uint32_t pv_call_b(uint32_t nr, uint32_t b, uint32_t c,
                                 uint32_t d, uint32_t s, uint32_t *b_out)
{
    uint32_t a = nr;
    __asm__ volatile("vmcall" : "+a"(a), "+b"(b), "+c"(c), "+d"(d), "+S"(s)
                     :: "memory");
    *b_out = b;
    return a;
}

struct pv_shared {
    uint32_t vif, pending, cr2, upcalls;
};
extern volatile struct pv_shared pv_shared;

/* Virtual cli/sti: a store to the shared page; sti asks for the upcall of
 * an event that came while events were masked (YIELD). */
static inline void pv_cli(void)
{
    pv_shared.vif = 0;
    barrier();
}
static inline void pv_sti(void)
{
    pv_shared.vif = 1;
    barrier();
    if (pv_shared.pending)
        pv_call(HC_YIELD, 0, 0, 0, 0);
}

/* A trap as the stubs save it (lowest address first): esp/ss only from
 * ring 3 (cs & 3). */
struct pv_frame {
    uint32_t edi, esi, ebp, esp_pusha, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
    uint32_t esp, ss;
};
typedef void (*pv_handler_fn)(struct pv_frame *f);

/* Ring 0: set up and drop to ring 1, run kmain, then pv_done(). */
KIT_NORETURN void pv_boot(void (*kmain)(void));
/* The kernel's page directory (set by pv_boot). */
extern uint32_t *pv_pd;
/* Ring 1, after pv_boot: load the trap table with the kit's handlers
 * (0x80 system calls as the kit's, from ring 3; the upcall; every
 * exception to a default that reports it and fails), register the shared
 * page and the ring-3 trap stack.  Returns 0 or the first error. */
uint32_t pv_setup(void);
/* Set vector's handler (NULL: the default) with trap flags and reload
 * the trap table; returns SET_TRAP_TABLE's result. */
uint32_t pv_set_handler(int vector, pv_handler_fn fn, uint8_t flags);
/* The stub for a vector (what the trap table points at). */
uint32_t pv_stub(int vector);
/* Upcalls: the kit's handler clears pv_shared.pending (xchg) and calls
 * this with the bits (NULL: ignore). */
extern void (*pv_on_events)(uint32_t bits);

/* Console and checks through CONSOLE_WRITE. */
int pv_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool pv_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool pv_check_eq(uint64_t got, uint64_t want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define PV_CHECK(cond, ...) pv_check(!!(cond), __VA_ARGS__)
#define PV_CHECK_EQ(a, b, ...) pv_check_eq((uint64_t)(a), (uint64_t)(b), __VA_ARGS__)
/* "# N checks, M failed", then SHUTDOWN with 0 (pass) or 1. */
KIT_NORETURN void pv_done(void);
KIT_NORETURN void pv_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run fn(arg) in ring 3 (CS 0x1b, SS/DS/ES 0x23) on ustack_top through
 * the IRET hypercall, until it returns or makes system call 0 (exit);
 * returns that value.  System calls are the kit's numbers. */
uint32_t pv_run_user(uint32_t (*fn)(void *arg), void *arg, void *ustack_top);
/* From a system-call handler: end the ring-3 program with code. */
KIT_NORETURN void pv_user_exit(uint32_t code);
/* A port read through PORT_IO. */
static inline uint32_t pv_inb(uint16_t port)
{
    uint32_t a = HC_PORT_IO, b = port, c = 1, d = 0;
    __asm__ volatile("vmcall" : "+a"(a), "+b"(b), "+c"(c), "+d"(d) :: "memory");
    return a ? 0xffffffffu : d;
}

/* Map va -> pa (flags | P) in the kernel's page directory with one
 * MMU_UPDATE and invalidate the page; returns MMU_UPDATE's result. */
uint32_t pv_map(uint32_t va, uint32_t pa, uint32_t flags);

#endif
