/* control.h - the control plane: what a debugger (gdbstub.c), the monitor
 * (monitor.c) and the command line (--switch-engine-after) may do to a
 * running machine, and the hooks the run loop (machine.c) calls.
 * Threads: the gdb stub and the monitor serve their sockets on threads of
 * their own; anything that touches the vCPU runs on the vCPU thread, at
 * the top of the run loop (an instruction boundary), through control_call
 * or a pause.  Live engine switching moves the vCPU state (struct
 * vcpu_state, with pending events) from one engine to a freshly created
 * one; devices and RAM (one memfd, mapped again by the new engine) stay. */
#ifndef POPEK_CONTROL_H
#define POPEK_CONTROL_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/util.h"

struct machine;
struct control;

#define CONTROL_MAX_SWITCHES 16

struct control_config {
    const char *gdb;        /* "tcp::1234" or "tcp:ADDR:PORT"; NULL = off */
    bool gdb_wait;          /* -S: stop before the first instruction */
    const char *monitor;    /* "unix:PATH" or "stdio"; NULL = off */
    unsigned nswitch;       /* --switch-engine-after SECONDS:NAME */
    struct {
        double at;
        char engine[16];
    } sw[CONTROL_MAX_SWITCHES];
};

/* Parse "SECONDS:NAME" into cc (-1 with fail() if malformed). */
int control_parse_switch(struct control_config *cc, const char *arg);
/* Attach the control plane to a machine (before machine_run): opens the
 * gdb and monitor sockets and starts their threads.  -1 with fail(). */
int control_attach(struct machine *m, const struct control_config *cc);
/* After machine_run: tell clients the machine ended with `status` (gdb
 * gets its W packet), stop the threads and free everything. */
void control_finish(struct machine *m, int status);

/* ---- hooks for the run loop (vCPU thread) ---- */
/* At the top of each iteration: serve requests, pause, switch engines.
 * May block while the machine is paused. */
void control_poll(struct machine *m);
/* The engine returned EXIT_DEBUG: park the vCPU and tell the debugger. */
void control_debug_exit(struct machine *m);
/* Don't inject interrupts now (a debugger is single-stepping). */
bool control_irqs_masked(struct machine *m);
/* Engine times and switches into the --stats object. */
void control_write_stats(struct machine *m, struct json *j);

/* ---- for the gdb stub and the monitor (any thread) ---- */
/* pthread_create with SIGTERM, SIGINT and SIGHUP blocked in the new thread
 * (they stop the machine through its signalfd; a thread that let them
 * through would die with the process and no stats). */
int control_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);
typedef void (*control_fn)(struct machine *m, void *arg);
/* Run fn(m, arg) on the vCPU thread at an instruction boundary and wait
 * for it.  -1 if the machine has ended. */
int control_call(struct machine *m, control_fn fn, void *arg);
/* Park the vCPU (waits until it is parked); resume it. */
enum control_stop_why { STOP_NONE, STOP_USER, STOP_DEBUG, STOP_START };
int control_stop(struct machine *m, enum control_stop_why why);
void control_cont(struct machine *m);
/* Is the vCPU parked?  stop_seq counts parkings (a debugger waits for it
 * to change after a resume); *why says why the last one happened. */
bool control_paused(struct machine *m, unsigned *stop_seq,
                     enum control_stop_why *why);
/* Has the machine ended (then *status is its exit status)? */
bool control_ended(struct machine *m, int *status);
/* Set single-stepping (masks interrupt injection while it is on). */
void control_set_stepping(struct machine *m, bool on);

/* ---- vCPU thread only (inside control_call) ---- */
/* Move the running VM to engine `name`.  -1 with fail() (the VM then
 * keeps running on the old engine when possible). */
int control_switch_engine(struct machine *m, const char *name);
/* Install debugger breakpoints/single step in the engine (kept across
 * engine switches); NULL turns them off.  -1 with fail() if the engine
 * has no debug support. */
struct guest_debug;
int control_set_guest_debug(struct machine *m, const struct guest_debug *d);
/* Current engine name, switches so far. */
const char *control_engine_name(struct machine *m);
unsigned control_switch_count(struct machine *m);

/* gdbstub.c / monitor.c (started by control_attach) */
struct gdbstub;
struct gdbstub *gdbstub_start(struct machine *m, const char *spec);
void gdbstub_finish(struct gdbstub *g, int status);
struct monitor;
struct monitor *monitor_start(struct machine *m, const char *spec);
void monitor_finish(struct monitor *mon);
bool monitor_is_stdio(const struct monitor *mon);
/* --monitor stdio: a line typed after Ctrl-A c (console.c calls it). */
void monitor_stdio_line(struct machine *m, const char *line);
/* Is --monitor stdio on (Ctrl-A c switches the console to it)? */
bool control_stdio_monitor(struct machine *m);

#endif
