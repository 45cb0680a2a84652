/* signals.c - host signals of the bt engine, on a sigaltstack (in
 * translated code RSP is the guest's ESP).
 *   SIGSEGV/SIGBUS/SIGFPE with RIP inside a fragment: a guest fault.  The
 *   handler maps RIP back to the guest instruction, saves the guest
 *   registers and flags from the ucontext into bt_ctx, records the fault
 *   and resumes at the "restore" stub, so bt_enter() returns
 *   BT_EXIT_FAULT with precise state.
 *   SIGSEGV from C code (the interpreter) writing a write-protected code
 *   page of the window: unprotect it, note that translations are stale,
 *   and retry the write.
 *   Anything else is a real crash: the previous handler is restored and the
 *   fault happens again.
 * Translated code runs with host RSP = the guest's ESP, so every signal
 * that can arrive while it runs must be handled on the alternate stack:
 * a handler without SA_ONSTACK would get its frame written at a guest-
 * chosen address (or, when that is not mapped, the kernel forces a
 * SIGSEGV, which used to end the run as "faulted outside the guest
 * window": the fuzz harness's SIGALRM, tests/fuzz/regress/README.md).
 * bt_signals_install moves every handler already installed to the
 * alternate stack; handlers installed later must ask for it. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "../../core/util.h"
#include "bt.h"

#define ALTSTACK_SIZE (256 * 1024)

static struct bt *volatile sig_bt; /* the engine instance (one vCPU) */
static struct sigaction old_segv, old_bus, old_fpe;
static _Thread_local void *thread_altstack;

static void reraise(int sig)
{
    const struct sigaction *o = sig == SIGSEGV ? &old_segv
                                : sig == SIGBUS ? &old_bus : &old_fpe;
    sigaction(sig, o, NULL); /* the fault repeats under the old handler */
}

static bool fault_in_tc(struct bt *b, int sig, siginfo_t *si, ucontext_t *uc)
{
    greg_t *g = uc->uc_mcontext.gregs;
    uintptr_t rip = (uintptr_t)g[REG_RIP];
    uintptr_t tc = (uintptr_t)b->tc;
    if (rip < tc + b->stubs_end || rip >= tc + b->tc_used)
        return false;
    struct bt_frag *f = bt_tc_find_host(b, (uint32_t)(rip - tc));
    if (!f || f->ninsn == 0)
        return false;
    uint32_t off = (uint32_t)(rip - tc) - f->tc_start;
    if (off < f->host_off[0])
        return false;
    int n = 0;
    while (n + 1 < f->ninsn && f->host_off[n + 1] <= off)
        n++;
    struct bt_ctx *x = b->ctx;
    static const int regs[8] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX,
                                REG_RSP, REG_RBP, REG_RSI, REG_RDI};
    for (int r = 0; r < 8; r++)
        x->gpr[r] = (uint32_t)g[regs[r]];
    x->rflags = (uint64_t)g[REG_EFL];
    x->next_eip = f->eip + f->eip_off[n];
    x->fault_frag = (uint32_t)(f - b->frags);
    x->exit_code = BT_EXIT_FAULT;
    x->chain_from = 0;
    x->fault_sig = sig;
    x->fault_write = sig == SIGSEGV && (g[REG_ERR] & 2);
    uintptr_t a = (uintptr_t)si->si_addr;
    x->fault_addr = ~0ull;
    x->fault_view = VIEW_PHYS;
    for (int v = 0; v < NR_VIEWS && sig != SIGFPE; v++) {
        uintptr_t w = (uintptr_t)b->view[v];
        if (a >= w && a < w + BT_WINDOW_SIZE + BT_WINDOW_GUARD) {
            x->fault_addr = a - w;
            x->fault_view = v;
        }
    }
    g[REG_RIP] = (greg_t)(tc + b->off_restore);
    g[REG_EFL] &= ~(greg_t)(FLAG_DF | FLAG_TF | FLAG_AC);
    return true;
}

static bool fault_traced_write(struct bt *b, siginfo_t *si)
{
    uintptr_t a = (uintptr_t)si->si_addr, w = (uintptr_t)b->window;
    if (a < w || a >= w + b->ram_size)
        return false;
    uint32_t pfn = (uint32_t)((a - w) >> 12);
    bool pt = b->pt_role && b->pt_role[pfn] == 1;
    bool code = b->traced[pfn] == 1;
    if (!code && !pt)
        return false;
    if (mprotect(b->window + ((uint64_t)pfn << 12), 4096,
                 PROT_READ | PROT_WRITE) != 0) {
        /* out of host mappings: all of RAM writable, everything traced
         * flushed before translated code runs again */
        b->st.host_call_failures++;
        bt_unprotect_all(b);
        return true;
    }
    if (code) {
        /* its fragments are killed by the engine before code runs again */
        b->traced[pfn] = 2;
        uint32_t n = b->ncode_written;
        if (n < BT_PTW_MAX) {
            b->code_written[n] = pfn;
            b->ncode_written = n + 1;
        } else {
            atomic_store(&b->code_dirty, true);
        }
        b->st.smc_traps_c++;
    }
    if (pt) {
        /* processed (shadows of its range dropped, page re-protected) by
         * bt_shadow_sync before translated code runs again */
        b->pt_role[pfn] = 2;
        uint32_t n = b->npt_written;
        if (n < BT_PTW_MAX) {
            b->pt_written[n] = pfn;
            b->pt_written_pa[n] = (uint32_t)(a - w);
            memcpy(&b->pt_written_old[n], b->ram_alias + ((a - w) & ~3ul), 4);
            b->npt_written = n + 1;
        } else {
            atomic_store(&b->pt_dirty, true);
        }
    }
    return true;
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
    int saved_errno = errno;
    struct bt *b = sig_bt;
    ucontext_t *uc = ucv;
    if (b && b->tc && fault_in_tc(b, sig, si, uc)) {
        errno = saved_errno;
        return;
    }
    if (b && sig == SIGSEGV && fault_traced_write(b, si)) {
        errno = saved_errno;
        return;
    }
    reraise(sig);
    errno = saved_errno;
}

int bt_signals_thread_init(void)
{
    if (thread_altstack)
        return 0;
    void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return fail("bt: sigaltstack: %s", strerror(errno));
    stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) < 0) {
        munmap(p, ALTSTACK_SIZE);
        return fail("bt: sigaltstack: %s", strerror(errno));
    }
    thread_altstack = p;
    return 0;
}

/* Every installed handler runs on the alternate stack (see the top). */
static void handlers_onstack(void)
{
    for (int s = 1; s < NSIG; s++) {
        struct sigaction o;
        if (s == SIGKILL || s == SIGSTOP || sigaction(s, NULL, &o) < 0)
            continue;
        if (o.sa_handler == SIG_DFL || o.sa_handler == SIG_IGN ||
            (o.sa_flags & SA_ONSTACK))
            continue;
        o.sa_flags |= SA_ONSTACK;
        sigaction(s, &o, NULL);
    }
}

int bt_signals_install(struct bt *b)
{
    if (sig_bt)
        return fail("bt: only one bt vCPU per process");
    handlers_onstack();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &old_segv) < 0 ||
        sigaction(SIGBUS, &sa, &old_bus) < 0 ||
        sigaction(SIGFPE, &sa, &old_fpe) < 0)
        return fail("bt: sigaction: %s", strerror(errno));
    sig_bt = b;
    return 0;
}

void bt_signals_remove(struct bt *b)
{
    if (sig_bt != b)
        return;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    sigaction(SIGFPE, &old_fpe, NULL);
    sig_bt = NULL;
}
