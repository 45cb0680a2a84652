/* emit.h - a tiny x86-64 machine-code emitter for the bt engine: bytes into
 * the translation cache, RIP-relative references to struct bt_ctx fields,
 * rel32 jumps between cache offsets.  Only the handful of encodings that
 * stubs.c and translate.c need. */
#ifndef POPEK_BT_EMIT_H
#define POPEK_BT_EMIT_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bt.h"

struct emit {
    uint8_t *base; /* the cache region (offsets are relative to it) */
    uint32_t pos;  /* next byte */
};

static inline void e_u8(struct emit *e, uint8_t v) { e->base[e->pos++] = v; }
static inline void e_u32(struct emit *e, uint32_t v)
{
    memcpy(e->base + e->pos, &v, 4);
    e->pos += 4;
}
static inline void e_bytes(struct emit *e, const uint8_t *p, size_t n)
{
    memcpy(e->base + e->pos, p, n);
    e->pos += (uint32_t)n;
}
/* disp32 for a RIP-relative operand to ctx field at offset `field`, when
 * `tail` more bytes (immediates) follow the disp32 in the instruction. */
static inline void e_ripdisp(struct emit *e, size_t field, unsigned tail)
{
    int64_t next = (int64_t)e->pos + 4 + tail; /* ctx is at offset 0 */
    e_u32(e, (uint32_t)(int32_t)((int64_t)field - next));
}
/* mov dword [rip+field], imm32 */
static inline void e_store_imm(struct emit *e, size_t field, uint32_t imm)
{
    e_u8(e, 0xc7);
    e_u8(e, 0x05);
    e_ripdisp(e, field, 4);
    e_u32(e, imm);
}
/* jmp rel32 to cache offset target; returns the offset of the rel32. */
static inline uint32_t e_jmp(struct emit *e, uint32_t target)
{
    e_u8(e, 0xe9);
    uint32_t site = e->pos;
    e_u32(e, target - (site + 4));
    return site;
}
/* jcc rel32 (cc = 0..15). */
static inline uint32_t e_jcc(struct emit *e, unsigned cc, uint32_t target)
{
    e_u8(e, 0x0f);
    e_u8(e, (uint8_t)(0x80 | cc));
    uint32_t site = e->pos;
    e_u32(e, target - (site + 4));
    return site;
}
static inline void e_set_rel32(struct emit *e, uint32_t site, uint32_t target)
{
    uint32_t v = target - (site + 4);
    memcpy(e->base + site, &v, 4);
}

#define CTX_OFF(field) offsetof(struct bt_ctx, field)

#endif
