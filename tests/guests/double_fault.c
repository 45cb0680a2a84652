/* double_fault.c - exception escalation as Intel SDM vol. 3 table 6-5 says,
 * with handlers reached through task gates (as real kernels handle #DF):
 *  1. #UD whose delivery raises #GP (a broken #UD gate): #UD is benign, so
 *     the #GP is delivered, through a task gate, with error code
 *     IDT|EXT|6<<3 (once: no loop inside the instruction);
 *  2. #DE whose delivery raises #GP (contributory on contributory): #DF,
 *     through a task gate, error code 0, back link = the faulting task;
 *  3. #PF whose delivery raises #PF (the stack is unmapped): #DF;
 *  4. a fault while delivering #DF (its gate not present): shutdown, and
 *     popek exits with status 4 (a triple fault).
 * The handler tasks fix the interrupted task's saved EIP/ESP in its TSS
 * and return with iret (NT=1: back to the linked task).
 * QEMU TCG passes everything but the EXT bit of the #GP in 1 (it gives
 * 0x32; the SDM, 6.13, and hardware set EXT for a fault in delivery).
 * qemu-skip: QEMU TCG omits EXT in error codes of faults during delivery
 * expect-status: 4 */
#include "kit.h"

#define SEL_GP_TSS (6 << 3)
#define SEL_DF_TSS (7 << 3)

static struct kit_tss gp_tss __attribute__((aligned(128)));
static struct kit_tss df_tss __attribute__((aligned(128)));
static uint8_t gp_stack[4096] __attribute__((aligned(16)));
static uint8_t df_stack[4096] __attribute__((aligned(16)));

/* Written by the handler tasks. */
volatile uint32_t gp_count, gp_err, gp_link, gp_flags;
volatile uint32_t df_count, df_err, df_link, df_flags, df_cr2;
volatile uint32_t df_resume, df_resume_esp;

extern char gp_task[], df_task[], ud_site[], de_site[], de_resume[];
extern char pf_site[], pf_resume[];

/* The task bodies: entered at the label the first time, and after each
 * iret at the jmp that follows it. */
__asm__(".text\n"
        "gp_task:\n"
        "  popl %eax\n"                         /* error code */
        "  movl %eax, gp_err\n"
        "  incl gp_count\n"
        "  movl gp_tss, %eax\n"                 /* back link */
        "  movl %eax, gp_link\n"
        "  pushfl\n"
        "  popl gp_flags\n"
        "  addl $2, kit_tss+0x20\n"             /* skip the ud2 */
        "  iret\n"
        "  jmp gp_task\n"
        "df_task:\n"
        "  popl %eax\n"
        "  movl %eax, df_err\n"
        "  incl df_count\n"
        "  movl df_tss, %eax\n"
        "  movl %eax, df_link\n"
        "  pushfl\n"
        "  popl df_flags\n"
        "  movl %cr2, %eax\n"
        "  movl %eax, df_cr2\n"
        "  movl df_resume, %eax\n"              /* where the old task goes on */
        "  movl %eax, kit_tss+0x20\n"
        "  movl df_resume_esp, %eax\n"
        "  movl %eax, kit_tss+0x38\n"
        "  iret\n"
        "  jmp df_task\n");

static void tss_init(struct kit_tss *t, void (*eip)(void), uint8_t *stack)
{
    memset(t, 0, sizeof(*t));
    t->eip = (uint32_t)eip;
    t->eflags = 2;
    t->esp = (uint32_t)stack + 4096;
    t->cs = KIT_SEL_KCODE;
    t->ss = t->ds = t->es = t->fs = t->gs = KIT_SEL_KDATA;
    t->cr3 = read_cr3();
    t->iomap = sizeof(*t);
}

static void set_raw_gate(int vec, uint32_t lo, uint32_t hi)
{
    struct __attribute__((packed)) { uint16_t limit; uint32_t base; } idtr;
    __asm__ volatile("sidt %0" : "=m"(idtr));
    uint32_t *e = (uint32_t *)(idtr.base + 8 * (uint32_t)vec);
    e[0] = lo;
    e[1] = hi;
}

static void task_gate(int vec, uint16_t tss_sel)
{
    set_raw_gate(vec, (uint32_t)tss_sel << 16, 0x8500); /* P, DPL 0, type 5 */
}

/* A present IDT entry of a type that is no gate (0): delivering through
 * it raises #GP(vec << 3 | IDT | EXT). */
static void broken_gate(int vec)
{
    set_raw_gate(vec, (uint32_t)KIT_SEL_KCODE << 16, 0x8000);
}

static void restore_gate(int vec)
{
    kit_idt_set(vec, kit_idt_stub(vec), KIT_SEL_KCODE, 0xe, 0);
}

static uint32_t gdt_hi(uint16_t sel)
{
    struct __attribute__((packed)) { uint16_t limit; uint32_t base; } gdtr;
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    return ((uint32_t *)(gdtr.base + (sel & ~7u)))[1];
}

static void test_ud_gp_chain(void)
{
    broken_gate(VEC_UD);
    task_gate(VEC_GP, SEL_GP_TSS);
    __asm__ volatile("ud_site: ud2" ::: "memory");
    CHECK_EQ(gp_count, 1, "#UD with a broken gate: #GP delivered once through the task gate");
    CHECK_EQ(gp_err, (VEC_UD << 3) | 2 | 1, "#GP error code names IDT vector 6 with EXT");
    CHECK_EQ(gp_link, KIT_SEL_TSS, "#GP task's back link is the kit's TSS");
    CHECK(gp_flags & (1u << 14), "#GP task runs with EFLAGS.NT");
    CHECK_EQ((gdt_hi(SEL_GP_TSS) >> 8) & 0xf, 9, "#GP task's TSS is available again after iret");
    CHECK_EQ((gdt_hi(KIT_SEL_TSS) >> 8) & 0xf, 0xb, "the kit's TSS is busy again");
    CHECK_EQ(kit_tss.eip, (uint32_t)ud_site + 2, "the kit task's saved EIP (skipped ud2)");
    restore_gate(VEC_GP);
    restore_gate(VEC_UD);
}

static void test_de_gp_df(void)
{
    broken_gate(VEC_DE);
    broken_gate(VEC_GP);
    task_gate(VEC_DF, SEL_DF_TSS);
    df_resume = (uint32_t)de_resume;
    uint32_t esp;
    __asm__ volatile("movl %%esp, %0" : "=r"(esp));
    df_resume_esp = esp;
    __asm__ volatile("xorl %%edx, %%edx; movl $1, %%eax; xorl %%ecx, %%ecx\n"
                     "de_site: divl %%ecx\n"
                     "de_resume:"
                     ::: "eax", "ecx", "edx", "memory");
    CHECK_EQ(df_count, 1, "#DE whose delivery raises #GP: #DF");
    CHECK_EQ(df_err, 0, "#DF error code 0");
    CHECK_EQ(df_link, KIT_SEL_TSS, "#DF task's back link is the faulting task");
    CHECK_EQ(kit_tss.eip, (uint32_t)de_resume, "faulting task resumed where the #DF task said");
    restore_gate(VEC_DE);
    restore_gate(VEC_GP);
}

static void test_pf_pf_df(void)
{
    uint32_t *pd = kit_paging_init(0, false);
    uint32_t hole = 0x00c00000u;     /* unmapped: both the data and stack */
    kit_unmap(pd, hole);
    kit_unmap(pd, hole - 4096);
    kit_flush_tlb();
    /* task switches load CR3, the way back to the kit's task too */
    df_tss.cr3 = gp_tss.cr3 = kit_tss.cr3 = read_cr3();
    df_resume = (uint32_t)pf_resume;
    uint32_t esp;
    __asm__ volatile("movl %%esp, %0" : "=r"(esp));
    df_resume_esp = esp;
    uint32_t before = df_count;
    __asm__ volatile("movl %%esp, %%ebx\n"
                     "movl %0, %%esp\n"
                     "pf_site: movl (%0), %%eax\n"
                     "pf_resume:\n"
                     "movl %%ebx, %%esp"
                     :: "r"(hole) : "eax", "ebx", "memory");
    CHECK_EQ(df_count, before + 1, "#PF whose delivery raises #PF (unmapped stack): #DF");
    CHECK_EQ(df_err, 0, "#DF error code 0");
    CHECK_EQ(df_cr2, hole - 4, "CR2 names the second fault (the first push)");
    kit_paging_disable();
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    tss_init(&gp_tss, (void (*)(void))gp_task, gp_stack);
    tss_init(&df_tss, (void (*)(void))df_task, df_stack);
    kit_gdt_set(SEL_GP_TSS >> 3, (uint32_t)&gp_tss, sizeof(gp_tss) - 1, 0x89, 0);
    kit_gdt_set(SEL_DF_TSS >> 3, (uint32_t)&df_tss, sizeof(df_tss) - 1, 0x89, 0);

    test_ud_gp_chain();
    test_de_gp_df();
    test_pf_pf_df();
    kit_printf("# %u checks, %u failed\n", kit_checks, kit_failures);

    kit_printf("#DF gate not present, #DE and #GP gates broken: shutdown\n");
    broken_gate(VEC_DE);
    broken_gate(VEC_GP);
    set_raw_gate(VEC_DF, 0, 0x0e00); /* not present */
    __asm__ volatile("xorl %%edx, %%edx; movl $1, %%eax; xorl %%ecx, %%ecx\n"
                     "divl %%ecx" ::: "eax", "ecx", "edx", "memory");
    kit_printf("still running after a fault in #DF delivery\n");
    kit_fail();
}
