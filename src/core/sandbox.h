/* sandbox.h - popek's seccomp-bpf allow-list (sandbox.c). */
#ifndef POPEK_SANDBOX_H
#define POPEK_SANDBOX_H
#include <stdbool.h>

/* Allow one more system call (a __NR_* number) once the sandbox is on,
 * with the reason (kept for `popek sandbox-list`-style listings and the
 * reader).  Call before machine_run(); -1 with fail() if the list is full
 * or the sandbox is already installed. */
int sandbox_allow(int nr, const char *why);
/* Install the filter on every thread of popek (TSYNC).  Anything not on
 * the list raises SIGSYS: popek prints the call's number and name and
 * exits with status 10.  -1 with fail() on error. */
int sandbox_install(void);
bool sandbox_active(void);
/* The name of system call nr ("?" if unknown). */
const char *sandbox_syscall_name(long nr);
/* Print the allowed system calls and why (`popek sandbox`). */
void sandbox_print(void);
/* Test only: make a system call the sandbox forbids (execve). */
void sandbox_test_forbidden(void);

#endif
