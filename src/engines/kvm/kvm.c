/* kvm.c - popek's hardware-assisted engine on Linux KVM: the VM and vCPU
 * lifecycle (usable/create/map_ram/vcpu_create/destroy), one KVM_RUN per
 * run() call, dispatch of the exit to the machine's device model (port I/O,
 * MMIO) or back to the run loop (hlt, interrupt window, shutdown, kick), and
 * interrupt injection.  There is no in-kernel irqchip: popek's own local
 * APIC, I/O APIC and PIC (src/devices) decide when and what to inject
 * (KVM_INTERRUPT with the vector the local APIC's INTA returns), and the
 * APIC pages are ordinary MMIO exits to those devices.  Why not KVM's
 * in-kernel LAPIC/IOAPIC: kvm_pvm (the backend this host family offers)
 * has no usable in-kernel irqchip, and one interrupt controller model for
 * all engines keeps guests seeing the same PC on kvm, interp and bt (the
 * APIC tests compare console output byte for byte).  KVM itself serves
 * IA32_APIC_BASE (set to the BIOS value at vCPU creation) and the TSC,
 * so the TSC-deadline timer is not offered on kvm (kvm_cpuid.c); this
 * path is untested where /dev/kvm is missing.  The register file lives in
 * kvm_state.c, CPUID in kvm_cpuid.c, kicks in kvm_kick.c, counters and
 * --stats output in kvm_stats.c, and kvm_assist.c finishes the IRET/INT n
 * instructions that KVM's own emulator refuses on some backends. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../core/machine.h"
#include "kvm_priv.h"

/* Where the VMX backend wants its real-mode TSS (3 pages) and EPT identity
 * map page: just below the BIOS area at the top of the 4 GiB space, as in
 * QEMU; popek's RAM ends at 3 GiB at most. */
#define KVM_TSS_ADDR 0xfffbd000ul
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

static int kvm_ioctl_retry(int fd, unsigned long req, unsigned long arg)
{
    int r;
    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    return r;
}

/* Open /dev/kvm and check the API version and the capabilities popek
 * relies on.  Returns the fd or -1 with a reason in why. */
static int kvm_open_checked(char *why, size_t n)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, n, "cannot open /dev/kvm: %s", strerror(errno));
        return -1;
    }
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (v != KVM_API_VERSION) {
        snprintf(why, n, "/dev/kvm has API version %d, popek needs %d", v,
                 KVM_API_VERSION);
        close(fd);
        return -1;
    }
    static const struct {
        int cap;
        const char *name;
    } needed[] = {
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(needed); i++) {
        if (ioctl(fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
            snprintf(why, n, "KVM lacks the capability %s", needed[i].name);
            close(fd);
            return -1;
        }
    }
    if (ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0) <= 0) {
        snprintf(why, n, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static bool kvm_usable(char *why, size_t n)
{
    int fd = kvm_open_checked(why, n);
    if (fd < 0)
        return false;
    int vm = kvm_ioctl_retry(fd, KVM_CREATE_VM, 0);
    if (vm < 0) {
        snprintf(why, n, "KVM_CREATE_VM failed: %s", strerror(errno));
        close(fd);
        return false;
    }
    close(vm);
    close(fd);
    return true;
}

static void kvm_destroy(struct machine *m)
{
    struct kvm_engine *k = KVM_OF(m);
    if (!k)
        return;
    free(k->icpu);
    if (k->run)
        munmap(k->run, k->run_size);
    if (k->vcpu_fd >= 0)
        close(k->vcpu_fd);
    if (k->vm_fd >= 0)
        close(k->vm_fd);
    if (k->sys_fd >= 0)
        close(k->sys_fd);
    /* A kick that came after the last KVM_RUN must not hit a later VM. */
    if (atomic_load(&k->have_thread) &&
        pthread_equal(k->vcpu_thread, pthread_self()))
        kvm_kick_drain();
    free(k);
    m->engine = NULL;
}

static int kvm_create(struct machine *m)
{
    struct kvm_engine *k = calloc(1, sizeof(*k));
    if (!k)
        return fail("out of memory");
    k->sys_fd = k->vm_fd = k->vcpu_fd = -1;
    m->engine = k;
    const char *trace = getenv("POPEK_KVM_TRACE");
    if (trace && *trace && strcmp(trace, "0") != 0)
        log_enable(PLOG_EXEC | PLOG_INT | PLOG_IO);
    k->trace = log_enabled(PLOG_EXEC | PLOG_INT | PLOG_IO);
    char why[256];
    k->sys_fd = kvm_open_checked(why, sizeof(why));
    if (k->sys_fd < 0)
        return fail("%s", why);
    k->vm_fd = kvm_ioctl_retry(k->sys_fd, KVM_CREATE_VM, 0);
    if (k->vm_fd < 0)
        return fail("KVM_CREATE_VM: %s", strerror(errno));
    /* Emulation failures at CPL 3 would become a #UD in the guest; have
     * them come to us too, so that kvm_assist.c can finish INT n/IRET. */
    if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION,
              KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0) {
        struct kvm_enable_cap cap = {
            .cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE, .args = {1}};
        if (ioctl(k->vm_fd, KVM_ENABLE_CAP, &cap) == 0)
            k->exit_on_emul_failure = true;
    }
    /* Only the VMX backend needs these; others may refuse them. */
    if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0)
        (void)ioctl(k->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR);
    if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) >
        0) {
        uint64_t addr = KVM_IDENTITY_MAP_ADDR;
        (void)ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr);
    }
    return 0;
}

static int kvm_map_ram(struct machine *m, uint64_t gpa, uint64_t size,
                       void *hva, int fd, uint64_t fd_off)
{
    (void)fd;
    (void)fd_off;
    struct kvm_engine *k = KVM_OF(m);
    if ((gpa | size | (uintptr_t)hva) & 0xfff)
        return fail("kvm: RAM at %#llx size %#llx is not page aligned",
                    (unsigned long long)gpa, (unsigned long long)size);
    struct kvm_userspace_memory_region r = {
        .slot = k->next_slot,
        .flags = 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)hva,
    };
    if (kvm_ioctl_retry(k->vm_fd, KVM_SET_USER_MEMORY_REGION,
                        (unsigned long)&r) < 0)
        return fail("KVM_SET_USER_MEMORY_REGION (slot %u, gpa %#llx, %llu "
                    "bytes): %s", r.slot, (unsigned long long)gpa,
                    (unsigned long long)size, strerror(errno));
    k->next_slot++;
    return 0;
}

static int kvm_vcpu_create(struct machine *m)
{
    struct kvm_engine *k = KVM_OF(m);
    k->vcpu_fd = kvm_ioctl_retry(k->vm_fd, KVM_CREATE_VCPU, 0);
    if (k->vcpu_fd < 0)
        return fail("KVM_CREATE_VCPU: %s", strerror(errno));
    int sz = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz < (int)sizeof(struct kvm_run))
        return fail("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
    k->run_size = (size_t)sz;
    void *p = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   k->vcpu_fd, 0);
    if (p == MAP_FAILED)
        return fail("cannot map the kvm_run area: %s", strerror(errno));
    k->run = p;
    unsigned want = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
    int sync = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
    if (sync > 0 && ((unsigned)sync & want) == want) {
        k->sync_regs = true;
        k->run->kvm_valid_regs = want;
    }
    /* See kvm_debug.c: only kvm_pvm turns user-mode INT n into #UD and
     * ignores request_interrupt_window. */
    bool pvm = strcmp(kvm_backend_name(), "pvm") == 0 &&
               ioctl(k->sys_fd, KVM_CHECK_EXTENSION,
                     KVM_CAP_SET_GUEST_DEBUG) > 0;
    k->ud_trap = pvm;
    k->window_step = pvm;
    k->step_budget = WINDOW_STEP_BUDGET;
    if (kvm_setup_cpuid(k) < 0)
        return -1;
    /* IA32_APIC_BASE as a PC BIOS leaves it: 0xfee00000, BSP, enabled
     * (without an in-kernel LAPIC KVM only stores the value; popek's own
     * local APIC answers at that address). */
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[1];
    } apic_base = {.hdr = {.nmsrs = 1},
                   .e = {{.index = 0x1b, .data = 0xfee00900u}}};
    if (ioctl(k->vcpu_fd, KVM_SET_MSRS, &apic_base) != 1 && k->trace)
        fprintf(stderr, "kvm: cannot set IA32_APIC_BASE: %s\n",
                strerror(errno));
    return kvm_kick_init(k);
}

static uint64_t guest_rip(struct kvm_engine *k)
{
    struct kvm_regs r;
    struct kvm_sregs sr;
    if (kvm_fetch_regs(k, &r, &sr) < 0)
        return ~0ull;
    return r.rip;
}

/* kvm_pvm cannot run 32-bit paging: a guest turning it on gets #GP and,
 * early in boot, a triple fault whose reported RIP is not even precise.
 * Say so when a 32-bit unpaged guest shuts down there. */
static void explain_shutdown(struct kvm_engine *k, struct vm_exit *ex)
{
    struct kvm_regs r;
    struct kvm_sregs sr;
    if (strcmp(kvm_backend_name(), "pvm") != 0 ||
        kvm_fetch_regs(k, &r, &sr) < 0)
        return;
    if (!(sr.cr0 & CR0_PE) || (sr.cr0 & CR0_PG) || (sr.efer & EFER_LME))
        return;
    size_t n = strlen(ex->msg);
    snprintf(ex->msg + n, sizeof(ex->msg) - n,
             " (RIP may be imprecise on kvm_pvm; note that this host's KVM "
             "refuses 32-bit paging: turning it on raises #GP)");
}

/* For `popek engines`: the backend, and the limit the pvm backend has
 * (test_kvm asserts it: CR0.PG outside long mode raises #GP there). */
static void kvm_describe(char *buf, size_t n)
{
    const char *b = kvm_backend_name();
    snprintf(buf, n, "backend=%s%s", b,
             strcmp(b, "pvm") == 0 ? " limits=paging32" : "");
}

static void handle_io(struct machine *m, struct kvm_engine *k)
{
    struct kvm_run *run = k->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool out = run->io.direction == KVM_EXIT_IO_OUT;
    unsigned size = run->io.size;
    if (run->io.count > 1)
        k->string_io_ops++;
    for (uint32_t i = 0; i < run->io.count; i++)
        machine_pio(m, run->io.port, data + (size_t)i * size, size, out);
    if (k->trace)
        plog(PLOG_IO, "%s port %#x size %u count %u data %#x",
                out ? "out" : "in", run->io.port, size, run->io.count,
                io_get(data, size));
}

static void exit_failed(struct kvm_engine *k, struct vm_exit *ex)
{
    struct kvm_run *run = k->run;
    uint64_t rip = guest_rip(k);
    ex->reason = EXIT_FAILED;
    switch (run->exit_reason) {
    case KVM_EXIT_FAIL_ENTRY:
        snprintf(ex->msg, sizeof(ex->msg),
                 "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason %#llx "
                 "at rip %#llx",
                 (unsigned long long)
                     run->fail_entry.hardware_entry_failure_reason,
                 (unsigned long long)rip);
        break;
    case KVM_EXIT_INTERNAL_ERROR: {
        if (run->emulation_failure.suberror ==
                KVM_INTERNAL_ERROR_EMULATION &&
            run->emulation_failure.ndata >= 3 &&
            (run->emulation_failure.flags &
             KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
            int n = snprintf(ex->msg, sizeof(ex->msg),
                             "KVM cannot emulate the instruction at rip "
                             "%#llx (bytes", (unsigned long long)rip);
            unsigned len = run->emulation_failure.insn_size;
            for (unsigned i = 0; i < len && i < 8 && n > 0 &&
                                 (size_t)n < sizeof(ex->msg);
                 i++)
                n += snprintf(ex->msg + n, sizeof(ex->msg) - (size_t)n,
                              " %02x", run->emulation_failure.insn_bytes[i]);
            if (n > 0 && (size_t)n < sizeof(ex->msg))
                snprintf(ex->msg + n, sizeof(ex->msg) - (size_t)n, ")");
            break;
        }
        int n = snprintf(ex->msg, sizeof(ex->msg),
                         "KVM_EXIT_INTERNAL_ERROR: suberror %u at rip %#llx",
                         run->internal.suberror, (unsigned long long)rip);
        for (uint32_t i = 0; i < run->internal.ndata && i < 4 && n > 0 &&
                             (size_t)n < sizeof(ex->msg);
             i++)
            n += snprintf(ex->msg + n, sizeof(ex->msg) - (size_t)n,
                          "%s%#llx", i ? " " : " data ",
                          (unsigned long long)run->internal.data[i]);
        break;
    }
    case KVM_EXIT_UNKNOWN:
        snprintf(ex->msg, sizeof(ex->msg),
                 "KVM_EXIT_UNKNOWN: hardware exit reason %#llx at rip %#llx",
                 (unsigned long long)run->hw.hardware_exit_reason,
                 (unsigned long long)rip);
        break;
    case KVM_EXIT_EXCEPTION:
        snprintf(ex->msg, sizeof(ex->msg),
                 "KVM_EXIT_EXCEPTION: exception %u error code %#x at rip "
                 "%#llx", run->ex.exception, run->ex.error_code,
                 (unsigned long long)rip);
        break;
    default:
        snprintf(ex->msg, sizeof(ex->msg),
                 "unexpected KVM exit reason %u (%s) at rip %#llx",
                 run->exit_reason,
                 kvm_exit_name(run->exit_reason < KVM_SLOT_OTHER
                                   ? run->exit_reason
                                   : KVM_SLOT_OTHER),
                 (unsigned long long)rip);
        break;
    }
}

static int kvm_run_once(struct machine *m, struct vm_exit *ex)
{
    struct kvm_engine *k = KVM_OF(m);
    struct kvm_run *run = k->run;
    if (!atomic_load(&k->have_thread) ||
        !pthread_equal(k->vcpu_thread, pthread_self()))
        return fail("kvm: run() must be called on the thread that created "
                    "the vCPU");
    if (kvm_debug_prepare(m) < 0)
        return -1;
    k->runs++;
    uint64_t t0 = clock_ns();
    int r = ioctl(k->vcpu_fd, KVM_RUN, 0);
    int err = errno;
    k->run_ns += clock_ns() - t0;
    /* Whatever the outcome, KVM applied our dirty registers (clearing
     * kvm_dirty_regs) and stored its own into run->s.regs. */
    k->sync_fresh = k->sync_regs;
    k->step_for_window = false; /* the run loop asks again if need be */
    k->assisted = false;
    /* IF=1: not inside the handler of an injected interrupt any more
     * (interrupt gates clear IF), whether or not its IRET came our way. */
    if (k->sync_fresh && (run->s.regs.regs.rflags & FLAG_IF))
        k->irq_depth = 0;
    if (r < 0) {
        if (err == EINTR || err == EAGAIN) {
            k->exits[KVM_SLOT_SIGNAL]++;
            kvm_kick_drain();
            ex->reason = EXIT_KICK;
            return 0;
        }
        return fail("KVM_RUN: %s", strerror(err));
    }
    unsigned reason = run->exit_reason;
    k->exits[reason < KVM_SLOT_OTHER ? reason : KVM_SLOT_OTHER]++;
    if (k->trace)
        plog(PLOG_EXEC, "exit %s rip %#llx if %d ready %d step %d",
                kvm_exit_name(reason < KVM_SLOT_OTHER ? reason
                                                      : KVM_SLOT_OTHER),
                (unsigned long long)(k->sync_fresh ? run->s.regs.regs.rip
                                                   : 0),
                run->if_flag, run->ready_for_interrupt_injection,
                k->stepping);
    ex->reason = EXIT_NONE;
    switch (reason) {
    case KVM_EXIT_IO:
        handle_io(m, k);
        break;
    case KVM_EXIT_MMIO:
        if (run->mmio.len > sizeof(run->mmio.data)) {
            ex->reason = EXIT_FAILED;
            snprintf(ex->msg, sizeof(ex->msg), "MMIO access of %u bytes",
                     run->mmio.len);
            break;
        }
        machine_mmio(m, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
                     run->mmio.is_write);
        break;
    case KVM_EXIT_HLT:
        ex->reason = EXIT_HLT;
        break;
    case KVM_EXIT_HYPERCALL: { /* popek's hypercalls: kvm_pv.c */
        bool halt = false;
        if (kvm_pv_hypercall(m, k, &halt) < 0)
            return -1;
        if (halt)
            ex->reason = EXIT_HLT;
        break;
    }
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        /* The run loop asks again if the interrupt is still pending. */
        run->request_interrupt_window = 0;
        ex->reason = EXIT_IRQ_WINDOW;
        break;
    case KVM_EXIT_INTR:
        kvm_kick_drain();
        ex->reason = EXIT_KICK;
        break;
    case KVM_EXIT_SHUTDOWN:
        ex->reason = EXIT_SHUTDOWN;
        snprintf(ex->msg, sizeof(ex->msg),
                 "triple fault (KVM_EXIT_SHUTDOWN) at rip %#llx",
                 (unsigned long long)guest_rip(k));
        explain_shutdown(k, ex);
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
            int rc = kvm_assist(m, ex);
            if (rc < 0)
                return -1;
            if (rc > 0)
                break;
        }
        exit_failed(k, ex);
        break;
    case KVM_EXIT_DEBUG: {
        int rc = kvm_debug_exit(m, ex);
        if (rc < 0)
            return -1;
        if (rc == 0)
            exit_failed(k, ex);
        break;
    }
    case KVM_EXIT_SYSTEM_EVENT:
        ex->reason = EXIT_SHUTDOWN;
        snprintf(ex->msg, sizeof(ex->msg),
                 "KVM_EXIT_SYSTEM_EVENT type %u at rip %#llx",
                 run->system_event.type, (unsigned long long)guest_rip(k));
        break;
    default:
        exit_failed(k, ex);
        break;
    }
    return 0;
}

static bool kvm_irq_window_open(struct machine *m)
{
    struct kvm_engine *k = KVM_OF(m);
    struct kvm_run *run = k->run;
    /* After an assisted IRET the flags in kvm_run are stale; the vCPU is at
     * an instruction boundary without an interrupt shadow. */
    bool open = k->assisted && k->sync_fresh
                    ? (run->s.regs.regs.rflags & FLAG_IF) != 0
                    : run->ready_for_interrupt_injection && run->if_flag;
    if (open) {
        run->request_interrupt_window = 0;
        return true;
    }
    run->request_interrupt_window = 1;
    if (k->window_step && k->irq_depth == 0 && k->step_budget > 0)
        k->step_for_window = true;
    return false;
}

static void kvm_inject_irq(struct machine *m, uint8_t vector)
{
    struct kvm_engine *k = KVM_OF(m);
    if (k->trace)
        plog(PLOG_INT, "inject vector %#x", vector);
    struct kvm_interrupt irq = {.irq = vector};
    if (kvm_ioctl_retry(k->vcpu_fd, KVM_INTERRUPT, (unsigned long)&irq) < 0) {
        warnx_("kvm: KVM_INTERRUPT vector %u: %s", vector, strerror(errno));
        return;
    }
    k->irq_depth++;
    k->step_budget = WINDOW_STEP_BUDGET;
}

const struct engine_ops engine_kvm_ops = {
    .name = "kvm",
    .description = "hardware-assisted VMM on Linux KVM",
    .caps = ENGINE_CAP_LONG_MODE,
    .usable = kvm_usable,
    .describe = kvm_describe,
    .create = kvm_create,
    .map_ram = kvm_map_ram,
    .vcpu_create = kvm_vcpu_create,
    .run = kvm_run_once,
    .get_state = kvm_get_state,
    .set_state = kvm_set_state,
    .irq_window_open = kvm_irq_window_open,
    .inject_irq = kvm_inject_irq,
    .kick = kvm_kick,
    .get_vcpu_state = kvm_get_vcpu_state,
    .set_vcpu_state = kvm_set_vcpu_state,
    .set_guest_debug = kvm_set_guest_debug,
    .write_stats = kvm_write_stats,
    .destroy = kvm_destroy,
};
