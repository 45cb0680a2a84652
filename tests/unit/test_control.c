/* test_control.c - unit tests of the control plane (src/control) and of
 * the engine hooks it relies on: the full vCPU state (registers, x87/SSE
 * image, MSRs, debug registers, pending interrupt, interrupt shadow, halt)
 * survives a live switch interp -> bt -> interp; a state an engine cannot
 * hold is refused; breakpoints (hardware and int3) and single steps stop
 * interp and bt at the right instruction; the debugger's side-effect-free
 * page walk (32-bit 4 KiB/4 MiB, PAE, 4-level); --switch-engine-after
 * parsing.  Machines are built by hand (RAM and engine, no board). */
#include <stdint.h>
#include <string.h>

#include "control/control.h"
#include "control/guest_mem.h"
#include "core/machine.h"
#include "test.h"

#define RAM (8u << 20)
#define CODE 0x10000u

static struct machine *new_machine(const char *engine)
{
    struct machine_config cfg = {.engine = engine, .kernel = "none",
                                 .ram_size = RAM, .quiet = true};
    struct machine *m = machine_create(&cfg);
    if (!m)
        return NULL;
    struct control_config cc = {0};
    if (control_attach(m, &cc) < 0) {
        machine_destroy(m);
        return NULL;
    }
    m->start_ns = clock_ns();
    return m;
}

static void free_machine(struct machine *m)
{
    control_finish(m, 0);
    machine_destroy(m);
}

/* A flat 32-bit state at CODE, as a loader would give it. */
static void flat_state(struct machine *m, struct cpu_state *s)
{
    memset(s, 0, sizeof(*s));
    seg_flat32(&s->seg[SEG_CS], 0x08, true);
    for (int i = SEG_ES; i <= SEG_GS; i++)
        if (i != SEG_CS)
            seg_flat32(&s->seg[i], 0x10, false);
    s->seg[SEG_LDTR].unusable = true;
    s->seg[SEG_TR].type = 0xb;
    s->seg[SEG_TR].present = 1;
    s->seg[SEG_TR].limit = 0xffff;
    s->cr0 = CR0_PE | CR0_ET;
    s->rip = CODE;
    s->rflags = 2;
    s->gpr[R_ESP] = 0x80000;
    CHECK(m->ops->set_state(m, s) == 0);
}

static void test_state_survives_switches(void)
{
    struct machine *m = new_machine("interp");
    CHECK(m);
    if (!m)
        return;
    struct cpu_state base;
    flat_state(m, &base);
    _Alignas(16) struct vcpu_state s, got;
    CHECK(m->ops->get_vcpu_state(m, &s) == 0);
    for (int r = 0; r < 8; r++)
        s.regs.gpr[r] = 0x11111111u * (uint32_t)(r + 1);
    s.regs.rip = CODE + 5;
    s.regs.rflags = 0x2 | FLAG_IF | FLAG_CF | FLAG_ZF | FLAG_DF;
    s.regs.cr2 = 0xdeadb000;
    s.regs.sysenter_cs = 0x08;
    s.regs.sysenter_esp = 0x7000;
    s.regs.sysenter_eip = 0x12345;
    s.regs.seg[SEG_FS].base = 0x4000;
    s.regs.gdt = (struct dtable){.base = 0x1000, .limit = 0x3f};
    s.regs.idt = (struct dtable){.base = 0x2000, .limit = 0x7ff};
    for (int k = 0; k < 512; k++)
        s.fxsave[k] = (uint8_t)(k * 7 + 3);
    s.tsc = 5000000000ull;
    s.apic_base = 0xfee00900;
    s.pat = 0x0007010600070106ull;
    s.misc_enable = 0x1;
    s.tsc_aux = 0x2a;        /* rdtscp/rdpid: Linux keeps the CPU number */
    s.regs.efer = EFER_SCE;
    s.dr[0] = 0x1000;
    s.dr[1] = 0x2000;
    s.dr[2] = 0x3000;
    s.dr[3] = 0x4000;
    s.dr[6] = 0xffff0ff1;
    s.dr[7] = 0x400;
    s.pending_irq = 0x31;
    s.intr_shadow = true;
    s.halted = false;
    CHECK(m->ops->set_vcpu_state(m, &s) == 0);
    const char *path[] = {"bt", "interp", "bt"};
    for (int k = 0; k < 3; k++) {
        CHECKF(control_switch_engine(m, path[k]) == 0, "switch to %s: %s",
               path[k], popek_error());
        CHECK(!strcmp(m->ops->name, path[k]));
    }
    CHECK(control_switch_count(m) == 3);
    CHECK(m->ops->get_vcpu_state(m, &got) == 0);
    for (int r = 0; r < 8; r++)
        CHECK(got.regs.gpr[r] == s.regs.gpr[r]);
    CHECK(got.regs.rip == s.regs.rip);
    CHECK(got.regs.rflags == s.regs.rflags);
    CHECK(got.regs.cr2 == s.regs.cr2);
    CHECK(got.regs.cr0 == s.regs.cr0);
    CHECK(got.regs.sysenter_eip == 0x12345 && got.regs.sysenter_esp == 0x7000);
    CHECK(got.regs.seg[SEG_FS].base == 0x4000);
    CHECK(got.regs.gdt.base == 0x1000 && got.regs.idt.limit == 0x7ff);
    CHECK(!memcmp(got.fxsave, s.fxsave, 512));
    CHECKF(got.tsc >= s.tsc && got.tsc < s.tsc + 5000000000ull,
           "tsc %llu", (unsigned long long)got.tsc);
    CHECK(got.apic_base == s.apic_base && got.pat == s.pat &&
          got.misc_enable == s.misc_enable);
    CHECKF(got.tsc_aux == 0x2a, "tsc_aux %#llx",
           (unsigned long long)got.tsc_aux);
    CHECKF(got.regs.efer == EFER_SCE, "efer %#llx",
           (unsigned long long)got.regs.efer);
    CHECK(!memcmp(got.dr, s.dr, sizeof(s.dr)));
    CHECK(got.pending_irq == 0x31);
    CHECK(got.intr_shadow);
    CHECK(!got.halted);
    /* halted moves too */
    got.pending_irq = -1;
    got.intr_shadow = false;
    got.halted = true;
    CHECK(m->ops->set_vcpu_state(m, &got) == 0);
    CHECK(control_switch_engine(m, "interp") == 0);
    CHECK(m->ops->get_vcpu_state(m, &s) == 0);
    CHECK(s.halted && s.pending_irq == -1 && !s.intr_shadow);
    /* what the interpreter cannot hold is refused, and the VM stays */
    got.pending_exc = 14;
    CHECK(m->ops->set_vcpu_state(m, &got) < 0);
    CHECK(control_switch_engine(m, "nosuch") < 0);
    CHECK(!strcmp(m->ops->name, "interp"));
    free_machine(m);
}

/* inc eax x3; hlt: stop before the third inc (a breakpoint), then step. */
static void debug_on(const char *engine, bool sw)
{
    struct machine *m = new_machine(engine);
    CHECK(m);
    if (!m)
        return;
    static const uint8_t code[] = {0x40, 0x40, 0x40, 0xf4};
    memcpy(m->ram + CODE, code, sizeof(code));
    struct cpu_state s;
    flat_state(m, &s);
    struct guest_debug d = {0};
    if (sw) {
        m->ram[CODE + 2] = 0xcc;
        m->ops->code_written(m, CODE + 2, 1);
        d.sw[d.nsw++] = CODE + 2;
    } else {
        d.hw[d.nhw++] = CODE + 2;
    }
    CHECK(control_set_guest_debug(m, &d) == 0);
    struct vm_exit ex = {0};
    CHECK(m->ops->run(m, &ex) == 0);
    CHECKF(ex.reason == EXIT_DEBUG, "%s: exit %d", engine, ex.reason);
    CHECK(m->ops->get_state(m, &s) == 0);
    CHECKF(s.rip == CODE + 2 && s.gpr[R_EAX] == 2, "%s: eip %#llx eax %llu",
           engine, (unsigned long long)s.rip,
           (unsigned long long)s.gpr[R_EAX]);
    if (sw) {
        m->ram[CODE + 2] = 0x40;
        m->ops->code_written(m, CODE + 2, 1);
    }
    d.single_step = true;
    CHECK(control_set_guest_debug(m, &d) == 0);
    ex.reason = EXIT_NONE;
    CHECK(m->ops->run(m, &ex) == 0);
    CHECK(ex.reason == EXIT_DEBUG);
    CHECK(m->ops->get_state(m, &s) == 0);
    CHECKF(s.rip == CODE + 3 && s.gpr[R_EAX] == 3, "%s step: eip %#llx",
           engine, (unsigned long long)s.rip);
    CHECK(control_set_guest_debug(m, NULL) == 0);
    ex.reason = EXIT_NONE;
    CHECK(m->ops->run(m, &ex) == 0);
    CHECK(ex.reason == EXIT_HLT);
    free_machine(m);
}

static void test_debug_interp_hw(void) { debug_on("interp", false); }
static void test_debug_interp_int3(void) { debug_on("interp", true); }
static void test_debug_bt_hw(void) { debug_on("bt", false); }
static void test_debug_bt_int3(void) { debug_on("bt", true); }

static void put32(struct machine *m, uint64_t pa, uint32_t v)
{
    memcpy(m->ram + pa, &v, 4);
}
static void put64(struct machine *m, uint64_t pa, uint64_t v)
{
    memcpy(m->ram + pa, &v, 8);
}

static void test_page_walk(void)
{
    struct machine *m = new_machine("interp");
    CHECK(m);
    if (!m)
        return;
    struct cpu_state s = {0};
    uint64_t pa;
    /* paging off: identity */
    CHECK(guest_lin_to_phys(m, &s, 0x123456, &pa) && pa == 0x123456);
    /* 32-bit: PD at 0x100000, PT at 0x101000 maps 0x40000000 -> 0x200000;
     * a 4 MiB page at 0x80000000 -> 0x400000 */
    s.cr0 = CR0_PE | CR0_PG;
    s.cr3 = 0x100000;
    s.cr4 = CR4_PSE;
    put32(m, 0x100000 + (0x40000000u >> 22) * 4, 0x101000 | PTE_P | PTE_W);
    put32(m, 0x101000 + 0 * 4, 0x200000 | PTE_P);
    put32(m, 0x100000 + (0x80000000u >> 22) * 4, 0x400000 | PTE_P | PTE_PS);
    CHECK(guest_lin_to_phys(m, &s, 0x40000123, &pa) && pa == 0x200123);
    CHECK(guest_lin_to_phys(m, &s, 0x80012345, &pa) && pa == 0x412345);
    CHECK(!guest_lin_to_phys(m, &s, 0x40001000, &pa));
    CHECK(!guest_lin_to_phys(m, &s, 0xc0000000, &pa));
    uint32_t pde;
    memcpy(&pde, m->ram + 0x100000 + (0x40000000u >> 22) * 4, 4);
    CHECK(!(pde & PTE_A)); /* no side effects */
    uint8_t buf[8] = {0};
    put32(m, 0x200ffc, 0xaabbccdd);
    CHECK(guest_lin_read(m, &s, 0x40000ffc, buf, 8) == 4); /* stops */
    CHECK(buf[0] == 0xdd && buf[3] == 0xaa);
    /* PAE: PDPT at 0x110000, PD at 0x111000, PT at 0x112000 */
    memset(&s, 0, sizeof(s));
    s.cr0 = CR0_PE | CR0_PG;
    s.cr4 = CR4_PAE;
    s.cr3 = 0x110000;
    put64(m, 0x110000 + 1 * 8, 0x111000 | PTE_P);
    put64(m, 0x111000 + 2 * 8, 0x112000 | PTE_P);
    put64(m, 0x112000 + 3 * 8, 0x300000 | PTE_P);
    put64(m, 0x111000 + 5 * 8, 0x600000 | PTE_P | PTE_PS);
    CHECK(guest_lin_to_phys(m, &s, 0x40403abc, &pa) && pa == 0x300abc);
    CHECK(guest_lin_to_phys(m, &s, 0x40a12345, &pa) && pa == 0x612345);
    CHECK(!guest_lin_to_phys(m, &s, 0x00403abc, &pa));
    /* 4-level: PML4 0x120000, PDPT 0x121000, PD 0x122000, PT 0x123000 */
    memset(&s, 0, sizeof(s));
    s.cr0 = CR0_PE | CR0_PG;
    s.cr4 = CR4_PAE;
    s.efer = EFER_LME | EFER_LMA;
    s.cr3 = 0x120000;
    uint64_t lin = 0xffff800000000000ull | (1ull << 30) | (2ull << 21) |
                   (3ull << 12) | 0x10;
    put64(m, 0x120000 + 256 * 8, 0x121000 | PTE_P);
    put64(m, 0x121000 + 1 * 8, 0x122000 | PTE_P);
    put64(m, 0x122000 + 2 * 8, 0x123000 | PTE_P);
    put64(m, 0x123000 + 3 * 8, 0x500000 | PTE_P);
    CHECK(guest_lin_to_phys(m, &s, lin, &pa) && pa == 0x500010);
    free_machine(m);
}

static void test_parse_switch(void)
{
    struct control_config cc = {0};
    CHECK(control_parse_switch(&cc, "3:bt") == 0);
    CHECK(control_parse_switch(&cc, "0.5:interp") == 0);
    CHECK(cc.nswitch == 2 && cc.sw[0].at == 0.5 &&
          !strcmp(cc.sw[0].engine, "interp") && cc.sw[1].at == 3);
    CHECK(control_parse_switch(&cc, "x:bt") < 0);
    CHECK(control_parse_switch(&cc, "1:nosuch") < 0);
    CHECK(control_parse_switch(&cc, "1") < 0);
    CHECK(control_parse_switch(&cc, "-1:bt") < 0);
    CHECK(cc.nswitch == 2);
}

int main(void)
{
    RUN(test_state_survives_switches);
    RUN(test_debug_interp_hw);
    RUN(test_debug_interp_int3);
    RUN(test_debug_bt_hw);
    RUN(test_debug_bt_int3);
    RUN(test_page_walk);
    RUN(test_parse_switch);
    TEST_MAIN_END();
}
