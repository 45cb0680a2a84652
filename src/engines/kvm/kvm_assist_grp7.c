/* kvm_assist_grp7.c - group 7 (0x0f 0x01) register-form instructions that
 * KVM's instruction emulator lacks, for the kvm engine on kvm_pvm (which
 * shows guests the host's CPUID, SMAP included, but runs their kernel code
 * through that emulator): CLAC and STAC, with which 64-bit Linux brackets
 * every user access.  Done per the SDM Vol. 2A; at CPL > 0 they are left
 * alone (the CPU raises #UD there anyway). */

#include "../../core/machine.h"
#include "kvm_assist.h"
#include "kvm_priv.h"

bool grp7_decode(struct assist *a, struct assist_insn *in)
{
    if (in->op2 != 0x01 || a->cpl != 0)
        return false;
    switch (in->bytes[in->len]) {
    case 0xca:
        in->name = "clac";
        break;
    case 0xcb:
        in->name = "stac";
        break;
    default:
        return false;
    }
    in->imm = in->bytes[in->len];
    in->len++;
    in->next = a->r.rip + in->len;
    return true;
}

int grp7_execute(struct assist *a, const struct assist_insn *in)
{
    if (in->imm == 0xca)
        a->r.rflags &= ~(uint64_t)FLAG_AC;
    else
        a->r.rflags |= FLAG_AC;
    a->r.rip = in->next;
    return A_OK;
}
