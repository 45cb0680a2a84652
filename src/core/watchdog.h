/* watchdog.h - the run's watchdog thread (watchdog.c). */
#ifndef POPEK_WATCHDOG_H
#define POPEK_WATCHDOG_H
struct machine;
/* How long the vCPU has to come back to the run loop after a stop. */
#define WATCHDOG_GRACE_NS 2000000000ull
int watchdog_start(struct machine *m);
void watchdog_stop(struct machine *m);
#endif
