/* kvm_assist_grp9.c - group 9 (0x0f 0xc7) instructions for the kvm engine:
 * CMPXCHG16B, RDRAND and RDSEED.  kvm_pvm shows guests the host's CPUID
 * (CX16 and RDRAND included, whatever KVM_SET_CPUID2 says) but runs their
 * kernel code through KVM's instruction emulator, which has none of the
 * three: 64-bit Linux uses CMPXCHG16B in its slab allocator, the
 * decompressor RDRAND for KASLR.  Done here per the SDM Vol. 2A.  The vCPU
 * is stopped while we run, so CMPXCHG16B is atomic for the guest.  RDRAND
 * and RDSEED come from the host's getrandom(); when that has nothing, CF=0
 * tells the guest to retry, as the SDM allows. */
#include <string.h>
#include <sys/random.h>

#include "../../core/machine.h"
#include "kvm_assist.h"
#include "kvm_priv.h"

bool grp9_decode(struct assist *a, struct assist_insn *in)
{
    if (in->op2 != 0xc7)
        return false;
    uint8_t mrm = in->bytes[in->len];
    unsigned reg = (mrm >> 3) & 7;
    if (reg == 1) {
        /* cmpxchg8b is KVM's own; only the 16-byte form is ours */
        if ((mrm >> 6) == 3 || in->osz != 8 || !insn_modrm(a, in))
            return false;
        in->name = "cmpxchg16b";
    } else if ((mrm >> 6) == 3 && (reg == 6 || reg == 7)) {
        in->name = reg == 6 ? "rdrand" : "rdseed";
        in->reg = (int)reg;
        in->rm_reg = (int)(mrm & 7) | (in->rex_b ? 8 : 0);
        in->len++;
    } else {
        return false;
    }
    in->next = a->r.rip + in->len;
    return true;
}

static int cmpxchg16b(struct assist *a, const struct assist_insn *in)
{
    if (in->ea & 15)
        return gm_fault(&a->g, VEC_GP, 0);
    uint64_t mem[2];
    bool user = a->cpl == 3;
    int rc = gm_access(&a->g, in->ea, mem, 16, false, user);
    if (rc != A_OK)
        return rc;
    if (mem[0] == a->r.rax && mem[1] == a->r.rdx) {
        uint64_t v[2] = {a->r.rbx, a->r.rcx};
        rc = gm_access(&a->g, in->ea, v, 16, true, user);
        if (rc != A_OK)
            return rc;
        a->r.rflags |= FLAG_ZF;
    } else {
        /* The CPU writes the old value back: a write fault still counts. */
        rc = gm_access(&a->g, in->ea, mem, 16, true, user);
        if (rc != A_OK)
            return rc;
        a->r.rax = mem[0];
        a->r.rdx = mem[1];
        a->r.rflags &= ~(uint64_t)FLAG_ZF;
    }
    return A_OK;
}

static void rdrand(struct assist *a, const struct assist_insn *in)
{
    uint64_t v = 0;
    bool ok = getrandom(&v, in->osz, GRND_NONBLOCK) == (ssize_t)in->osz;
    const uint64_t arith = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF |
                           FLAG_OF;
    a->r.rflags = (a->r.rflags & ~arith) | (ok ? FLAG_CF : 0);
    __u64 *dst = kvm_gpr(&a->r, in->rm_reg);
    if (!ok)
        v = 0;
    if (in->osz == 2)
        *dst = (*dst & ~0xffffull) | (v & 0xffff);
    else if (in->osz == 4)
        *dst = v & 0xffffffffull;
    else
        *dst = v;
}

int grp9_execute(struct assist *a, const struct assist_insn *in)
{
    if ((in->reg & 7) == 1) {
        int rc = cmpxchg16b(a, in);
        if (rc != A_OK)
            return rc;
    } else {
        rdrand(a, in);
    }
    a->r.rip = in->next;
    return A_OK;
}
