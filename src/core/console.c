/* console.c - the serial console on stdio: raw terminal mode when stdin is a
 * terminal, an I/O thread that reads stdin into the machine's input ring
 * (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A) and kicks the vCPU when input
 * or a timer deadline arrives; it also reads SIGTERM/SIGINT/SIGHUP from the
 * machine's signalfd and stops the guest (status 16).  Output goes to
 * stdout, flushed at newlines and shortly after any unfinished line
 * (console_putc). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "console.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "machine.h"
#include "../control/control.h"

static struct termios saved_tio;
static bool tio_saved;

void console_restore_tty(void)
{
    if (tio_saved)
        tcsetattr(0, TCSANOW, &saved_tio);
    tio_saved = false;
}

void console_setup(struct machine *m)
{
    m->stdin_is_tty = isatty(0);
    if (!m->stdin_is_tty || tcgetattr(0, &saved_tio) < 0)
        return;
    struct termios t = saved_tio;
    t.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
                             ICRNL | IXON);
    t.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(unsigned)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    /* Keep OPOST/ONLCR so that guests printing "\n" look right. */
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tio_saved = true;
    atexit(console_restore_tty);
    tcsetattr(0, TCSANOW, &t);
}

void console_teardown(struct machine *m)
{
    (void)m;
    fflush(stdout);
    console_restore_tty();
}

static void console_flush_cb(void *opaque)
{
    (void)opaque;
    fflush(stdout);
}

/* Output is buffered in stdio and written out at each newline, when the
 * run loop goes idle (wait_for_event), at the end of the run, and - for a
 * line still unfinished (a prompt, a progress dot) - by a virtual timer
 * CONSOLE_FLUSH_NS after its first byte, so a burst of output reaches
 * stdout at once without a write() per byte.  The timer lives in the run
 * loop's thread like every device, so the I/O thread never touches stdout. */
#define CONSOLE_FLUSH_NS 1000000ull

void console_putc(struct machine *m, uint8_t c)
{
    putchar(c);
    if (c == '\n') {
        fflush(stdout);
        return;
    }
    if (!m->console_flush.cb)
        vtimer_init(&m->console_flush, console_flush_cb, m);
    if (!m->console_flush.deadline)
        vtimer_mod(m, &m->console_flush, clock_ns() + CONSOLE_FLUSH_NS);
}

static void input_push(struct machine *m, uint8_t c)
{
    unsigned h = atomic_load(&m->input_head);
    unsigned t = atomic_load(&m->input_tail);
    if (h - t >= INPUT_RING)
        return; /* ring full: drop, as a UART overrun would */
    m->input[h % INPUT_RING] = c;
    atomic_store(&m->input_head, h + 1);
}

int console_getc(struct machine *m)
{
    unsigned h = atomic_load(&m->input_head);
    unsigned t = atomic_load(&m->input_tail);
    if (h == t)
        return -1;
    int c = m->input[t % INPUT_RING];
    atomic_store(&m->input_tail, t + 1);
    return c;
}

bool console_has_input(struct machine *m)
{
    return atomic_load(&m->input_head) != atomic_load(&m->input_tail);
}

void machine_kick(struct machine *m)
{
    uint64_t one = 1;
    m->kicks++;
    machine_engine_kick(m);
    if (write(m->wake_fd, &one, sizeof(one)) < 0) {
        /* eventfd counter saturated: the loop is awake anyway */
    }
}

static void *io_thread_main(void *arg)
{
    struct machine *m = arg;
    bool escape = false, stdin_open = true;
    bool mon_mode = false; /* --monitor stdio: Ctrl-A c toggles */
    bool mon_on = control_stdio_monitor(m);
    char mline[1024];
    size_t mlen = 0;
    while (!atomic_load(&m->io_thread_stop)) {
        struct pollfd p[3] = {{.fd = m->timer_fd, .events = POLLIN},
                              {.fd = m->signal_fd, .events = POLLIN},
                              {.fd = 0, .events = POLLIN}};
        int n = poll(p, stdin_open ? 3 : 2, 100);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(m->signal_fd, &si, sizeof(si)) == sizeof(si)) {
                int sig = (int)si.ssi_signo;
                machine_request_stop(m, ST_SIGNAL, "stopped by %s",
                                     sig == SIGTERM ? "SIGTERM"
                                     : sig == SIGINT ? "SIGINT"
                                     : sig == SIGHUP ? "SIGHUP"
                                                     : "a signal");
                machine_kick(m);
            }
        }
        if (p[0].revents & POLLIN) {
            uint64_t ticks;
            if (read(m->timer_fd, &ticks, sizeof(ticks)) > 0)
                machine_kick(m);
        }
        if (stdin_open && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            uint8_t buf[256];
            ssize_t r = read(0, buf, sizeof(buf));
            if (r <= 0) {
                stdin_open = false; /* EOF: the guest just gets no input */
                continue;
            }
            for (ssize_t i = 0; i < r; i++) {
                uint8_t c = buf[i];
                if (escape) {
                    escape = false;
                    if (c == 'x' || c == 'X') {
                        machine_request_stop(m, ST_USER_QUIT,
                                             "quit from the console (Ctrl-A x)");
                        break;
                    }
                    if ((c == 'c' || c == 'C') && mon_on) {
                        mon_mode = !mon_mode;
                        mlen = 0;
                        printf(mon_mode ? "\r\n(popek monitor: JSON lines, "
                                          "Ctrl-A c returns to the guest)\r\n"
                                        : "\r\n(popek: back to the guest)\r\n");
                        fflush(stdout);
                        continue;
                    }
                    if (c != 1)
                        continue;
                } else if (c == 1 && (m->stdin_is_tty || mon_on)) {
                    escape = true;
                    continue;
                }
                if (mon_mode) {
                    if (c == '\r' || c == '\n') {
                        mline[mlen] = 0;
                        if (m->stdin_is_tty)
                            printf("\r\n");
                        if (mlen)
                            monitor_stdio_line(m, mline);
                        mlen = 0;
                    } else if ((c == 0x7f || c == 8) && mlen) {
                        mlen--;
                        if (m->stdin_is_tty)
                            printf("\b \b");
                    } else if (mlen + 1 < sizeof(mline)) {
                        mline[mlen++] = (char)c;
                        if (m->stdin_is_tty)
                            putchar(c);
                    }
                    fflush(stdout);
                    continue;
                }
                input_push(m, c);
            }
            machine_kick(m);
        }
    }
    return NULL;
}

int console_start_io_thread(struct machine *m)
{
    if (pthread_create(&m->io_thread, NULL, io_thread_main, m) != 0)
        return fail("cannot start the I/O thread");
    m->io_thread_running = true;
    return 0;
}

void console_stop_io_thread(struct machine *m)
{
    if (!m->io_thread_running)
        return;
    atomic_store(&m->io_thread_stop, true);
    pthread_join(m->io_thread, NULL);
    m->io_thread_running = false;
}
