/* kvm_assist_interp.c - the kvm engine's assists for 32-bit guests (not in
 * IA-32e mode) call the interpreter, as bt's callouts do: the vCPU state
 * goes into a struct interp_cpu, interp_step() runs the one instruction
 * KVM's emulator gave up on (INT n/INT3/INTO and IRET with their
 * protected-mode delivery rules, LAR/LSL/VERR/VERW, CLAC/STAC, FWAIT;
 * an exception it raises is delivered through the guest's IDT as the CPU
 * would), and the state goes back to KVM.  The #UD trap of user-mode
 * software interrupts (kvm_assist_ud) undoes the #UD delivery with the
 * interpreter's IRET, then runs the instruction the same way.  What stays
 * in kvm_assist*.c is what the interpreter cannot do: IA-32e mode, POPCNT,
 * RDRAND/RDSEED, CMPXCHG16B.  The instruction is decoded with the shared
 * decoder (x86/decode.c).  UNTESTED here (no /dev/kvm on this host); the
 * interpreter side is the one the interp and bt engines run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/machine.h"
#include "../interp/cpu.h"
#include "kvm_assist.h"
#include "kvm_priv.h"

/* Which of the instructions KVM gives up on the interpreter runs here. */
static const char *interp_insn(const struct insn *i)
{
    switch (i->op) {
    case 0xcf: return "iret";
    case 0xcd: return "int";
    case 0xcc: return "int3";
    case 0xce: return "into";
    case 0x9b: return "fwait";
    case OP_MAP0F + 0x00: return i->reg == 4 || i->reg == 5 ? "verr/verw" : NULL;
    case OP_MAP0F + 0x02: return "lar";
    case OP_MAP0F + 0x03: return "lsl";
    case OP_MAP0F + 0x01: /* 0F 01 CA/CB: clac/stac */
        return i->modrm == 0xca || i->modrm == 0xcb ? "clac/stac" : NULL;
    default: return NULL;
    }
}

static struct interp_cpu *icpu(struct machine *m)
{
    struct kvm_engine *k = KVM_OF(m);
    if (!k->icpu) {
        k->icpu = aligned_alloc(64, (sizeof(struct interp_cpu) + 63) & ~63ul);
        if (!k->icpu)
            return NULL;
        memset(k->icpu, 0, sizeof(*k->icpu));
        interp_cpu_init(k->icpu, m->ram, (uint32_t)m->ram_size, m);
    }
    return k->icpu;
}

/* Decode the instruction at CS:EIP of the state in a (through the guest's
 * paging).  False if it cannot be read or decoded. */
static bool fetch_decode(struct assist *a, struct insn *i)
{
    uint8_t b[X86_MAX_INSN];
    memset(b, 0, sizeof(b));
    uint64_t pc = a->sr.cs.base + a->r.rip;
    bool user = a->cpl == 3;
    unsigned n = sizeof(b);
    if (gm_access(&a->g, pc, b, n, false, user) != A_OK) {
        /* the tail may run into an unmapped page: fewer bytes will do */
        a->g.fault_vec = 0;
        n = 4096 - (unsigned)(pc & 0xfff);
        if (n >= sizeof(b) || gm_access(&a->g, pc, b, n, false, user) != A_OK)
            return false;
    }
    return x86_decode(b, n, a->sr.cs.db, i) > 0;
}

/* Run the instruction at CS:EIP of the interpreter's state and hand the
 * result back to KVM (orig: the state KVM had, for what the interpreter
 * does not hold). */
static int run_and_store(struct machine *m, struct interp_cpu *c,
                         const struct cpu_state *orig, const struct insn *i,
                         const char *name, struct vm_exit *ex)
{
    struct kvm_engine *k = KVM_OF(m);
    uint32_t at = c->eip;
    int r = interp_step(c);
    if (r == -2) {
        ex->reason = EXIT_SHUTDOWN;
        snprintf(ex->msg, sizeof(ex->msg),
                 "triple fault in %s at eip %#x (interpreter assist)", name,
                 at);
        return 1;
    }
    struct cpu_state s;
    interp_cpu_get_state(c, &s);
    for (int g = 8; g < NR_GPRS; g++)
        s.gpr[g] = orig->gpr[g];
    s.cr8 = orig->cr8;
    s.efer = (orig->efer & ~(uint64_t)EFER_SCE) | (s.efer & EFER_SCE);
    if (kvm_set_state(m, &s) < 0)
        return -1;
    ex->reason = EXIT_NONE;
    k->assisted = true;
    if (r >= 0) {
        k->assist_faults++;
    } else if (i->op == 0xcf) {
        k->assist_iret++;
        if (k->irq_depth)
            k->irq_depth--;
    } else if (i->op == 0xcd || i->op == 0xcc || i->op == 0xce) {
        k->assist_int++;
    } else if (i->op >= OP_MAP0F && i->op != OP_MAP0F + 0x01) {
        k->assist_seg++;
    } else {
        k->assist_other++;
    }
    if (k->trace)
        plog(PLOG_EXEC, "assist %s (interpreter) at %#x: -> eip %#x, "
             "vector %d", name, at, c->eip, r);
    return 1;
}

/* The interpreter's state from KVM's (a 32-bit guest). */
static struct interp_cpu *load(struct machine *m, struct cpu_state *s)
{
    struct interp_cpu *c = icpu(m);
    if (!c) {
        fail("kvm: out of memory");
        return NULL;
    }
    if (kvm_get_state(m, s) < 0 || interp_cpu_set_state(c, s, "kvm") < 0)
        return NULL;
    return c;
}

int kvm_assist_interp(struct machine *m, struct assist *a,
                      struct vm_exit *ex)
{
    struct insn i;
    const char *name;
    if (!fetch_decode(a, &i) || !(name = interp_insn(&i)))
        return 0;
    struct cpu_state s;
    struct interp_cpu *c = load(m, &s);
    if (!c)
        return -1;
    return run_and_store(m, c, &s, &i, name, ex);
}

int kvm_assist_ud_interp(struct machine *m, struct assist *a,
                         struct vm_exit *ex)
{
    struct cpu_state s;
    struct interp_cpu *c = load(m, &s);
    if (!c)
        return -1;
    /* undo the #UD delivery: back to the user instruction */
    if (!interp_unwind_iret(c, 4) || c->cpl == 0)
        return 0;
    struct assist user = *a;
    user.g.sr = &user.sr;
    user.sr.cs.base = c->seg[SEG_CS].base;
    user.sr.cs.db = c->seg[SEG_CS].db;
    user.r.rip = c->eip;
    user.cpl = c->cpl;
    struct insn i;
    const char *name;
    if (!fetch_decode(&user, &i) || !(name = interp_insn(&i)))
        return 0;
    KVM_OF(m)->ud_trapped++;
    return run_and_store(m, c, &s, &i, name, ex);
}
