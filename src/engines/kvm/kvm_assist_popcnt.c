/* kvm_assist_popcnt.c - POPCNT (0xf3 0x0f 0xb8 /r) for the kvm engine:
 * kvm_pvm shows guests the host's CPUID (POPCNT included) but runs their
 * kernel code through KVM's instruction emulator, which lacks it; 64-bit
 * Linux patches its hweight helpers to POPCNT.  Done per the SDM Vol. 2B:
 * dest = number of set bits, ZF = (source == 0), other arithmetic flags
 * cleared. */
#include <string.h>

#include "../../core/machine.h"
#include "kvm_assist.h"
#include "kvm_priv.h"

bool popcnt_decode(struct assist *a, struct assist_insn *in)
{
    if (in->op2 != 0xb8 || !in->rep || !insn_modrm(a, in))
        return false;
    in->name = "popcnt";
    in->next = a->r.rip + in->len;
    return true;
}

int popcnt_execute(struct assist *a, const struct assist_insn *in)
{
    uint64_t src = 0;
    if (in->rm_reg >= 0) {
        src = *kvm_gpr(&a->r, in->rm_reg);
    } else {
        int rc = gm_access(&a->g, in->ea, &src, in->osz, false, a->cpl == 3);
        if (rc != A_OK)
            return rc;
    }
    if (in->osz == 2)
        src &= 0xffff;
    else if (in->osz == 4)
        src &= 0xffffffffull;
    uint64_t n = (uint64_t)__builtin_popcountll(src);
    const uint64_t arith = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF |
                           FLAG_OF;
    a->r.rflags = (a->r.rflags & ~arith) | (src ? 0 : FLAG_ZF);
    __u64 *dst = kvm_gpr(&a->r, in->reg);
    if (in->osz == 2)
        *dst = (*dst & ~0xffffull) | n;
    else
        *dst = n; /* 32-bit writes zero-extend */
    a->r.rip = in->next;
    return A_OK;
}
