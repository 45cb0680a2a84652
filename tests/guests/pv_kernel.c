/* pv_kernel.c - the kit's paravirtual kernel (lib/pv.c) at work: booted in
 * ring 0 only to drop to ring 1, it then runs in ring 1 and does all its
 * privileged work through hypercalls.  Checked: it is in ring 1; the
 * trap table, stack switch and callback refuse bad selectors, handlers,
 * flags, pointers (nothing applied); privileged instructions in ring 1
 * (mov cr3, cli with IOPL 0, lgdt, hlt, in, wrmsr) raise #GP as on
 * hardware, reported through the trap table; port I/O through PORT_IO;
 * the virtual interrupt flag
 * holds an event back until "sti", the upcall then masks events and IRET
 * restores them; timer events wake BLOCK; a batched MMU_UPDATE builds a
 * second address space that NEW_BASEPTR switches to; user programs in
 * ring 3 make system calls (int 0x80, straight to the ring-1 handler), are
 * demand-paged through #PF and MMU_UPDATE, and have their own privileged
 * instructions refused.
 * expect-status: 1
 */
#include "kit_pv.h"

#define DEMAND 0x40000000u
#define ALIAS 0x40200000u

static volatile uint32_t probe_at, probe_resume, probe_vec, probe_err,
    probe_eip, probe_cs, probe_n;
static volatile uint32_t upcalls_seen, events_seen, ticks, upcall_vif,
    upcall_frame_if;
static volatile uint32_t pf_count, pf_addr, pf_err;
static uint8_t ustack[PAGE_SIZE] __attribute__((aligned(16)));
static uint32_t req[8][2];
static struct { uint8_t vec, flags; uint16_t cs; uint32_t eip; } bad[4];
static uint32_t frames[2][PAGE_SIZE / 4] __attribute__((aligned(4096)));

/* #GP and #UD: a probe records the trap and resumes after the instruction. */
static void on_fault(struct pv_frame *f)
{
    if (!probe_resume)
        pv_fail("unexpected trap %u (error %#x) at %04x:%08x", f->vector,
                f->error, f->cs, f->eip);
    probe_vec = f->vector;
    probe_err = f->error;
    probe_eip = f->eip;
    probe_cs = f->cs;
    probe_n++;
    f->eip = probe_resume;
    probe_resume = 0;
}

/* Demand paging: a fault in [DEMAND, DEMAND + 64 KiB) maps a fresh page. */
static void on_pf(struct pv_frame *f)
{
    uint32_t va = pv_shared.cr2;
    pf_count++;
    pf_addr = va;
    pf_err = f->error;
    if (va < DEMAND || va >= DEMAND + 0x10000u || (f->error & 1))
        pv_fail("page fault at %#x (error %#x) from %04x:%08x", va, f->error,
                f->cs, f->eip);
    uint32_t r = pv_map(va & ~0xfffu, (uint32_t)kit_alloc_page(),
                        PTE_W | PTE_U);
    if (r != 1)
        pv_fail("MMU_UPDATE in the fault handler: %d", (int)r);
}

static void on_events(uint32_t bits)
{
    upcalls_seen++;
    events_seen |= bits;
    upcall_vif = pv_shared.vif;
    if (bits & PV_EV_TIMER)
        ticks++;
}

static void on_upcall_frame(struct pv_frame *f)
{
    upcall_frame_if = f->eflags & EFLAGS_IF;
    uint32_t bits = __atomic_exchange_n(&pv_shared.pending, 0, __ATOMIC_SEQ_CST);
    on_events(bits);
}

#define PROBE(insn, ...)                                                     \
    __asm__ volatile("movl $1f, %[at]\n\t"                                   \
                     "movl $2f, %[res]\n\t"                                  \
                     "1: " insn "\n"                                          \
                     "2:"                                                     \
                     : [at] "=m"(probe_at), [res] "=m"(probe_resume)         \
                     : __VA_ARGS__)

static void check_probe(const char *what, uint32_t n0, uint32_t cs)
{
    PV_CHECK(probe_n == n0 + 1 && probe_vec == VEC_GP && probe_err == 0 &&
             probe_eip == probe_at && probe_cs == cs,
             "%s in ring %u: #GP(0) at the instruction, through the trap table",
             what, cs & 3);
}

static uint32_t user_prog(void *arg)
{
    (void)arg;
    static const char msg[] = "# hello from ring 3 through int 0x80\n";
    if ((read_cs() & 3) != 3)
        return 100;
    if (kit_syscall(KIT_SYS_WRITE, (uint32_t)msg, sizeof(msg) - 1, 0) !=
        sizeof(msg) - 1)
        return 101;
    if (kit_syscall(KIT_SYS_GETPID, 0, 0, 0) != 42)
        return 102;
    volatile uint32_t *p = (volatile uint32_t *)DEMAND;
    p[0] = 0x600dbeef;                  /* #PF: mapped on demand */
    p[1024 + 5] = 7;                    /* the next page too */
    if (p[0] != 0x600dbeef || p[1024 + 5] != 7)
        return 103;
    uint32_t n0 = probe_n;
    PROBE("cli", "i"(0));
    if (probe_n != n0 + 1 || probe_vec != VEC_GP || probe_cs != 0x1b ||
        probe_eip != probe_at)
        return 104;
    if (pv_call(HC_VERSION, 0, 0, 0, 0) != PV_ERR(PV_EPERM))
        return 105;
    return 7;
}

static void kmain(void)
{
    uint32_t idx = 99;
    PV_CHECK_EQ(read_cs(), PV_SEL_KCODE, "the kernel runs in ring 1 (CS 0x31)");
    PV_CHECK(read_eflags() & EFLAGS_IF, "the real IF is set (events are gated by the virtual IF)");
    PV_CHECK_EQ(pv_call(HC_VERSION, 0, 0, 0, 0), 0x00010000u, "VERSION from ring 1");

    /* Refusals before anything is set up. */
    bad[0].vec = 13; bad[0].cs = PV_SEL_KCODE; bad[0].eip = pv_stub(13);
    bad[1].vec = 14; bad[1].cs = KIT_SEL_KCODE; bad[1].eip = pv_stub(14);
    PV_CHECK_EQ(pv_call_b(HC_SET_TRAP_TABLE, (uint32_t)bad, 2, 0, 0, &idx),
                PV_ERR(PV_EINVAL), "trap table: a ring-0 handler segment: -EINVAL");
    PV_CHECK_EQ(idx, 1, "... EBX names the refused entry");
    bad[1].cs = PV_SEL_KDATA;
    PV_CHECK_EQ(pv_call(HC_SET_TRAP_TABLE, (uint32_t)bad, 2, 0, 0),
                PV_ERR(PV_EINVAL), "trap table: a data segment as handler CS: -EINVAL");
    bad[1].cs = 0x41; /* GDT 8: ring 1 code with a 4 KiB limit */
    kit_gdt_set(8, 0, 0xfff, 0xba, 0x4);
    PV_CHECK_EQ(pv_call(HC_SET_TRAP_TABLE, (uint32_t)bad, 2, 0, 0),
                PV_ERR(PV_EINVAL), "trap table: a handler beyond its segment's limit: -EINVAL");
    bad[1].cs = 0x81; /* index 16: past the GDT */
    PV_CHECK_EQ(pv_call(HC_SET_TRAP_TABLE, (uint32_t)bad, 2, 0, 0),
                PV_ERR(PV_EINVAL), "trap table: a selector past the GDT: -EINVAL");
    bad[1].cs = PV_SEL_KCODE;
    bad[1].flags = 0x80;
    PV_CHECK_EQ(pv_call(HC_SET_TRAP_TABLE, (uint32_t)bad, 2, 0, 0),
                PV_ERR(PV_EINVAL), "trap table: unknown flags: -EINVAL");
    PV_CHECK_EQ(pv_call(HC_SET_TRAP_TABLE, 0xfffff000u, 2, 0, 0),
                PV_ERR(PV_EFAULT), "trap table outside RAM: -EFAULT");
    PV_CHECK_EQ(pv_call(HC_SET_TRAP_TABLE, (uint32_t)bad, 257, 0, 0),
                PV_ERR(PV_EINVAL), "trap table of 257 entries: -EINVAL");
    PV_CHECK_EQ(pv_call(HC_STACK_SWITCH, 0x23, 0x10000, 0, 0), PV_ERR(PV_EINVAL),
                "STACK_SWITCH to a ring-3 segment: -EINVAL");
    PV_CHECK_EQ(pv_call(HC_STACK_SWITCH, PV_SEL_KCODE, 0x10000, 0, 0), PV_ERR(PV_EINVAL),
                "STACK_SWITCH to a code segment: -EINVAL");
    PV_CHECK_EQ(pv_call(HC_SET_CALLBACK, (uint32_t)&pv_shared + 8, 0x50, 0, 0),
                PV_ERR(PV_EINVAL), "SET_CALLBACK of an unaligned page: -EINVAL");
    PV_CHECK_EQ(pv_call(HC_SET_CALLBACK, 0xfffff000u, 0x50, 0, 0),
                PV_ERR(PV_EFAULT), "SET_CALLBACK outside RAM: -EFAULT");

    PV_CHECK_EQ(pv_setup(), 0, "trap table, stack switch and callback set");
    PV_CHECK_EQ(pv_set_handler(VEC_GP, on_fault, 0), 0, "#GP handler set");
    PV_CHECK_EQ(pv_set_handler(VEC_UD, on_fault, 0), 0, "#UD handler set");
    PV_CHECK_EQ(pv_set_handler(VEC_PF, on_pf, PV_TRAP_MASK), 0, "#PF handler set");
    PV_CHECK_EQ(pv_call(HC_SET_TRAP_TABLE, (uint32_t)bad, 2, 0, 0),
                PV_ERR(PV_EINVAL), "a refused table leaves the one in force");

    /* Privileged instructions in ring 1. */
    uint32_t n0 = probe_n;
    PROBE("mov %[v], %%cr3", [v] "r"((uint32_t)pv_pd));
    check_probe("mov cr3", n0, PV_SEL_KCODE);
    n0 = probe_n;
    PROBE("cli", "i"(0));
    check_probe("cli (IOPL 0)", n0, PV_SEL_KCODE);
    PV_CHECK(read_eflags() & EFLAGS_IF, "the refused cli left the real IF set");
    static uint8_t gdtr[6];
    n0 = probe_n;
    PROBE("lgdt %[v]", [v] "m"(gdtr));
    check_probe("lgdt", n0, PV_SEL_KCODE);
    n0 = probe_n;
    PROBE("hlt", "i"(0));
    check_probe("hlt", n0, PV_SEL_KCODE);
    n0 = probe_n;
    PROBE("inb %%dx, %%al", "d"(0x3f8) : "eax");
    check_probe("in (IOPL 0)", n0, PV_SEL_KCODE);
    n0 = probe_n;
    PROBE("wrmsr", "c"(0x10), "a"(0), "d"(0));
    check_probe("wrmsr", n0, PV_SEL_KCODE);

    /* Port I/O through the hypercall instead. */
    PV_CHECK_EQ(pv_call(HC_PORT_IO, 0x80, 0x101, 0x5a, 0), 0, "PORT_IO: out 0x80, 0x5a");
    PV_CHECK_EQ(pv_inb(0x80), 0x5a, "PORT_IO: in 0x80 reads it back");
    PV_CHECK_EQ(pv_call(HC_PORT_IO, 0x80, 3, 0, 0), PV_ERR(PV_EINVAL), "PORT_IO of 3 bytes: -EINVAL");
    PV_CHECK_EQ(pv_call(HC_PORT_IO, 0x10000, 1, 0, 0), PV_ERR(PV_EINVAL), "PORT_IO to port 0x10000: -EINVAL");

    /* The virtual interrupt flag. */
    pv_on_events = on_events;
    pv_set_handler(PV_UPCALL_VECTOR, on_upcall_frame, 0);
    pv_cli();
    uint32_t u0 = upcalls_seen;
    PV_CHECK_EQ(pv_call(HC_EVENT_SEND, 0x100, 0, 0, 0), 0, "EVENT_SEND with events masked");
    PV_CHECK_EQ(upcalls_seen, u0, "masked: no upcall");
    PV_CHECK_EQ(pv_shared.pending, 0x100, "masked: the event is pending in the shared page");
    pv_sti();
    PV_CHECK_EQ(upcalls_seen, u0 + 1, "sti (a store) + YIELD: the upcall came");
    PV_CHECK_EQ(events_seen & 0x100, 0x100, "the upcall saw the event");
    PV_CHECK_EQ(upcall_vif, 0, "events were masked inside the upcall");
    PV_CHECK(upcall_frame_if, "the upcall's frame holds the virtual IF (1)");
    PV_CHECK_EQ(pv_shared.vif & 1, 1, "IRET restored the virtual IF");
    PV_CHECK_EQ(pv_shared.pending, 0, "nothing pending after the upcall");
    PV_CHECK_EQ(pv_call(HC_EVENT_SEND, 0x200, 0, 0, 0), 0, "EVENT_SEND with events on");
    PV_CHECK_EQ(upcalls_seen, u0 + 2, "enabled: the upcall came at once");
    PV_CHECK_EQ(pv_shared.upcalls, upcalls_seen, "the shared page counts the upcalls");

    /* Timer events wake BLOCK. */
    PV_CHECK_EQ(pv_call(HC_SET_TIMER, 1000000, 5, 0, 0), PV_ERR(PV_EINVAL),
                "SET_TIMER with a 5 ns period: -EINVAL");
    PV_CHECK_EQ(pv_call(HC_SET_TIMER, 1000000, 1000000, 0, 0), 0,
                "SET_TIMER: every millisecond");
    unsigned blocks = 0;
    while (ticks < 5 && blocks < 1000) {
        pv_cli();
        if (ticks < 5) {
            blocks++;
            pv_call(HC_BLOCK, 0, 0, 0, 0); /* enables events, sleeps */
        }
        pv_sti();
    }
    PV_CHECK(ticks >= 5, "5 timer events came through upcalls while blocked");
    PV_CHECK_EQ(pv_call(HC_SET_TIMER, 0, 0, 0, 0), 0, "SET_TIMER 0: off");

    /* Page tables: batched updates, refusals, a second address space. */
    frames[0][0] = 0x1111;
    frames[1][0] = 0x2222;
    uint32_t *pte = kit_pte(pv_pd, ALIAS);
    for (int k = 0; k < 4; k++) {
        req[k][0] = (uint32_t)(pte + k);
        req[k][1] = (uint32_t)frames[k & 1] | PTE_P | PTE_W;
    }
    PV_CHECK_EQ(pv_call(HC_MMU_UPDATE, (uint32_t)req, 4, 1, 0), 4,
                "one MMU_UPDATE maps 4 pages");
    PV_CHECK(*(volatile uint32_t *)ALIAS == 0x1111 &&
             *(volatile uint32_t *)(ALIAS + PAGE_SIZE) == 0x2222 &&
             *(volatile uint32_t *)(ALIAS + 3 * PAGE_SIZE) == 0x2222,
             "the 4 pages map what the batch said");
    req[0][1] = 0xfee00000u | PTE_P | PTE_W;
    PV_CHECK_EQ(pv_call_b(HC_MMU_UPDATE, (uint32_t)req, 1, 1, 0, &idx),
                PV_ERR(PV_EINVAL), "mapping the local APIC (not RAM): -EINVAL");
    uint32_t *pd2 = kit_alloc_page();
    for (int k = 0; k < 2; k++) {
        req[k][0] = (uint32_t)&pd2[k] | 1;
        req[k][1] = pv_pd[k];
    }
    req[2][0] = (uint32_t)&pd2[ALIAS >> 22] | 1;
    req[2][1] = pv_pd[ALIAS >> 22];
    PV_CHECK_EQ(pv_call(HC_MMU_UPDATE, (uint32_t)req, 3, 0, 0), 3,
                "a second page directory built by one MMU_UPDATE");
    uint32_t *pt2 = kit_alloc_page();
    memcpy(pt2, (void *)(pv_pd[ALIAS >> 22] & ~0xfffu), PAGE_SIZE);
    req[0][0] = (uint32_t)&pd2[ALIAS >> 22] | 1;
    req[0][1] = (uint32_t)pt2 | PTE_P | PTE_W | PTE_U;
    req[1][0] = (uint32_t)&pt2[(ALIAS >> 12) & 1023];
    req[1][1] = (uint32_t)frames[1] | PTE_P | PTE_W;
    PV_CHECK_EQ(pv_call(HC_MMU_UPDATE, (uint32_t)req, 2, 0, 0), 2,
                "... with its own page table for ALIAS");
    PV_CHECK_EQ(pv_call(HC_NEW_BASEPTR, (uint32_t)pd2 + 2, 0, 0, 0), PV_ERR(PV_EINVAL),
                "NEW_BASEPTR unaligned: -EINVAL");
    PV_CHECK_EQ(pv_call(HC_NEW_BASEPTR, 0xfffff000u, 0, 0, 0), PV_ERR(PV_EFAULT),
                "NEW_BASEPTR outside RAM: -EFAULT");
    PV_CHECK_EQ(pv_call(HC_NEW_BASEPTR, (uint32_t)pd2, 0, 0, 0), 0, "NEW_BASEPTR to it");
    PV_CHECK_EQ(*(volatile uint32_t *)ALIAS, 0x2222, "the second space maps ALIAS elsewhere");
    PV_CHECK_EQ(pv_call(HC_NEW_BASEPTR, (uint32_t)pv_pd, 0, 0, 0), 0, "NEW_BASEPTR back");
    PV_CHECK_EQ(*(volatile uint32_t *)ALIAS, 0x1111, "the first space again");

    /* A user program in ring 3. */
    uint32_t pf0 = pf_count;
    PV_CHECK_EQ(pv_run_user(user_prog, NULL, ustack + sizeof(ustack)), 7,
                "a ring-3 program ran its checks and returned 7");
    PV_CHECK_EQ(pf_count, pf0 + 2, "its 2 page faults were served");
    PV_CHECK_EQ(pf_err, PF_ERR_W | PF_ERR_U, "... as user writes to absent pages");
    PV_CHECK_EQ(pf_addr, DEMAND + PAGE_SIZE + 20, "... the last at its address (shared CR2)");
    PV_CHECK_EQ(read_cs(), PV_SEL_KCODE, "back in ring 1");
    PV_CHECK_EQ(pv_run_user(user_prog, NULL, ustack + sizeof(ustack)), 7,
                "again, with its pages now present");
    PV_CHECK_EQ(pf_count, pf0 + 2, "no page fault the second time");
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_printf("# ring 0: set up paging and ring-1 segments, drop to ring 1\n");
    pv_boot(kmain);
}
