/* apic.c - the local APIC and the I/O APIC for the guests: enabling the
 * local APIC, reading its 256-bit ISR/IRR/TMR, self-IPIs, and the I/O
 * APIC's indirect registers and redirection entries.  The register
 * accessors themselves are inline in kit.h. */
#include "kit.h"

void kit_lapic_enable(uint8_t spurious)
{
    kit_lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | spurious);
    kit_lapic_write(LAPIC_TPR, 0);
    kit_lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
    kit_lapic_write(LAPIC_LVT_LINT0, LAPIC_LVT_MASKED);
    kit_lapic_write(LAPIC_LVT_LINT1, LAPIC_LVT_MASKED);
    kit_lapic_write(LAPIC_LVT_ERROR, LAPIC_LVT_MASKED);
}

static bool bit256(uint32_t base, int vector)
{
    return kit_lapic_read(base + 0x10u * (uint32_t)(vector >> 5)) >> (vector & 31) & 1;
}

bool kit_lapic_isr(int vector) { return bit256(LAPIC_ISR, vector); }
bool kit_lapic_irr(int vector) { return bit256(LAPIC_IRR, vector); }
bool kit_lapic_tmr(int vector) { return bit256(LAPIC_TMR, vector); }

void kit_lapic_self_ipi(uint8_t vector)
{
    kit_lapic_write(LAPIC_ICR_HI, 0);
    kit_lapic_write(LAPIC_ICR_LO, LAPIC_ICR_SELF | vector);
}

uint32_t kit_ioapic_read(uint32_t reg)
{
    *(volatile uint32_t *)KIT_IOAPIC_BASE = reg;
    return *(volatile uint32_t *)(KIT_IOAPIC_BASE + 0x10);
}

void kit_ioapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)KIT_IOAPIC_BASE = reg;
    *(volatile uint32_t *)(KIT_IOAPIC_BASE + 0x10) = v;
}

void kit_ioapic_route(int pin, uint32_t lo, uint8_t dest)
{
    kit_ioapic_write(0x11 + 2u * (uint32_t)pin, (uint32_t)dest << 24);
    kit_ioapic_write(0x10 + 2u * (uint32_t)pin, lo);
}

uint32_t kit_ioapic_rte_lo(int pin)
{
    return kit_ioapic_read(0x10 + 2u * (uint32_t)pin);
}

void kit_ioapic_mask(int pin, bool masked)
{
    uint32_t lo = kit_ioapic_rte_lo(pin);
    lo = masked ? lo | IOAPIC_RTE_MASKED : lo & ~IOAPIC_RTE_MASKED;
    kit_ioapic_write(0x10 + 2u * (uint32_t)pin, lo);
}
