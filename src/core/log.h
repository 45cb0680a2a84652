/* log.h - popek's diagnostic log, like QEMU's -d/-D: messages in
 * categories (unimp, guest_errors, int, exec, io), all off by default,
 * enabled with `popek run -d LIST` and written to stderr or to the file
 * given with -D.  Each line is labelled with the engine that runs the guest
 * ("popek[bt] unimp: ...") so that a message from code shared between
 * engines (the interpreter core bt falls back to) says where it came from. */
#ifndef POPEK_LOG_H
#define POPEK_LOG_H
#include <stdbool.h>
#include <stdio.h>

enum log_cat {
    PLOG_UNIMP = 1u << 0,        /* guest used something not implemented */
    PLOG_GUEST_ERRORS = 1u << 1, /* guest did something wrong (unclaimed
                                  * port/MMIO access, bad MSR, ...) */
    PLOG_INT = 1u << 2,          /* interrupts injected into the vCPU */
    PLOG_EXEC = 1u << 3,         /* engine exits / run-loop events */
    PLOG_IO = 1u << 4,           /* port I/O traces (kvm) */
};

extern unsigned popek_log_mask;

static inline bool log_enabled(unsigned cats)
{
    return (popek_log_mask & cats) != 0;
}

/* Parse a -d list ("unimp,int" / "all" / "none").  "help" prints the
 * categories to stdout and returns 1; 0 on success; -1 with fail(). */
int log_parse(const char *list);
/* Enable categories directly (e.g. from an engine's trace variable). */
void log_enable(unsigned cats);
/* Send the log to a file (-D); -1 with fail() if it cannot be opened. */
int log_open_file(const char *path);
void log_close(void);
/* The engine whose name labels each line (set when the machine is made). */
void log_set_engine(const char *name);
/* Write one line if category cat is enabled. */
void plog(unsigned cat, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
