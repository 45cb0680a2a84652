/* cpu_state.h - the engine-neutral register file.  Loaders fill one in to
 * describe the entry state; engines translate it to and from their own
 * representation (kvm_regs/kvm_sregs, the interpreter's CPU struct, ...). */
#ifndef POPEK_CPU_STATE_H
#define POPEK_CPU_STATE_H
#include <stdbool.h>
#include <stdint.h>

enum gpr { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI, R_R8,
           R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15, NR_GPRS };

/* Segment registers in x86 encoding order, then the system segments. */
enum seg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR,
           NR_SEGS };

/* A segment register with its hidden (descriptor cache) part. */
struct seg_reg {
    uint16_t sel;
    uint64_t base;
    uint32_t limit;   /* byte granular (already scaled if G=1) */
    uint8_t type;     /* descriptor type field, 4 bits */
    uint8_t s;        /* 1 = code/data, 0 = system */
    uint8_t dpl;
    uint8_t present;
    uint8_t avl, l, db, g;
    bool unusable;
};

struct dtable {
    uint64_t base;
    uint16_t limit;
};

#define CR0_PE (1u << 0)
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_ET (1u << 4)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_AM (1u << 18)
#define CR0_NW (1u << 29)
#define CR0_CD (1u << 30)
#define CR0_PG (1u << 31)
#define CR4_VME (1u << 0)
#define CR4_PVI (1u << 1)
#define CR4_TSD (1u << 2)
#define CR4_DE (1u << 3)
#define CR4_PSE (1u << 4)
#define CR4_PAE (1u << 5)
#define CR4_MCE (1u << 6)
#define CR4_PGE (1u << 7)
#define CR4_OSFXSR (1u << 9)
#define EFER_SCE (1u << 0)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define EFER_NXE (1u << 11)

/* Page-table entry bits (32-bit, PAE and long-mode tables alike). */
#define PTE_P 0x001u
#define PTE_W 0x002u
#define PTE_U 0x004u
#define PTE_A 0x020u
#define PTE_D 0x040u
#define PTE_PS 0x080u
#define PTE_G 0x100u

#define FLAG_CF (1u << 0)
#define FLAG_PF (1u << 2)
#define FLAG_AF (1u << 4)
#define FLAG_ZF (1u << 6)
#define FLAG_SF (1u << 7)
#define FLAG_TF (1u << 8)
#define FLAG_IF (1u << 9)
#define FLAG_DF (1u << 10)
#define FLAG_OF (1u << 11)
#define FLAG_IOPL (3u << 12)
#define FLAG_NT (1u << 14)
#define FLAG_RF (1u << 16)
#define FLAG_VM (1u << 17)
#define FLAG_AC (1u << 18)
#define FLAG_VIF (1u << 19)
#define FLAG_VIP (1u << 20)
#define FLAG_ID (1u << 21)

struct cpu_state {
    uint64_t gpr[NR_GPRS];
    uint64_t rip, rflags;
    struct seg_reg seg[NR_SEGS];
    struct dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
};

/* Fill a flat 4 GiB segment (code if code=true) with the given selector. */
void seg_flat32(struct seg_reg *s, uint16_t sel, bool code);

#endif
