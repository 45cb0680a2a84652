/* events.c - the paravirtual guest's per-machine state and its events, the
 * same on every engine: the trap table the engines' exception delivery
 * consults (pv_trap), the virtual interrupt flag and pending-event word in
 * the guest's shared page, the upcall (an interrupt source beside the
 * interrupt controller: machine_intr_pending asks pv_event_ready first,
 * and the run loop injects the upcall vector, which the engine delivers
 * through the trap table like any interrupt, masking events), the ring-1
 * stack for traps from ring 3 and the event timer (SET_TIMER).  The state
 * lives on the machine's device list ("pv"), so it survives an engine
 * switch and is cleared by a reset. */
#include <stdlib.h>
#include <string.h>

#include "../core/util.h"
#include "pv.h"

struct pv_state *pv_state(struct machine *m)
{
    return m ? machine_find_device(m, "pv") : NULL;
}

static struct pv_shared *shared(struct pv_state *s)
{
    if (!s || !s->shared_gpa)
        return NULL;
    return (struct pv_shared *)gpa_to_hva(s->m, s->shared_gpa,
                                          sizeof(struct pv_shared));
}

static bool event_ready(struct machine *m)
{
    struct pv_state *s = pv_state(m);
    struct pv_shared *sh = shared(s);
    return sh && (sh->vif & 1) && sh->pending && s->traps_on &&
           s->trap[s->cb_vector].set;
}

static int event_ack(struct machine *m)
{
    struct pv_state *s = pv_state(m);
    s->upcalls++;
    shared(s)->upcalls++;
    return s->cb_vector;
}

static void timer_cb(void *opaque)
{
    struct pv_state *s = opaque;
    s->timer_events++;
    pv_post(s->m, PV_EV_TIMER);
    if (s->period_ns) {
        /* periodic; a guest that slept long gets one event, not a burst */
        uint64_t next = s->timer.deadline + s->period_ns, now = clock_ns();
        vtimer_mod(s->m, &s->timer, next > now ? next : now + s->period_ns);
    }
}

static void pv_reset(void *opaque)
{
    struct pv_state *s = opaque;
    struct machine *m = s->m;
    vtimer_del(m, &s->timer);
    memset(s, 0, sizeof(*s));
    s->m = m;
    vtimer_init(&s->timer, timer_cb, s);
}

static void pv_destroy(void *opaque)
{
    struct pv_state *s = opaque;
    vtimer_del(s->m, &s->timer);
    free(s);
}

struct pv_state *pv_state_get(struct machine *m)
{
    struct pv_state *s = pv_state(m);
    if (s || !m)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->m = m;
    vtimer_init(&s->timer, timer_cb, s);
    if (machine_add_device(m, "pv", s, pv_reset, pv_destroy) < 0) {
        free(s);
        return NULL;
    }
    m->pv_event_ready = event_ready;
    m->pv_event_ack = event_ack;
    return s;
}

bool pv_trap(struct machine *m, int vector, bool ext, struct pv_trap *t)
{
    struct pv_state *s = pv_state(m);
    if (!s || !s->traps_on || vector < 0 || vector >= (int)PV_TRAP_MAX ||
        !s->trap[vector].set)
        return false;
    *t = s->trap[vector];
    if (ext && s->shared_gpa && vector == s->cb_vector)
        t->flags |= PV_TRAP_MASK; /* the upcall masks events */
    return true;
}

bool pv_vif(struct machine *m)
{
    struct pv_shared *sh = shared(pv_state(m));
    return !sh || (sh->vif & 1);
}

void pv_set_vif(struct machine *m, bool on)
{
    struct pv_shared *sh = shared(pv_state(m));
    if (sh)
        sh->vif = on ? (sh->vif | 1) : (sh->vif & ~1u);
}

void pv_set_cr2(struct machine *m, uint32_t cr2)
{
    struct pv_shared *sh = shared(pv_state(m));
    if (sh)
        sh->cr2 = cr2;
}

bool pv_stack(struct machine *m, uint16_t *ss, uint32_t *esp)
{
    struct pv_state *s = pv_state(m);
    if (!s || !s->stack_set)
        return false;
    *ss = s->kss;
    *esp = s->kesp;
    return true;
}

void pv_post(struct machine *m, uint32_t bits)
{
    struct pv_shared *sh = shared(pv_state(m));
    if (sh)
        sh->pending |= bits;
}
