/* exec_string.c - string instructions of the interpreter: MOVS CMPS STOS
 * LODS SCAS (A4-A7, AA-AF) with REP/REPE/REPNE, for 16- and 32-bit address
 * sizes (the counter and index registers are CX/SI/DI or ECX/ESI/EDI).
 * Each iteration reads, writes memory, then commits ESI/EDI/ECX (and the
 * flags), so a fault in the middle of a string leaves the registers of the
 * completed iterations and the instruction restarts where it stopped.  A
 * call runs at most STRING_BUDGET iterations, then sets EIP back to the
 * instruction so that interrupts are taken between chunks. */
#include "exec.h"

#define STRING_BUDGET 4096

enum str_kind { S_MOVS, S_CMPS, S_STOS, S_LODS, S_SCAS };

static void string_op(struct interp_cpu *c, const struct insn *i,
                      enum str_kind k)
{
    int size = op_size_w(i);
    int asz = i->addrsize;
    int sseg = i->seg != SEG_NONE ? i->seg : SEG_DS;
    uint32_t delta = (c->eflags & FLAG_DF) ? (uint32_t)-size : (uint32_t)size;
    bool rep = i->rep != 0;
    bool cond = k == S_CMPS || k == S_SCAS;
    for (int n = 0; n < STRING_BUDGET; n++) {
        uint32_t cnt = reg_get(c, R_ECX, asz);
        if (rep && cnt == 0)
            return;
        uint32_t si = reg_get(c, R_ESI, asz), di = reg_get(c, R_EDI, asz);
        uint32_t a, b, fl = 0;
        switch (k) {
        case S_MOVS:
            a = mem_read(c, sseg, si, size);
            mem_write(c, SEG_ES, di, size, a);
            reg_set(c, R_ESI, asz, si + delta);
            reg_set(c, R_EDI, asz, di + delta);
            break;
        case S_CMPS:
            a = mem_read(c, sseg, si, size);
            b = mem_read(c, SEG_ES, di, size);
            alu_sub(a, b, 0, size, &fl);
            reg_set(c, R_ESI, asz, si + delta);
            reg_set(c, R_EDI, asz, di + delta);
            flags_set(c, fl, FLAGS_ARITH);
            break;
        case S_STOS:
            mem_write(c, SEG_ES, di, size, reg_get(c, R_EAX, size));
            reg_set(c, R_EDI, asz, di + delta);
            break;
        case S_LODS:
            a = mem_read(c, sseg, si, size);
            reg_set(c, R_EAX, size, a);
            reg_set(c, R_ESI, asz, si + delta);
            break;
        case S_SCAS:
            b = mem_read(c, SEG_ES, di, size);
            alu_sub(reg_get(c, R_EAX, size), b, 0, size, &fl);
            reg_set(c, R_EDI, asz, di + delta);
            flags_set(c, fl, FLAGS_ARITH);
            break;
        }
        if (!rep)
            return;
        cnt = (cnt - 1) & size_mask(asz);
        reg_set(c, R_ECX, asz, cnt);
        if (cnt == 0)
            return;
        if (cond && (i->rep == 0xf3) != !!(c->eflags & FLAG_ZF))
            return;
    }
    c->eip = c->insn_eip;   /* more to do: run again */
}

void ex_movs(struct interp_cpu *c, const struct insn *i) { string_op(c, i, S_MOVS); }
void ex_cmps(struct interp_cpu *c, const struct insn *i) { string_op(c, i, S_CMPS); }
void ex_stos(struct interp_cpu *c, const struct insn *i) { string_op(c, i, S_STOS); }
void ex_lods(struct interp_cpu *c, const struct insn *i) { string_op(c, i, S_LODS); }
void ex_scas(struct interp_cpu *c, const struct insn *i) { string_op(c, i, S_SCAS); }
