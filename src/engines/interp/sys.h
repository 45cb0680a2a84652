/* sys.h - private interface between the interpreter's system-side files
 * (cpu.c, mmu.c, seg.c, exceptions.c, system.c, io.c, msr_cpuid.c,
 * decode_cache.c, interp.c).  The user-side handlers never include it; the
 * contract with them is cpu.h. */
#ifndef POPEK_INTERP_SYS_H
#define POPEK_INTERP_SYS_H
#include <stdbool.h>
#include <stdint.h>

#include "../../x86/desc.h"
#include "cpu.h"

/* ---- mmu.c: linear and physical memory ---- */
enum access { ACC_READ = 0, ACC_WRITE = 1, ACC_FETCH = 2 };
/* Who makes an access (the `user` argument of the functions below):
 * PRIV_SYS (false): an implicit supervisor access (descriptor tables, IDT,
 * TSS), checked by SMAP whatever EFLAGS.AC and the CPL;
 * PRIV_USER (true): CPL 3;  PRIV_SV: an explicit access at CPL 0-2 (SMAP
 * lets it reach user pages when EFLAGS.AC=1). */
enum { PRIV_SYS = 0, PRIV_USER = 1, PRIV_SV = 2 };
/* Translate a linear address: returns the physical address, raising #PF
 * (CR2 = lin) on failure. */
uint32_t mmu_translate(struct interp_cpu *c, uint32_t lin, enum access acc,
                       int user);
/* The same without faulting or touching A/D bits: false if not mapped. */
bool mmu_probe(struct interp_cpu *c, uint32_t lin, uint32_t *phys);
/* Linear accesses (may cross pages; both parts are checked before a write
 * lands). */
uint32_t lin_read(struct interp_cpu *c, uint32_t lin, int size, int user);
void lin_write(struct interp_cpu *c, uint32_t lin, int size, uint32_t val,
               int user);
void lin_check_write(struct interp_cpu *c, uint32_t lin, uint32_t len,
                     int user);
/* Physical accesses: RAM, else MMIO (all ones if nothing claims it). */
uint32_t phys_read(struct interp_cpu *c, uint32_t pa, int size);
void phys_write(struct interp_cpu *c, uint32_t pa, int size, uint32_t val);
/* vmcall/vmmcall: popek's hypercall (hypercall.c, calls src/pv). */
void interp_hypercall(struct interp_cpu *c);
/* TLB maintenance. */
void tlb_flush_all(struct interp_cpu *c);
void tlb_flush_nonglobal(struct interp_cpu *c);
void tlb_flush_page(struct interp_cpu *c, uint32_t lin);
/* The privilege of the CPU's ordinary (explicit) accesses. */
static inline int cpu_user(const struct interp_cpu *c)
{
    return c->cpl == 3 ? PRIV_USER : PRIV_SV;
}
/* May an access of privilege priv use a TLB entry without a rights check
 * in the fast paths?  (User pages need the slow path under SMAP/SMEP.) */
static inline bool tlb_priv_ok(const struct interp_cpu *c, bool user_page,
                               int priv, uint32_t cr4_bit)
{
    if (priv == PRIV_USER)
        return user_page;
    return !user_page || !(c->cr4 & cr4_bit);
}
/* Segment offset check + linear address (raises #GP(0)/#SS(0)). */
uint32_t seg_linear(struct interp_cpu *c, int seg, uint32_t off, uint32_t len,
                    bool write);
/* The part of ESP the stack uses: SS.B=1 all 32 bits, else SP. */
static inline uint32_t stack_mask(const struct interp_cpu *c)
{
    return c->seg[SEG_SS].db ? 0xffffffffu : 0xffffu;
}

/* ---- seg.c: descriptors ---- */
/* struct desc and its fields, seg_from_desc: x86/desc.h */
/* Read the descriptor of sel (GDT or LDT).  Returns false if the selector
 * is outside the table (the caller raises its own fault). */
bool desc_read(struct interp_cpu *c, uint16_t sel, struct desc *d);
/* Set the accessed bit of a code/data descriptor in memory. */
void desc_set_accessed(struct interp_cpu *c, uint16_t sel, struct desc *d);
/* Load data segment register seg (DS/ES/FS/GS) in protected mode with the
 * checks of mov/pop (vec EXC_GP) or of a task switch (vec EXC_TS). */
void seg_load_data(struct interp_cpu *c, int seg, uint16_t sel, int vec);
/* Load LDTR from a GDT selector: lldt (vec EXC_GP, err sel, np_vec EXC_NP)
 * or a task switch (EXC_TS for both). */
void seg_load_ldt(struct interp_cpu *c, uint16_t sel, int vec, uint32_t err,
                  int np_vec);
/* Load a segment in real mode (base = sel << 4). */
void seg_load_real(struct interp_cpu *c, int seg, uint16_t sel);
/* Load CS for a control transfer (no checks) and update CPL. */
void seg_load_cs(struct interp_cpu *c, uint16_t sel, struct desc d, int cpl);
/* Load SS at privilege cpl, with the checks of a stack switch; the fault
 * is #TS(sel) (stack switch through the TSS) if ts, else #GP/#SS. */
void seg_check_ss(struct interp_cpu *c, uint16_t sel, int cpl, bool ts,
                  uint32_t ext, struct desc *out);
/* After a return to an outer privilege level: null data segment registers
 * the new CPL may not use. */
void seg_null_outer(struct interp_cpu *c);
void cpu_far_return(struct interp_cpu *c, int opsize, uint16_t pop_extra);
void cpu_iret(struct interp_cpu *c, int opsize);
/* lar/lsl/verr/verw: is sel visible for the query?  (Fills d.) */
bool seg_query(struct interp_cpu *c, uint16_t sel, int kind, struct desc *d);

/* ---- exceptions.c ---- */
enum event_kind { EV_EXCEPTION, EV_SOFT_INT, EV_EXTERNAL, EV_ICEBP };
/* Deliver an event through the IDT.  return_eip is pushed. */
void cpu_deliver(struct interp_cpu *c, int vector, enum event_kind kind,
                 bool has_err, uint32_t err, uint32_t return_eip);
/* Software interrupt (int n / int3 / into): delivered now, returns. */
void cpu_soft_int(struct interp_cpu *c, int vector, enum event_kind kind);
/* Log a message once per key (a small set of keys). */
void log_once(struct interp_cpu *c, unsigned key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Keys of log_once: opcodes (0..OP_COUNT-1), then these.  A key >=
 * LOG_NKEYS is never deduplicated (the caller does it). */
enum { LOG_TASK_SWITCH = OP_COUNT, LOG_VM86, LOG_DR7, LOG_CR4, LOG_BAD_INSN,
       LOG_FAULT_LOOP,
       LOG_NKEYS };

/* ---- task.c: hardware task switches ---- */
enum task_source { TS_JMP, TS_CALL, TS_IRET, TS_INT };
/* Switch to the task whose TSS descriptor (GDT selector sel) is d; the old
 * task resumes at ret_eip.  ext: the EXT bit for error codes. */
void task_switch(struct interp_cpu *c, uint16_t sel, struct desc d,
                 enum task_source src, uint32_t ext, uint32_t ret_eip);
/* Through a task gate descriptor (its DPL and P already checked). */
void task_gate(struct interp_cpu *c, struct desc gate, enum task_source src,
               uint32_t ext, uint32_t ret_eip);
/* iret with NT=1: back to the task in the current TSS's back link. */
void task_return(struct interp_cpu *c);

/* ---- io.c ---- */
/* Check CPL/IOPL and the TSS I/O bitmap for ports [port, port+len). */
void io_check(struct interp_cpu *c, uint16_t port, int len);
uint32_t port_in(struct interp_cpu *c, uint16_t port, int len);
void port_out(struct interp_cpu *c, uint16_t port, int len, uint32_t val);
void ex_in_out(struct interp_cpu *c, const struct insn *i);   /* E4-E7 EC-EF */
void ex_ins_outs(struct interp_cpu *c, const struct insn *i); /* 6C-6F */

/* ---- msr_cpuid.c ---- */
void cpu_cpuid(struct interp_cpu *c);
bool cpu_rdmsr(struct interp_cpu *c, uint32_t msr, uint64_t *val);
bool cpu_wrmsr(struct interp_cpu *c, uint32_t msr, uint64_t val);
/* SMAP (and clac/stac) exist: on interp only (docs/fidelity.md). */
static inline bool cpu_smap_supported(const struct interp_cpu *c)
{
    return !c->bt_engine;
}
/* MSR reset values (PAT, EFER, TSC_AUX), from interp_cpu_init. */
void cpu_msr_reset(struct interp_cpu *c);

/* ---- decode_cache.c ---- */
/* Decoded instructions, direct-mapped by physical address.  Each entry
 * records its page's generation; writing a page that holds decoded code
 * bumps the generation (pages are hashed into DC_PAGE_SLOTS: a collision
 * only costs a spurious re-decode). */
#define DC_ENTRIES 16384
#define DC_PAGE_SLOTS 16384
struct dc_entry {
    uint32_t pa;
    uint32_t gen;
    uint8_t valid, code32;
    struct insn insn;
};
struct decode_cache {
    uint32_t page_gen[DC_PAGE_SLOTS];
    uint8_t page_code[DC_PAGE_SLOTS];
    struct dc_entry e[DC_ENTRIES];
    uint64_t misses, invalidations;
};
static inline unsigned dc_page_slot(uint32_t pa)
{
    return (pa >> 12) & (DC_PAGE_SLOTS - 1);
}
/* Find or decode the instruction at physical pa (host bytes p, avail bytes
 * to the end of the page).  Returns the decode length or a negative
 * enum decode_result; *out points at the decoded insn. */
int dcache_fill(struct interp_cpu *c, uint32_t pa, const uint8_t *p,
                int avail, bool code32, const struct insn **out);
static inline int dcache_lookup(struct interp_cpu *c, uint32_t pa,
                                const uint8_t *p, int avail, bool code32,
                                const struct insn **out)
{
    struct decode_cache *dc = c->dcache;
    struct dc_entry *e = &dc->e[(pa ^ (pa >> 14)) & (DC_ENTRIES - 1)];
    if (e->pa == pa && e->valid && e->code32 == code32 &&
        e->gen == dc->page_gen[dc_page_slot(pa)]) {
        *out = &e->insn;
        return e->insn.len;
    }
    return dcache_fill(c, pa, p, avail, code32, out);
}
/* Physical page written: drop its decoded instructions. */
void dcache_invalidate_page(struct decode_cache *dc, uint32_t pa);
static inline bool dcache_page_has_code(const struct decode_cache *dc,
                                        uint32_t pa)
{
    return dc->page_code[dc_page_slot(pa)];
}
void dcache_flush(struct decode_cache *dc);

/* ---- system.c ---- */
/* After EFLAGS changed: if IF went 0 -> 1, the run loop must check whether
 * an interrupt is waiting (the irq window may have opened). */
static inline void cpu_note_if(struct interp_cpu *c, uint32_t old_flags)
{
    if (!(old_flags & FLAG_IF) && (c->eflags & FLAG_IF))
        c->check_irq = true;
}

#endif
