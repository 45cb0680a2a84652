/* exec_branch.c - near control transfers of the interpreter: Jcc (rel8 and
 * rel16/32), JMP/CALL rel, RET near (with imm16), LOOP/LOOPE/LOOPNE/JCXZ
 * (counter size = address size), the indirect near CALL/JMP and far
 * CALL/JMP of group 5 (far ones go through cpu_far_call/cpu_far_jump), and
 * BOUND.  c->eip already points at the next instruction; targets are
 * truncated to 16 bits with a 16-bit operand size and checked against the
 * CS limit by cpu_near_branch().  The branch is taken before the stack is
 * touched so a failing branch leaves ESP alone. */
#include "exec.h"

static uint32_t rel_target(const struct interp_cpu *c, const struct insn *i)
{
    uint32_t t = c->eip + (uint32_t)insn_simm(i);
    return i->opsize == 2 ? t & 0xffff : t;
}

/* 70-7F, 0F 80-8F */
void ex_jcc(struct interp_cpu *c, const struct insn *i)
{
    if (cond_true(c->eflags, i->op & 0xf))
        cpu_near_branch(c, rel_target(c, i));
}

/* E9, EB */
void ex_jmp_rel(struct interp_cpu *c, const struct insn *i)
{
    cpu_near_branch(c, rel_target(c, i));
}

static void call_to(struct interp_cpu *c, int size, uint32_t target)
{
    uint32_t ret = c->eip;
    cpu_near_branch(c, target);
    cpu_push(c, ret, size);
}

/* E8 */
void ex_call_rel(struct interp_cpu *c, const struct insn *i)
{
    call_to(c, i->opsize, rel_target(c, i));
}

/* C3 ret; C2 iw ret imm16 */
void ex_ret_near(struct interp_cpu *c, const struct insn *i)
{
    uint32_t t = cpu_stack_peek(c, 0, i->opsize);
    cpu_near_branch(c, t);
    cpu_stack_adjust(c, i->opsize + (i->op == 0xc2 ? (int32_t)(i->imm & 0xffff) : 0));
}

/* E0 loopne, E1 loope, E2 loop, E3 jcxz/jecxz */
void ex_loop(struct interp_cpu *c, const struct insn *i)
{
    uint32_t cnt = reg_get(c, R_ECX, i->addrsize);
    bool take;
    if (i->op == 0xe3) {
        take = cnt == 0;
    } else {
        cnt = (cnt - 1) & size_mask(i->addrsize);
        take = cnt != 0;
        if (i->op == 0xe0)
            take = take && !(c->eflags & FLAG_ZF);
        else if (i->op == 0xe1)
            take = take && (c->eflags & FLAG_ZF);
    }
    if (take)
        cpu_near_branch(c, rel_target(c, i));
    if (i->op != 0xe3)
        reg_set(c, R_ECX, i->addrsize, cnt);
}

/* FF /2 */
void ex_call_near_abs(struct interp_cpu *c, const struct insn *i)
{
    uint32_t t = opnd_read(c, i, i->opsize);
    call_to(c, i->opsize, t);
}

/* FF /4 */
void ex_jmp_near_abs(struct interp_cpu *c, const struct insn *i)
{
    cpu_near_branch(c, opnd_read(c, i, i->opsize));
}

/* FF /3 call far m16:16/32, FF /5 jmp far */
void ex_far_indirect(struct interp_cpu *c, const struct insn *i, bool call)
{
    uint32_t ea = insn_ea(c, i);
    uint32_t off = mem_read(c, i->ea_seg, ea, i->opsize);
    uint16_t sel = (uint16_t)mem_read(c, i->ea_seg, addr_wrap(i, ea + i->opsize), 2);
    if (call)
        cpu_far_call(c, sel, off, i->opsize);
    else
        cpu_far_jump(c, sel, off, i->opsize);
}

/* 62: bound reg, m16&16 / m32&32 -> #BR if out of range (signed) */
void ex_bound(struct interp_cpu *c, const struct insn *i)
{
    if (i->mod == 3)
        cpu_undefined(c, i);
    int size = i->opsize;
    uint32_t ea = insn_ea(c, i);
    int32_t lo = (int32_t)sign_extend(mem_read(c, i->ea_seg, ea, size), size);
    int32_t hi = (int32_t)sign_extend(
        mem_read(c, i->ea_seg, addr_wrap(i, ea + size), size), size);
    int32_t v = (int32_t)sign_extend(reg_get(c, i->reg, size), size);
    if (v < lo || v > hi)
        cpu_fault(c, EXC_BR);
}
