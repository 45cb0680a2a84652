/* gdbstub.c - a gdb remote-protocol stub (`-s`, `-S`, `--gdb tcp:ADDR:PORT`)
 * on a thread of its own.  One client at a time; while it is attached and
 * the guest is stopped, the vCPU is parked in the run loop (control.c).
 * Registers come from the engine's vcpu_state (i386 layout, described to
 * gdb by a target XML), memory goes through the guest's paging
 * (guest_mem.c, no side effects).  Breakpoints: Z0 writes int3 into guest
 * memory (reads show the original bytes) and is announced to the engine
 * (code_written: bt drops its translations), Z1 is a hardware breakpoint
 * (no memory change); both go to the engine as a struct guest_debug, as
 * does single step (s), with interrupts held off while stepping. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/machine.h"
#include "control.h"
#include "guest_mem.h"

#define PKT_MAX 4096

struct swbp {
    uint64_t lin, pa;
    uint8_t orig;
};

struct gdbstub {
    struct machine *m;
    int lfd, fd;
    pthread_t thread;
    _Atomic bool finish;
    _Atomic int end_status;
    struct swbp sw[GUEST_DEBUG_MAX_SW];
    unsigned nsw;
    uint64_t hw[GUEST_DEBUG_MAX_HW];
    unsigned nhw;
    uint8_t rbuf[PKT_MAX * 2];
    size_t rlen, rpos;
};

/* ---- vCPU-thread helpers (through control_call) ---- */

struct state_req {
    struct vcpu_state *s;
    int rc;
    bool write;
};

static void do_state(struct machine *m, void *arg)
{
    struct state_req *r = arg;
    if (r->write) {
        r->rc = m->ops->set_vcpu_state ? m->ops->set_vcpu_state(m, r->s)
                                       : m->ops->set_state(m, &r->s->regs);
        return;
    }
    memset(r->s, 0, sizeof(*r->s));
    r->s->pending_irq = r->s->pending_exc = -1;
    r->rc = m->ops->get_vcpu_state ? m->ops->get_vcpu_state(m, r->s)
                                   : m->ops->get_state(m, &r->s->regs);
}

static int vcpu_state(struct gdbstub *g, struct vcpu_state *s, bool write)
{
    struct state_req r = {.s = s, .write = write, .rc = -1};
    if (control_call(g->m, do_state, &r) < 0)
        return -1;
    return r.rc;
}

struct debug_req {
    const struct guest_debug *d;
    uint64_t gpa, len;
    int rc;
};

static void do_debug(struct machine *m, void *arg)
{
    struct debug_req *r = arg;
    if (r->len && m->ops->code_written)
        m->ops->code_written(m, r->gpa, r->len);
    r->rc = control_set_guest_debug(m, r->d);
}

/* Tell the engine the breakpoints (and single step), and that memory at
 * [gpa, gpa+len) changed. */
static int push_debug(struct gdbstub *g, bool step, uint64_t gpa,
                      uint64_t len)
{
    struct guest_debug d = {.single_step = step};
    for (unsigned k = 0; k < g->nsw; k++)
        d.sw[d.nsw++] = g->sw[k].lin;
    for (unsigned k = 0; k < g->nhw; k++)
        d.hw[d.nhw++] = g->hw[k];
    bool any = step || d.nsw || d.nhw;
    struct debug_req r = {.d = any ? &d : NULL, .gpa = gpa, .len = len};
    if (control_call(g->m, do_debug, &r) < 0)
        return -1;
    return r.rc;
}

/* ---- packets ---- */

static const char hexd[] = "0123456789abcdef";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void put_raw(struct gdbstub *g, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(g->fd, p, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void send_pkt(struct gdbstub *g, const char *body)
{
    size_t n = strlen(body);
    char *buf = malloc(n + 5);
    if (!buf)
        return;
    unsigned sum = 0;
    buf[0] = '$';
    for (size_t k = 0; k < n; k++) {
        buf[1 + k] = body[k];
        sum += (uint8_t)body[k];
    }
    buf[n + 1] = '#';
    buf[n + 2] = hexd[(sum >> 4) & 15];
    buf[n + 3] = hexd[sum & 15];
    put_raw(g, buf, n + 4);
    free(buf);
}

/* Next byte from the client: -1 on EOF/error, -2 on timeout. */
static int get_byte(struct gdbstub *g, int timeout_ms)
{
    if (g->rpos == g->rlen) {
        struct pollfd p = {.fd = g->fd, .events = POLLIN};
        int n = poll(&p, 1, timeout_ms);
        if (n == 0)
            return -2;
        if (n < 0)
            return errno == EINTR ? -2 : -1;
        ssize_t r = read(g->fd, g->rbuf, sizeof(g->rbuf));
        if (r <= 0)
            return -1;
        g->rlen = (size_t)r;
        g->rpos = 0;
    }
    return g->rbuf[g->rpos++];
}

/* Read one packet into buf (NUL-terminated, escapes undone); returns its
 * length, 0x03 as -3 (interrupt), -1 on EOF, -2 on timeout (nothing). */
static int get_pkt(struct gdbstub *g, char *buf, size_t cap, int timeout_ms)
{
    int c;
    do {
        c = get_byte(g, timeout_ms);
        if (c < 0)
            return c;
        if (c == 3)
            return -3;
    } while (c != '$');
    size_t n = 0;
    unsigned sum = 0;
    for (;;) {
        c = get_byte(g, 1000);
        if (c < 0)
            return -1;
        if (c == '#')
            break;
        sum += (unsigned)c;
        if (c == '}') {
            c = get_byte(g, 1000);
            if (c < 0)
                return -1;
            sum += (unsigned)c;
            c ^= 0x20;
        }
        if (n + 1 < cap)
            buf[n++] = (char)c;
    }
    int h = get_byte(g, 1000), l = get_byte(g, 1000);
    if (h < 0 || l < 0)
        return -1;
    buf[n] = 0;
    if ((unsigned)(hexval(h) << 4 | hexval(l)) != (sum & 0xff)) {
        put_raw(g, "-", 1);
        return -2;
    }
    put_raw(g, "+", 1);
    return (int)n;
}

/* ---- registers (i386: 16 x 32-bit, then the x87 file) ---- */

/* eax..edi eip eflags cs ss ds es fs gs, st0-7, fctrl fstat ftag fiseg
 * fioff foseg fooff fop: the order of org.gnu.gdb.i386.core */
#define NREGS 32

static const char target_xml[] =
    "<?xml version=\"1.0\"?>"
    "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
    "<target version=\"1.0\"><architecture>i386</architecture>"
    "<feature name=\"org.gnu.gdb.i386.core\">"
    "<reg name=\"eax\" bitsize=\"32\" type=\"int32\" regnum=\"0\"/>"
    "<reg name=\"ecx\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"edx\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"ebx\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"esp\" bitsize=\"32\" type=\"data_ptr\"/>"
    "<reg name=\"ebp\" bitsize=\"32\" type=\"data_ptr\"/>"
    "<reg name=\"esi\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"edi\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"eip\" bitsize=\"32\" type=\"code_ptr\"/>"
    "<reg name=\"eflags\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>"
    "<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>"
    "<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>"
    "</feature></target>";

static uint32_t fx16(const uint8_t *fx, int off)
{
    return (uint32_t)fx[off] | (uint32_t)fx[off + 1] << 8;
}

static uint32_t fx32(const uint8_t *fx, int off)
{
    return fx16(fx, off) | fx16(fx, off + 2) << 16;
}

/* Register n as bytes (little endian); returns its size. */
static int reg_bytes(const struct vcpu_state *s, int n, uint8_t *out)
{
    const struct cpu_state *r = &s->regs;
    static const int segs[6] = {SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS,
                                SEG_GS};
    uint32_t v;
    if (n >= 16 && n < 24) {
        memcpy(out, s->fxsave + 32 + 16 * (n - 16), 10);
        return 10;
    }
    if (n < 8)
        v = (uint32_t)r->gpr[n];
    else if (n == 8)
        v = (uint32_t)r->rip;
    else if (n == 9)
        v = (uint32_t)r->rflags;
    else if (n < 16)
        v = r->seg[segs[n - 10]].sel;
    else if (n == 24)
        v = fx16(s->fxsave, 0);
    else if (n == 25)
        v = fx16(s->fxsave, 2);
    else if (n == 26) { /* full tag word from the abridged one */
        v = 0;
        for (int k = 0; k < 8; k++)
            v |= (s->fxsave[4] >> k & 1 ? 0u : 3u) << (2 * k);
    } else if (n == 27)
        v = fx16(s->fxsave, 12);
    else if (n == 28)
        v = fx32(s->fxsave, 8);
    else if (n == 29)
        v = fx16(s->fxsave, 20);
    else if (n == 30)
        v = fx32(s->fxsave, 16);
    else
        v = fx16(s->fxsave, 6) & 0x7ff;
    memcpy(out, &v, 4);
    return 4;
}

/* Write register n (GPRs, EIP, EFLAGS only; the rest is ignored). */
static void reg_set(struct vcpu_state *s, int n, const uint8_t *in)
{
    uint32_t v;
    memcpy(&v, in, 4);
    if (n < 8)
        s->regs.gpr[n] = v;
    else if (n == 8)
        s->regs.rip = v;
    else if (n == 9)
        s->regs.rflags = v;
}

static int reg_size(int n)
{
    return n >= 16 && n < 24 ? 10 : 4;
}

static void to_hex(char *out, const uint8_t *in, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        out[2 * k] = hexd[in[k] >> 4];
        out[2 * k + 1] = hexd[in[k] & 15];
    }
    out[2 * n] = 0;
}

static bool from_hex(uint8_t *out, const char *in, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int h = hexval(in[2 * k]), l = h < 0 ? -1 : hexval(in[2 * k + 1]);
        if (l < 0)
            return false;
        out[k] = (uint8_t)(h << 4 | l);
    }
    return true;
}

/* ---- memory ---- */

static int read_mem(struct gdbstub *g, const struct cpu_state *r,
                    uint64_t addr, uint8_t *buf, size_t len)
{
    size_t n = guest_lin_read(g->m, r, addr, buf, len);
    /* show the original bytes under our int3s */
    for (unsigned k = 0; k < g->nsw; k++)
        if (g->sw[k].lin >= addr && g->sw[k].lin < addr + n)
            buf[g->sw[k].lin - addr] = g->sw[k].orig;
    return (int)n;
}

static int write_mem(struct gdbstub *g, const struct cpu_state *r,
                     uint64_t addr, uint8_t *buf, size_t len)
{
    /* writes over our int3s update the saved byte; the int3 stays */
    for (unsigned k = 0; k < g->nsw; k++)
        if (g->sw[k].lin >= addr && g->sw[k].lin < addr + len) {
            g->sw[k].orig = buf[g->sw[k].lin - addr];
            buf[g->sw[k].lin - addr] = 0xcc;
        }
    size_t n = guest_lin_write(g->m, r, addr, buf, len);
    uint64_t pa;
    if (n && guest_lin_to_phys(g->m, r, addr, &pa))
        push_debug(g, false, pa, n);
    return n == len ? 0 : -1;
}

static int bp_insert(struct gdbstub *g, int type, uint64_t addr,
                     const struct cpu_state *r)
{
    if (type == 0) {
        for (unsigned k = 0; k < g->nsw; k++)
            if (g->sw[k].lin == addr)
                return 0;
        uint64_t pa;
        uint8_t *h;
        if (g->nsw == GUEST_DEBUG_MAX_SW ||
            !guest_lin_to_phys(g->m, r, addr, &pa) ||
            !(h = gpa_to_hva(g->m, pa, 1)))
            return -1;
        g->sw[g->nsw++] = (struct swbp){.lin = addr, .pa = pa, .orig = *h};
        *h = 0xcc;
        return push_debug(g, false, pa, 1);
    }
    if (type == 1) {
        for (unsigned k = 0; k < g->nhw; k++)
            if (g->hw[k] == addr)
                return 0;
        if (g->nhw == GUEST_DEBUG_MAX_HW)
            return -1;
        g->hw[g->nhw++] = addr;
        return push_debug(g, false, 0, 0);
    }
    return -2; /* unsupported type */
}

static int bp_remove(struct gdbstub *g, int type, uint64_t addr)
{
    if (type == 0) {
        for (unsigned k = 0; k < g->nsw; k++) {
            if (g->sw[k].lin != addr)
                continue;
            uint8_t *h = gpa_to_hva(g->m, g->sw[k].pa, 1);
            if (h && *h == 0xcc)
                *h = g->sw[k].orig;
            uint64_t pa = g->sw[k].pa;
            g->sw[k] = g->sw[--g->nsw];
            return push_debug(g, false, pa, 1);
        }
        return 0;
    }
    if (type == 1) {
        for (unsigned k = 0; k < g->nhw; k++)
            if (g->hw[k] == addr) {
                g->hw[k] = g->hw[--g->nhw];
                break;
            }
        return push_debug(g, false, 0, 0);
    }
    return -2;
}

static void remove_all(struct gdbstub *g)
{
    while (g->nsw)
        bp_remove(g, 0, g->sw[0].lin);
    g->nhw = 0;
    push_debug(g, false, 0, 0);
}

/* ---- running ---- */

/* Resume (step or continue) and wait for the next stop or the end;
 * sends the stop reply.  Returns false if the session is over. */
static bool resume(struct gdbstub *g, bool step)
{
    struct machine *m = g->m;
    control_set_stepping(m, step);
    if (push_debug(g, step, 0, 0) < 0 && step) {
        send_pkt(g, "E01");
        control_set_stepping(m, false);
        return true;
    }
    unsigned seq0, seq;
    enum control_stop_why why;
    control_paused(m, &seq0, NULL);
    control_cont(m);
    for (;;) {
        int st;
        if (atomic_load(&g->finish) || control_ended(m, &st)) {
            /* wait for control_finish to give the status */
            while (!atomic_load(&g->finish))
                usleep(10000);
            char b[8];
            snprintf(b, sizeof(b), "W%02x", atomic_load(&g->end_status) & 0xff);
            send_pkt(g, b);
            return false;
        }
        if (control_paused(m, &seq, &why) && seq != seq0)
            break;
        char pkt[64];
        int n = get_pkt(g, pkt, sizeof(pkt), 20);
        if (n == -1)
            return false;
        if (n == -3)
            control_stop(m, STOP_USER);
    }
    control_set_stepping(m, false);
    send_pkt(g, why == STOP_DEBUG ? "T05thread:01;" : "T02thread:01;");
    return true;
}

/* ---- the packet loop ---- */

static void handle(struct gdbstub *g, char *p, bool *done)
{
    struct vcpu_state *s = aligned_alloc(16, sizeof(*s));
    char *out = malloc(PKT_MAX * 2 + 16);
    if (!s || !out) {
        free(s);
        free(out);
        *done = true;
        return;
    }
    out[0] = 0;
    bool need_state = strchr("gGpPmMZzX", p[0]) != NULL;
    if (need_state && vcpu_state(g, s, false) < 0) {
        send_pkt(g, "E01");
        goto out;
    }
    switch (p[0]) {
    case '?':
        strcpy(out, "T05thread:01;");
        break;
    case 'q':
        if (!strncmp(p, "qSupported", 10))
            snprintf(out, PKT_MAX, "PacketSize=%x;qXfer:features:read+",
                     PKT_MAX);
        else if (!strcmp(p, "qAttached"))
            strcpy(out, "1");
        else if (!strcmp(p, "qC"))
            strcpy(out, "QC01");
        else if (!strcmp(p, "qfThreadInfo"))
            strcpy(out, "m01");
        else if (!strcmp(p, "qsThreadInfo"))
            strcpy(out, "l");
        else if (!strncmp(p, "qXfer:features:read:target.xml:", 31)) {
            unsigned long off = 0, len = 0;
            sscanf(p + 31, "%lx,%lx", &off, &len);
            size_t tl = sizeof(target_xml) - 1;
            if (len > PKT_MAX - 8)
                len = PKT_MAX - 8;
            if (off >= tl)
                strcpy(out, "l");
            else {
                size_t n = tl - off < len ? tl - off : len;
                out[0] = off + n >= tl ? 'l' : 'm';
                memcpy(out + 1, target_xml + off, n);
                out[1 + n] = 0;
            }
        }
        break;
    case 'H':
    case 'T':
        strcpy(out, "OK");
        break;
    case 'g': {
        char *o = out;
        for (int n = 0; n < NREGS; n++) {
            uint8_t b[10];
            int sz = reg_bytes(s, n, b);
            to_hex(o, b, (size_t)sz);
            o += 2 * sz;
        }
        break;
    }
    case 'G': {
        const char *q = p + 1;
        for (int n = 0; n < 10 && strlen(q) >= 8; n++, q += 8) {
            uint8_t b[4];
            if (from_hex(b, q, 4))
                reg_set(s, n, b);
        }
        strcpy(out, vcpu_state(g, s, true) == 0 ? "OK" : "E01");
        break;
    }
    case 'p': {
        int n = (int)strtol(p + 1, NULL, 16);
        uint8_t b[10];
        if (n < 0 || n >= NREGS) {
            strcpy(out, "E01");
            break;
        }
        to_hex(out, b, (size_t)reg_bytes(s, n, b));
        break;
    }
    case 'P': {
        char *eq;
        int n = (int)strtol(p + 1, &eq, 16);
        uint8_t b[10];
        if (*eq != '=' || n < 0 || n >= NREGS ||
            strlen(eq + 1) < 2 * (size_t)reg_size(n) ||
            !from_hex(b, eq + 1, (size_t)reg_size(n))) {
            strcpy(out, "E01");
            break;
        }
        if (n < 10) {
            reg_set(s, n, b);
            strcpy(out, vcpu_state(g, s, true) == 0 ? "OK" : "E01");
        } else {
            strcpy(out, "OK"); /* segment and x87 writes are ignored */
        }
        break;
    }
    case 'm': {
        unsigned long long a, l;
        if (sscanf(p + 1, "%llx,%llx", &a, &l) != 2) {
            strcpy(out, "E01");
            break;
        }
        if (l > PKT_MAX / 2 - 8)
            l = PKT_MAX / 2 - 8;
        uint8_t buf[PKT_MAX / 2];
        int n = read_mem(g, &s->regs, a, buf, l);
        if (n <= 0)
            strcpy(out, "E14");
        else
            to_hex(out, buf, (size_t)n);
        break;
    }
    case 'M': {
        unsigned long long a, l;
        char *colon = strchr(p, ':');
        uint8_t buf[PKT_MAX / 2];
        if (sscanf(p + 1, "%llx,%llx", &a, &l) != 2 || !colon ||
            l > sizeof(buf) || strlen(colon + 1) < 2 * l ||
            !from_hex(buf, colon + 1, l)) {
            strcpy(out, "E01");
            break;
        }
        strcpy(out, write_mem(g, &s->regs, a, buf, l) == 0 ? "OK" : "E14");
        break;
    }
    case 'Z':
    case 'z': {
        int type;
        unsigned long long a;
        int kind;
        if (sscanf(p + 1, "%d,%llx,%x", &type, &a, &kind) != 3) {
            strcpy(out, "E01");
            break;
        }
        int rc = p[0] == 'Z' ? bp_insert(g, type, a, &s->regs)
                             : bp_remove(g, type, a);
        if (rc == -2)
            out[0] = 0; /* watchpoints: not supported */
        else
            strcpy(out, rc == 0 ? "OK" : "E01");
        break;
    }
    case 'c':
    case 's':
        free(s);
        free(out);
        if (!resume(g, p[0] == 's'))
            *done = true;
        return;
    case 'v':
        if (!strcmp(p, "vCont?")) {
            strcpy(out, "vCont;c;C;s;S");
        } else if (!strncmp(p, "vCont;", 6)) {
            char a = p[6];
            free(s);
            free(out);
            if (!resume(g, a == 's' || a == 'S'))
                *done = true;
            return;
        }
        break;
    case 'k':
        machine_request_stop(g->m, ST_USER_QUIT, "killed from gdb");
        control_cont(g->m);
        *done = true;
        goto out;
    case 'D':
        remove_all(g);
        send_pkt(g, "OK");
        control_cont(g->m);
        *done = true;
        goto out;
    default:
        break; /* unsupported: empty reply */
    }
    send_pkt(g, out);
out:
    free(s);
    free(out);
}

static void serve(struct gdbstub *g)
{
    g->rlen = g->rpos = 0;
    g->nsw = g->nhw = 0;
    /* gdb expects a stopped target when it attaches */
    control_stop(g->m, STOP_USER);
    char *pkt = malloc(PKT_MAX * 2);
    if (!pkt)
        return;
    bool done = false;
    while (!done && !atomic_load(&g->finish)) {
        int n = get_pkt(g, pkt, PKT_MAX * 2, 100);
        if (n == -1)
            break;
        if (n < 0) {
            int st;
            if (control_ended(g->m, &st) && atomic_load(&g->finish))
                break;
            continue;
        }
        handle(g, pkt, &done);
    }
    free(pkt);
    if (!atomic_load(&g->finish) && !control_ended(g->m, NULL)) {
        /* client gone: leave the guest running, without our breakpoints */
        remove_all(g);
        control_cont(g->m);
    }
}

static void *gdb_thread(void *arg)
{
    struct gdbstub *g = arg;
    while (!atomic_load(&g->finish)) {
        struct pollfd p = {.fd = g->lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        g->fd = accept(g->lfd, NULL, NULL);
        if (g->fd < 0)
            continue;
        int one = 1;
        setsockopt(g->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        serve(g);
        close(g->fd);
        g->fd = -1;
    }
    return NULL;
}

struct gdbstub *gdbstub_start(struct machine *m, const char *spec)
{
    /* tcp::PORT or tcp:ADDR:PORT */
    if (strncmp(spec, "tcp:", 4) != 0 || !strchr(spec + 4, ':')) {
        fail("bad --gdb '%s' (want tcp::PORT or tcp:ADDR:PORT)", spec);
        return NULL;
    }
    char host[256];
    const char *colon = strrchr(spec, ':');
    size_t hl = (size_t)(colon - (spec + 4));
    if (hl >= sizeof(host)) {
        fail("bad --gdb address");
        return NULL;
    }
    memcpy(host, spec + 4, hl);
    host[hl] = 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *ai;
    int e = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &ai);
    if (e) {
        fail("--gdb %s: %s", spec, gai_strerror(e));
        return NULL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        listen(fd, 1) < 0) {
        fail("--gdb %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return NULL;
    }
    freeaddrinfo(ai);
    struct gdbstub *g = calloc(1, sizeof(*g));
    if (!g) {
        close(fd);
        fail("out of memory");
        return NULL;
    }
    g->m = m;
    g->lfd = fd;
    g->fd = -1;
    if (control_thread_create(&g->thread, gdb_thread, g) != 0) {
        close(fd);
        free(g);
        fail("cannot start the gdb thread");
        return NULL;
    }
    if (!m->cfg.quiet)
        warnx_("gdb stub listening on %s", spec);
    return g;
}

void gdbstub_finish(struct gdbstub *g, int status)
{
    atomic_store(&g->end_status, status);
    atomic_store(&g->finish, true);
    pthread_join(g->thread, NULL);
    close(g->lfd);
    free(g);
}
