/* exec_move.c - data movement of the interpreter: MOV in all its user forms,
 * MOVZX/MOVSX, LEA, XCHG, PUSH/POP (registers, r/m, immediates), PUSHA/POPA,
 * ENTER/LEAVE, CBW/CWDE/CWD/CDQ, SAHF/LAHF, XLAT, LES/LDS/LSS/LFS/LGS,
 * BSWAP, the flag instructions CMC CLC STC CLD STD, and the NOPs.
 * Multi-push instructions (PUSHA, ENTER) work on a local copy of the stack
 * pointer and commit ESP/EBP only after every access succeeded. */
#include "exec.h"

/* ---- a local stack pointer (SS with the stack's address size) ---- */
struct stk {
    uint32_t sp, mask;
};

static struct stk stk_begin(const struct interp_cpu *c)
{
    struct stk s = { c->r[R_ESP], c->seg[SEG_SS].db ? 0xffffffffu : 0xffffu };
    return s;
}

static void stk_push(struct interp_cpu *c, struct stk *s, uint32_t v, int size)
{
    s->sp = (s->sp & ~s->mask) | ((s->sp - (uint32_t)size) & s->mask);
    mem_write(c, SEG_SS, s->sp & s->mask, size, v);
}

static uint32_t stk_read(struct interp_cpu *c, const struct stk *s,
                         uint32_t depth, int size)
{
    return mem_read(c, SEG_SS, (s->sp + depth) & s->mask, size);
}

static void stk_commit(struct interp_cpu *c, const struct stk *s)
{
    c->r[R_ESP] = (c->r[R_ESP] & ~s->mask) | (s->sp & s->mask);
}

/* ---- mov ---- */
void ex_mov_rm_r(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    opnd_write(c, i, size, reg_get(c, i->reg, size));
}

void ex_mov_r_rm(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    reg_set(c, i->reg, size, opnd_read(c, i, size));
}

/* 8C: mov r/m, sreg (memory: 16 bits; register: zero-extended) */
void ex_mov_rm_sreg(struct interp_cpu *c, const struct insn *i)
{
    if (i->reg > SEG_GS)
        cpu_undefined(c, i);
    uint32_t sel = c->seg[i->reg].sel;
    opnd_write(c, i, i->mod == 3 ? i->opsize : 2, sel);
}

/* B0-B7 mov r8, imm8; B8-BF mov r, imm */
void ex_mov_r_imm(struct interp_cpu *c, const struct insn *i)
{
    int size = i->op >= 0xb8 ? i->opsize : 1;
    reg_set(c, i->op & 7, size, i->imm);
}

/* C6/C7 /0: mov r/m, imm */
void ex_mov_rm_imm(struct interp_cpu *c, const struct insn *i)
{
    if (i->reg != 0)
        cpu_undefined(c, i);
    opnd_write(c, i, op_size_w(i), i->imm);
}

/* A0-A3: mov AL/eAX <-> moffs */
void ex_mov_moffs(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    int seg = i->seg != SEG_NONE ? i->seg : SEG_DS;
    uint32_t off = addr_wrap(i, (uint32_t)i->disp);
    if (i->op <= 0xa1)
        reg_set(c, R_EAX, size, mem_read(c, seg, off, size));
    else
        mem_write(c, seg, off, size, reg_get(c, R_EAX, size));
}

/* 8D: lea */
void ex_lea(struct interp_cpu *c, const struct insn *i)
{
    if (i->mod == 3)
        cpu_undefined(c, i);
    reg_set(c, i->reg, i->opsize, insn_ea(c, i));
}

/* 0F B6/B7 movzx, 0F BE/BF movsx */
void ex_movzx(struct interp_cpu *c, const struct insn *i)
{
    int ss = (i->op & 1) ? 2 : 1;
    reg_set(c, i->reg, i->opsize, opnd_read(c, i, ss));
}

void ex_movsx(struct interp_cpu *c, const struct insn *i)
{
    int ss = (i->op & 1) ? 2 : 1;
    reg_set(c, i->reg, i->opsize, sign_extend(opnd_read(c, i, ss), ss));
}

/* ---- xchg ---- */
void ex_xchg_rm_r(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    uint32_t a = opnd_read(c, i, size);
    uint32_t b = reg_get(c, i->reg, size);
    opnd_write(c, i, size, b);
    reg_set(c, i->reg, size, a);
}

/* 90-97: xchg eAX, r (90 is nop, F3 90 pause) */
void ex_xchg_acc_r(struct interp_cpu *c, const struct insn *i)
{
    int r = i->op & 7, size = i->opsize;
    if (r == 0)
        return;
    uint32_t a = reg_get(c, R_EAX, size);
    reg_set(c, R_EAX, size, reg_get(c, r, size));
    reg_set(c, r, size, a);
}

/* ---- push/pop ---- */
void ex_push_r(struct interp_cpu *c, const struct insn *i)
{
    cpu_push(c, reg_get(c, i->op & 7, i->opsize), i->opsize);
}

void ex_pop_r(struct interp_cpu *c, const struct insn *i)
{
    uint32_t v = cpu_pop(c, i->opsize);
    reg_set(c, i->op & 7, i->opsize, v);
}

/* 8F /0: pop r/m.  A memory destination addressed through ESP uses the
 * value of ESP after the pop. */
void ex_pop_rm(struct interp_cpu *c, const struct insn *i)
{
    if (i->reg != 0)
        cpu_undefined(c, i);
    int size = i->opsize;
    if (i->mod == 3) {
        uint32_t v = cpu_pop(c, size);
        reg_set(c, i->rm, size, v);
        return;
    }
    uint32_t v = cpu_stack_peek(c, 0, size);
    uint32_t old_esp = c->r[R_ESP];
    cpu_stack_adjust(c, size);
    uint32_t new_esp = c->r[R_ESP];
    uint32_t ea = insn_ea(c, i);
    c->r[R_ESP] = old_esp;      /* restartable until the write has landed */
    mem_write(c, i->ea_seg, ea, size, v);
    c->r[R_ESP] = new_esp;
}

/* 68 push imm; 6A push simm8 */
void ex_push_imm(struct interp_cpu *c, const struct insn *i)
{
    cpu_push(c, (uint32_t)insn_simm(i) & size_mask(i->opsize), i->opsize);
}

/* 60: pusha (pushes the ESP value from before the instruction) */
void ex_pusha(struct interp_cpu *c, const struct insn *i)
{
    int size = i->opsize;
    struct stk s = stk_begin(c);
    for (int r = 0; r < 8; r++)
        stk_push(c, &s, reg_get(c, r, size), size);
    stk_commit(c, &s);
}

/* 61: popa (the saved ESP is skipped) */
void ex_popa(struct interp_cpu *c, const struct insn *i)
{
    int size = i->opsize;
    struct stk s = stk_begin(c);
    uint32_t v[8];
    for (int r = 0; r < 8; r++)
        v[7 - r] = stk_read(c, &s, (uint32_t)(r * size), size);
    for (int r = 0; r < 8; r++)
        if (r != R_ESP)
            reg_set(c, r, size, v[r]);
    s.sp += (uint32_t)(8 * size);
    stk_commit(c, &s);
}

/* C8 iw ib: enter */
void ex_enter(struct interp_cpu *c, const struct insn *i)
{
    int size = i->opsize;
    unsigned level = i->imm2 & 31;
    struct stk s = stk_begin(c);
    stk_push(c, &s, reg_get(c, R_EBP, size), size);
    /* the frame pointer pushed is all of ESP (its top half is kept with a
     * 16-bit stack), as bochs and QEMU do */
    uint32_t frame = s.sp;
    if (level > 0) {
        uint32_t bp = c->r[R_EBP];
        for (unsigned n = 1; n < level; n++) {
            bp = (bp & ~s.mask) | ((bp - (uint32_t)size) & s.mask);
            stk_push(c, &s, mem_read(c, SEG_SS, bp & s.mask, size), size);
        }
        stk_push(c, &s, frame, size);
    }
    s.sp = (s.sp & ~s.mask) | ((s.sp - (i->imm & 0xffff)) & s.mask);
    /* EBP takes the frame pointer at the stack's width (BP with a 16-bit
     * stack, EBP with a 32-bit one), as bochs and QEMU do */
    c->r[R_EBP] = (c->r[R_EBP] & ~s.mask) | (frame & s.mask);
    stk_commit(c, &s);
}

/* C9: leave */
void ex_leave(struct interp_cpu *c, const struct insn *i)
{
    int size = i->opsize;
    struct stk s = stk_begin(c);
    s.sp = (s.sp & ~s.mask) | (c->r[R_EBP] & s.mask);
    uint32_t v = stk_read(c, &s, 0, size);
    s.sp = (s.sp & ~s.mask) | ((s.sp + (uint32_t)size) & s.mask);
    stk_commit(c, &s);
    reg_set(c, R_EBP, size, v);
}

/* ---- conversions and flags ---- */
void ex_cbw(struct interp_cpu *c, const struct insn *i)
{
    if (i->opsize == 2)
        reg_set(c, R_EAX, 2, sign_extend(c->r[R_EAX] & 0xff, 1));
    else
        c->r[R_EAX] = sign_extend(c->r[R_EAX] & 0xffff, 2);
}

void ex_cwd(struct interp_cpu *c, const struct insn *i)
{
    uint32_t sign = reg_get(c, R_EAX, i->opsize) & sign_bit(i->opsize);
    reg_set(c, R_EDX, i->opsize, sign ? 0xffffffffu : 0);
}

#define SAHF_MASK (FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF | FLAG_CF)
void ex_sahf(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    flags_set(c, (c->r[R_EAX] >> 8) & 0xff, SAHF_MASK);
}

void ex_lahf(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    reg_set(c, 4 /* AH */, 1, (c->eflags & SAHF_MASK) | 2);
}

/* F5 cmc, F8 clc, F9 stc, FC cld, FD std */
void ex_flagop(struct interp_cpu *c, const struct insn *i)
{
    switch (i->op) {
    case 0xf5: c->eflags ^= FLAG_CF; break;
    case 0xf8: c->eflags &= ~FLAG_CF; break;
    case 0xf9: c->eflags |= FLAG_CF; break;
    case 0xfc: c->eflags &= ~FLAG_DF; break;
    default: c->eflags |= FLAG_DF; break;
    }
}

/* D7: xlat */
void ex_xlat(struct interp_cpu *c, const struct insn *i)
{
    int seg = i->seg != SEG_NONE ? i->seg : SEG_DS;
    uint32_t off = addr_wrap(i, c->r[R_EBX] + (c->r[R_EAX] & 0xff));
    reg_set(c, R_EAX, 1, mem_read(c, seg, off, 1));
}

/* C4 les, C5 lds, 0F B2 lss, 0F B4 lfs, 0F B5 lgs: reg, m16:16/32 */
void ex_lfar(struct interp_cpu *c, const struct insn *i)
{
    if (i->mod == 3)
        cpu_undefined(c, i);
    int seg;
    switch (i->op) {
    case 0xc4: seg = SEG_ES; break;
    case 0xc5: seg = SEG_DS; break;
    case 0x1b2: seg = SEG_SS; break;
    case 0x1b4: seg = SEG_FS; break;
    default: seg = SEG_GS; break;
    }
    uint32_t ea = insn_ea(c, i);
    uint32_t off = mem_read(c, i->ea_seg, ea, i->opsize);
    uint16_t sel = (uint16_t)mem_read(c, i->ea_seg, addr_wrap(i, ea + i->opsize), 2);
    cpu_load_seg(c, seg, sel);
    reg_set(c, i->reg, i->opsize, off);
}

/* 0F C8-CF: bswap (16-bit operand: undefined, clears the low word as
 * Intel processors do) */
void ex_bswap(struct interp_cpu *c, const struct insn *i)
{
    int r = i->op & 7;
    if (i->opsize == 2)
        reg_set(c, r, 2, 0);
    else
        c->r[r] = __builtin_bswap32(c->r[r]);
}

void ex_nop(struct interp_cpu *c, const struct insn *i)
{
    (void)c;
    (void)i;
}

/* 0F 0D, 0F 18-1F: hint NOPs with a ModRM operand (never accessed) */
void ex_nop_modrm(struct interp_cpu *c, const struct insn *i)
{
    (void)c;
    (void)i;
}
