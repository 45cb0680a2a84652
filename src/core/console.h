/* console.h - stdio console, terminal mode and the I/O thread (console.c). */
#ifndef POPEK_CONSOLE_H
#define POPEK_CONSOLE_H
struct machine;
void console_setup(struct machine *m);
void console_teardown(struct machine *m);
/* Put the terminal back as it was (no-op if it was never changed). */
void console_restore_tty(void);
int console_start_io_thread(struct machine *m);
void console_stop_io_thread(struct machine *m);
/* Wake the run loop and make the engine's run() return soon. */
void machine_kick(struct machine *m);
#endif
