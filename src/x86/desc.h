/* desc.h - the one segment-descriptor decoder (SDM Vol. 3A 3.4.5): the
 * fields of an 8-byte GDT/LDT descriptor and the segment-register cache
 * filled from it.  Used by the interpreter (interp/seg.c, task.c, ...) and
 * the kvm engine's 64-bit assists (kvm/kvm_guestmem.c). */
#ifndef POPEK_X86_DESC_H
#define POPEK_X86_DESC_H
#include <stdbool.h>
#include <stdint.h>

#include "../core/cpu_state.h"

struct desc {
    uint32_t lo, hi;     /* raw 8 bytes */
};
static inline struct desc desc_from_u64(uint64_t d)
{
    return (struct desc){(uint32_t)d, (uint32_t)(d >> 32)};
}
static inline uint32_t desc_base(struct desc d)
{
    return (d.lo >> 16) | ((d.hi & 0xff) << 16) | (d.hi & 0xff000000u);
}
/* The limit in bytes (scaled by 4 KiB when G is set). */
static inline uint32_t desc_limit(struct desc d)
{
    uint32_t l = (d.lo & 0xffff) | (d.hi & 0x000f0000u);
    return (d.hi & (1u << 23)) ? (l << 12) | 0xfff : l;
}
static inline unsigned desc_type(struct desc d) { return (d.hi >> 8) & 0xf; }
static inline bool desc_s(struct desc d) { return (d.hi >> 12) & 1; }
static inline unsigned desc_dpl(struct desc d) { return (d.hi >> 13) & 3; }
static inline bool desc_p(struct desc d) { return (d.hi >> 15) & 1; }
static inline bool desc_is_code(struct desc d)
{
    return desc_s(d) && (desc_type(d) & 8);
}

/* Fill a segment register's cache from a descriptor. */
static inline void seg_from_desc(struct seg_reg *s, uint16_t sel,
                                 struct desc d)
{
    s->sel = sel;
    s->base = desc_base(d);
    s->limit = desc_limit(d);
    s->type = (uint8_t)desc_type(d);
    s->s = desc_s(d);
    s->dpl = (uint8_t)desc_dpl(d);
    s->present = desc_p(d);
    s->avl = (d.hi >> 20) & 1;
    s->l = (d.hi >> 21) & 1;
    s->db = (d.hi >> 22) & 1;
    s->g = (d.hi >> 23) & 1;
    s->unusable = false;
}

#endif
