/* cpu.h - the interpreter's IA-32 CPU: architectural state, and the API that
 * instruction handlers use (memory through segmentation and paging, the
 * stack, exceptions).  Split of the work:
 *   - system.c, mmu.c, seg.c, exceptions.c, interp.c ... (the "system" side)
 *     implement everything declared here, the far/privileged/system
 *     instructions, interrupt delivery, the decoded-instruction cache and
 *     the engine_ops glue;
 *   - exec_*.c (the "user" side) implement the integer, string, BCD, x87
 *     instructions and register them with exec_user_init().
 * Faults unwind with longjmp to the dispatch loop, which restores EIP to the
 * faulting instruction and delivers the exception.  Rule for handlers: make
 * every memory access that can fault BEFORE changing any register or flag
 * (read, compute, write memory, then commit registers and EFLAGS), so that
 * faults are restartable. */
#ifndef POPEK_INTERP_CPU_H
#define POPEK_INTERP_CPU_H
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../core/cpu_state.h"
#include "../../x86/decode.h"

struct machine;
struct decode_cache;
struct guest_debug;
struct vcpu_state;

/* Debugger state (debug.c): breakpoints at linear addresses checked at
 * each instruction boundary while c->dbg is set (NULL: no cost but one
 * test per instruction). */
#define INTERP_DBG_MAX_BP 68
struct interp_dbg {
    bool single_step;
    unsigned nbp, nhw;
    uint32_t bp[INTERP_DBG_MAX_BP];
    bool hit;               /* stopped: report EXIT_DEBUG */
    int64_t skip_lin;       /* resume: don't stop here once (as RF), -1 */
};

/* CR4 bits beyond core/cpu_state.h's. */
#ifndef CR4_OSXMMEXCPT
#define CR4_OSXMMEXCPT (1u << 10)
#endif
#ifndef CR4_UMIP
#define CR4_UMIP (1u << 11)
#endif
#ifndef CR4_SMEP
#define CR4_SMEP (1u << 20)
#endif
#ifndef CR4_SMAP
#define CR4_SMAP (1u << 21)
#endif

/* Exception vectors. */
enum {
    EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
    EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11,
    EXC_SS = 12, EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17,
    EXC_MC = 18, EXC_XM = 19,
};

/* x87/SSE state in FXSAVE layout (512 bytes, 16-byte aligned), so that
 * handlers may run host x87 instructions on it with fxrstor/fxsave. */
struct fpu_state {
    _Alignas(16) uint8_t fx[512];
};

struct tlb_entry {
    uint32_t vpage;      /* linear page number | 1 (valid); 0 = invalid */
    uint32_t ppage;      /* physical page address */
    uint8_t *host;       /* host pointer to the page, NULL for MMIO */
    uint8_t user_ok;     /* U/S allows CPL 3 */
    uint8_t write_ok;    /* writable for the privilege recorded */
    uint8_t dirty;       /* D already set in the PTE */
    uint8_t global;
};
#define TLB_SIZE 1024

struct interp_cpu {
    uint32_t r[8];          /* EAX ECX EDX EBX ESP EBP ESI EDI */
    uint32_t eip;           /* during a handler: the NEXT instruction */
    uint32_t eflags;        /* all bits, kept exact at all times */
    struct seg_reg seg[NR_SEGS];
    struct dtable gdt, idt;
    uint32_t cr0, cr2, cr3, cr4;
    uint32_t dr[8];
    uint8_t cpl;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t tsc_offset;
    uint64_t apic_base, pat, misc_enable, efer, tsc_aux;
    bool bt_engine;         /* run by bt (CPUID brand, SMAP); bt sets it */
    struct fpu_state fpu;

    /* Per-instruction. */
    uint32_t insn_eip;      /* start of the current instruction */
    jmp_buf fault_jmp;      /* longjmp target for faults */

    /* Interrupt state. */
    bool halted;
    int pending_vector;     /* external interrupt to deliver, or -1 */
    bool nmi_pending;       /* an NMI latched, delivered when not blocked */
    bool nmi_blocked;       /* in an NMI handler: until the next IRET */
    bool intr_shadow;       /* after sti / mov ss / pop ss */

    struct tlb_entry tlb[TLB_SIZE];
    struct machine *m;
    uint8_t *ram;
    uint32_t ram_size;
    uint64_t icount;        /* instructions retired */

    /* ---- system-side private state (cpu.c, mmu.c, exceptions.c, ...) ---- */
    uint32_t insn_esp;      /* ESP at the start of the instruction */
    int fault_vector;       /* the fault being unwound by longjmp */
    uint32_t fault_err;
    bool fault_has_err;
    int delivering;         /* vector whose delivery is in progress, or -1 */
    bool delivering_ext;    /* ... and it is external (EXT bit) */
    bool check_irq;         /* re-check machine_intr_pending at the boundary */
    uint32_t tlb_large[32]; /* per 4 MiB region: some TLB entry there
                             * maps part of a 4 MiB page */
    uint32_t batch_left;    /* instructions left in interp_run_batch */
    struct decode_cache *dcache; /* NULL: decode every time (unit tests) */
    uint64_t exc_count[32]; /* exceptions raised, by vector */
    uint64_t irqs_delivered, tlb_flushes;
    bool pv_tlb_flushed;    /* a hypercall flushed the TLB (bt: shadows) */
    int pv_flush_how;       /* ... as TLB_FLUSH: 0 non-global, 1 a page, 2 all */
    uint32_t pv_flush_lin;  /* ... the page */
    struct interp_dbg *dbg; /* debugger breakpoints/step, or NULL */
};

/* ---- registers ---- */
static inline uint32_t reg_get(const struct interp_cpu *c, int r, int size)
{
    if (size == 4)
        return c->r[r];
    if (size == 2)
        return c->r[r] & 0xffff;
    /* byte registers: AL CL DL BL AH CH DH BH */
    return r < 4 ? c->r[r] & 0xff : (c->r[r - 4] >> 8) & 0xff;
}
static inline void reg_set(struct interp_cpu *c, int r, int size, uint32_t v)
{
    if (size == 4)
        c->r[r] = v;
    else if (size == 2)
        c->r[r] = (c->r[r] & 0xffff0000u) | (v & 0xffff);
    else if (r < 4)
        c->r[r] = (c->r[r] & 0xffffff00u) | (v & 0xff);
    else
        c->r[r - 4] = (c->r[r - 4] & 0xffff00ffu) | ((v & 0xff) << 8);
}

/* ---- exceptions (never return) ---- */
_Noreturn void cpu_fault(struct interp_cpu *c, int vector);            /* no error code */
_Noreturn void cpu_fault_err(struct interp_cpu *c, int vector, uint32_t err);
/* #UD for the current instruction, logged once per opcode with its bytes. */
_Noreturn void cpu_undefined(struct interp_cpu *c, const struct insn *i);

/* ---- memory ---- */
/* Offset of the memory operand of i (ModRM/SIB/disp, truncated to the
 * address size).  Valid only when i->has_modrm && i->mod != 3. */
uint32_t insn_ea(const struct interp_cpu *c, const struct insn *i);
/* Segment-relative access: checks the segment's limit and type (#GP(0), or
 * #SS(0) for SS), then paging (#PF).  size is 1, 2 or 4. */
uint32_t mem_read(struct interp_cpu *c, int seg, uint32_t off, int size);
void mem_write(struct interp_cpu *c, int seg, uint32_t off, int size,
               uint32_t val);
uint64_t mem_read64(struct interp_cpu *c, int seg, uint32_t off);
void mem_write64(struct interp_cpu *c, int seg, uint32_t off, uint64_t val);
/* Check that [off, off+len) in seg is writable (segment and paging) without
 * writing: lets multi-part stores fault before the first part lands. */
void mem_check_write(struct interp_cpu *c, int seg, uint32_t off, uint32_t len);
/* Read/write the r/m operand (register if mod == 3, else memory). */
uint32_t rm_read(struct interp_cpu *c, const struct insn *i, int size);
void rm_write(struct interp_cpu *c, const struct insn *i, int size, uint32_t v);

/* ---- stack (SS, with the stack's own address size SS.B) ---- */
void cpu_push(struct interp_cpu *c, uint32_t val, int size);
uint32_t cpu_pop(struct interp_cpu *c, int size);
/* Read the value `depth` bytes above the top of stack without popping. */
uint32_t cpu_stack_peek(struct interp_cpu *c, uint32_t depth, int size);
/* ESP adjusted by delta with SS.B wrap rules. */
void cpu_stack_adjust(struct interp_cpu *c, int32_t delta);

/* ---- flags ---- */
/* Write EFLAGS as popf/iret would at the current CPL/IOPL (mask says which
 * bits the instruction may change). */
void cpu_set_eflags(struct interp_cpu *c, uint32_t val, uint32_t mask);

/* ---- system helpers the user side may call ---- */
void cpu_load_seg(struct interp_cpu *c, int seg, uint16_t sel);
void cpu_far_jump(struct interp_cpu *c, uint16_t sel, uint32_t off, int opsize);
void cpu_far_call(struct interp_cpu *c, uint16_t sel, uint32_t off, int opsize);
void cpu_near_branch(struct interp_cpu *c, uint32_t target); /* checks CS limit */
uint64_t cpu_rdtsc(struct interp_cpu *c);

/* ---- instruction handlers ---- */
typedef void (*exec_fn)(struct interp_cpu *c, const struct insn *i);
/* The dispatch table, indexed by insn.op (OP_COUNT entries).  NULL = #UD.
 * exec_user_init() fills the user-side opcodes, then exec_sys_init() fills
 * the system ones (and may override). */
void exec_user_init(exec_fn *tab);
void exec_sys_init(exec_fn *tab);

/* SSE levels the host runs (so the interpreter implements): bit 0 SSE,
 * 1 SSE2, 2 SSE3, 3 SSSE3 (user side implements, exec_sse.c). */
uint32_t sse_host_features(void);

/* x87: FNINIT state, used at reset (user side implements). */
void fpu_reset(struct interp_cpu *c);

/* ---- for the engine glue and for tests (system side implements) ---- */
/* Reset c into 32-bit flat protected mode, CPL 0, paging off, IF=0, over
 * guest RAM [ram, ram+ram_size).  m may be NULL in unit tests (port I/O
 * then reads all ones and writes are dropped). */
void interp_cpu_init(struct interp_cpu *c, uint8_t *ram, uint32_t ram_size,
                     struct machine *m);
/* Execute one instruction (delivering any exception it raises through the
 * guest IDT).  Returns -1 if it retired normally, else the vector of the
 * exception it raised (already delivered, or -2 on a triple fault). */
int interp_step(struct interp_cpu *c);
/* IRET (opsize 2 or 4) from the current stack frame, as if executed at
 * CS:EIP, for an engine that undoes an exception delivery (the kvm
 * engine's #UD trap).  False if it would fault (nothing delivered; the
 * state is then undefined). */
bool interp_unwind_iret(struct interp_cpu *c, int opsize);
/* Execute up to n steps (as interp_step) under one fault context; returns
 * early, with -1, once the CPU halts or may need an interrupt check
 * (check_irq), or -2 on a triple fault.  For the engine's run loop. */
int interp_run_batch(struct interp_cpu *c, uint32_t n);
/* Allocate the decoded-instruction cache (the engine does; unit tests may)
 * and free it.  Returns -1 on allocation failure. */
int interp_dcache_enable(struct interp_cpu *c);
/* State transfer and interrupt-window rules (cpu_xfer.c), shared by the
 * interp and bt engines (and the kvm engine's 32-bit assists).  set_state
 * refuses 64-bit entry states with a message naming `engine`. */
void interp_cpu_get_state(const struct interp_cpu *c, struct cpu_state *s);
int interp_cpu_set_state(struct interp_cpu *c, const struct cpu_state *s,
                         const char *engine);
bool interp_cpu_irq_window_open(const struct interp_cpu *c);
void interp_cpu_inject_irq(struct interp_cpu *c, uint8_t vector);
void interp_cpu_inject_nmi(struct interp_cpu *c);
/* An event (interrupt or unblocked NMI) is to be delivered before the next
 * instruction. */
static inline bool interp_cpu_event_pending(const struct interp_cpu *c)
{
    return c->pending_vector >= 0 || (c->nmi_pending && !c->nmi_blocked);
}
void interp_cpu_free(struct interp_cpu *c);
/* The full vCPU state (live engine switching, debugger), cpu_xfer.c:
 * set refuses what the interpreter cannot hold (long mode, a queued
 * exception or NMI) with a message naming `engine`. */
void interp_cpu_get_vcpu(const struct interp_cpu *c, struct vcpu_state *s);
int interp_cpu_set_vcpu(struct interp_cpu *c, const struct vcpu_state *s,
                        const char *engine);
/* Debugger hooks (debug.c).  set_debug(NULL) turns them off. */
int interp_cpu_set_debug(struct interp_cpu *c, const struct guest_debug *d);
/* At run() entry: leaving a debug stop, don't stop again at once. */
void interp_dbg_resume(struct interp_cpu *c);
/* At an instruction boundary: stop here?  (sets hit and check_irq) */
bool interp_dbg_stop_here(struct interp_cpu *c);

#endif
