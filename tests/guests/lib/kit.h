/* kit.h - popek's guest test kit: the public API of a tiny freestanding
 * library for 32-bit multiboot test and benchmark guests (loaded at 1 MiB).
 *
 * A guest is one C file with `int main(struct multiboot_info *mbi)`.  The
 * kit's entry code (entry.S) zeroes .bss, sets up a stack, and calls
 * kit_start(), which initialises COM1, copies the command line, installs
 * the kit's GDT (flat ring 0/3 segments + a TSS) and IDT (every vector goes
 * to kit_trap_dispatch), then calls main().  When main returns, the guest
 * exits through isa-debug-exit: pass if main returned 0 and no CHECK failed,
 * fail otherwise.
 *
 * Output conventions (the suite compares console output byte for byte on
 * every engine, so print only deterministic text):
 *   "ok - what"      a CHECK that held
 *   "not ok - what"  a CHECK that failed (followed by "#  ..." details)
 *   "# ..."          comments
 *
 * Files: entry.S (multiboot header, _start), traps.S (IDT stubs, setjmp,
 * ring-3 entry, sysenter), console.c (serial, printf), cpu.c (GDT/IDT/TSS,
 * traps, try, user mode, syscalls), paging.c, timers.c (PIC/PIT/CMOS),
 * apic.c (local APIC and I/O APIC registers),
 * string.c (mem and str functions, command-line parameters), check.c
 * (CHECKs, exit); guest.ld / guest64.ld link the 32-bit / 64-bit guests;
 * qemu_check.sh runs the suite under QEMU TCG as a reference. */
#ifndef KIT_H
#define KIT_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KIT_NORETURN __attribute__((noreturn))

/* ---------------- multiboot (v1) ---------------- */

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define MBI_FLAG_MEM (1u << 0)
#define MBI_FLAG_CMDLINE (1u << 2)
#define MBI_FLAG_MODS (1u << 3)
#define MBI_FLAG_MMAP (1u << 6)

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper; /* KiB below 640K / above 1 MiB */
    uint32_t boot_device;
    uint32_t cmdline;              /* physical address of a C string */
    uint32_t mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
} __attribute__((packed));

struct multiboot_mod {
    uint32_t mod_start, mod_end, string, reserved;
} __attribute__((packed));

/* The boot information as handed over (NULL if the magic was wrong). */
extern struct multiboot_info *kit_mbi;
/* Was the kit entered with the multiboot magic in EAX? */
extern bool kit_multiboot_ok;
/* The 8259 interrupt masks (master, slave) found at entry; kit_start then
 * masks every IRQ (a BIOS may leave its timer running on IRQ 0). */
extern uint8_t kit_boot_imr[2];

/* The guest's command line (popek --append / qemu -append), never NULL.
 * Copied into the kit at start, so it survives anything the guest does. */
const char *kit_cmdline(void);
/* Command-line parameters of the form name=value, separated by spaces.
 * kit_param() copies the value into buf (NUL-terminated, truncated to
 * n-1) and returns true if the parameter is present ("name" alone counts
 * as present with an empty value). */
bool kit_param(const char *name, char *buf, size_t n);
/* Numeric parameter (decimal, or hex with 0x; suffix k/K = *1000,
 * m/M = *1000000); returns def if absent or malformed. */
uint32_t kit_param_u32(const char *name, uint32_t def);

/* ---------------- port I/O and CPU instructions ---------------- */

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* sti; hlt back to back: no interrupt can slip in between (STI shadow). */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline uint32_t read_eflags(void)
{
    uint32_t f;
    __asm__ volatile("pushfl; popl %0" : "=r"(f));
    return f;
}
static inline void write_eflags(uint32_t f) { __asm__ volatile("pushl %0; popfl" ::"r"(f) : "memory", "cc"); }

#define KIT_DEFINE_CR(n)                                                                       \
    static inline uint32_t read_cr##n(void) { uint32_t v; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
    static inline void write_cr##n(uint32_t v) { __asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); }
KIT_DEFINE_CR(0)
KIT_DEFINE_CR(2)
KIT_DEFINE_CR(3)
KIT_DEFINE_CR(4)
#undef KIT_DEFINE_CR

static inline void invlpg(const volatile void *va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }

static inline uint16_t read_cs(void) { uint16_t v; __asm__ volatile("mov %%cs, %0" : "=r"(v)); return v; }
static inline uint16_t read_ds(void) { uint16_t v; __asm__ volatile("mov %%ds, %0" : "=r"(v)); return v; }
static inline uint16_t read_ss(void) { uint16_t v; __asm__ volatile("mov %%ss, %0" : "=r"(v)); return v; }

#define EFLAGS_CF (1u << 0)
#define EFLAGS_ZF (1u << 6)
#define EFLAGS_TF (1u << 8)
#define EFLAGS_IF (1u << 9)
#define EFLAGS_IOPL3 (3u << 12)
#define CR0_PE (1u << 0)
#define CR0_TS (1u << 3)
#define CR0_WP (1u << 16)
#define CR0_PG (1u << 31)
#define CR4_PSE (1u << 4)
#define CR4_PGE (1u << 7)

/* ---------------- console (COM1) and printing ---------------- */

#define KIT_COM1 0x3f8
void kit_serial_init(void);       /* 115200 8N1, FIFO on (kit_start does it) */
void kit_putc(char c);            /* polls LSR.THRE, then writes THR */
void kit_puts(const char *s);     /* no newline added */
/* printf subset: %d %i %u %x %X %p %s %c %%, flags '0' '-', a width, and
 * an 'l' length modifier (ignored: everything is 32-bit) or 'll' (64-bit
 * for d/u/x).  %p prints 0x%08x. */
int kit_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kit_vprintf(const char *fmt, va_list ap);
int kit_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kit_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* ---------------- exit and checks ---------------- */

#define KIT_DEBUG_EXIT_PORT 0xf4
/* Write v to isa-debug-exit: popek (and QEMU) exit with (v << 1) | 1.
 * If nothing stops the machine, halts forever with interrupts off. */
KIT_NORETURN void kit_exit(uint8_t v);
KIT_NORETURN void kit_pass(void);   /* kit_exit(0): status 1 */
KIT_NORETURN void kit_fail(void);   /* kit_exit(1): status 3 */
/* Print "# N checks, M failed" and pass iff M == 0. */
KIT_NORETURN void kit_done(void);
/* Print a "# ..." line and fail now. */
KIT_NORETURN void kit_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

extern unsigned kit_checks, kit_failures;
/* Count one check; print "ok - <msg>" or "not ok - <msg>"; return ok. */
bool kit_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define CHECK(cond, ...) kit_check(!!(cond), __VA_ARGS__)
/* Like CHECK(a == b), printing both values (hex) when they differ. */
#define CHECK_EQ(a, b, ...) kit_check_eq((uint64_t)(a), (uint64_t)(b), __VA_ARGS__)
bool kit_check_eq(uint64_t got, uint64_t want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---------------- descriptors ---------------- */

/* The kit's GDT (installed by kit_start). */
#define KIT_SEL_KCODE 0x08   /* ring 0 flat 32-bit code */
#define KIT_SEL_KDATA 0x10   /* ring 0 flat data */
#define KIT_SEL_UCODE 0x1b   /* ring 3 flat 32-bit code (0x18 | RPL 3) */
#define KIT_SEL_UDATA 0x23   /* ring 3 flat data (0x20 | RPL 3) */
#define KIT_SEL_TSS 0x28     /* the 32-bit TSS */
#define KIT_GDT_FREE 6       /* first GDT index free for tests (up to 15) */
#define KIT_GDT_ENTRIES 16

/* Set GDT entry idx: access = P|DPL|S|type byte (e.g. 0x92 data, 0x9a
 * code), flags = the G/DB/L/AVL nibble (e.g. 0xc for 4K-granular 32-bit). */
void kit_gdt_set(int idx, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);
/* Set an IDT gate to handler address (type 0xe interrupt gate, 0xf trap
 * gate) with privilege dpl.  kit_start points every vector at its stub
 * (interrupt gates, DPL 0 except 0x80 and 3/4 which are DPL 3). */
void kit_idt_set(int vector, uint32_t handler, uint16_t sel, uint8_t type, uint8_t dpl);
/* Address of the kit's entry stub for a vector (to restore a gate). */
uint32_t kit_idt_stub(int vector);

struct kit_tss {
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomap; /* iomap: offset of the I/O permission bitmap */
} __attribute__((packed));
extern struct kit_tss kit_tss;

/* ---------------- traps ---------------- */

/* What the kit's stubs push, lowest address first.  esp/ss are only
 * valid when the trap came from ring 3 (cs & 3). */
struct kit_frame {
    uint32_t gs, fs, es, ds;
    uint32_t edi, esi, ebp, esp_pusha, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
    uint32_t esp, ss;
};

/* The last exception (vectors 0-31) the kit saw, recorded before any
 * handler runs.  count counts all exceptions since boot. */
struct kit_trap {
    uint32_t vector, error, eip, cs, cr2;
    uint32_t count;
};
extern volatile struct kit_trap kit_last_trap;

/* A C handler for a vector.  It may change the frame (e.g. f->eip += 2 to
 * skip an instruction, or fix a page table and return to retry); the stub
 * irets to the frame when it returns.  NULL restores the default:
 *   exceptions: inside kit_try(), unwind to it; otherwise print the trap
 *               and fail the guest;
 *   0x80: the kit's system calls; spurious IRQ 7/15 after kit_pic_remap:
 *   ignored; other vectors: print and fail.
 * IRQ handlers must send the EOI themselves (kit_pic_eoi). */
typedef void (*kit_handler_fn)(struct kit_frame *f);
void kit_set_handler(int vector, kit_handler_fn fn);

/* Run fn(arg).  If an exception (without a C handler) happens inside it,
 * at any depth and in ring 0 or ring 3, unwind back here and return the
 * vector (details in kit_last_trap); return -1 if fn returned normally.
 * After an exception, EFLAGS and DS/ES/FS/GS are restored to their values
 * at the call. */
int kit_try(void (*fn)(void *arg), void *arg);

/* Exception vectors. */
enum { VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4, VEC_BR = 5,
       VEC_UD = 6, VEC_NM = 7, VEC_DF = 8, VEC_TS = 10, VEC_NP = 11,
       VEC_SS = 12, VEC_GP = 13, VEC_PF = 14, VEC_MF = 16, VEC_AC = 17 };
#define PF_ERR_P (1u << 0)  /* protection violation (0 = not present) */
#define PF_ERR_W (1u << 1)  /* write access */
#define PF_ERR_U (1u << 2)  /* access from ring 3 */

/* ---------------- ring 3 and system calls ---------------- */

/* Run fn(arg) in ring 3 (CS 0x1b, SS/DS/ES 0x23) on the stack ending at
 * ustack_top, until it returns or calls kit_sys_exit(); returns that
 * value.  Ring-3 traps arrive on the kernel stack just below the caller's
 * frame (TSS.esp0 is set on every call).  With paging on, the code, data
 * and stack it touches must be mapped with PTE_U. */
uint32_t kit_run_user(uint32_t (*fn)(void *arg), void *arg, void *ustack_top);

/* System calls: int 0x80 (gate DPL 3) or sysenter, EAX = number, EBX, ECX,
 * EDX = arguments, EAX = result. */
enum { KIT_SYS_EXIT = 0,  /* (code): leave kit_run_user with code */
       KIT_SYS_WRITE = 1, /* (buf, len): print bytes; returns len */
       KIT_SYS_NULL = 2,  /* (): returns 0, for benchmarks */
       KIT_SYS_GETPID = 3,/* (): returns 42 */
       KIT_SYS_MAX = 32 };
typedef uint32_t (*kit_syscall_fn)(uint32_t a, uint32_t b, uint32_t c);
/* Install a system call handler (nr < KIT_SYS_MAX). */
void kit_syscall_set(unsigned nr, kit_syscall_fn fn);

static inline uint32_t kit_syscall(uint32_t nr, uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}
KIT_NORETURN void kit_sys_exit(uint32_t code);   /* from ring 3 */
uint32_t kit_sys_write(const char *s);          /* from ring 3 */

/* sysenter/sysexit: kit_sysenter_init() programs IA32_SYSENTER_CS/ESP/EIP
 * (MSRs 0x174/0x175/0x176) so that kit_sysenter() from ring 3 reaches the
 * same system call table and returns with sysexit.  (Only a ring-3 caller
 * can return through sysexit.) */
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
void kit_sysenter_init(void);
/* From ring 3: system call nr with arguments a, b (the handler's third
 * argument is 0); EAX = nr, EBX = a, ESI = b, ECX/EDX carry the return
 * ESP/EIP for sysexit.  KIT_SYS_EXIT works here too. */
uint32_t kit_sysenter(uint32_t nr, uint32_t a, uint32_t b);

/* ---------------- paging ---------------- */

#define PTE_P (1u << 0)
#define PTE_W (1u << 1)
#define PTE_U (1u << 2)
#define PTE_PWT (1u << 3)
#define PTE_PCD (1u << 4)
#define PTE_A (1u << 5)
#define PTE_D (1u << 6)
#define PTE_PS (1u << 7)  /* in a PDE: 4 MiB page (needs CR4.PSE) */
#define PTE_G (1u << 8)   /* global (needs CR4.PGE) */
#define PAGE_SIZE 4096u
#define BIGPAGE_SIZE (4u << 20)

/* A zeroed 4 KiB page from the kit's pool (kit_panic when it runs out;
 * the pool holds KIT_POOL_PAGES pages). */
#define KIT_POOL_PAGES 32
void *kit_alloc_page(void);

/* A new, empty page directory. */
uint32_t *kit_pd_new(void);
/* Map one 4 KiB page va -> pa with flags (PTE_P added); allocates the page
 * table if needed (its PDE gets P|W|U so the PTE decides).  Does not
 * invalidate the TLB. */
void kit_map_4k(uint32_t *pd, uint32_t va, uint32_t pa, uint32_t flags);
/* Map one 4 MiB page (PDE with PTE_PS; va and pa 4 MiB aligned). */
void kit_map_4m(uint32_t *pd, uint32_t va, uint32_t pa, uint32_t flags);
/* Identity-map [start, end) with 4 KiB pages (big = false) or 4 MiB pages
 * (big = true; the range is widened to 4 MiB boundaries). */
void kit_map_identity(uint32_t *pd, uint32_t start, uint32_t end, uint32_t flags, bool big);
/* Remove a 4 KiB mapping (or a 4 MiB one if the PDE is big). */
void kit_unmap(uint32_t *pd, uint32_t va);
/* The PTE for va (or the PDE itself for a 4 MiB page); NULL if no table. */
uint32_t *kit_pte(uint32_t *pd, uint32_t va);
/* The PDE for va. */
static inline uint32_t *kit_pde(uint32_t *pd, uint32_t va) { return &pd[va >> 22]; }
/* Load CR3 and set CR0.PG|WP (and CR4.PSE, which 4 MiB pages need). */
void kit_paging_enable(uint32_t *pd);
void kit_paging_disable(void);
/* The common case: identity-map the first 16 MiB (PTE_W | extra flags,
 * 4 KiB pages unless big) and enable paging; returns the directory. */
uint32_t *kit_paging_init(uint32_t extra_flags, bool big);
static inline void kit_flush_tlb(void) { write_cr3(read_cr3()); }

/* Image layout from guest.ld. */
extern char __kit_image_start[], __kit_text_end[], __kit_bss_start[], __kit_end[];

/* ---------------- PIC, PIT, CMOS ---------------- */

/* 8259A pair: remap IRQ 0-7 to master_base, 8-15 to slave_base (kit uses
 * 0x20/0x28), all lines masked afterwards. */
#define KIT_IRQ_BASE 0x20
void kit_pic_remap(uint8_t master_base, uint8_t slave_base);
void kit_pic_unmask(int irq);
void kit_pic_mask(int irq);
void kit_pic_eoi(int irq);
uint16_t kit_pic_isr(void);     /* in-service registers (slave << 8) */
uint16_t kit_pic_irr(void);     /* request registers (slave << 8) */

#define KIT_PIT_HZ 1193182u
/* Channel 0, mode 2 (rate generator) at about hz interrupts per second on
 * IRQ 0; returns the divisor used. */
uint16_t kit_pit_periodic(uint32_t hz);
/* Channel 0 one-shot (mode 0): IRQ 0 once, count ticks from now. */
void kit_pit_oneshot0(uint16_t count);
/* Channel 2 one-shot (mode 0) gated by port 0x61 (speaker off): OUT2
 * (port 0x61 bit 5) goes high count ticks after the start. */
void kit_pit2_start(uint16_t count);
bool kit_pit2_done(void);
/* Busy-wait count PIT ticks (<= 65535, ~54.9 ms) on channel 2. */
void kit_pit2_wait(uint16_t count);
/* Latch and read a channel's current count. */
uint16_t kit_pit_read(int channel);

/* MC146818 RTC on ports 0x70/0x71 (NMI stays enabled). */
uint8_t kit_cmos_read(uint8_t reg);
void kit_cmos_write(uint8_t reg, uint8_t v);
struct kit_rtc {
    unsigned sec, min, hour, day, mon, year; /* binary; year e.g. 2026 */
};
/* Read the time once no update is in progress (register A bit 7 clear),
 * converting from BCD and 12-hour format when register B says so. */
void kit_rtc_read(struct kit_rtc *t);

/* ---------------- local APIC and I/O APIC (apic.c) ---------------- */

#define KIT_LAPIC_BASE 0xfee00000u
#define KIT_IOAPIC_BASE 0xfec00000u
#define MSR_APIC_BASE 0x1b
#define MSR_TSC_DEADLINE 0x6e0
/* Local APIC register offsets. */
enum { LAPIC_ID = 0x20, LAPIC_VER = 0x30, LAPIC_TPR = 0x80, LAPIC_APR = 0x90,
       LAPIC_PPR = 0xa0, LAPIC_EOI = 0xb0, LAPIC_LDR = 0xd0, LAPIC_DFR = 0xe0,
       LAPIC_SVR = 0xf0, LAPIC_ISR = 0x100, LAPIC_TMR = 0x180,
       LAPIC_IRR = 0x200, LAPIC_ESR = 0x280, LAPIC_ICR_LO = 0x300,
       LAPIC_ICR_HI = 0x310, LAPIC_LVT_TIMER = 0x320, LAPIC_LVT_THERMAL = 0x330,
       LAPIC_LVT_PERF = 0x340, LAPIC_LVT_LINT0 = 0x350, LAPIC_LVT_LINT1 = 0x360,
       LAPIC_LVT_ERROR = 0x370, LAPIC_TIMER_ICR = 0x380,
       LAPIC_TIMER_CCR = 0x390, LAPIC_TIMER_DCR = 0x3e0 };
#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_TIMER_PERIODIC (1u << 17)
#define LAPIC_TIMER_TSC_DEADLINE (2u << 17)
#define LAPIC_SVR_ENABLE (1u << 8)
#define LAPIC_ICR_SELF (1u << 18)      /* destination shorthand: self */
#define LAPIC_ICR_ALL_BUT_SELF (3u << 18)
#define LAPIC_DM_NMI (4u << 8)
#define LAPIC_DM_INIT (5u << 8)
#define LAPIC_DM_SIPI (6u << 8)
#define LAPIC_DM_EXTINT (7u << 8)

static inline uint32_t kit_lapic_read(uint32_t reg)
{
    return *(volatile uint32_t *)(KIT_LAPIC_BASE + reg);
}
static inline void kit_lapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(KIT_LAPIC_BASE + reg) = v;
}
static inline void kit_lapic_eoi(void) { kit_lapic_write(LAPIC_EOI, 0); }
/* Software-enable the local APIC with this spurious vector, TPR 0; all LVT
 * entries masked (LINT0 too: the PIC no longer reaches the CPU). */
void kit_lapic_enable(uint8_t spurious);
/* Bit `vector` of the 256-bit ISR / IRR / TMR. */
bool kit_lapic_isr(int vector);
bool kit_lapic_irr(int vector);
bool kit_lapic_tmr(int vector);
/* Send a fixed self-IPI (shorthand self). */
void kit_lapic_self_ipi(uint8_t vector);

/* I/O APIC: indirect registers through IOREGSEL/IOWIN. */
#define IOAPIC_RTE_MASKED (1u << 16)
#define IOAPIC_RTE_LEVEL (1u << 15)
#define IOAPIC_RTE_REMOTE_IRR (1u << 14)
#define IOAPIC_RTE_LOGICAL (1u << 11)
uint32_t kit_ioapic_read(uint32_t reg);
void kit_ioapic_write(uint32_t reg, uint32_t v);
/* Program pin's redirection entry: low word lo (vector, mode, flags),
 * destination dest (bits 63:56).  The high word is written first. */
void kit_ioapic_route(int pin, uint32_t lo, uint8_t dest);
uint32_t kit_ioapic_rte_lo(int pin);
void kit_ioapic_mask(int pin, bool masked);

/* ---------------- strings ---------------- */

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* strtoul for bases 10/16 (base 0: 0x prefix means 16). */
unsigned long kit_strtoul(const char *s, const char **end, int base);

/* ---------------- the guest ---------------- */

/* Each guest defines main.  mbi is NULL if not booted by multiboot. */
int main(struct multiboot_info *mbi);

#endif
