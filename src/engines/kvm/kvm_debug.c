/* kvm_debug.c - the kvm engine's use of KVM_SET_GUEST_DEBUG to make up
 * for two things the kvm_pvm backend does not do (on VMX/SVM hosts this
 * file stays idle):
 *
 * 1. Interrupt windows.  kvm_pvm (at least for emulated code) ignores
 *    request_interrupt_window: it does not exit when the guest becomes
 *    interruptible, so an interrupt that arrives while IF=0 would wait for
 *    the next unrelated exit, and be missed entirely in "sti; nop; cli".
 *    While the run loop waits for a window we single-step the guest
 *    (KVM_GUESTDBG_SINGLESTEP) and report EXIT_IRQ_WINDOW at the first
 *    instruction boundary where KVM says an interrupt can be injected.
 *    Not inside an injected interrupt's handler (its IRET exits anyway),
 *    not over a HLT, and at most WINDOW_STEP_BUDGET steps per interrupt.
 *
 * 2. The #UD trap.  kvm_pvm runs 32-bit guest code through KVM's
 *    instruction emulator; at CPL > 0 an instruction the emulator cannot do
 *    (INT n, the system call instruction of 32-bit OSes) becomes a #UD
 *    delivered straight to the guest, with no exit to us.  So, on that
 *    backend only, we keep a hardware breakpoint (KVM_SET_GUEST_DEBUG, DR0
 *    execute) on the first instruction of the guest's #UD handler,
 *    re-checked against the guest IDT before every KVM_RUN; a hit comes
 *    back as KVM_EXIT_DEBUG and kvm_assist_ud() decides whether the #UD
 *    was really one of our instructions.  The guest's own debug registers
 *    are not usable while the trap is armed; 32-bit protected mode only.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../core/machine.h"
#include "kvm_guestmem.h"
#include "kvm_priv.h"

#define VEC_UD 6
#define DR7_L0_EXEC 0x401ull /* L0 enable, R/W0 = execute, LEN0 = 1 byte */
#define DR6_B0 1ull
#define DR6_BS (1ull << 14)

/* Linear address of the guest's #UD handler, if the IDT has a usable
 * 32-bit interrupt or trap gate for it. */
static bool ud_handler(struct machine *m, const struct kvm_sregs *sr,
                       uint64_t *addr)
{
    if (!(sr->cr0 & CR0_PE) || (sr->efer & EFER_LMA) ||
        sr->idt.limit < VEC_UD * 8 + 7)
        return false;
    struct gmem g;
    memset(&g, 0, sizeof(g));
    g.m = m;
    g.sr = sr;
    uint64_t gate, d, where;
    if (gm_access(&g, sr->idt.base + VEC_UD * 8, &gate, 8, false, false) !=
        A_OK)
        return false;
    unsigned type = (gate >> 40) & 0x1f;
    if ((type != 0xe && type != 0xf) || !((gate >> 47) & 1))
        return false;
    uint16_t sel = (uint16_t)(gate >> 16);
    uint64_t off = (gate & 0xffff) | ((gate >> 32) & 0xffff0000ull);
    if (!(sel & 0xfffc) || gm_read_desc(&g, sel, &d, &where) != A_OK)
        return false;
    struct kvm_segment cs;
    gm_desc_to_seg(d, sel, &cs);
    *addr = (cs.base + off) & 0xffffffffull;
    return true;
}

/* Is the next instruction a HLT?  Stepping over one makes kvm_pvm report
 * a stale HLT exit later, so "sti; hlt" is left to run: the HLT exit comes
 * with IF=1 and the window open. */
static bool at_hlt(struct machine *m, const struct kvm_regs *r,
                   const struct kvm_sregs *sr)
{
    struct gmem g;
    memset(&g, 0, sizeof(g));
    g.m = m;
    g.sr = sr;
    g.lma = (sr->efer & EFER_LMA) != 0;
    uint8_t op = 0;
    return gm_access(&g, sr->cs.base + r->rip, &op, 1, false,
                     sr->ss.dpl == 3) == A_OK &&
           op == 0xf4;
}

int kvm_debug_prepare(struct machine *m)
{
    struct kvm_engine *k = KVM_OF(m);
    if (!k->ud_trap && !k->window_step && !k->udbg_on && !k->udbg_dirty)
        return 0;
    struct kvm_regs r;
    struct kvm_sregs sr;
    if (kvm_fetch_regs(k, &r, &sr) < 0)
        return -1;
    uint64_t addr = 0;
    bool bp = false;
    /* After a genuine #UD the handler must get past its first instruction:
     * the breakpoint stays off until the next exit. */
    if (k->ud_trap && !k->ud_skip)
        bp = ud_handler(m, &sr, &addr);
    k->ud_skip = false;
    bool step = k->step_for_window && !at_hlt(m, &r, &sr);
    /* A debugger's hardware breakpoints take the debug registers. */
    bool user_hw = k->udbg_on && k->udbg.nhw;
    if (user_hw)
        bp = false;
    if (!k->udbg_dirty && bp == k->ud_armed && (!bp || addr == k->ud_addr) &&
        step == k->stepping)
        return 0;
    k->udbg_dirty = false;
    struct kvm_guest_debug dbg;
    memset(&dbg, 0, sizeof(dbg));
    if (bp || step || k->udbg_on)
        dbg.control = KVM_GUESTDBG_ENABLE;
    if (step || (k->udbg_on && k->udbg.single_step))
        dbg.control |= KVM_GUESTDBG_SINGLESTEP;
    if (bp) {
        dbg.control |= KVM_GUESTDBG_USE_HW_BP;
        dbg.arch.debugreg[0] = addr;
        dbg.arch.debugreg[7] = DR7_L0_EXEC;
    }
    if (k->udbg_on && k->udbg.nsw)
        dbg.control |= KVM_GUESTDBG_USE_SW_BP;
    if (user_hw) {
        dbg.control |= KVM_GUESTDBG_USE_HW_BP;
        dbg.arch.debugreg[7] = 0x400;
        for (unsigned n = 0; n < k->udbg.nhw && n < 4; n++) {
            dbg.arch.debugreg[n] = k->udbg.hw[n];
            dbg.arch.debugreg[7] |= 1ull << (2 * n); /* Ln, execute */
        }
    }
    if (ioctl(k->vcpu_fd, KVM_SET_GUEST_DEBUG, &dbg) < 0)
        return fail("KVM_SET_GUEST_DEBUG (#UD trap at %#llx, step %d): %s",
                    (unsigned long long)addr, step, strerror(errno));
    k->ud_armed = bp;
    k->ud_addr = addr;
    k->stepping = step;
    return 0;
}

int kvm_debug_exit(struct machine *m, struct vm_exit *ex)
{
    struct kvm_engine *k = KVM_OF(m);
    const struct kvm_debug_exit_arch *d = &k->run->debug.arch;
    if (k->udbg_on &&
        ((d->exception == 3 && k->udbg.nsw) ||
         (k->udbg.single_step && (d->dr6 & DR6_BS)) ||
         (k->udbg.nhw && (d->dr6 & 0xf)))) {
        ex->reason = EXIT_DEBUG; /* a debugger's breakpoint or step */
        return 1;
    }
    if (k->ud_armed && (d->dr6 & DR6_B0) && d->pc == k->ud_addr)
        return kvm_assist_ud(m, ex);
    if (k->stepping && (d->dr6 & DR6_BS)) {
        k->window_steps++;
        if (k->step_budget)
            k->step_budget--;
        struct kvm_run *run = k->run;
        ex->reason = run->ready_for_interrupt_injection && run->if_flag
                         ? EXIT_IRQ_WINDOW
                         : EXIT_NONE;
        return 1;
    }
    return 0;
}
