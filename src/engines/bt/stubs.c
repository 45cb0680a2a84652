/* stubs.c - the hand-assembled glue at the start of the translation cache:
 *   enter:    bt_enter(target): save the host's callee-saved registers and
 *             stack pointer in bt_ctx, load guest flags (popfq) and guest
 *             EAX..EDI/ESP from bt_ctx, jump to target;
 *   exit[X]:  store exit code X, save guest ESP, switch to the host stack,
 *             save guest flags and registers into bt_ctx, then
 *   restore:  (also the signal handler's landing point) reload the host
 *             stack, cld, pop the callee-saved registers, return the code;
 *   ibl:      indirect branch: guest target eip in r11d; look it up in the
 *             direct-mapped bt_ctx.ibl table, jump on a hit, else exit
 *             BT_EXIT_INDIRECT.  Guest flags are saved on a private stack
 *             inside bt_ctx around the compare.
 * Translated code never uses the host stack: guest ESP is in RSP. */
#include <cpuid.h>
#include <stdlib.h>

#include "emit.h"

static void store_reg(struct emit *e, unsigned r) /* mov [rip+gpr r], r64 */
{
    e_u8(e, 0x48);
    e_u8(e, 0x89);
    e_u8(e, (uint8_t)(0x05 | (r << 3)));
    e_ripdisp(e, CTX_OFF(gpr) + 8 * r, 0);
}

static void load_reg32(struct emit *e, unsigned r) /* mov r32, [rip+gpr r] */
{
    e_u8(e, 0x8b);
    e_u8(e, (uint8_t)(0x05 | (r << 3)));
    e_ripdisp(e, CTX_OFF(gpr) + 8 * r, 0);
}

static void gen_enter(struct bt *b, struct emit *e)
{
    b->off_enter = e->pos;
    static const uint8_t save[] = {0x53, 0x55, 0x41, 0x54, 0x41, 0x55,
                                   0x41, 0x56, 0x41, 0x57,
                                   0x48, 0x83, 0xec, 0x08};
    e_bytes(e, save, sizeof(save));
    e_u8(e, 0x48); e_u8(e, 0x89); e_u8(e, 0x25); /* mov [rip+host_rsp], rsp */
    e_ripdisp(e, CTX_OFF(host_rsp), 0);
    e_u8(e, 0x49); e_u8(e, 0x89); e_u8(e, 0xfb);  /* mov r11, rdi */
    e_u8(e, 0xff); e_u8(e, 0x35);                 /* push [rip+rflags] */
    e_ripdisp(e, CTX_OFF(rflags), 0);
    e_u8(e, 0x9d);                                /* popfq */
    for (unsigned r = 0; r < 8; r++)
        load_reg32(e, r);
    e_u8(e, 0x41); e_u8(e, 0xff); e_u8(e, 0xe3);  /* jmp r11 */
}

static void gen_exits(struct bt *b, struct emit *e)
{
    uint32_t sites[BT_EXIT_FAULT + 1];
    for (unsigned x = BT_EXIT_BRANCH; x <= BT_EXIT_KICK; x++) {
        b->off_exit[x] = e->pos;
        e_store_imm(e, CTX_OFF(exit_code), x);
        sites[x] = e_jmp(e, 0);
    }
    uint32_t save = e->pos;
    for (unsigned x = BT_EXIT_BRANCH; x <= BT_EXIT_KICK; x++)
        e_set_rel32(e, sites[x], save);
    e_u8(e, 0x48); e_u8(e, 0x89); e_u8(e, 0x25); /* mov [rip+gpr4], rsp */
    e_ripdisp(e, CTX_OFF(gpr) + 8 * 4, 0);
    e_u8(e, 0x48); e_u8(e, 0x8b); e_u8(e, 0x25); /* mov rsp, [rip+host_rsp] */
    e_ripdisp(e, CTX_OFF(host_rsp), 0);
    e_u8(e, 0x9c);                               /* pushfq */
    e_u8(e, 0x8f); e_u8(e, 0x05);                /* pop [rip+rflags] */
    e_ripdisp(e, CTX_OFF(rflags), 0);
    for (unsigned r = 0; r < 8; r++)
        if (r != 4)
            store_reg(e, r);
    b->off_restore = e->pos;
    e_u8(e, 0x48); e_u8(e, 0x8b); e_u8(e, 0x25); /* mov rsp, [rip+host_rsp] */
    e_ripdisp(e, CTX_OFF(host_rsp), 0);
    static const uint8_t tail[] = {0xfc,                   /* cld */
                                   0x48, 0x83, 0xc4, 0x08, /* add rsp, 8 */
                                   0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d,
                                   0x41, 0x5c, 0x5d, 0x5b};
    e_bytes(e, tail, sizeof(tail));
    e_u8(e, 0x8b); e_u8(e, 0x05);                /* mov eax, [rip+exit_code] */
    e_ripdisp(e, CTX_OFF(exit_code), 0);
    e_u8(e, 0xc3);
    b->off_exit[BT_EXIT_FAULT] = b->off_restore;
}

/* BMI2 (rorx, shrx): the ibl can index its table without touching the
 * flags. */
static bool have_bmi2(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    return (b >> 8) & 1;
}

/* The flag-free ibl: no pushfq/popfq (tens of cycles each) on the
 * hottest indirect path (every ret):
 *   mov r10d, 48; rorx r9, r11, 12; shrx r9, r9, r10  ; (eip & 0xfff) << 4
 *   lea r8, [ibl]; mov r10, [r8 + r9]; not r10
 *   lea r10, [r10 + r11 + 1]                         ; r11 - key
 *   xchg rcx, r10; jrcxz hit; mov rcx, r10           ; guest rcx back
 *   mov [next_eip], r11d; jmp exit_indirect
 *   hit: mov rcx, r10; jmp [r8 + r9 + 8] */
static void gen_ibl_bmi2(struct bt *b, struct emit *e)
{
    b->off_ibl = e->pos;
    _Static_assert(BT_IBL_SIZE == 4096 && sizeof(struct bt_ibl_entry) == 16,
                   "the flag-free ibl indexes 4096 16-byte entries");
    static const uint8_t idx[] = {
        0x41, 0xba, 48, 0, 0, 0,                  /* mov r10d, 48 */
        0xc4, 0x43, 0xfb, 0xf0, 0xcb, 12,         /* rorx r9, r11, 12 */
        0xc4, 0x42, 0xab, 0xf7, 0xc9,             /* shrx r9, r9, r10 */
    };
    e_bytes(e, idx, sizeof(idx));
    e_u8(e, 0x4c); e_u8(e, 0x8d); e_u8(e, 0x05);         /* lea r8, [ibl] */
    e_ripdisp(e, CTX_OFF(ibl), 0);
    static const uint8_t cmp[] = {
        0x4f, 0x8b, 0x14, 0x08,                   /* mov r10, [r8 + r9] */
        0x49, 0xf7, 0xd2,                         /* not r10 */
        0x4f, 0x8d, 0x54, 0x1a, 0x01,             /* lea r10, [r10+r11+1] */
        0x4c, 0x87, 0xd1,                         /* xchg rcx, r10 */
        0xe3, 0x0f,                               /* jrcxz hit (+15) */
        0x4c, 0x89, 0xd1,                         /* mov rcx, r10 */
        0x44, 0x89, 0x1d,                         /* mov [next_eip], r11d */
    };
    e_bytes(e, cmp, sizeof(cmp));
    e_ripdisp(e, CTX_OFF(next_eip), 0);
    e_jmp(e, b->off_exit[BT_EXIT_INDIRECT]);
    static const uint8_t hit[] = {
        0x4c, 0x89, 0xd1,                         /* mov rcx, r10 */
        0x43, 0xff, 0x64, 0x08, 0x08,             /* jmp [r8 + r9 + 8] */
    };
    e_bytes(e, hit, sizeof(hit));
}

static void gen_ibl(struct bt *b, struct emit *e)
{
    b->bmi2 = have_bmi2() && !getenv("POPEK_BT_NO_BMI2");
    if (b->bmi2) {
        gen_ibl_bmi2(b, e);
        return;
    }
    b->off_ibl = e->pos;
    e_u8(e, 0x49); e_u8(e, 0x89); e_u8(e, 0xe2);        /* mov r10, rsp */
    e_u8(e, 0x48); e_u8(e, 0x8d); e_u8(e, 0x25);        /* lea rsp, [..] */
    e_ripdisp(e, CTX_OFF(flag_stack) + sizeof(((struct bt_ctx *)0)->flag_stack), 0);
    e_u8(e, 0x9c);                                      /* pushfq */
    e_u8(e, 0x45); e_u8(e, 0x89); e_u8(e, 0xd9);        /* mov r9d, r11d */
    e_u8(e, 0x41); e_u8(e, 0x81); e_u8(e, 0xe1);        /* and r9d, mask */
    e_u32(e, BT_IBL_SIZE - 1);
    e_u8(e, 0x41); e_u8(e, 0xc1); e_u8(e, 0xe1); e_u8(e, 4); /* shl r9d,4 */
    e_u8(e, 0x4c); e_u8(e, 0x8d); e_u8(e, 0x05);        /* lea r8, [ibl] */
    e_ripdisp(e, CTX_OFF(ibl), 0);
    static const uint8_t hit[] = {
        0x4f, 0x3b, 0x1c, 0x08,       /* cmp r11, [r8+r9] */
        0x75, 0x0c,                   /* jne miss (+12) */
        0x4f, 0x8b, 0x44, 0x08, 0x08, /* mov r8, [r8+r9+8] */
        0x9d,                         /* popfq */
        0x4c, 0x89, 0xd4,             /* mov rsp, r10 */
        0x41, 0xff, 0xe0,             /* jmp r8 */
        /* miss: */
        0x9d, 0x4c, 0x89, 0xd4,       /* popfq; mov rsp, r10 */
        0x44, 0x89, 0x1d,             /* mov [rip+next_eip], r11d */
    };
    e_bytes(e, hit, sizeof(hit));
    e_ripdisp(e, CTX_OFF(next_eip), 0);
    e_jmp(e, b->off_exit[BT_EXIT_INDIRECT]);
}

void bt_stubs_generate(struct bt *b)
{
    struct emit e = {.base = b->tcw, .pos = BT_CTX_AREA};
    gen_enter(b, &e);
    gen_exits(b, &e);
    gen_ibl(b, &e);
    b->stubs_end = (e.pos + 63) & ~63u;
}

int bt_enter(struct bt *b, uint32_t off)
{
    int (*fn)(void *) = (int (*)(void *))(void *)(b->tc + b->off_enter);
    return fn(b->tc + off);
}
