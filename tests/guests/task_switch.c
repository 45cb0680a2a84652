/* task_switch.c - hardware task switching (Intel SDM vol. 3 ch. 7):
 *  - call far to a TSS: the new task's registers come from its TSS, it
 *    runs with EFLAGS.NT and a back link, its LDT is loaded; iret (NT=1)
 *    returns and saves the task's registers; the caller's registers are
 *    restored from its own TSS; CR0.TS is set;
 *  - jmp far to a TSS: no NT, no link, the old TSS becomes available, the
 *    new one busy; a jmp back to the first task;
 *  - call through a task gate in the GDT;
 *  - CR3 from the TSS (each task its own address space);
 *  - faults: #TS for a TSS whose limit is too small, #GP for a call to a
 *    busy TSS, #TS for iret to a back link that is not busy. */
#include "kit.h"

#define SEL_A (6 << 3)     /* task A: call/iret */
#define SEL_B (7 << 3)     /* task B: jmp */
#define SEL_GATE (8 << 3)  /* task gate -> A */
#define SEL_LDT (9 << 3)
#define SEL_C (10 << 3)    /* task C: own CR3 */
#define SEL_SHORT (11 << 3) /* a TSS with limit 0x20 */
#define LDT_DATA 0x04      /* LDT index 0, TI=1, RPL 0 */

static struct kit_tss tss_a __attribute__((aligned(128)));
static struct kit_tss tss_b __attribute__((aligned(128)));
static struct kit_tss tss_c __attribute__((aligned(128)));
static struct kit_tss tss_short __attribute__((aligned(128)));
static uint8_t stack_a[2048] __attribute__((aligned(16)));
static uint8_t stack_b[2048] __attribute__((aligned(16)));
static uint8_t stack_c[2048] __attribute__((aligned(16)));
static uint64_t ldt[2] __attribute__((aligned(8)));
static uint32_t ldt_data[4] = {0x1d7da7a0u, 0, 0, 0};

volatile uint32_t a_regs[8], a_flags, a_link, a_ldtr, a_tr, a_ldtval, a_runs;
volatile uint32_t b_flags, b_link, b_kit_hi, b_self_hi, b_tr;
volatile uint32_t c_val, c_cr3;
volatile uint32_t *kit_tss_desc_hi, *b_tss_desc_hi;
volatile uint32_t *probe_va;

extern char task_a[], task_b[], task_c[];

__asm__(".text\n"
        "task_a:\n"
        "  movl %eax, a_regs+0\n"
        "  movl %ecx, a_regs+4\n"
        "  movl %edx, a_regs+8\n"
        "  movl %ebx, a_regs+12\n"
        "  movl %esp, a_regs+16\n"
        "  movl %ebp, a_regs+20\n"
        "  movl %esi, a_regs+24\n"
        "  movl %edi, a_regs+28\n"
        "  pushfl\n"
        "  popl a_flags\n"
        "  movl tss_a, %eax\n"
        "  movl %eax, a_link\n"
        "  sldt %eax\n"
        "  movl %eax, a_ldtr\n"
        "  str %eax\n"
        "  movl %eax, a_tr\n"
        "  movl $4, %eax\n"              /* LDT_DATA */
        "  movl %eax, %fs\n"
        "  movl %fs:0, %eax\n"
        "  movl %eax, a_ldtval\n"
        "  incl a_runs\n"
        "  movl $0xa1, %eax\n"           /* left in A's TSS by iret */
        "  movl $0xa2, %ebx\n"
        "  movl $0xa3, %esi\n"
        "  movl $0xa4, %edi\n"
        "  iret\n"
        "  jmp task_a\n"
        "task_b:\n"
        "  pushfl\n"
        "  popl b_flags\n"
        "  movl tss_b, %eax\n"
        "  movl %eax, b_link\n"
        "  movl kit_tss_desc_hi, %eax\n"
        "  movl (%eax), %eax\n"
        "  movl %eax, b_kit_hi\n"
        "  movl b_tss_desc_hi, %eax\n"
        "  movl (%eax), %eax\n"
        "  movl %eax, b_self_hi\n"
        "  str %eax\n"
        "  movl %eax, b_tr\n"
        "  ljmp $0x28, $0\n"
        "  jmp task_b\n"
        "task_c:\n"
        "  movl probe_va, %eax\n"
        "  movl (%eax), %eax\n"
        "  movl %eax, c_val\n"
        "  movl %cr3, %eax\n"
        "  movl %eax, c_cr3\n"
        "  iret\n"
        "  jmp task_c\n");

static void tss_init(struct kit_tss *t, char *eip, uint8_t *stack, size_t n)
{
    memset(t, 0, sizeof(*t));
    t->eip = (uint32_t)eip;
    t->eflags = 2;
    t->esp = (uint32_t)stack + n;
    t->cs = KIT_SEL_KCODE;
    t->ss = t->ds = t->es = t->fs = t->gs = KIT_SEL_KDATA;
    t->iomap = sizeof(*t);
}

static uint64_t desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    return (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) |
           ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
           ((uint64_t)(flags & 0xf) << 52) | ((uint64_t)(base >> 24) << 56);
}

static volatile uint32_t *gdt_hi_ptr(uint16_t sel)
{
    struct __attribute__((packed)) { uint16_t limit; uint32_t base; } gdtr;
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    return (volatile uint32_t *)(gdtr.base + (sel & ~7u) + 4);
}

static unsigned tss_type(uint16_t sel) { return (*gdt_hi_ptr(sel) >> 8) & 0xf; }

static void test_call_iret(void)
{
    tss_a.eax = 0x10; tss_a.ecx = 0x11; tss_a.edx = 0x12; tss_a.ebx = 0x13;
    tss_a.ebp = 0x15; tss_a.esi = 0x16; tss_a.edi = 0x17;
    tss_a.ldt = SEL_LDT;
    uint32_t ebx, esi, edi, ebp;
    __asm__ volatile("pushl %%ebp\n"
                     "movl $0xb0b0b0b0, %%ebx\n"
                     "movl $0x51515151, %%esi\n"
                     "movl $0xd1d1d1d1, %%edi\n"
                     "movl $0xeb0eb0eb, %%ebp\n"
                     "lcall $0x30, $0\n"
                     "movl %%ebp, %%eax\n"
                     "popl %%ebp\n"
                     : "=b"(ebx), "=S"(esi), "=D"(edi), "=a"(ebp)
                     :: "ecx", "edx", "memory");
    CHECK_EQ(a_runs, 1, "call far to a TSS runs the task once");
    CHECK_EQ(a_regs[0], 0x10, "new task's EAX from its TSS");
    CHECK_EQ(a_regs[3], 0x13, "new task's EBX from its TSS");
    CHECK_EQ(a_regs[4], (uint32_t)stack_a + sizeof(stack_a), "new task's ESP from its TSS");
    CHECK_EQ(a_regs[7], 0x17, "new task's EDI from its TSS");
    CHECK(a_flags & (1u << 14), "called task runs with EFLAGS.NT");
    CHECK_EQ(a_link, KIT_SEL_TSS, "called task's back link");
    CHECK_EQ(a_tr, SEL_A, "str in the called task");
    CHECK_EQ(a_ldtr, SEL_LDT, "LDTR loaded from the TSS");
    CHECK_EQ(a_ldtval, 0x1d7da7a0u, "a data segment from the task's LDT");
    CHECK_EQ(ebx, 0xb0b0b0b0u, "caller's EBX back after iret");
    CHECK_EQ(esi, 0x51515151u, "caller's ESI back after iret");
    CHECK_EQ(edi, 0xd1d1d1d1u, "caller's EDI back after iret");
    CHECK_EQ(ebp, 0xeb0eb0ebu, "caller's EBP back after iret");
    CHECK_EQ(tss_a.eax, 0xa1, "iret saved the task's EAX in its TSS");
    CHECK_EQ(tss_a.esi, 0xa3, "iret saved the task's ESI in its TSS");
    CHECK(!(tss_a.eflags & (1u << 14)), "iret saved the task's EFLAGS with NT clear");
    CHECK_EQ(tss_type(SEL_A), 9, "returned-from TSS is available");
    CHECK_EQ(tss_type(KIT_SEL_TSS), 0xb, "caller's TSS still busy");
    CHECK(!(read_eflags() & (1u << 14)), "caller's NT clear");
    CHECK(read_cr0() & CR0_TS, "a task switch sets CR0.TS");
    __asm__ volatile("clts");
    /* Again: the task resumes after its iret. */
    __asm__ volatile("lcall $0x30, $0" ::: "eax", "ecx", "edx", "memory");
    CHECK_EQ(a_runs, 2, "second call resumes the task after its iret");
    CHECK_EQ(a_regs[0], 0xa1, "... with the registers it saved");
    __asm__ volatile("lcall $0x40, $0" ::: "eax", "ecx", "edx", "memory");
    CHECK_EQ(a_runs, 3, "call through a task gate in the GDT");
    __asm__ volatile("clts");
}

static void test_jmp(void)
{
    kit_tss_desc_hi = gdt_hi_ptr(KIT_SEL_TSS);
    b_tss_desc_hi = gdt_hi_ptr(SEL_B);
    uint32_t ebx;
    __asm__ volatile("movl $0x5a5a5a5a, %%ebx\n"
                     "ljmp $0x38, $0\n"
                     : "=b"(ebx) :: "eax", "ecx", "edx", "esi", "edi", "memory");
    CHECK(!(b_flags & (1u << 14)), "jmp to a TSS: NT clear in the new task");
    CHECK_EQ(b_link & 0xffff, 0, "jmp to a TSS: no back link");
    CHECK_EQ(b_tr, SEL_B, "str in the jumped-to task");
    CHECK_EQ((b_kit_hi >> 8) & 0xf, 9, "jmp: the old TSS became available");
    CHECK_EQ((b_self_hi >> 8) & 0xf, 0xb, "jmp: the new TSS is busy");
    CHECK_EQ(ebx, 0x5a5a5a5au, "jmp back: the first task's EBX");
    CHECK_EQ(tss_type(SEL_B), 9, "jmp back: task B's TSS available");
    CHECK_EQ(tss_type(KIT_SEL_TSS), 0xb, "jmp back: the kit's TSS busy");
    __asm__ volatile("clts");
}

static void test_cr3(void)
{
    uint32_t *pd1 = kit_paging_init(0, false);
    uint32_t *pd2 = kit_pd_new();
    kit_map_identity(pd2, 0, 16u << 20, PTE_W, false);
    uint32_t *p1 = kit_alloc_page(), *p2 = kit_alloc_page();
    p1[0] = 0x11111111u;
    p2[0] = 0x22222222u;
    uint32_t va = 0x00e00000u;
    kit_map_4k(pd1, va, (uint32_t)p1, PTE_W);
    kit_map_4k(pd2, va, (uint32_t)p2, PTE_W);
    kit_flush_tlb();
    probe_va = (uint32_t *)va;
    kit_tss.cr3 = (uint32_t)pd1;
    tss_c.cr3 = (uint32_t)pd2;
    __asm__ volatile("lcall $0x50, $0" ::: "eax", "ecx", "edx", "memory");
    CHECK_EQ(c_cr3, (uint32_t)pd2, "task C runs with the CR3 of its TSS");
    CHECK_EQ(c_val, 0x22222222u, "task C sees its own address space");
    CHECK_EQ(read_cr3(), (uint32_t)pd1, "back: CR3 from the caller's TSS");
    CHECK_EQ(*probe_va, 0x11111111u, "back: the caller's address space");
    __asm__ volatile("clts");
    kit_paging_disable();
}

static void call_short(void *arg) { (void)arg; __asm__ volatile("lcall $0x58, $0"); }
static void call_busy(void *arg) { (void)arg; __asm__ volatile("lcall $0x28, $0"); }
static void iret_unbusy(void *arg)
{
    (void)arg;
    kit_tss.link = SEL_A; /* available, not busy */
    __asm__ volatile("pushfl; orl $0x4000, (%%esp); popfl; iret" ::: "memory");
}

static void test_faults(void)
{
    int v = kit_try(call_short, NULL);
    CHECK_EQ(v, VEC_TS, "call to a TSS with limit 0x20: #TS");
    CHECK_EQ(kit_last_trap.error, SEL_SHORT, "#TS error code is the TSS selector");
    v = kit_try(call_busy, NULL);
    CHECK_EQ(v, VEC_GP, "call to a busy TSS: #GP");
    CHECK_EQ(kit_last_trap.error, KIT_SEL_TSS, "#GP error code is the TSS selector");
    v = kit_try(iret_unbusy, NULL);
    CHECK_EQ(v, VEC_TS, "iret (NT) to a TSS that is not busy: #TS");
    CHECK_EQ(kit_last_trap.error, SEL_A, "#TS error code is the back link");
    kit_tss.link = 0;
    CHECK_EQ(tss_type(KIT_SEL_TSS), 0xb, "after the faults the kit's TSS is busy");
    CHECK_EQ(tss_type(SEL_A), 9, "and task A's available");
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    tss_init(&tss_a, task_a, stack_a, sizeof(stack_a));
    tss_init(&tss_b, task_b, stack_b, sizeof(stack_b));
    tss_init(&tss_c, task_c, stack_c, sizeof(stack_c));
    tss_init(&tss_short, task_a, stack_a, sizeof(stack_a));
    ldt[0] = desc((uint32_t)ldt_data, sizeof(ldt_data) - 1, 0x92, 0x4);
    kit_gdt_set(SEL_A >> 3, (uint32_t)&tss_a, sizeof(tss_a) - 1, 0x89, 0);
    kit_gdt_set(SEL_B >> 3, (uint32_t)&tss_b, sizeof(tss_b) - 1, 0x89, 0);
    kit_gdt_set(SEL_GATE >> 3, SEL_A, 0, 0x85, 0);
    kit_gdt_set(SEL_LDT >> 3, (uint32_t)ldt, sizeof(ldt) - 1, 0x82, 0);
    kit_gdt_set(SEL_C >> 3, (uint32_t)&tss_c, sizeof(tss_c) - 1, 0x89, 0);
    kit_gdt_set(SEL_SHORT >> 3, (uint32_t)&tss_short, 0x20, 0x89, 0);

    test_call_iret();
    test_jmp();
    test_cr3();
    test_faults();
    kit_done();
}
