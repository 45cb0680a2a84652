/* kvm_assist.h - shared by the kvm engine's instruction assists:
 * kvm_assist.c (INT n, IRET, the #UD trap), kvm_assist_seg.c (LAR, LSL,
 * VERR, VERW), kvm_assist_grp7.c (CLAC, STAC),
 * kvm_assist_grp9.c (CMPXCHG16B, RDRAND, RDSEED) and kvm_assist_popcnt.c.  See kvm_assist.c
 * for why they exist. */
#ifndef POPEK_KVM_ASSIST_H
#define POPEK_KVM_ASSIST_H
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm_guestmem.h"

struct vm_exit;

struct assist {
    struct gmem g; /* memory access in the current paging mode */
    struct kvm_regs r;
    struct kvm_sregs sr;
    int cpl;
    bool lma;     /* IA-32e mode */
    bool code64;  /* 64-bit code segment */
};

/* One instruction we do, decoded at CS:RIP. */
struct assist_insn {
    uint8_t op;       /* 0xcf iret, 0xcd int n, 0xcc int3, 0xce into,
                         0x9b fwait,
                         0x0f two-byte (op2) */
    uint8_t op2;      /* 0x02 lar, 0x03 lsl, 0x00 group 6 (verr/verw),
                         0xc7 group 9 (cmpxchg16b/rdrand/rdseed) */
    uint8_t imm;      /* vector of int n */
    unsigned osz;     /* operand size: 2, 4 or 8 */
    unsigned asz;     /* address size: 2, 4 or 8 */
    int seg;          /* segment override prefix (a kvm_sregs index), or -1 */
    bool rex_r, rex_x, rex_b;
    bool rep;         /* an 0xf3 prefix */
    uint8_t bytes[16];
    unsigned len;     /* bytes[len] is the first byte after the opcode */
    uint64_t next;    /* RIP of the next instruction */
    const char *name;
    /* ModRM operand (kvm_assist_seg.c) */
    int reg;          /* the ModRM reg field (with REX.R) */
    int rm_reg;       /* register operand, or -1 for memory */
    uint64_t ea;      /* linear address of a memory operand */
};

static inline bool is_code(const struct kvm_segment *s)
{
    return s->s && (s->type & 8);
}
static inline bool is_conforming(const struct kvm_segment *s)
{
    return is_code(s) && (s->type & 4);
}
static inline bool is_writable_data(const struct kvm_segment *s)
{
    return s->s && !(s->type & 8) && (s->type & 2);
}


/* kvm_assist_interp.c: a 32-bit guest's instruction at CS:RIP (a: its
 * state from assist_begin) run by the interpreter; 1 done (ex set), 0 not
 * one for the interpreter, -1 host error.  _ud_interp: the #UD trap's
 * version (undo the #UD delivery first). */
int kvm_assist_interp(struct machine *m, struct assist *a, struct vm_exit *ex);
int kvm_assist_ud_interp(struct machine *m, struct assist *a,
                         struct vm_exit *ex);
/* Parse ModRM (and SIB, displacement) at in->bytes[in->len]: sets reg,
 * rm_reg or ea, and advances len.  False for 16-bit addressing. */
bool insn_modrm(struct assist *a, struct assist_insn *in);
/* kvm_assist_seg.c: LAR/LSL/VERR/VERW.  seg_decode() parses the rest of a
 * 0x0f instruction (ModRM) and says if it is one of them. */
bool seg_decode(struct assist *a, struct assist_insn *in);
int seg_execute(struct assist *a, const struct assist_insn *in);
/* kvm_assist_grp7.c: CLAC, STAC (0x0f 0x01 0xca/0xcb). */
bool grp7_decode(struct assist *a, struct assist_insn *in);
int grp7_execute(struct assist *a, const struct assist_insn *in);
/* kvm_assist_popcnt.c: POPCNT (0xf3 0x0f 0xb8). */
bool popcnt_decode(struct assist *a, struct assist_insn *in);
int popcnt_execute(struct assist *a, const struct assist_insn *in);
/* kvm_assist_grp9.c: CMPXCHG16B, RDRAND, RDSEED (0x0f 0xc7 /1, /6, /7). */
bool grp9_decode(struct assist *a, struct assist_insn *in);
int grp9_execute(struct assist *a, const struct assist_insn *in);

#endif
