/* guest_mem.h - guest memory for the debugger and the monitor: linear
 * addresses translated through the guest's paging (32-bit, PAE, 4-level)
 * as a vCPU state describes it, without side effects (no accessed/dirty
 * bits, no faults), then read or written in guest RAM. */
#ifndef POPEK_GUEST_MEM_H
#define POPEK_GUEST_MEM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/cpu_state.h"

struct machine;

/* Physical address of linear `lin`, or false if it is not mapped. */
bool guest_lin_to_phys(struct machine *m, const struct cpu_state *s,
                       uint64_t lin, uint64_t *pa);
/* Copy guest linear memory to/from buf; returns the bytes done (stops at
 * the first unmapped or non-RAM byte). */
size_t guest_lin_read(struct machine *m, const struct cpu_state *s,
                      uint64_t lin, void *buf, size_t len);
size_t guest_lin_write(struct machine *m, const struct cpu_state *s,
                       uint64_t lin, const void *buf, size_t len);

#endif
