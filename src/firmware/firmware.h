/* firmware.h - the tables a PC BIOS leaves in RAM for the operating system,
 * written by popek's board when it loads a guest (pc_board_load): the BIOS
 * data area and EBDA (bda.c), the MP 1.4 floating pointer and configuration
 * table (mptable.c) and the ACPI tables RSDP, RSDT, XSDT, FADT, FACS, DSDT,
 * MADT and HPET (acpi.c).  They describe the devices the board creates at
 * the fixed addresses below (docs: PLATFORM facts of issue 8).
 *
 * Every builder writes into `low`, a host pointer to guest-physical
 * [0, FW_LOW_SIZE) (guest RAM is at least 2 MiB), so the unit tests can run
 * them on a plain buffer.  Tables live in the BIOS area [FW_AREA_START,
 * FW_AREA_END), which the e820 map reserves, and the EBDA at FW_EBDA. */
#ifndef POPEK_FIRMWARE_H
#define POPEK_FIRMWARE_H
#include <stddef.h>
#include <stdint.h>

struct machine;

#define FW_LOW_SIZE 0x100000u
#define FW_EBDA 0x9fc00u          /* 1 KiB extended BIOS data area */
#define FW_EBDA_KIB 1u
#define FW_BASE_MEM_KIB 639u      /* BDA 0x413: conventional memory below EBDA */
#define FW_AREA_START 0xe0000u    /* reserved BIOS area (e820 type 2) */
#define FW_AREA_END 0x100000u

/* Where the tables go (ACPI in the E segment, the pointers an OS scans
 * for in the F segment). */
#define FW_ACPI_TABLES 0xe0000u   /* RSDT, XSDT, FACS, FADT, DSDT, MADT, HPET */
#define FW_RSDP 0xf0000u
#define FW_MP_FLOAT 0xf0040u
#define FW_MP_CONFIG 0xf0100u
#define FW_BIOS_STUBS 0xffe00u    /* real-mode IRET / EOI+IRET stubs */

/* The platform the tables describe. */
#define FW_LAPIC_ADDR 0xfee00000u
#define FW_IOAPIC_ADDR 0xfec00000u
#define FW_IOAPIC_ID 1u
#define FW_IOAPIC_PINS 24u
#define FW_HPET_ADDR 0xfed00000u
#define FW_PM1A_EVT 0x600u
#define FW_PM1A_CNT 0x604u
#define FW_PM_TMR 0x608u
#define FW_GPE0 0xafe0u
#define FW_GPE0_LEN 4u
#define FW_SCI_IRQ 9u
#define FW_RESET_PORT 0xcf9u
#define FW_RESET_VALUE 0x06u
#define FW_S5_SLP_TYP 0u          /* \_S5 SLP_TYPa, as QEMU's PIIX4 */

/* PCI bus 0 behind the root bridge \_SB.PCI0 (src/devices/pci.c): the
 * windows its BARs are placed in, and INTx routing: pin P (0 = INTA) of
 * slot S drives GSI FW_PCI_GSI_BASE + (S + P) % FW_PCI_GSI_COUNT, the
 * same line on the i8259s (IRQ 10/11, level in the ELCR) and the I/O APIC. */
#define FW_PCI_MEM_BASE 0xc0000000u
#define FW_PCI_MEM_END 0xfec00000u   /* exclusive: the I/O APIC follows */
#define FW_PCI_IO_BASE 0x0d00u       /* I/O window 0x0d00-0xffff */
#define FW_PCI_GSI_BASE 10u
#define FW_PCI_GSI_COUNT 2u
#define FW_PCI_SLOTS 32u

#define FW_OEM_ID "POPEK "        /* 6 bytes, space padded */
#define FW_OEM_TABLE_ID "POPEKPC "

/* Builders (low = guest-physical 0).  Each returns the bytes it used in
 * its area, or 0 if they did not fit. */
void fw_bda_build(uint8_t *low);
size_t fw_mptable_build(uint8_t *low);
size_t fw_acpi_build(uint8_t *low);

/* bios_state.c: the real-mode IVT and its stubs (multiboot kernels, as
 * QEMU leaves them after SeaBIOS), and the PIC/PIT state the BIOS leaves
 * (programmed through the machine's ports). */
void fw_bios_ivt_build(uint8_t *low);
void fw_bios_hw_init(struct machine *m);

/* Write all of them into the machine's RAM.  -1 with fail() if RAM is too
 * small to hold the BIOS area. */
int fw_write_tables(struct machine *m);

/* Helpers shared by the builders and the unit tests. */
uint8_t fw_checksum(const uint8_t *p, size_t len);   /* byte sum */
/* Set p[at] so that the len bytes from p sum to 0. */
void fw_fix_checksum(uint8_t *p, size_t len, size_t at);

#endif
