/* nmi.c - NMIs as the CPU takes them (Intel SDM vol. 3 6.7.1): an NMI
 * self-IPI is taken with EFLAGS.IF clear; a second NMI raised inside the NMI handler is held (no
 * nesting) until the handler's IRET and taken right after it, at the
 * instruction the first NMI interrupted; "int $2" runs the handler without
 * blocking NMIs, so an NMI raised inside it nests.  (NMIs through a task
 * gate: kvm-unit-tests' taskswitch2.)  Prints only deterministic text. */
#include "kit.h"

#define VEC_SPURIOUS 0xff

static volatile uint32_t nmis, seen_inside, depth, max_depth;
static volatile uint32_t eip1, eip2, in_int2;

static void send_nmi_self(void)
{
    kit_lapic_write(LAPIC_ICR_LO, LAPIC_ICR_SELF | LAPIC_DM_NMI);
}

/* An IPI arrives a little after the ICR write (QEMU TCG: at the end of the
 * translated block), so give it some instructions. */
static void spin(void)
{
    for (volatile int i = 0; i < 1000; i++)
        ;
}

static void on_nmi(struct kit_frame *f)
{
    uint32_t n = ++nmis;
    if (++depth > max_depth)
        max_depth = depth;
    if (n == 1) {
        eip1 = f->eip;
        send_nmi_self(); /* blocked until our IRET */
        spin();
        seen_inside = nmis;
    } else if (n == 2) {
        eip2 = f->eip;
    } else if (in_int2) {
        /* a real NMI raised inside "int $2": not blocked */
        in_int2 = 0;
        send_nmi_self();
        spin();
    }
    depth--;
}

static void test_if_clear(void)
{
    cli();
    kit_lapic_write(LAPIC_ICR_HI, 0);
    kit_lapic_write(LAPIC_ICR_LO, LAPIC_DM_NMI); /* physical APIC ID 0 */
    spin();
    CHECK(nmis >= 1 && !(read_eflags() & EFLAGS_IF),
          "an NMI is taken with EFLAGS.IF clear");
    CHECK_EQ(max_depth, 1, "the NMI raised inside the NMI handler did not nest");
    CHECK_EQ(seen_inside, 1, "inside the handler the second NMI is still held");
    CHECK_EQ(nmis, 2, "the held NMI is taken after the handler's IRET");
    CHECK(nmis == 2 && eip2 == eip1,
          "... at once: before the interrupted instruction runs");
}

static void test_int2(void)
{
    uint32_t before = nmis;
    in_int2 = 1;
    max_depth = 0;
    __asm__ volatile("int $2" ::: "memory");
    /* int $2 ran the handler (n == 3): it sent an NMI, which is not blocked
     * by a software int $2 and so nested inside it. */
    CHECK_EQ(nmis - before, 2, "int $2 runs the handler and does not block NMIs");
    CHECK_EQ(max_depth, 2, "... the NMI raised inside it nested");
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    kit_lapic_enable(VEC_SPURIOUS);
    kit_set_handler(VEC_NMI, on_nmi);
    test_if_clear();
    test_int2();
    kit_done();
}
