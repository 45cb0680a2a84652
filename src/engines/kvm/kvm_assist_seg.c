/* kvm_assist_seg.c - LAR, LSL, VERR and VERW for the kvm engine: KVM's
 * instruction emulator has none of them, so on backends that emulate guest
 * kernel code (kvm_pvm) they end in an emulation failure (or, at CPL 3, a
 * #UD that kvm_debug.c traps).  Done here as the SDM Vol. 2A describes
 * them: look the selector's descriptor up, check type and privilege, set
 * ZF, and load the access rights or the limit.  Memory operands use 32- or
 * 64-bit addressing (16-bit addressing is refused); segment limits of the
 * operand's segment are not checked. */
#include <string.h>

#include "../../core/machine.h"
#include "kvm_assist.h"
#include "kvm_priv.h"

static const struct kvm_segment *sreg(const struct kvm_sregs *sr, int i)
{
    const struct kvm_segment *const s[] = {&sr->es, &sr->cs, &sr->ss,
                                           &sr->ds, &sr->fs, &sr->gs};
    return s[i];
}

bool insn_modrm(struct assist *a, struct assist_insn *in)
{
    const uint8_t *b = in->bytes;
    unsigned p = in->len;
    uint8_t mrm = b[p++];
    unsigned mod = mrm >> 6, rm = mrm & 7;
    in->reg = (int)((mrm >> 3) & 7) | (in->rex_r ? 8 : 0);
    in->rm_reg = -1;
    if (mod == 3) {
        in->rm_reg = (int)rm | (in->rex_b ? 8 : 0);
        in->len = p;
        return true;
    }
    if (in->asz == 2)
        return false; /* 16-bit addressing: not done here */
    uint64_t ea = 0;
    int def_seg = SEG_DS;
    bool rip_rel = false;
    if (rm == 4) {
        uint8_t sib = b[p++];
        unsigned scale = sib >> 6;
        unsigned index = ((sib >> 3) & 7) | (in->rex_x ? 8 : 0);
        unsigned base = sib & 7;
        if (index != 4)
            ea += *kvm_gpr(&a->r, (int)index) << scale;
        if (base == 5 && mod == 0) {
            int32_t d;
            memcpy(&d, b + p, 4);
            p += 4;
            ea += (uint64_t)(int64_t)d;
        } else {
            ea += *kvm_gpr(&a->r, (int)(base | (in->rex_b ? 8 : 0)));
            if (base == 4 || base == 5)
                def_seg = SEG_SS;
        }
    } else if (rm == 5 && mod == 0) {
        int32_t d;
        memcpy(&d, b + p, 4);
        p += 4;
        ea = (uint64_t)(int64_t)d;
        rip_rel = a->code64;
    } else {
        ea = *kvm_gpr(&a->r, (int)(rm | (in->rex_b ? 8 : 0)));
        if (rm == 5)
            def_seg = SEG_SS;
    }
    if (mod == 1) {
        ea += (uint64_t)(int64_t)(int8_t)b[p++];
    } else if (mod == 2) {
        int32_t d;
        memcpy(&d, b + p, 4);
        p += 4;
        ea += (uint64_t)(int64_t)d;
    }
    in->len = p;
    if (rip_rel)
        ea += a->r.rip + p; /* relative to the next instruction */
    if (in->asz == 4)
        ea &= 0xffffffffull;
    int seg = in->seg >= 0 ? in->seg : def_seg;
    if (!a->code64 || seg == SEG_FS || seg == SEG_GS)
        ea += sreg(&a->sr, seg)->base;
    in->ea = a->code64 ? ea : ea & 0xffffffffull;
    return true;
}

bool seg_decode(struct assist *a, struct assist_insn *in)
{
    switch (in->op2) {
    case 0x02:
        in->name = "lar";
        break;
    case 0x03:
        in->name = "lsl";
        break;
    case 0x00: {
        unsigned reg = (in->bytes[in->len] >> 3) & 7;
        if (reg != 4 && reg != 5)
            return false;
        in->name = reg == 4 ? "verr" : "verw";
        break;
    }
    default:
        return false;
    }
    if (!insn_modrm(a, in))
        return false;
    in->next = a->r.rip + in->len;
    return true;
}

/* The descriptor of sel if LAR/LSL/VERR/VERW may look at it: not null,
 * within the table limit.  Returns A_OK with *ok false if not. */
static int lookup(struct assist *a, uint16_t sel, uint64_t *d, bool *ok)
{
    *ok = false;
    if (!(sel & 0xfffc))
        return A_OK;
    uint64_t limit = (sel & 4) ? a->sr.ldt.limit : a->sr.gdt.limit;
    if ((sel & 4) && (a->sr.ldt.unusable || !a->sr.ldt.present))
        return A_OK;
    if ((uint64_t)(sel & 0xfff8) + 7 > limit)
        return A_OK;
    uint64_t where;
    int rc = gm_read_desc(&a->g, sel, d, &where);
    if (rc == A_OK)
        *ok = true;
    return rc;
}

/* Privilege check shared by all four: conforming code is always visible,
 * everything else needs DPL >= max(CPL, RPL). */
static bool visible(const struct assist *a, const struct kvm_segment *s,
                    uint16_t sel)
{
    if (is_conforming(s))
        return true;
    int rpl = sel & 3;
    return s->dpl >= (a->cpl > rpl ? a->cpl : rpl);
}

int seg_execute(struct assist *a, const struct assist_insn *in)
{
    uint64_t src = 0;
    if (in->rm_reg >= 0) {
        src = *kvm_gpr(&a->r, in->rm_reg);
    } else {
        int rc = gm_access(&a->g, in->ea, &src, 2, false, a->cpl == 3);
        if (rc != A_OK)
            return rc;
    }
    uint16_t sel = (uint16_t)src;
    uint64_t d = 0;
    bool ok;
    int rc = lookup(a, sel, &d, &ok);
    if (rc != A_OK)
        return rc;
    struct kvm_segment s;
    gm_desc_to_seg(d, sel, &s);
    uint64_t result = 0;
    if (ok && s.s) {
        bool code = is_code(&s);
        switch (in->op2) {
        case 0x02:
        case 0x03:
            ok = visible(a, &s, sel);
            break;
        default:
            if ((in->reg & 7) == 4) /* verr */
                ok = is_conforming(&s)
                         ? (s.type & 2) != 0
                         : visible(a, &s, sel) && (!code || (s.type & 2));
            else /* verw */
                ok = visible(a, &s, sel) && !code && (s.type & 2);
            break;
        }
    } else if (ok) {
        /* System descriptors: which types LAR and LSL accept. */
        unsigned t = s.type;
        bool lar_ok = a->lma ? (t == 2 || t == 9 || t == 11 || t == 12)
                             : (t >= 1 && t <= 5) || t == 9 || t == 11 ||
                                   t == 12;
        bool lsl_ok = a->lma ? (t == 2 || t == 9 || t == 11)
                             : (t >= 1 && t <= 3) || t == 9 || t == 11;
        ok = (in->op2 == 0x02 ? lar_ok : in->op2 == 0x03 ? lsl_ok : false) &&
             visible(a, &s, sel);
    }
    if (ok && in->op2 == 0x02)
        result = (d >> 32) & 0x00f0ff00ull;
    else if (ok && in->op2 == 0x03)
        result = s.limit;
    if (ok)
        a->r.rflags |= FLAG_ZF;
    else
        a->r.rflags &= ~(uint64_t)FLAG_ZF;
    if (ok && in->op2 != 0x00) {
        __u64 *dst = kvm_gpr(&a->r, in->reg);
        if (in->osz == 2)
            *dst = (*dst & ~0xffffull) | (result & 0xffff);
        else
            *dst = result & 0xffffffffull; /* 32-bit writes zero-extend */
    }
    a->r.rip = in->next;
    return A_OK;
}
