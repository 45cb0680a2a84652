/* interp_rig.h - the bare interpreter CPU of test_interp_user.c and
 * test_interp_sse.c: 4 MiB of RAM, flat 32-bit ring 0 with a GDT (0x08
 * code, 0x10 data) and an IDT whose gates all lead to a hlt at HANDLER,
 * ESP = STACK, EBX = DATA; the tests put hand-assembled bytes at CODE and
 * step the interpreter (interp_step). */
#ifndef POPEK_INTERP_RIG_H
#define POPEK_INTERP_RIG_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/interp/cpu.h"

#define RAM_SIZE (4u << 20)
#define GDT 0x1000u
#define IDT 0x2000u
#define HANDLER 0x3000u
#define CODE 0x10000u
#define DATA 0x20000u
#define STACK 0x9000u

static uint8_t *ram;
static struct interp_cpu *c;

static inline void put16(uint32_t pa, uint16_t v) { memcpy(ram + pa, &v, 2); }
static inline void put32(uint32_t pa, uint32_t v) { memcpy(ram + pa, &v, 4); }
static inline uint16_t get16(uint32_t pa)
{
    uint16_t v;
    memcpy(&v, ram + pa, 2);
    return v;
}
static inline uint32_t get32(uint32_t pa)
{
    uint32_t v;
    memcpy(&v, ram + pa, 4);
    return v;
}

/* Allocate ram and c once (main); false if out of memory. */
static inline bool rig_alloc(void)
{
    ram = aligned_alloc(4096, RAM_SIZE);
    c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
    if (!ram || !c)
        return false;
    memset(c, 0, sizeof(*c));
    return true;
}

/* Fresh CPU and zeroed RAM, as described at the top. */
static inline void rig_setup(void)
{
    memset(ram, 0, RAM_SIZE);
    put32(GDT + 8, 0x0000ffff);
    put32(GDT + 12, 0x00cf9b00);
    put32(GDT + 16, 0x0000ffff);
    put32(GDT + 20, 0x00cf9300);
    for (uint32_t v = 0; v < 32; v++) {
        put32(IDT + 8 * v, (0x08u << 16) | (HANDLER & 0xffff));
        put32(IDT + 8 * v + 4, (HANDLER & 0xffff0000u) | 0x8e00);
    }
    ram[HANDLER] = 0xf4;
    interp_cpu_init(c, ram, RAM_SIZE, NULL);
    c->gdt.base = GDT;
    c->gdt.limit = 23;
    c->idt.base = IDT;
    c->idt.limit = 32 * 8 - 1;
    c->r[R_ESP] = STACK;
    c->r[R_EBX] = DATA;
}

#endif
