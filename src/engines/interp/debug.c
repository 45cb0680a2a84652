/* debug.c - debugger support for the interpreter (and for bt, which runs
 * single steps and hardware breakpoints in it): a list of breakpoint
 * linear addresses checked at each instruction boundary by step_body
 * (cpu.c) while c->dbg is set.  Software breakpoints (the debugger's int3
 * in guest memory) and hardware ones are the same here: the boundary check
 * stops before the int3 would execute.  A resume skips its own address
 * once, as EFLAGS.RF does for instruction breakpoints. */
#include <stdlib.h>
#include <string.h>

#include "../../core/engine.h"
#include "../../core/util.h"
#include "sys.h"

int interp_cpu_set_debug(struct interp_cpu *c, const struct guest_debug *d)
{
    if (!d) {
        free(c->dbg);
        c->dbg = NULL;
        return 0;
    }
    if (d->nsw > GUEST_DEBUG_MAX_SW || d->nhw > GUEST_DEBUG_MAX_HW)
        return fail("too many breakpoints");
    if (!c->dbg) {
        c->dbg = calloc(1, sizeof(*c->dbg));
        if (!c->dbg)
            return fail("out of memory");
        c->dbg->skip_lin = -1;
    }
    struct interp_dbg *g = c->dbg;
    g->single_step = d->single_step;
    g->nbp = 0;
    g->nhw = d->nhw;
    for (unsigned k = 0; k < d->nsw; k++)
        g->bp[g->nbp++] = (uint32_t)d->sw[k];
    for (unsigned k = 0; k < d->nhw; k++)
        g->bp[g->nbp++] = (uint32_t)d->hw[k];
    return 0;
}

void interp_dbg_resume(struct interp_cpu *c)
{
    struct interp_dbg *g = c->dbg;
    if (!g || !g->hit)
        return;
    g->hit = false;
    g->skip_lin = (uint32_t)c->seg[SEG_CS].base + c->eip;
}

bool interp_dbg_stop_here(struct interp_cpu *c)
{
    struct interp_dbg *g = c->dbg;
    uint32_t lin = (uint32_t)c->seg[SEG_CS].base + c->eip;
    if (g->skip_lin >= 0) {
        bool skip = g->skip_lin == (int64_t)lin;
        g->skip_lin = -1;
        if (skip)
            return false;
    }
    for (unsigned k = 0; k < g->nbp; k++) {
        if (g->bp[k] == lin) {
            g->hit = true;
            c->check_irq = true; /* ends interp_run_batch */
            return true;
        }
    }
    return false;
}
