/* test_kvm.c - unit tests of the kvm engine (src/engines/kvm), driving
 * engine_kvm_ops directly on a machine built by hand (RAM, port bus, MMIO
 * map, our own handlers) with tiny guests given as machine code bytes:
 * port I/O of every size, string I/O, MMIO, hlt, triple fault, interrupt
 * injection through the interrupt window, a 64-bit long-mode entry, the
 * get/set_state round trip and kicks from another thread.  At the end it
 * prints (without asserting) what one exit round trip costs on this host.
 * SKIPs with the engine's own reason when /dev/kvm is unusable. */
#include <cpuid.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/machine.h"
#include "engines/kvm/kvm_priv.h"
#include "test.h"

#define RAM_SIZE (4u << 20)
#define GDT_ADDR 0x1000u
#define IDT_ADDR 0x2000u
#define NULL_IDTR 0x3000u
#define BUF_ADDR 0x4000u
#define BUF2_ADDR 0x5000u
#define CODE_ADDR 0x10000u
#define ISR_ADDR 0x11000u
#define PML4_ADDR 0x20000u
#define STACK_TOP 0x80000u
#define MMIO_BASE 0xd0000000u

#define SEL_CODE32 0x08
#define SEL_DATA 0x10
#define SEL_CODE64 0x18

/* ---- a recording device on ports 0x500-0x50f, 0xe0-0xe1 and MMIO ---- */

#define LOG_MAX 65536
struct io_log_entry {
    uint64_t addr;
    uint32_t value;
    unsigned len;
    bool write;
};
struct recorder {
    struct io_log_entry log[LOG_MAX];
    int n;
    uint32_t next_read; /* value returned by the next read, then +1 */
};
static struct recorder rec;

static void rec_io(void *dev, uint64_t off, uint8_t *data, unsigned len,
                   bool is_write)
{
    struct recorder *r = dev;
    uint32_t v;
    if (is_write) {
        v = io_get(data, len);
    } else {
        v = r->next_read++;
        io_put(data, len, v);
    }
    if (r->n < LOG_MAX)
        r->log[r->n++] = (struct io_log_entry){off, v, len, is_write};
}

/* Handlers per range so the log can tell the ranges apart. */
static void port500_io(void *d, uint64_t off, uint8_t *data, unsigned len,
                       bool w)
{
    rec_io(d, 0x500 + off, data, len, w);
}
static void porte0_io(void *d, uint64_t off, uint8_t *data, unsigned len,
                      bool w)
{
    rec_io(d, 0xe0 + off, data, len, w);
}
static void mmio_io(void *d, uint64_t off, uint8_t *data, unsigned len, bool w)
{
    rec_io(d, MMIO_BASE + off, data, len, w);
}

/* ---- machine construction ---- */

static const struct engine_ops *K = &engine_kvm_ops;

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void set_gate(struct machine *m, int vec, uint32_t handler)
{
    uint8_t *g = m->ram + IDT_ADDR + vec * 8;
    g[0] = (uint8_t)handler;
    g[1] = (uint8_t)(handler >> 8);
    g[2] = SEL_CODE32;
    g[3] = 0;
    g[4] = 0;
    g[5] = 0x8e; /* present, DPL 0, 32-bit interrupt gate */
    g[6] = (uint8_t)(handler >> 16);
    g[7] = (uint8_t)(handler >> 24);
}

static struct machine *new_machine(void)
{
    struct machine *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->ram_fd = m->timer_fd = m->wake_fd = -1;
    m->ram_size = RAM_SIZE;
    io_space_init(&m->pio, "port");
    io_space_init(&m->mmio, "mmio");
    void *p = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(m);
        return NULL;
    }
    m->ram = p;
    memset(&rec, 0, sizeof(rec));
    rec.next_read = 0xcafebabe;
    io_register_ram(&m->mmio, 0, RAM_SIZE, m->ram, "ram");
    io_register(&m->pio, 0x500, 16, port500_io, &rec, "rec500");
    io_register(&m->pio, 0xe0, 2, porte0_io, &rec, "rece0");
    io_register(&m->mmio, MMIO_BASE, 0x1000, mmio_io, &rec, "recmmio");
    m->ops = K;
    if (K->create(m) < 0 || K->map_ram(m, 0, RAM_SIZE, m->ram, -1, 0) < 0 ||
        K->vcpu_create(m) < 0) {
        fprintf(stderr, "kvm setup: %s\n", popek_error());
        if (m->engine)
            K->destroy(m);
        munmap(m->ram, RAM_SIZE);
        io_space_free(&m->pio);
        io_space_free(&m->mmio);
        free(m);
        return NULL;
    }
    /* GDT: null, flat 32-bit code, flat data, 64-bit code. */
    uint8_t *gdt = m->ram + GDT_ADDR;
    put64(gdt + 0x08, 0x00cf9a000000ffffull);
    put64(gdt + 0x10, 0x00cf92000000ffffull);
    put64(gdt + 0x18, 0x00af9a000000ffffull);
    return m;
}

static void free_machine(struct machine *m)
{
    if (!m)
        return;
    K->destroy(m);
    munmap(m->ram, RAM_SIZE);
    io_space_free(&m->pio);
    io_space_free(&m->mmio);
    free(m);
}

static void flat_seg(struct seg_reg *s, uint16_t sel, bool code)
{
    memset(s, 0, sizeof(*s));
    s->sel = sel;
    s->limit = 0xffffffff;
    s->type = code ? 0xb : 0x3;
    s->s = 1;
    s->present = 1;
    s->db = 1;
    s->g = 1;
}

/* A 32-bit flat protected-mode entry state at CODE_ADDR, IDT loaded. */
static void state32(struct cpu_state *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < NR_SEGS; i++)
        if (i != SEG_LDTR && i != SEG_TR)
            flat_seg(&s->seg[i], SEL_DATA, false);
    flat_seg(&s->seg[SEG_CS], SEL_CODE32, true);
    s->seg[SEG_LDTR].unusable = true;
    s->seg[SEG_TR].type = 11;
    s->seg[SEG_TR].present = 1;
    s->seg[SEG_TR].limit = 0x67;
    s->gdt.base = GDT_ADDR;
    s->gdt.limit = 0x1f;
    s->idt.base = IDT_ADDR;
    s->idt.limit = 256 * 8 - 1;
    s->cr0 = CR0_PE | CR0_ET;
    s->rip = CODE_ADDR;
    s->rflags = 2;
    s->gpr[R_ESP] = STACK_TOP;
}

static void load_code(struct machine *m, uint32_t at, const uint8_t *code,
                      size_t n)
{
    memcpy(m->ram + at, code, n);
}

/* Run like machine.c's loop: inject *pending when the window opens; stop at
 * hlt, a terminal exit, or after max runs.  Counts exits by reason. */
struct run_result {
    enum exit_reason last;
    int n_runs, n_window, n_kick;
    char msg[256];
};
static struct run_result run_until_hlt(struct machine *m, int *pending,
                                       int max)
{
    struct run_result rr = {.last = EXIT_NONE};
    for (int i = 0; i < max; i++) {
        if (pending && *pending >= 0 && K->irq_window_open(m)) {
            K->inject_irq(m, (uint8_t)*pending);
            *pending = -1;
        }
        struct vm_exit ex = {.reason = EXIT_NONE};
        rr.n_runs++;
        if (K->run(m, &ex) < 0) {
            rr.last = EXIT_FAILED;
            snprintf(rr.msg, sizeof(rr.msg), "run: %s", popek_error());
            return rr;
        }
        rr.last = ex.reason;
        memcpy(rr.msg, ex.msg, sizeof(rr.msg));
        if (ex.reason == EXIT_IRQ_WINDOW)
            rr.n_window++;
        if (ex.reason == EXIT_KICK)
            rr.n_kick++;
        if (ex.reason == EXIT_HLT || ex.reason == EXIT_SHUTDOWN ||
            ex.reason == EXIT_FAILED || ex.reason == EXIT_UNSUPPORTED)
            return rr;
    }
    return rr;
}

static char kvm_why[256];
static bool kvm_ok;

#define NEED_KVM()                                                           \
    do {                                                                     \
        if (!kvm_ok)                                                         \
            SKIP("%s", kvm_why);                                             \
    } while (0)

#define NEW_MACHINE(m)                                                       \
    struct machine *m = new_machine();                                       \
    do {                                                                     \
        if (!m) {                                                            \
            CHECKF(0, "machine setup failed: %s", popek_error());            \
            return;                                                          \
        }                                                                    \
    } while (0)

/* ---- tests ---- */

static void test_usable_reason(void)
{
    char why[256] = "";
    bool ok = K->usable(why, sizeof(why));
    CHECK(ok == kvm_ok);
    if (!ok)
        CHECKF(why[0] != 0, "unusable but no reason given");
    CHECK(strcmp(K->name, "kvm") == 0);
    CHECK(K->caps & ENGINE_CAP_LONG_MODE);
}

static void test_port_io_sizes(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    static const uint8_t code[] = {
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0xb0, 0x42,                   /* mov al, 0x42 */
        0xee,                         /* out dx, al */
        0xb8, 0x78, 0x56, 0x34, 0x12, /* mov eax, 0x12345678 */
        0xef,                         /* out dx, eax */
        0x66, 0xb8, 0x34, 0xa2,       /* mov ax, 0xa234 */
        0x66, 0xba, 0x02, 0x05,       /* mov dx, 0x502 */
        0x66, 0xef,                   /* out dx, ax */
        0x66, 0xba, 0x04, 0x05,       /* mov dx, 0x504 */
        0xed,                         /* in eax, dx */
        0x83, 0xc0, 0x01,             /* add eax, 1 */
        0x66, 0xba, 0x08, 0x05,       /* mov dx, 0x508 */
        0xef,                         /* out dx, eax */
        0xe4, 0xe1,                   /* in al, 0xe1 */
        0xe6, 0xe0,                   /* out 0xe0, al */
        0xf4,                         /* hlt */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state32(&s);
    CHECKF(K->set_state(m, &s) == 0, "set_state: %s", popek_error());
    struct run_result rr = run_until_hlt(m, NULL, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 7, "%d accesses logged", rec.n);
    if (rec.n == 7) {
        CHECK(rec.log[0].addr == 0x500 && rec.log[0].len == 1 &&
              rec.log[0].write && rec.log[0].value == 0x42);
        CHECK(rec.log[1].addr == 0x500 && rec.log[1].len == 4 &&
              rec.log[1].write && rec.log[1].value == 0x12345678);
        CHECK(rec.log[2].addr == 0x502 && rec.log[2].len == 2 &&
              rec.log[2].write && rec.log[2].value == 0xa234);
        CHECK(rec.log[3].addr == 0x504 && rec.log[3].len == 4 &&
              !rec.log[3].write && rec.log[3].value == 0xcafebabe);
        CHECKF(rec.log[4].addr == 0x508 && rec.log[4].value == 0xcafebabf,
               "outl after inl wrote %#x", rec.log[4].value);
        CHECK(rec.log[5].addr == 0xe1 && rec.log[5].len == 1 &&
              !rec.log[5].write);
        /* the byte read (the second read: 0xcafebabf) comes back out */
        CHECKF(rec.log[6].addr == 0xe0 && rec.log[6].write &&
               rec.log[6].value == 0xbf, "out 0xe0 wrote %#x",
               rec.log[6].value);
    }
    struct cpu_state g;
    CHECKF(K->get_state(m, &g) == 0, "get_state: %s", popek_error());
    CHECKF(g.rip == CODE_ADDR + sizeof(code), "rip %#llx after hlt",
           (unsigned long long)g.rip);
    CHECK(g.gpr[R_EAX] == 0xcafebabf);
    free_machine(m);
}

static void test_string_io(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    static const uint8_t code[] = {
        0xfc,                         /* cld */
        0xbe, 0x00, 0x40, 0x00, 0x00, /* mov esi, BUF_ADDR */
        0xb9, 0x0b, 0x00, 0x00, 0x00, /* mov ecx, 11 */
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0xf3, 0x6e,                   /* rep outsb */
        0xbf, 0x00, 0x50, 0x00, 0x00, /* mov edi, BUF2_ADDR */
        0xb9, 0x05, 0x00, 0x00, 0x00, /* mov ecx, 5 */
        0x66, 0xba, 0x04, 0x05,       /* mov dx, 0x504 */
        0xf3, 0x6d,                   /* rep insd */
        0xf4,                         /* hlt */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    memcpy(m->ram + BUF_ADDR, "hello popek", 11);
    rec.next_read = 0x11110000;
    struct cpu_state s;
    state32(&s);
    CHECKF(K->set_state(m, &s) == 0, "set_state: %s", popek_error());
    struct run_result rr = run_until_hlt(m, NULL, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 16, "%d accesses logged", rec.n);
    char out[12] = "";
    for (int i = 0; i < 11 && i < rec.n; i++) {
        CHECK(rec.log[i].addr == 0x500 && rec.log[i].len == 1 &&
              rec.log[i].write);
        out[i] = (char)rec.log[i].value;
    }
    CHECKF(strcmp(out, "hello popek") == 0, "rep outsb sent '%s'", out);
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t v;
        memcpy(&v, m->ram + BUF2_ADDR + 4 * i, 4);
        CHECKF(v == 0x11110000 + i, "rep insd word %u = %#x", i, v);
    }
    struct cpu_state g;
    CHECK(K->get_state(m, &g) == 0);
    CHECK(g.gpr[R_ECX] == 0);
    CHECK(g.gpr[R_EDI] == BUF2_ADDR + 20);
    CHECK(g.gpr[R_ESI] == BUF_ADDR + 11);
    free_machine(m);
}

static void test_mmio(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    static const uint8_t code[] = {
        /* mov dword [MMIO_BASE+8], 0xdeadbeef */
        0xc7, 0x05, 0x08, 0x00, 0x00, 0xd0, 0xef, 0xbe, 0xad, 0xde,
        0xa1, 0x04, 0x00, 0x00, 0xd0, /* mov eax, [MMIO_BASE+4] */
        0xa3, 0x00, 0x60, 0x00, 0x00, /* mov [0x6000], eax */
        0x66, 0xc7, 0x05, 0x10, 0x00, 0x00, 0xd0, 0x34, 0x12,
                                      /* mov word [MMIO_BASE+0x10], 0x1234 */
        0xf4,                         /* hlt */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state32(&s);
    CHECK(K->set_state(m, &s) == 0);
    struct run_result rr = run_until_hlt(m, NULL, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 3, "%d accesses logged", rec.n);
    if (rec.n == 3) {
        CHECK(rec.log[0].addr == MMIO_BASE + 8 && rec.log[0].write &&
              rec.log[0].len == 4 && rec.log[0].value == 0xdeadbeef);
        CHECK(rec.log[1].addr == MMIO_BASE + 4 && !rec.log[1].write &&
              rec.log[1].len == 4);
        CHECK(rec.log[2].addr == MMIO_BASE + 0x10 && rec.log[2].write &&
              rec.log[2].len == 2 && rec.log[2].value == 0x1234);
    }
    uint32_t v;
    memcpy(&v, m->ram + 0x6000, 4);
    CHECKF(v == 0xcafebabe, "MMIO read stored %#x", v);
    free_machine(m);
}

static void test_triple_fault(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    static const uint8_t code[] = {
        0x0f, 0x01, 0x1d, 0x00, 0x30, 0x00, 0x00, /* lidt [NULL_IDTR] */
        0xcc,                                     /* int3 */
        0xf4,                                     /* hlt (not reached) */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state32(&s);
    CHECK(K->set_state(m, &s) == 0);
    struct run_result rr = run_until_hlt(m, NULL, 100);
    CHECKF(rr.last == EXIT_SHUTDOWN, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(strstr(rr.msg, "triple fault") != NULL, "message '%s'", rr.msg);
    free_machine(m);
}

/* Interrupts: one handler per vector writes the vector to port 0xe0. */
static void install_isrs(struct machine *m)
{
    for (int v = 0x20; v < 0x40; v++) {
        uint32_t at = ISR_ADDR + (uint32_t)(v - 0x20) * 8;
        uint8_t isr[] = {0xb0, (uint8_t)v, 0xe6, 0xe0, 0xcf};
        /* mov al, v; out 0xe0, al; iret */
        load_code(m, at, isr, sizeof(isr));
        set_gate(m, v, at);
    }
}

static void test_irq_injection(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    install_isrs(m);
    static const uint8_t code[] = {
        0xfa,             /* cli */
        0xb0, 0x01,       /* mov al, 1 */
        0xe6, 0xe1,       /* out 0xe1, al   (marker 1, IF=0) */
        0xfb,             /* sti */
        0x90,             /* nop */
        0xb0, 0x02,       /* mov al, 2 */
        0xe6, 0xe1,       /* out 0xe1, al   (marker 2) */
        0xf4,             /* hlt */
        0xb0, 0x03,       /* mov al, 3 */
        0xe6, 0xe1,       /* out 0xe1, al   (marker 3, after wakeup) */
        0xf4,             /* hlt */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state32(&s);
    CHECK(K->set_state(m, &s) == 0);
    /* Run to marker 1 (IF=0): the window must be closed. */
    struct vm_exit ex = {0};
    CHECK(K->run(m, &ex) == 0 && ex.reason == EXIT_NONE);
    CHECKF(rec.n == 1 && rec.log[0].addr == 0xe1 && rec.log[0].value == 1,
           "first exit was not marker 1");
    CHECKF(!K->irq_window_open(m), "window open with IF=0");
    /* Now ask for vector 0x31.  It must arrive after marker 1 (IF=0 is
     * respected) and before the hlt.  VMX/SVM exit as soon as the window
     * opens (after sti; nop), so there it must also come before marker 2;
     * kvm_pvm only looks at request_interrupt_window at its next exit. */
    bool strict = strcmp(kvm_backend_name(), "pvm") != 0;
    int pending = 0x31;
    struct run_result rr = run_until_hlt(m, &pending, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(pending == -1, "vector never injected");
    if (strict)
        CHECKF(rr.n_window >= 1, "no EXIT_IRQ_WINDOW seen");
    CHECKF(rec.n == 3, "%d accesses logged", rec.n);
    if (rec.n == 3) {
        int isr = strict ? 1 : (rec.log[1].addr == 0xe0 ? 1 : 2);
        int mark = 3 - isr;
        CHECKF(rec.log[isr].addr == 0xe0 && rec.log[isr].value == 0x31,
               "ISR output: port %#llx value %#x",
               (unsigned long long)rec.log[isr].addr, rec.log[isr].value);
        CHECK(rec.log[mark].addr == 0xe1 && rec.log[mark].value == 2);
    }
    /* Halted with IF=1: the window is open, inject 0x2a to wake it up. */
    CHECKF(K->irq_window_open(m), "window closed after hlt with IF=1");
    pending = 0x2a;
    rr = run_until_hlt(m, &pending, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 5, "%d accesses logged", rec.n);
    if (rec.n == 5) {
        CHECK(rec.log[3].addr == 0xe0 && rec.log[3].value == 0x2a);
        CHECK(rec.log[4].addr == 0xe1 && rec.log[4].value == 3);
    }
    free_machine(m);
}

/* Identity-map the first 1 GiB with 2 MiB pages at PML4_ADDR. */
static void build_page_tables(struct machine *m)
{
    uint8_t *pml4 = m->ram + PML4_ADDR;
    uint8_t *pdpt = pml4 + 0x1000;
    uint8_t *pd = pml4 + 0x2000;
    memset(pml4, 0, 0x3000);
    put64(pml4, (PML4_ADDR + 0x1000) | 3);
    put64(pdpt, (PML4_ADDR + 0x2000) | 3);
    for (uint64_t i = 0; i < 512; i++)
        put64(pd + 8 * i, (i << 21) | 0x83);
}

static void state64(struct cpu_state *s)
{
    state32(s);
    s->seg[SEG_CS].sel = SEL_CODE64;
    s->seg[SEG_CS].l = 1;
    s->seg[SEG_CS].db = 0;
    s->cr0 = CR0_PE | CR0_ET | CR0_PG;
    s->cr3 = PML4_ADDR;
    s->cr4 = CR4_PAE;
    s->efer = EFER_LME | EFER_LMA;
}

static void test_long_mode(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    build_page_tables(m);
    static const uint8_t code[] = {
        0x48, 0xb8, 0x88, 0x77, 0x66, 0x55,
        0x44, 0x33, 0x22, 0x11,       /* mov rax, 0x1122334455667788 */
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0xef,                         /* out dx, eax */
        0x48, 0xc1, 0xe8, 0x20,       /* shr rax, 32 */
        0xef,                         /* out dx, eax */
        0x49, 0xc7, 0xc0, 0x07, 0x00, 0x00, 0x00, /* mov r8, 7 */
        0xf4,                         /* hlt */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state64(&s);
    CHECKF(K->set_state(m, &s) == 0, "set_state: %s", popek_error());
    struct run_result rr = run_until_hlt(m, NULL, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 2, "%d accesses logged", rec.n);
    if (rec.n == 2) {
        CHECK(rec.log[0].value == 0x55667788 && rec.log[0].len == 4);
        CHECK(rec.log[1].value == 0x11223344);
    }
    struct cpu_state g;
    CHECK(K->get_state(m, &g) == 0);
    CHECKF(g.efer & EFER_LMA, "efer %#llx", (unsigned long long)g.efer);
    CHECK(g.seg[SEG_CS].l == 1);
    CHECK(g.gpr[R_EAX] == 0x11223344);
    CHECK(g.gpr[R_R8] == 7);
    free_machine(m);
}

/* ---- privilege changes, software interrupts, descriptor instructions
 * (on kvm_pvm these go through kvm_assist.c and the #UD trap) ---- */

#define USER_CODE 0x12000u
#define KHANDLER 0x13000u
#define TSS_ADDR 0x7000u
#define SEL_UCODE 0x23
#define SEL_UDATA 0x2b
#define SEL_TSS 0x30

/* User segments and a TSS (ring-0 stack at 0x70000) in the GDT, and
 * handlers for the exceptions (out the vector to 0xe0, then hlt): an OS
 * always has a #UD handler, which kvm_pvm needs (see kvm_debug.c). */
static void add_ring3(struct machine *m, struct cpu_state *s)
{
    for (int v = 0; v < 32; v++) {
        uint32_t at = ISR_ADDR + 0x400 + (uint32_t)v * 8;
        uint8_t isr[] = {0xb0, (uint8_t)v, 0xe6, 0xe0, 0xf4};
        load_code(m, at, isr, sizeof(isr));
        set_gate(m, v, at);
    }
    uint8_t *gdt = m->ram + GDT_ADDR;
    put64(gdt + 0x20, 0x00cffa000000ffffull);
    put64(gdt + 0x28, 0x00cff2000000ffffull);
    put64(gdt + 0x30, 0x0000890000000067ull | ((uint64_t)TSS_ADDR << 16));
    uint32_t esp0 = 0x70000;
    memcpy(m->ram + TSS_ADDR + 4, &esp0, 4);
    m->ram[TSS_ADDR + 8] = SEL_DATA;
    s->gdt.limit = 0x37;
    s->seg[SEG_TR].sel = SEL_TSS;
    s->seg[SEG_TR].base = TSS_ADDR;
    s->seg[SEG_TR].limit = 0x67;
}

static void set_gate_dpl(struct machine *m, int vec, uint32_t handler,
                         int dpl)
{
    set_gate(m, vec, handler);
    m->ram[IDT_ADDR + vec * 8 + 5] = (uint8_t)(0x8e | (dpl << 5));
}

/* Ring-0 code that IRETs to USER_CODE in ring 3 with IOPL 3, IF=1. */
static const uint8_t to_ring3[] = {
    0x6a, SEL_UDATA,                    /* push user ss */
    0x68, 0x00, 0x00, 0x06, 0x00,       /* push 0x60000 (user esp) */
    0x68, 0x02, 0x32, 0x00, 0x00,       /* push 0x3202 (IOPL 3, IF) */
    0x6a, SEL_UCODE,                    /* push user cs */
    0x68, 0x00, 0x20, 0x01, 0x00,       /* push USER_CODE */
    0xcf,                               /* iret */
};

static void test_ring3_int_iret(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    struct cpu_state s;
    state32(&s);
    add_ring3(m, &s);
    static const uint8_t user[] = {
        0xb0, 0x33, 0xe6, 0xe1,       /* mov al, 0x33; out 0xe1, al */
        0xcd, 0x80,                   /* int 0x80 */
        0xb0, 0x34, 0xe6, 0xe1,       /* mov al, 0x34; out 0xe1, al */
        0xcd, 0x81,                   /* int 0x81 */
    };
    static const uint8_t h80[] = {
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0x8b, 0x44, 0x24, 0x04, 0xef, /* out the saved CS */
        0x8b, 0x44, 0x24, 0x0c, 0xef, /* out the saved ESP */
        0x8b, 0x44, 0x24, 0x10, 0xef, /* out the saved SS */
        0x89, 0xe0, 0xef,             /* out the ring-0 ESP */
        0x9c, 0x58, 0xef,             /* out EFLAGS in the handler */
        0xcf,                         /* iret */
    };
    static const uint8_t h81[] = {0xf4}; /* hlt in ring 0 */
    load_code(m, CODE_ADDR, to_ring3, sizeof(to_ring3));
    load_code(m, USER_CODE, user, sizeof(user));
    load_code(m, KHANDLER, h80, sizeof(h80));
    load_code(m, KHANDLER + 0x100, h81, sizeof(h81));
    set_gate_dpl(m, 0x80, KHANDLER, 3);
    set_gate_dpl(m, 0x81, KHANDLER + 0x100, 3);
    CHECKF(K->set_state(m, &s) == 0, "set_state: %s", popek_error());
    struct run_result rr = run_until_hlt(m, NULL, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 7, "%d accesses logged", rec.n);
    if (rec.n == 7) {
        CHECK(rec.log[0].addr == 0xe1 && rec.log[0].value == 0x33);
        CHECKF(rec.log[1].value == SEL_UCODE, "saved CS %#x",
               rec.log[1].value);
        CHECKF(rec.log[2].value == 0x60000, "saved ESP %#x",
               rec.log[2].value);
        CHECKF(rec.log[3].value == SEL_UDATA, "saved SS %#x",
               rec.log[3].value);
        CHECKF(rec.log[4].value == 0x70000 - 20, "ring-0 ESP %#x",
               rec.log[4].value);
        CHECKF(!(rec.log[5].value & FLAG_IF), "IF set in an interrupt "
               "gate handler: %#x", rec.log[5].value);
        CHECK(rec.log[6].addr == 0xe1 && rec.log[6].value == 0x34);
    }
    struct cpu_state g;
    CHECK(K->get_state(m, &g) == 0);
    CHECKF(g.seg[SEG_CS].sel == SEL_CODE32 && g.seg[SEG_SS].dpl == 0,
           "after int 0x81: cs %#x ss.dpl %u", g.seg[SEG_CS].sel,
           g.seg[SEG_SS].dpl);
    CHECK(g.rip == KHANDLER + 0x101);
    free_machine(m);
}

static void test_int_gate_privilege_fault(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    struct cpu_state s;
    state32(&s);
    add_ring3(m, &s);
    static const uint8_t user[] = {0xcd, 0x22}; /* int 0x22 (DPL 0 gate) */
    static const uint8_t gp[] = {
        0x58,                         /* pop eax (error code) */
        0x66, 0xba, 0x00, 0x05, 0xef, /* out it to 0x500 */
        0x58, 0xef,                   /* pop eax (EIP); out */
        0xf4,                         /* hlt */
    };
    load_code(m, CODE_ADDR, to_ring3, sizeof(to_ring3));
    load_code(m, USER_CODE, user, sizeof(user));
    load_code(m, KHANDLER, gp, sizeof(gp));
    set_gate_dpl(m, 0x22, KHANDLER + 0x200, 0);
    set_gate_dpl(m, 13, KHANDLER, 0);
    CHECK(K->set_state(m, &s) == 0);
    struct run_result rr = run_until_hlt(m, NULL, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 2, "%d accesses logged", rec.n);
    if (rec.n == 2) {
        CHECKF(rec.log[0].value == 0x22 * 8 + 2, "#GP error code %#x",
               rec.log[0].value);
        CHECKF(rec.log[1].value == USER_CODE, "#GP EIP %#x",
               rec.log[1].value);
    }
    free_machine(m);
}

static void test_lar_lsl_verw(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    static const uint8_t code[] = {
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0xb9, 0x10, 0x00, 0x00, 0x00, /* mov ecx, SEL_DATA */
        0x0f, 0x03, 0xc1,             /* lsl eax, ecx */
        0x9c, 0x5b,                   /* pushf; pop ebx */
        0xef,                         /* out: limit */
        0x89, 0xd8, 0xef,             /* out: flags */
        0x0f, 0x02, 0xc1,             /* lar eax, ecx */
        0xef,                         /* out: access rights */
        0x31, 0xc9,                   /* xor ecx, ecx */
        0x0f, 0x03, 0xc1,             /* lsl eax, ecx (null) */
        0x9c, 0x58, 0xef,             /* out: flags */
        0xb9, 0x08, 0x00, 0x00, 0x00, /* mov ecx, SEL_CODE32 */
        0x0f, 0x00, 0xe9,             /* verw cx */
        0x9c, 0x58, 0xef,             /* out: flags */
        0x0f, 0x03, 0x05, 0x00, 0x60, 0x00, 0x00, /* lsl eax, [0x6000] */
        0xef,                         /* out: limit */
        0xf4,                         /* hlt */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    m->ram[0x6000] = SEL_CODE32;
    struct cpu_state s;
    state32(&s);
    CHECK(K->set_state(m, &s) == 0);
    struct run_result rr = run_until_hlt(m, NULL, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 6, "%d accesses logged", rec.n);
    if (rec.n == 6) {
        CHECKF(rec.log[0].value == 0xffffffff, "lsl %#x", rec.log[0].value);
        CHECK(rec.log[1].value & FLAG_ZF);
        /* bits 19:16 may or may not be given, bit 8 is "accessed" */
        CHECKF((rec.log[2].value & 0x00f0fe00u) == 0x00c09200,
               "lar %#x", rec.log[2].value);
        CHECKF(!(rec.log[3].value & FLAG_ZF), "lsl of null set ZF");
        CHECKF(!(rec.log[4].value & FLAG_ZF), "verw of code set ZF");
        CHECKF(rec.log[5].value == 0xffffffff, "lsl [mem] %#x",
               rec.log[5].value);
    }
    free_machine(m);
}

static void test_long_mode_int_iretq(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    build_page_tables(m);
    /* 64-bit IDT: 16-byte gates; vector 0x21 -> KHANDLER. */
    uint8_t *g = m->ram + IDT_ADDR + 0x21 * 16;
    memset(g, 0, 16);
    g[0] = (uint8_t)KHANDLER;
    g[1] = (uint8_t)(KHANDLER >> 8);
    g[2] = SEL_CODE64;
    g[5] = 0x8e;
    g[6] = (uint8_t)(KHANDLER >> 16);
    static const uint8_t code[] = {
        0x48, 0x89, 0xe3,             /* mov rbx, rsp */
        0xcd, 0x21,                   /* int 0x21 */
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0x48, 0x29, 0xe3,             /* sub rbx, rsp (0 if restored) */
        0x89, 0xd8, 0xef,             /* mov eax, ebx; out */
        0xf4,                         /* hlt */
    };
    static const uint8_t handler[] = {
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0x48, 0x8b, 0x44, 0x24, 0x08, /* mov rax, [rsp+8] (CS) */
        0xef,                         /* out */
        0x48, 0x8b, 0x44, 0x24, 0x20, /* mov rax, [rsp+32] (SS) */
        0xef,                         /* out */
        0x48, 0xcf,                   /* iretq */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    load_code(m, KHANDLER, handler, sizeof(handler));
    struct cpu_state s;
    state64(&s);
    s.idt.limit = 256 * 16 - 1;
    CHECKF(K->set_state(m, &s) == 0, "set_state: %s", popek_error());
    struct run_result rr = run_until_hlt(m, NULL, 100);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 3, "%d accesses logged", rec.n);
    if (rec.n == 3) {
        CHECKF(rec.log[0].value == SEL_CODE64, "saved CS %#x",
               rec.log[0].value);
        CHECKF(rec.log[1].value == SEL_DATA, "saved SS %#x",
               rec.log[1].value);
        CHECKF(rec.log[2].value == 0, "RSP moved by %#x",
               rec.log[2].value);
    }
    free_machine(m);
}

/* 32-bit paging with 4 MiB pages: linear 4 MiB+x aliases physical x.
 * kvm_pvm cannot do 32-bit paging: there set_state must say so, and a
 * guest's own "mov cr0" must end in a triple fault that explains it. */
static void test_paging32(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    uint32_t *pd = (uint32_t *)(m->ram + 0x30000);
    pd[0] = 0x83;            /* 0-4M -> 0, present, writable, 4M page */
    pd[1] = 0x83;            /* 4-8M -> 0 as well */
    memcpy(m->ram + 0x6000, "\x78\x56\x34\x12", 4);
    static const uint8_t code[] = {
        0xa1, 0x00, 0x60, 0x40, 0x00, /* mov eax, [0x406000] */
        0x66, 0xba, 0x00, 0x05, 0xef, /* out it */
        0xf4,                         /* hlt */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state32(&s);
    s.cr4 = CR4_PSE;
    s.cr3 = 0x30000;
    s.cr0 |= CR0_PG;
    int rc = K->set_state(m, &s);
    if (strcmp(kvm_backend_name(), "pvm") == 0) {
        CHECKF(rc < 0 && strstr(popek_error(), "32-bit paging"),
               "set_state with 32-bit paging on pvm: rc %d (%s)", rc,
               rc < 0 ? popek_error() : "accepted");
        /* The guest's own attempt: */
        static const uint8_t enable[] = {
            0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x10, 0x0f, 0x22, 0xe0,
                                          /* cr4 |= PSE */
            0xb8, 0x00, 0x00, 0x03, 0x00, 0x0f, 0x22, 0xd8, /* cr3 */
            0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80,
            0x0f, 0x22, 0xc0,             /* cr0 |= PG */
            0xf4,
        };
        load_code(m, CODE_ADDR, enable, sizeof(enable));
        state32(&s);
        s.idt.limit = 0; /* no IDT: the #GP becomes a triple fault */
        CHECK(K->set_state(m, &s) == 0);
        struct run_result rr = run_until_hlt(m, NULL, 20);
        CHECKF(rr.last == EXIT_SHUTDOWN &&
                   strstr(rr.msg, "32-bit paging") != NULL,
               "exit %d: %s", rr.last, rr.msg);
    } else {
        CHECKF(rc == 0, "set_state: %s", popek_error());
        struct run_result rr = run_until_hlt(m, NULL, 20);
        CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
        CHECKF(rec.n == 1 && rec.log[0].value == 0x12345678,
               "read through the alias: %#x", rec.n ? rec.log[0].value : 0);
    }
    free_machine(m);
}

static void test_rdrand(void)
{
    NEED_KVM();
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 30)))
        SKIP("the host CPU has no RDRAND");
    NEW_MACHINE(m);
    static const uint8_t code[] = {
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0x0f, 0xc7, 0xf0,             /* rdrand eax */
        0x9c, 0x5b,                   /* pushf; pop ebx */
        0xef, 0x89, 0xd8, 0xef,       /* out eax; out flags */
        0x0f, 0xc7, 0xf1,             /* rdrand ecx */
        0x89, 0xc8, 0xef,             /* out ecx */
        0xf4,                         /* hlt */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state32(&s);
    CHECK(K->set_state(m, &s) == 0);
    struct run_result rr = run_until_hlt(m, NULL, 20);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 3, "%d accesses logged", rec.n);
    if (rec.n == 3) {
        /* CF=1 says the value is valid; two 32-bit values in a row are
         * equal with probability 2^-32. */
        CHECKF(rec.log[1].value & FLAG_CF, "flags %#x", rec.log[1].value);
        CHECKF(rec.log[0].value != rec.log[2].value, "rdrand gave %#x twice",
               rec.log[0].value);
    }
    free_machine(m);
}

/* An instruction nobody can do must stop the run with a clear message,
 * not hang or crash.  Only kvm_pvm runs guest kernel code through KVM's
 * emulator (which has no CRC32); elsewhere the instruction just works. */
static void test_emulation_failure_message(void)
{
    NEED_KVM();
    if (strcmp(kvm_backend_name(), "pvm") != 0)
        SKIP("only kvm_pvm emulates guest kernel code");
    NEW_MACHINE(m);
    static const uint8_t code[] = {
        0xf2, 0x0f, 0x38, 0xf1, 0xc1, /* crc32 eax, ecx */
        0xf4,
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state32(&s);
    CHECK(K->set_state(m, &s) == 0);
    struct run_result rr = run_until_hlt(m, NULL, 20);
    CHECKF(rr.last == EXIT_FAILED && strstr(rr.msg, "0x10000") &&
               strstr(rr.msg, "f2 0f 38 f1"),
           "exit %d: %s", rr.last, rr.msg);
    free_machine(m);
}

static void test_cmpxchg16b(void)
{
    NEED_KVM();
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 13)))
        SKIP("the host CPU has no CMPXCHG16B");
    NEW_MACHINE(m);
    build_page_tables(m);
    static const uint8_t code[] = {
        0xbe, 0x00, 0x60, 0x00, 0x00,             /* mov esi, 0x6000 */
        0x48, 0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00, /* mov rax, 1 */
        0x48, 0xc7, 0xc2, 0x02, 0x00, 0x00, 0x00, /* mov rdx, 2 */
        0x48, 0xc7, 0xc3, 0x03, 0x00, 0x00, 0x00, /* mov rbx, 3 */
        0x48, 0xc7, 0xc1, 0x04, 0x00, 0x00, 0x00, /* mov rcx, 4 */
        0xf0, 0x48, 0x0f, 0xc7, 0x0e, /* lock cmpxchg16b [rsi]: equal */
        0x9c, 0x5f,                   /* pushfq; pop rdi */
        0xf0, 0x48, 0x0f, 0xc7, 0x0e, /* again: now different */
        0x9c, 0x5d,                   /* pushfq; pop rbp */
        0x49, 0x89, 0xc2,             /* mov r10, rax */
        0x49, 0x89, 0xd1,             /* mov r9, rdx */
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0x89, 0xf8, 0xef,             /* out edi (flags 1) */
        0x89, 0xe8, 0xef,             /* out ebp (flags 2) */
        0x44, 0x89, 0xd0, 0xef,       /* out r10d (rax) */
        0x44, 0x89, 0xc8, 0xef,       /* out r9d (rdx) */
        0xf4,
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    uint64_t init[2] = {1, 2};
    memcpy(m->ram + 0x6000, init, 16);
    struct cpu_state s;
    state64(&s);
    CHECK(K->set_state(m, &s) == 0);
    struct run_result rr = run_until_hlt(m, NULL, 20);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 4, "%d accesses logged", rec.n);
    if (rec.n == 4) {
        CHECK(rec.log[0].value & FLAG_ZF);
        CHECK(!(rec.log[1].value & FLAG_ZF));
        CHECKF(rec.log[2].value == 3 && rec.log[3].value == 4,
               "rdx:rax after a mismatch %#x:%#x", rec.log[3].value,
               rec.log[2].value);
    }
    uint64_t mem[2];
    memcpy(mem, m->ram + 0x6000, 16);
    CHECKF(mem[0] == 3 && mem[1] == 4, "memory %#llx %#llx",
           (unsigned long long)mem[0], (unsigned long long)mem[1]);
    free_machine(m);
}

static void test_clac_stac_swapgs(void)
{
    NEED_KVM();
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) ||
        !(ebx & (1u << 20)))
        SKIP("the host CPU has no SMAP (CLAC/STAC)");
    NEW_MACHINE(m);
    build_page_tables(m);
    static const uint8_t code[] = {
        0x0f, 0x01, 0xcb,             /* stac */
        0x9c, 0x58,                   /* pushfq; pop rax */
        0x66, 0xba, 0x00, 0x05, 0xef, /* out: flags */
        0x0f, 0x01, 0xca,             /* clac */
        0x9c, 0x58, 0xef,             /* out: flags */
        0xb9, 0x02, 0x01, 0x00, 0xc0, /* mov ecx, MSR_KERNEL_GS_BASE */
        0xb8, 0x00, 0x60, 0x00, 0x00, /* mov eax, 0x6000 */
        0x31, 0xd2,                   /* xor edx, edx */
        0x0f, 0x30,                   /* wrmsr */
        0x0f, 0x01, 0xf8,             /* swapgs */
        0x65, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, /* mov eax, gs:[0] */
        0x66, 0xba, 0x00, 0x05, 0xef, /* out */
        0xf4,
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    memcpy(m->ram + 0x6000, "\x34\x12\xcd\xab", 4);
    struct cpu_state s;
    state64(&s);
    s.cr4 |= 1u << 21; /* CR4.SMAP */
    CHECKF(K->set_state(m, &s) == 0, "set_state: %s", popek_error());
    struct run_result rr = run_until_hlt(m, NULL, 20);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 3, "%d accesses logged", rec.n);
    if (rec.n == 3) {
        CHECK(rec.log[0].value & FLAG_AC);
        CHECK(!(rec.log[1].value & FLAG_AC));
        CHECKF(rec.log[2].value == 0xabcd1234, "gs:[0] after swapgs %#x",
               rec.log[2].value);
    }
    free_machine(m);
}

static void test_popcnt(void)
{
    NEED_KVM();
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 23)))
        SKIP("the host CPU has no POPCNT");
    NEW_MACHINE(m);
    build_page_tables(m);
    static const uint8_t code[] = {
        0x48, 0xbf, 0xff, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x80,       /* mov rdi, 0x80000001000000ff */
        0xf3, 0x48, 0x0f, 0xb8, 0xc7, /* popcnt rax, rdi */
        0x66, 0xba, 0x00, 0x05, 0xef, /* out eax */
        0x31, 0xff,                   /* xor edi, edi */
        0xf3, 0x0f, 0xb8, 0xc7,       /* popcnt eax, edi */
        0x9c, 0x5b,                   /* pushfq; pop rbx */
        0xef, 0x89, 0xd8, 0xef,       /* out eax; out flags */
        0xf4,
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state64(&s);
    CHECK(K->set_state(m, &s) == 0);
    struct run_result rr = run_until_hlt(m, NULL, 20);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 3, "%d accesses logged", rec.n);
    if (rec.n == 3) {
        CHECKF(rec.log[0].value == 10, "popcnt gave %u", rec.log[0].value);
        CHECK(rec.log[1].value == 0);
        CHECK(rec.log[2].value & FLAG_ZF);
    }
    free_machine(m);
}

static void test_state_round_trip(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    struct cpu_state s, g;
    state32(&s);
    for (int i = 0; i < 8; i++)
        s.gpr[i] = 0x01010101u * (uint32_t)(i + 1);
    s.gpr[R_ESP] = STACK_TOP - 16;
    s.rip = CODE_ADDR + 0x123;
    s.rflags = 2 | FLAG_CF | FLAG_ZF | FLAG_DF;
    s.cr2 = 0xdeadb000;
    s.cr0 |= CR0_WP | CR0_NE;
    s.cr4 = CR4_PSE | CR4_PGE;
    s.gdt.limit = 0x27;
    s.idt.base = IDT_ADDR + 0x10;
    s.idt.limit = 0x7f;
    s.seg[SEG_FS].base = 0x12340000;
    s.seg[SEG_FS].sel = SEL_DATA;
    s.seg[SEG_GS].limit = 0xfffff;
    s.seg[SEG_GS].g = 0;
    s.seg[SEG_TR].sel = 0x20;
    s.seg[SEG_TR].base = 0x7000;
    s.sysenter_cs = SEL_CODE32;
    s.sysenter_esp = 0x9000;
    s.sysenter_eip = 0xc0001234;
    CHECKF(K->set_state(m, &s) == 0, "set_state: %s", popek_error());
    CHECKF(K->get_state(m, &g) == 0, "get_state: %s", popek_error());
    for (int i = 0; i < 8; i++)
        CHECKF(g.gpr[i] == s.gpr[i], "gpr %d = %#llx", i,
               (unsigned long long)g.gpr[i]);
    CHECK(g.rip == s.rip);
    CHECKF(g.rflags == s.rflags, "rflags %#llx",
           (unsigned long long)g.rflags);
    CHECK(g.cr2 == s.cr2);
    CHECKF((g.cr0 & (CR0_PE | CR0_WP | CR0_NE)) ==
               (CR0_PE | CR0_WP | CR0_NE), "cr0 %#llx",
           (unsigned long long)g.cr0);
    CHECKF(g.cr4 == s.cr4, "cr4 %#llx", (unsigned long long)g.cr4);
    CHECK(g.gdt.base == s.gdt.base && g.gdt.limit == s.gdt.limit);
    CHECK(g.idt.base == s.idt.base && g.idt.limit == s.idt.limit);
    for (int i = 0; i < NR_SEGS; i++) {
        if (i == SEG_LDTR)
            continue;
        const struct seg_reg *a = &s.seg[i], *b = &g.seg[i];
        CHECKF(a->sel == b->sel && a->base == b->base &&
                   a->limit == b->limit && a->type == b->type &&
                   a->s == b->s && a->dpl == b->dpl &&
                   a->present == b->present && a->db == b->db &&
                   a->g == b->g && a->l == b->l,
               "segment %d differs: sel %#x base %#llx limit %#x type %u",
               i, b->sel, (unsigned long long)b->base, b->limit, b->type);
    }
    CHECK(g.sysenter_cs == s.sysenter_cs);
    CHECK(g.sysenter_esp == s.sysenter_esp);
    CHECK(g.sysenter_eip == s.sysenter_eip);
    /* And the registers really are the guest's: run code that uses them. */
    static const uint8_t code[] = {
        0x89, 0xd8,             /* mov eax, ebx */
        0x66, 0xba, 0x00, 0x05, /* mov dx, 0x500 */
        0xef,                   /* out dx, eax */
        0xf4,                   /* hlt */
    };
    load_code(m, CODE_ADDR + 0x123, code, sizeof(code));
    struct run_result rr = run_until_hlt(m, NULL, 10);
    CHECKF(rr.last == EXIT_HLT, "last exit %d: %s", rr.last, rr.msg);
    CHECKF(rec.n == 1 && rec.log[0].value == 0x04040404,
           "guest saw ebx = %#x", rec.n ? rec.log[0].value : 0);
    free_machine(m);
}

/* Kicks: a guest spinning in `jmp $` must come back with EXIT_KICK, both
 * when the kick arrives during KVM_RUN and when it came before. */
struct kicker {
    struct machine *m;
    atomic_bool done;
    atomic_int kicks;
};

static void *kicker_main(void *arg)
{
    struct kicker *k = arg;
    /* Kick every 20 ms until the vCPU comes back, at most 5 s. */
    for (int i = 0; i < 250 && !atomic_load(&k->done); i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (atomic_load(&k->done))
            break;
        K->kick(k->m);
        atomic_fetch_add(&k->kicks, 1);
    }
    return NULL;
}

static void test_kick(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    static const uint8_t code[] = {0xeb, 0xfe}; /* jmp $ */
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state32(&s);
    CHECK(K->set_state(m, &s) == 0);

    /* A kick before KVM_RUN. */
    K->kick(m);
    struct vm_exit ex = {0};
    CHECK(K->run(m, &ex) == 0);
    CHECKF(ex.reason == EXIT_KICK, "early kick: exit %d", ex.reason);

    /* A kick from another thread during KVM_RUN. */
    struct kicker kk = {.m = m};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, kicker_main, &kk) == 0);
    uint64_t t0 = clock_ns();
    memset(&ex, 0, sizeof(ex));
    int rc = K->run(m, &ex);
    uint64_t dt = clock_ns() - t0;
    atomic_store(&kk.done, true);
    pthread_join(t, NULL);
    CHECK(rc == 0);
    CHECKF(ex.reason == EXIT_KICK, "kick during run: exit %d", ex.reason);
    CHECKF(atomic_load(&kk.kicks) >= 1 && dt < 2000000000ull,
           "run returned after %llu ms and %d kicks",
           (unsigned long long)(dt / 1000000), atomic_load(&kk.kicks));

    /* The kicks are consumed: the guest still spins, and only a fresh
     * kick stops it again (no stale pending signal). */
    kk.kicks = 0;
    atomic_store(&kk.done, false);
    CHECK(pthread_create(&t, NULL, kicker_main, &kk) == 0);
    memset(&ex, 0, sizeof(ex));
    rc = K->run(m, &ex);
    atomic_store(&kk.done, true);
    pthread_join(t, NULL);
    CHECK(rc == 0 && ex.reason == EXIT_KICK);
    CHECKF(atomic_load(&kk.kicks) >= 1,
           "run returned before any kick: a stale signal was pending");
    free_machine(m);
}

static void test_stats(void)
{
    NEED_KVM();
    NEW_MACHINE(m);
    static const uint8_t code[] = {
        0x66, 0xba, 0x00, 0x05, /* mov dx, 0x500 */
        0xee, 0xee, 0xee,       /* out dx, al (x3) */
        0xf4,                   /* hlt */
    };
    load_code(m, CODE_ADDR, code, sizeof(code));
    struct cpu_state s;
    state32(&s);
    CHECK(K->set_state(m, &s) == 0);
    struct run_result rr = run_until_hlt(m, NULL, 10);
    CHECK(rr.last == EXIT_HLT);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct json j;
    json_begin(&j, f);
    K->write_stats(m, &j);
    json_end(&j);
    fclose(f);
    CHECKF(strstr(buf, "\"io\": 3") != NULL, "stats: %s", buf);
    CHECKF(strstr(buf, "\"hlt\": 1") != NULL, "stats: %s", buf);
    CHECKF(strstr(buf, "\"kvm_run_calls\": 4") != NULL, "stats: %s", buf);
    CHECKF(strstr(buf, "\"backend\": \"") != NULL, "stats: %s", buf);
    free(buf);
    free_machine(m);
}

/* ---- cost of one exit round trip (printed, not asserted) ---- */

static double bench_loop(struct machine *m, const struct cpu_state *s,
                         int iters, int max_runs, bool inject)
{
    if (K->set_state(m, s) < 0)
        return -1;
    uint64_t t0 = clock_ns();
    int hlts = 0;
    bool halted = false;
    for (int guard = 0; guard < max_runs; guard++) {
        if (inject && halted && K->irq_window_open(m))
            K->inject_irq(m, 0x20);
        struct vm_exit ex = {.reason = EXIT_NONE};
        if (K->run(m, &ex) < 0)
            return -1;
        halted = ex.reason == EXIT_HLT;
        if (halted && ++hlts >= iters)
            break;
        if (ex.reason == EXIT_SHUTDOWN || ex.reason == EXIT_FAILED)
            return -1;
    }
    return (double)(clock_ns() - t0) / iters;
}

static void bench_exit_costs(void)
{
    if (!kvm_ok)
        return;
    struct machine *m = new_machine();
    if (!m)
        return;
    enum { N = 10000 };
    install_isrs(m);
    /* 0x20 handler: just iret */
    m->ram[ISR_ADDR] = 0xcf;
    build_page_tables(m);
    static const uint8_t out_loop[] = {
        0xb9, 0x10, 0x27, 0x00, 0x00, /* mov ecx, 10000 */
        0x66, 0xba, 0x00, 0x05,       /* mov dx, 0x500 */
        0xee,                         /* out dx, al */
        0xe2, 0xfd,                   /* loop .-3 */
        0xf4,                         /* hlt */
    };
    static const uint8_t hlt_loop[] = {0xf4, 0xeb, 0xfd}; /* hlt; jmp hlt */
    static const uint8_t sti_hlt_loop[] = {0xfb, 0xf4, 0xeb, 0xfd};
    static const uint8_t spin_loop[] = {
        0xb9, 0x10, 0x27, 0x00, 0x00, /* mov ecx, 10000 */
        0xe2, 0xfe,                   /* loop . */
        0xf4,                         /* hlt */
    };
    struct cpu_state s32, s64;
    state32(&s32);
    state64(&s64);
    struct {
        const char *name;
        const uint8_t *code;
        size_t len;
        bool lm, inject;
        int iters, per;
    } b[] = {
        {"32-bit out (I/O exit round trip)", out_loop, sizeof(out_loop),
         false, false, 1, N},
        {"64-bit out (I/O exit round trip)", out_loop, sizeof(out_loop),
         true, false, 1, N},
        {"32-bit hlt exit round trip", hlt_loop, sizeof(hlt_loop), false,
         false, N, 1},
        {"32-bit hlt + irq inject + iret", sti_hlt_loop,
         sizeof(sti_hlt_loop), false, true, N, 1},
        {"64-bit hlt exit round trip", hlt_loop, sizeof(hlt_loop), true,
         false, N, 1},
        {"32-bit loop instruction (no exit)", spin_loop, sizeof(spin_loop),
         false, false, 1, N},
        {"64-bit loop instruction (no exit)", spin_loop, sizeof(spin_loop),
         true, false, 1, N},
    };
    printf("# kvm exit costs on this host (backend %s), not asserted:\n",
           kvm_backend_name());
    for (size_t i = 0; i < ARRAY_SIZE(b); i++) {
        load_code(m, CODE_ADDR, b[i].code, b[i].len);
        struct kvm_engine *ke = KVM_OF(m);
        uint64_t runs0 = ke->runs, log0 = (uint64_t)rec.n;
        double ns = bench_loop(m, b[i].lm ? &s64 : &s32, b[i].iters,
                               4 * N + 100, b[i].inject);
        if (ns < 0)
            printf("#   %-36s failed: %s\n", b[i].name, popek_error());
        else
            printf("#   %-36s %8.0f ns  (%llu KVM_RUNs, %llu port writes)\n",
                   b[i].name, ns / b[i].per,
                   (unsigned long long)(ke->runs - runs0),
                   (unsigned long long)((uint64_t)rec.n - log0));
    }
    free_machine(m);
}

int main(void)
{
    kvm_ok = K->usable(kvm_why, sizeof(kvm_why));
    RUN(test_usable_reason);
    RUN(test_port_io_sizes);
    RUN(test_string_io);
    RUN(test_mmio);
    RUN(test_triple_fault);
    RUN(test_irq_injection);
    RUN(test_long_mode);
    RUN(test_ring3_int_iret);
    RUN(test_int_gate_privilege_fault);
    RUN(test_lar_lsl_verw);
    RUN(test_long_mode_int_iretq);
    RUN(test_paging32);
    RUN(test_rdrand);
    RUN(test_cmpxchg16b);
    RUN(test_clac_stac_swapgs);
    RUN(test_popcnt);
    RUN(test_emulation_failure_message);
    RUN(test_state_round_trip);
    RUN(test_kick);
    RUN(test_stats);
    bench_exit_costs();
    TEST_MAIN_END();
}
