/* kvm_assist.c - finishing the instructions KVM's in-kernel x86 emulator
 * gives up on.  On backends that run guest kernel code through that
 * emulator (kvm_pvm: all CPL0 code and all 32-bit code), KVM cannot do a
 * protected-mode IRET or a software interrupt (INT n, INT3, INTO): it
 * returns KVM_EXIT_INTERNAL_ERROR / KVM_INTERNAL_ERROR_EMULATION.  For a
 * 32-bit guest the interpreter runs the instruction (kvm_assist_interp.c,
 * as bt's callouts); what is left here is what the interpreter cannot do:
 * INT/IRET in IA-32e mode (SDM Vol. 2A "INT n/INTO/INT3/INT1",
 * "IRET/IRETD/IRETQ", Vol. 3A 6.14), done on the state from
 * KVM_GET_REGS/SREGS, walking the guest page tables (the shared walker) for
 * stack and descriptor accesses; faults found on the way are injected with
 * KVM_SET_VCPU_EVENTS.  kvm_assist_seg.c (LAR/LSL/VERR/VERW and CLAC/STAC
 * in IA-32e mode), kvm_assist_grp9.c (CMPXCHG16B/RDRAND/RDSEED) and
 * kvm_assist_popcnt.c add the rest; kvm_assist_ud() below serves the #UD
 * trap of kvm_debug.c.  An assisted IRET also ends an injected interrupt's
 * handler (irq_depth, see kvm_priv.h).  On VMX/SVM hosts these exits never
 * happen and this file is idle. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../core/machine.h"
#include "kvm_assist.h"
#include "kvm_priv.h"

/* Load a code segment for a far transfer to privilege rpl (IRET rules). */
static int load_code_seg(struct assist *a, uint16_t sel,
                         struct kvm_segment *cs, uint64_t *d, uint64_t *where)
{
    if (!(sel & 0xfffc))
        return gm_fault(&a->g, VEC_GP, 0);
    int rc = gm_read_desc(&a->g, sel, d, where);
    if (rc != A_OK)
        return rc;
    gm_desc_to_seg(*d, sel, cs);
    if (!is_code(cs))
        return gm_fault(&a->g, VEC_GP, sel & 0xfffc);
    if (!cs->present)
        return gm_fault(&a->g, VEC_NP, sel & 0xfffc);
    return A_OK;
}

static int load_stack_seg(struct assist *a, uint16_t sel, int cpl,
                          int vec_bad, struct kvm_segment *ss)
{
    if (!(sel & 0xfffc)) {
        /* 64-bit mode allows a null SS below CPL 3. */
        if (a->lma && cpl < 3) {
            memset(ss, 0, sizeof(*ss));
            ss->selector = sel;
            ss->unusable = 1;
            ss->dpl = (uint8_t)cpl;
            ss->db = 1;
            ss->s = 1;
            ss->type = 3;
            return A_OK;
        }
        return gm_fault(&a->g, vec_bad, 0);
    }
    uint64_t d, where;
    int rc = gm_read_desc(&a->g, sel, &d, &where);
    if (rc != A_OK)
        return rc;
    gm_desc_to_seg(d, sel, ss);
    if ((sel & 3) != cpl || ss->dpl != cpl || !is_writable_data(ss))
        return gm_fault(&a->g, vec_bad, sel & 0xfffc);
    if (!ss->present)
        return gm_fault(&a->g, VEC_SS, sel & 0xfffc);
    return gm_set_accessed(&a->g, where, d);
}

/* ---- the stack ---- */

static uint64_t stack_mask(const struct kvm_segment *ss, bool in64)
{
    if (in64)
        return ~0ull;
    return ss->db ? 0xffffffffull : 0xffffull;
}

static int push(struct assist *a, const struct kvm_segment *ss, uint64_t *sp,
                uint64_t mask, uint64_t v, unsigned size, bool user)
{
    uint64_t nsp = (*sp - size) & mask;
    int rc = gm_access(&a->g, ss->base + nsp, &v, size, true, user);
    if (rc != A_OK)
        return rc;
    *sp = (*sp & ~mask) | nsp;
    return A_OK;
}

static int pop(struct assist *a, uint64_t *sp, uint64_t mask, uint64_t *v,
               unsigned size, bool user)
{
    *v = 0;
    int rc = gm_access(&a->g, a->sr.ss.base + (*sp & mask), v, size, false,
                       user);
    if (rc != A_OK)
        return rc;
    *sp = (*sp & ~mask) | ((*sp + size) & mask);
    return A_OK;
}

/* ---- INT n / INT3 / INTO ---- */

static int do_int(struct assist *a, uint8_t vec, uint64_t next_rip)
{
    unsigned gsz = 16; /* IA-32e mode only (32-bit: the interpreter) */
    uint32_t gerr = vec * 8u + 2;
    if ((uint64_t)vec * gsz + gsz - 1 > a->sr.idt.limit)
        return gm_fault(&a->g, VEC_GP, gerr);
    uint64_t g[2] = {0, 0};
    int rc = gm_access(&a->g, a->sr.idt.base + (uint64_t)vec * gsz, g, gsz,
                        false, false);
    if (rc != A_OK)
        return rc;
    unsigned type = (g[0] >> 40) & 0x1f; /* S bit and type */
    unsigned gdpl = (g[0] >> 45) & 3;
    bool present = (g[0] >> 47) & 1;
    if (type != 0xe && type != 0xf)
        return gm_fault(&a->g, VEC_GP, gerr);
    if ((int)gdpl < a->cpl)
        return gm_fault(&a->g, VEC_GP, gerr);
    if (!present)
        return gm_fault(&a->g, VEC_NP, gerr);
    uint16_t sel = (uint16_t)(g[0] >> 16);
    uint64_t target = (g[0] & 0xffff) | ((g[0] >> 32) & 0xffff0000ull) |
                      (g[1] & 0xffffffffull) << 32;
    unsigned ist = (g[0] >> 32) & 7;

    struct kvm_segment cs;
    uint64_t d, where;
    if (!(sel & 0xfffc))
        return gm_fault(&a->g, VEC_GP, 0);
    rc = gm_read_desc(&a->g, sel, &d, &where);
    if (rc != A_OK)
        return rc;
    gm_desc_to_seg(d, sel, &cs);
    if (!is_code(&cs) || cs.dpl > a->cpl)
        return gm_fault(&a->g, VEC_GP, sel & 0xfffc);
    if (!cs.present)
        return gm_fault(&a->g, VEC_NP, sel & 0xfffc);
    if (!cs.l || cs.db)
        return gm_fault(&a->g, VEC_GP, sel & 0xfffc);

    int new_cpl = is_conforming(&cs) ? a->cpl : cs.dpl;
    struct kvm_segment ss = a->sr.ss;
    uint64_t sp = a->r.rsp;
    bool outer = new_cpl < a->cpl;
    uint32_t tss_sp_off = 0;
    if (ist)
        tss_sp_off = 0x24 + 8 * (ist - 1);     /* ISTn */
    else if (outer)
        tss_sp_off = 4 + 8u * (unsigned)new_cpl; /* RSPn */
    if (tss_sp_off) {
        const struct kvm_segment *tr = &a->sr.tr;
        if (tss_sp_off + 7 > tr->limit)
            return gm_fault(&a->g, VEC_TS, tr->selector & 0xfffc);
        uint64_t v = 0;
        rc = gm_access(&a->g, tr->base + tss_sp_off, &v, 8, false, false);
        if (rc != A_OK)
            return rc;
        sp = v;
    }
    if (outer) {
        memset(&ss, 0, sizeof(ss));
        ss.selector = (uint16_t)new_cpl;
        ss.unusable = 1;
        ss.dpl = (uint8_t)new_cpl;
        ss.s = 1;
        ss.type = 3;
        ss.db = 1;
    }
    sp &= ~0xfull;
    bool user = new_cpl == 3;
    unsigned size = 8;
    uint64_t mask = ~0ull;
    uint64_t flags = a->r.rflags;
    {
        rc = push(a, &ss, &sp, mask, a->sr.ss.selector, size, user);
        if (rc == A_OK)
            rc = push(a, &ss, &sp, mask, a->r.rsp, size, user);
        if (rc != A_OK)
            return rc;
    }
    rc = push(a, &ss, &sp, mask, flags, size, user);
    if (rc == A_OK)
        rc = push(a, &ss, &sp, mask, a->sr.cs.selector, size, user);
    if (rc == A_OK)
        rc = push(a, &ss, &sp, mask, next_rip, size, user);
    if (rc != A_OK)
        return rc;
    rc = gm_set_accessed(&a->g, where, d);
    if (rc != A_OK)
        return rc;
    cs.selector = (uint16_t)((sel & 0xfffc) | (unsigned)new_cpl);
    cs.type |= 1;
    a->sr.cs = cs;
    a->sr.ss = ss;
    a->r.rsp = sp;
    a->r.rip = target;
    a->r.rflags &= ~(uint64_t)(FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM);
    if (type == 0xe)
        a->r.rflags &= ~(uint64_t)FLAG_IF;
    return A_OK;
}

/* ---- IRET ---- */

static void null_if_unreachable(struct kvm_segment *s, int cpl)
{
    if (s->unusable || !s->present)
        return;
    bool data_or_nc = !is_code(s) || !is_conforming(s);
    if (data_or_nc && s->dpl < cpl) {
        s->selector = 0;
        s->unusable = 1;
        s->present = 0;
    }
}

static int do_iret(struct assist *a, unsigned size)
{
    if (a->r.rflags & FLAG_NT) /* IA-32e mode: no task return */
        return gm_fault(&a->g, VEC_GP, 0);
    bool user = a->cpl == 3;
    uint64_t mask = stack_mask(&a->sr.ss, a->code64);
    uint64_t sp = a->r.rsp, rip, csel, fl, nsp = 0, nss = 0;
    int rc = pop(a, &sp, mask, &rip, size, user);
    if (rc == A_OK)
        rc = pop(a, &sp, mask, &csel, size, user);
    if (rc == A_OK)
        rc = pop(a, &sp, mask, &fl, size, user);
    if (rc != A_OK)
        return rc;
    struct kvm_segment cs;
    uint64_t d, where;
    uint16_t sel = (uint16_t)csel;
    rc = load_code_seg(a, sel, &cs, &d, &where);
    if (rc != A_OK)
        return rc;
    int rpl = sel & 3;
    if (rpl < a->cpl || (is_conforming(&cs) && cs.dpl > rpl) ||
        (!is_conforming(&cs) && cs.dpl != rpl))
        return gm_fault(&a->g, VEC_GP, sel & 0xfffc);
    if (cs.l && cs.db)
        return gm_fault(&a->g, VEC_GP, sel & 0xfffc);
    bool outer = rpl > a->cpl;
    struct kvm_segment ss = a->sr.ss;
    if (outer || a->code64) {
        rc = pop(a, &sp, mask, &nsp, size, user);
        if (rc == A_OK)
            rc = pop(a, &sp, mask, &nss, size, user);
        if (rc != A_OK)
            return rc;
        rc = load_stack_seg(a, (uint16_t)nss, rpl, VEC_GP, &ss);
        if (rc != A_OK)
            return rc;
        if (!cs.l && ss.unusable)
            return gm_fault(&a->g, VEC_GP, 0);
        sp = nsp;
    }
    rc = gm_set_accessed(&a->g, where, d);
    if (rc != A_OK)
        return rc;

    /* Which flags IRET may change depends on the old CPL and IOPL. */
    uint64_t changeable = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF |
                          FLAG_TF | FLAG_DF | FLAG_OF | FLAG_NT | FLAG_RF |
                          FLAG_AC | FLAG_ID;
    unsigned iopl = (a->r.rflags >> 12) & 3;
    if (a->cpl <= (int)iopl)
        changeable |= FLAG_IF;
    if (a->cpl == 0)
        changeable |= FLAG_IOPL | FLAG_VIF | FLAG_VIP;
    if (size == 2)
        changeable &= 0xffff;
    a->r.rflags = (a->r.rflags & ~changeable) | (fl & changeable) | 2;

    cs.type |= 1;
    a->sr.cs = cs;
    a->sr.ss = ss;
    if (!outer && !a->code64)
        a->r.rsp = sp;
    else
        a->r.rsp = nsp;
    a->r.rip = cs.l ? rip : (rip & (size == 2 ? 0xffff : 0xffffffffull));
    if (outer) {
        null_if_unreachable(&a->sr.es, rpl);
        null_if_unreachable(&a->sr.ds, rpl);
        null_if_unreachable(&a->sr.fs, rpl);
        null_if_unreachable(&a->sr.gs, rpl);
    }
    return A_OK;
}

/* ---- decode and dispatch ---- */

static int inject_fault(struct kvm_engine *k, struct assist *a)
{
    if (a->g.fault_vec == VEC_PF) {
        a->sr.cr2 = a->g.fault_cr2;
        if (kvm_store_regs(k, &a->r, &a->sr) < 0)
            return -1;
    }
    struct kvm_vcpu_events ev;
    if (ioctl(k->vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return fail("KVM_GET_VCPU_EVENTS: %s", strerror(errno));
    ev.exception.injected = 1;
    ev.exception.nr = (uint8_t)a->g.fault_vec;
    int v = a->g.fault_vec;
    ev.exception.has_error_code =
        v == 8 || (v >= 10 && v <= 14) || v == 17;
    ev.exception.error_code = a->g.fault_err;
    ev.flags = 0;
    if (ioctl(k->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
        return fail("KVM_SET_VCPU_EVENTS: %s", strerror(errno));
    return 0;
}

static int assist_begin(struct machine *m, struct assist *a)
{
    memset(a, 0, sizeof(*a));
    a->g.m = m;
    a->g.sr = &a->sr;
    if (kvm_fetch_regs(KVM_OF(m), &a->r, &a->sr) < 0)
        return -1;
    a->cpl = a->sr.ss.dpl; /* as in KVM: the CPL is SS.DPL */
    a->lma = (a->sr.efer & EFER_LMA) != 0;
    a->g.lma = a->lma;
    a->code64 = a->lma && a->sr.cs.l;
    return 0;
}

/* One of the instructions we do, decoded at CS:RIP. */
/* Returns true if CS:RIP holds one of ours. */
static bool decode(struct assist *a, struct assist_insn *in)
{
    uint8_t b[15];
    memset(b, 0, sizeof(b));
    uint64_t pc = a->sr.cs.base + a->r.rip;
    bool user = a->cpl == 3;
    if (gm_access(&a->g, pc, b, sizeof(b), false, user) != A_OK) {
        /* The tail may run into an unmapped page: fewer bytes will do. */
        memset(b, 0, sizeof(b));
        a->g.fault_vec = 0;
        if (gm_access(&a->g, pc, b, 4, false, user) != A_OK)
            return false;
    }
    memset(in, 0, sizeof(*in));
    memcpy(in->bytes, b, sizeof(b));
    in->seg = -1;
    bool big = a->code64 || a->sr.cs.db;
    unsigned i = 0, osz = big ? 4 : 2;
    in->asz = a->code64 ? 8 : big ? 4 : 2;
    bool rex_w = false;
    for (; i < sizeof(b) - 2; i++) {
        uint8_t c = b[i];
        static const uint8_t seg_prefix[] = {0x26, 0x2e, 0x36, 0x3e, 0x64,
                                             0x65}; /* ES CS SS DS FS GS */
        const uint8_t *sp = memchr(seg_prefix, c, sizeof(seg_prefix));
        if (c == 0x66) {
            osz = big ? 2 : 4;
        } else if (c == 0x67) {
            in->asz = a->code64 ? 4 : big ? 2 : 4;
        } else if (sp) {
            in->seg = (int)(sp - seg_prefix);
        } else if (c == 0xf3) {
            in->rep = true;
        } else if (c == 0xf0 || c == 0xf2) {
            /* no effect on the instructions we do */
        } else if (a->code64 && (c & 0xf0) == 0x40) {
            rex_w = (c & 8) != 0;
            in->rex_r = (c & 4) != 0;
            in->rex_x = (c & 2) != 0;
            in->rex_b = (c & 1) != 0;
            continue;
        } else {
            break;
        }
        /* a REX prefix counts only right before the opcode */
        rex_w = in->rex_r = in->rex_x = in->rex_b = false;
    }
    if (i >= sizeof(b) - 2)
        return false;
    in->op = b[i];
    in->imm = b[i + 1];
    in->osz = rex_w ? 8 : osz;
    in->len = i + 1;
    in->next = a->r.rip + i + 1;
    switch (in->op) {
    case 0x0f:
        in->op2 = b[i + 1];
        in->len = i + 2;
        return (a->lma && (seg_decode(a, in) || grp7_decode(a, in))) ||
               grp9_decode(a, in) || popcnt_decode(a, in);
    /* the rest: IA-32e mode only (32-bit guests: kvm_assist_interp.c) */
    case 0xcf:
        in->name = "iret";
        return a->lma;
    case 0xcd:
        in->name = "int";
        in->next++;
        return a->lma;
    case 0xcc:
        in->name = "int3";
        return a->lma;
    case 0xce:
        in->name = "into";
        return a->lma && !a->code64;
    case 0x9b:
        in->name = "fwait";
        return a->lma;
    default:
        return false;
    }
}

static int execute(struct assist *a, const struct assist_insn *in)
{
    switch (in->op) {
    case 0x0f:
        if (in->op2 == 0x01)
            return grp7_execute(a, in);
        if (in->op2 == 0xb8)
            return popcnt_execute(a, in);
        return in->op2 == 0xc7 ? grp9_execute(a, in) : seg_execute(a, in);
    case 0xcf:
        return do_iret(a, in->osz);
    case 0xcd:
        return do_int(a, in->imm, in->next);
    case 0xcc:
        return do_int(a, 3, in->next);
    case 0x9b:
        /* FWAIT: #NM if CR0.TS and CR0.MP; pending x87 exceptions (#MF)
         * are not looked for. */
        if ((a->sr.cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP))
            return gm_fault(&a->g, 7, 0);
        a->r.rip = in->next;
        return A_OK;
    default: /* into */
        if (!(a->r.rflags & FLAG_OF)) {
            a->r.rip = in->next;
            return A_OK;
        }
        return do_int(a, 4, in->next);
    }
}

/* Commit the result of execute(): new registers, or the fault, or stop. */
static int finish(struct machine *m, const struct assist *before,
                  struct assist *a, const struct assist_insn *in, int rc,
                  struct vm_exit *ex)
{
    struct kvm_engine *k = KVM_OF(m);
    if (k->trace)
        plog(PLOG_EXEC, "assist %s at %#llx: rc %d -> rip %#llx "
                "flags %#llx esp %#llx", in->name,
                (unsigned long long)before->r.rip, rc,
                (unsigned long long)a->r.rip,
                (unsigned long long)a->r.rflags,
                (unsigned long long)a->r.rsp);
    if (rc == A_STOP) {
        ex->reason = EXIT_UNSUPPORTED;
        snprintf(ex->msg, sizeof(ex->msg), "%s at rip %#llx: %s", in->name,
                 (unsigned long long)a->r.rip, a->g.why);
        return 1;
    }
    ex->reason = EXIT_NONE;
    if (rc == A_FAULT) {
        /* The instruction must not take effect: back to the state before
         * it, then the fault. */
        struct assist orig = *before;
        orig.g.sr = &orig.sr;
        if (kvm_store_regs(k, &orig.r, &orig.sr) < 0)
            return -1;
        orig.g.fault_vec = a->g.fault_vec;
        orig.g.fault_err = a->g.fault_err;
        orig.g.fault_cr2 = a->g.fault_cr2;
        if (inject_fault(k, &orig) < 0)
            return -1;
        k->assist_faults++;
        return 1;
    }
    if (kvm_store_regs(k, &a->r, &a->sr) < 0)
        return -1;
    k->assisted = true;
    if (in->op == 0xcf) {
        k->assist_iret++;
        if (k->irq_depth)
            k->irq_depth--;
    } else if (in->op == 0xcd || in->op == 0xcc || in->op == 0xce) {
        k->assist_int++;
    } else if (in->op == 0x0f &&
               (in->op2 == 0x00 || in->op2 == 0x02 || in->op2 == 0x03)) {
        k->assist_seg++;
    } else {
        k->assist_other++;
    }
    return 1;
}

int kvm_assist(struct machine *m, struct vm_exit *ex)
{
    struct assist a;
    struct assist_insn in;
    if (assist_begin(m, &a) < 0)
        return -1;
    if (!(a.sr.cr0 & CR0_PE))
        return 0; /* real mode: KVM emulates IRET/INT there itself */
    if (!a.lma) {
        int rc = kvm_assist_interp(m, &a, ex); /* 32-bit: the interpreter */
        if (rc != 0)
            return rc;
    }
    if (!decode(&a, &in))
        return 0;
    struct assist before = a;
    before.g.sr = &before.sr;
    return finish(m, &before, &a, &in, execute(&a, &in), ex);
}

/* ---- #UD trap: software interrupts at CPL > 0 ---- */

/* kvm_pvm turns an emulation failure at CPL > 0 into a #UD in the guest
 * (even with KVM_CAP_EXIT_ON_EMULATION_FAILURE), so a user-mode INT n
 * never reaches us.  kvm_debug.c puts a hardware breakpoint on the
 * guest's #UD handler; when it hits, we look at the exception frame: if the
 * #UD came from one of our instructions at CPL > 0, we undo the exception
 * delivery (an IRET through the frame) and do the instruction instead.
 * Otherwise the handler runs. */
int kvm_assist_ud(struct machine *m, struct vm_exit *ex)
{
    struct kvm_engine *k = KVM_OF(m);
    struct assist a;
    if (assist_begin(m, &a) < 0)
        return -1;
    ex->reason = EXIT_NONE;
    if (!a.lma && a.cpl == 0 && !(a.r.rflags & FLAG_VM)) {
        /* The frame: EIP, CS, EFLAGS, ESP, SS (from CPL 3, no error code). */
        uint32_t frame[2];
        uint64_t sp = a.sr.ss.base +
                      (a.r.rsp & (a.sr.ss.db ? 0xffffffffu : 0xffffu));
        if (gm_access(&a.g, sp, frame, sizeof(frame), false, false) == A_OK &&
            (frame[1] & 3) != 0) {
            int rc = kvm_assist_ud_interp(m, &a, ex);
            if (rc != 0)
                return rc;
        }
    }
    /* A genuine #UD: let the guest's handler run.  (kvm_pvm ignores RF
     * on code breakpoints: kvm_debug.c steps aside for one KVM_RUN.) */
    k->ud_genuine++;
    k->ud_skip = true;
    return 1;
}
