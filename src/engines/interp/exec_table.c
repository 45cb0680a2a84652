/* exec_table.c - registers the user-level instruction handlers (exec_*.c)
 * in the interpreter's dispatch table: exec_user_init().  Every user opcode
 * goes through user_dispatch(), which enforces the LOCK prefix rule (only
 * the lockable read-modify-write forms with a memory destination; anything
 * else is #UD) and then calls the handler from user_tab. */
#include "exec.h"

static exec_fn user_tab[OP_COUNT];

static bool lock_allowed(const struct insn *i)
{
    if (!insn_is_mem(i))
        return false;
    unsigned op = i->op;
    if (op < 0x40)
        return (op & 7) < 2 && (op & 0x38) != 0x38;
    switch (op) {
    case 0x80: case 0x81: case 0x82: case 0x83:
        return i->reg != 7;
    case 0x86: case 0x87:
        return true;
    case 0xf6: case 0xf7:
        return i->reg == 2 || i->reg == 3;
    case 0xfe: case 0xff:
        return i->reg <= 1;
    case 0x1ab: case 0x1b3: case 0x1bb:
    case 0x1b0: case 0x1b1: case 0x1c0: case 0x1c1:
        return true;
    case 0x1ba:
        return i->reg >= 5;
    case 0x1c7:
        return i->reg == 1;
    default:
        return false;
    }
}

static void user_dispatch(struct interp_cpu *c, const struct insn *i)
{
    if (i->lock && !lock_allowed(i))
        cpu_undefined(c, i);
    user_tab[i->op](c, i);
}

static void reg(exec_fn *tab, unsigned op, exec_fn fn)
{
    user_tab[op] = fn;
    tab[op] = user_dispatch;
}

static void reg_range(exec_fn *tab, unsigned first, unsigned last, exec_fn fn)
{
    for (unsigned op = first; op <= last; op++)
        reg(tab, op, fn);
}

void exec_user_init(exec_fn *tab)
{
    /* ALU 00-3D: the low 3 bits pick the form, 6/7 of each row are
     * segment push/pop or prefixes/BCD (not ours except the BCD ones). */
    for (unsigned row = 0; row < 8; row++) {
        unsigned b = row * 8;
        reg(tab, b + 0, ex_alu_rm_r);
        reg(tab, b + 1, ex_alu_rm_r);
        reg(tab, b + 2, ex_alu_r_rm);
        reg(tab, b + 3, ex_alu_r_rm);
        reg(tab, b + 4, ex_alu_acc_imm);
        reg(tab, b + 5, ex_alu_acc_imm);
    }
    reg(tab, 0x27, ex_daa);
    reg(tab, 0x2f, ex_das);
    reg(tab, 0x37, ex_aaa);
    reg(tab, 0x3f, ex_aas);
    reg_range(tab, 0x40, 0x47, ex_inc_r);
    reg_range(tab, 0x48, 0x4f, ex_dec_r);
    reg_range(tab, 0x50, 0x57, ex_push_r);
    reg_range(tab, 0x58, 0x5f, ex_pop_r);
    reg(tab, 0x60, ex_pusha);
    reg(tab, 0x61, ex_popa);
    reg(tab, 0x62, ex_bound);
    reg(tab, 0x68, ex_push_imm);
    reg(tab, 0x69, ex_imul_r_rm_imm);
    reg(tab, 0x6a, ex_push_imm);
    reg(tab, 0x6b, ex_imul_r_rm_imm);
    reg_range(tab, 0x70, 0x7f, ex_jcc);
    reg_range(tab, 0x80, 0x83, ex_grp1);
    reg(tab, 0x84, ex_test_rm_r);
    reg(tab, 0x85, ex_test_rm_r);
    reg(tab, 0x86, ex_xchg_rm_r);
    reg(tab, 0x87, ex_xchg_rm_r);
    reg_range(tab, 0x88, 0x89, ex_mov_rm_r);
    reg_range(tab, 0x8a, 0x8b, ex_mov_r_rm);
    reg(tab, 0x8c, ex_mov_rm_sreg);
    reg(tab, 0x8d, ex_lea);
    reg(tab, 0x8f, ex_pop_rm);
    reg_range(tab, 0x90, 0x97, ex_xchg_acc_r);
    reg(tab, 0x98, ex_cbw);
    reg(tab, 0x99, ex_cwd);
    reg(tab, 0x9b, ex_fwait);
    reg(tab, 0x9e, ex_sahf);
    reg(tab, 0x9f, ex_lahf);
    reg_range(tab, 0xa0, 0xa3, ex_mov_moffs);
    reg_range(tab, 0xa4, 0xa5, ex_movs);
    reg_range(tab, 0xa6, 0xa7, ex_cmps);
    reg_range(tab, 0xa8, 0xa9, ex_test_acc_imm);
    reg_range(tab, 0xaa, 0xab, ex_stos);
    reg_range(tab, 0xac, 0xad, ex_lods);
    reg_range(tab, 0xae, 0xaf, ex_scas);
    reg_range(tab, 0xb0, 0xbf, ex_mov_r_imm);
    reg_range(tab, 0xc0, 0xc1, ex_shift_grp2);
    reg_range(tab, 0xc2, 0xc3, ex_ret_near);
    reg(tab, 0xc4, ex_lfar);
    reg(tab, 0xc5, ex_lfar);
    reg_range(tab, 0xc6, 0xc7, ex_mov_rm_imm);
    reg(tab, 0xc8, ex_enter);
    reg(tab, 0xc9, ex_leave);
    reg_range(tab, 0xd0, 0xd3, ex_shift_grp2);
    reg(tab, 0xd4, ex_aam);
    reg(tab, 0xd5, ex_aad);
    reg(tab, 0xd6, ex_salc);
    reg(tab, 0xd7, ex_xlat);
    reg_range(tab, 0xd8, 0xdf, ex_x87);
    reg_range(tab, 0xe0, 0xe3, ex_loop);
    reg(tab, 0xe8, ex_call_rel);
    reg(tab, 0xe9, ex_jmp_rel);
    reg(tab, 0xeb, ex_jmp_rel);
    reg(tab, 0xf5, ex_flagop);
    reg_range(tab, 0xf6, 0xf7, ex_grp3);
    reg_range(tab, 0xf8, 0xf9, ex_flagop);
    reg_range(tab, 0xfc, 0xfd, ex_flagop);
    reg(tab, 0xfe, ex_grp4);
    reg(tab, 0xff, ex_grp5);

    /* 0F map */
    reg(tab, 0x10d, ex_nop_modrm);
    reg_range(tab, 0x118, 0x11f, ex_nop_modrm);
    reg_range(tab, 0x140, 0x14f, ex_cmovcc);
    reg_range(tab, 0x180, 0x18f, ex_jcc);
    reg_range(tab, 0x190, 0x19f, ex_setcc);
    reg(tab, 0x1a3, ex_bt_r);
    reg(tab, 0x1a4, ex_shld_shrd);
    reg(tab, 0x1a5, ex_shld_shrd);
    reg(tab, 0x1ab, ex_bt_r);
    reg(tab, 0x1ac, ex_shld_shrd);
    reg(tab, 0x1ad, ex_shld_shrd);
    reg(tab, 0x1ae, ex_fxsave_grp);
    reg(tab, 0x1af, ex_imul_r_rm);
    reg_range(tab, 0x1b0, 0x1b1, ex_cmpxchg);
    reg(tab, 0x1b2, ex_lfar);
    reg(tab, 0x1b3, ex_bt_r);
    reg(tab, 0x1b4, ex_lfar);
    reg(tab, 0x1b5, ex_lfar);
    reg_range(tab, 0x1b6, 0x1b7, ex_movzx);
    reg(tab, 0x1ba, ex_bt_imm);
    reg(tab, 0x1bb, ex_bt_r);
    reg(tab, 0x1bc, ex_bsf);
    reg(tab, 0x1bd, ex_bsr);
    reg_range(tab, 0x1be, 0x1bf, ex_movsx);
    reg_range(tab, 0x1c0, 0x1c1, ex_xadd);
    reg(tab, 0x1c7, ex_cmpxchg8b);
    reg_range(tab, 0x1c8, 0x1cf, ex_bswap);
    exec_sse_init(tab, reg); /* SSE..SSSE3, 0F AE (replaces fxsave_grp) */
}
