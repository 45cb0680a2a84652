/* kvm_stats.c - the kvm engine's statistics for --stats: which KVM backend
 * the host runs (vmx, svm or pvm), exits counted by KVM exit reason (plus
 * "signal" for KVM_RUN calls cut short by a kick), KVM_RUN calls and the
 * time spent inside them. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../core/machine.h"
#include "kvm_priv.h"

/* Names of the KVM_EXIT_* reasons of <linux/kvm.h>, lower case. */
static const char *const exit_names[] = {
    [KVM_EXIT_UNKNOWN] = "unknown",
    [KVM_EXIT_EXCEPTION] = "exception",
    [KVM_EXIT_IO] = "io",
    [KVM_EXIT_HYPERCALL] = "hypercall",
    [KVM_EXIT_DEBUG] = "debug",
    [KVM_EXIT_HLT] = "hlt",
    [KVM_EXIT_MMIO] = "mmio",
    [KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
    [KVM_EXIT_SHUTDOWN] = "shutdown",
    [KVM_EXIT_FAIL_ENTRY] = "fail_entry",
    [KVM_EXIT_INTR] = "intr",
    [KVM_EXIT_SET_TPR] = "set_tpr",
    [KVM_EXIT_TPR_ACCESS] = "tpr_access",
    [KVM_EXIT_NMI] = "nmi",
    [KVM_EXIT_INTERNAL_ERROR] = "internal_error",
    [KVM_EXIT_OSI] = "osi",
    [KVM_EXIT_WATCHDOG] = "watchdog",
    [KVM_EXIT_EPR] = "epr",
    [KVM_EXIT_SYSTEM_EVENT] = "system_event",
    [KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
    [KVM_EXIT_HYPERV] = "hyperv",
    [KVM_EXIT_X86_RDMSR] = "x86_rdmsr",
    [KVM_EXIT_X86_WRMSR] = "x86_wrmsr",
    [KVM_EXIT_DIRTY_RING_FULL] = "dirty_ring_full",
    [KVM_EXIT_X86_BUS_LOCK] = "x86_bus_lock",
    [KVM_EXIT_NOTIFY] = "notify",
};

const char *kvm_exit_name(unsigned slot)
{
    if (slot == KVM_SLOT_SIGNAL)
        return "signal";
    if (slot == KVM_SLOT_OTHER)
        return "other";
    if (slot < ARRAY_SIZE(exit_names) && exit_names[slot])
        return exit_names[slot];
    return NULL;
}

static const char *backend_probe(void);

/* Cached: popek's sandbox forbids file lookups once the guest runs, and
 * --stats asks again at the end (the first call is before the sandbox). */
const char *kvm_backend_name(void)
{
    static const char *cached;
    if (!cached)
        cached = backend_probe();
    return cached;
}

static const char *backend_probe(void)
{
    if (access("/sys/module/kvm_intel", F_OK) == 0)
        return "vmx";
    if (access("/sys/module/kvm_amd", F_OK) == 0)
        return "svm";
    if (access("/sys/module/kvm_pvm", F_OK) == 0)
        return "pvm";
    FILE *f = fopen("/proc/modules", "r");
    if (!f)
        return "unknown";
    const char *found = "unknown";
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "kvm_intel ", 10))
            found = "vmx";
        else if (!strncmp(line, "kvm_amd ", 8))
            found = "svm";
        else if (!strncmp(line, "kvm_pvm ", 8))
            found = "pvm";
    }
    fclose(f);
    return found;
}

void kvm_write_stats(struct machine *m, struct json *j)
{
    struct kvm_engine *k = KVM_OF(m);
    json_str(j, "backend", kvm_backend_name());
    uint64_t total = 0;
    char name[32];
    json_obj_begin(j, "exits_by_reason");
    for (unsigned i = 0; i < KVM_EXIT_SLOTS; i++) {
        if (!k->exits[i])
            continue;
        const char *n = kvm_exit_name(i);
        if (!n) {
            snprintf(name, sizeof(name), "reason_%u", i);
            n = name;
        }
        json_u64(j, n, k->exits[i]);
        total += k->exits[i];
    }
    json_obj_end(j);
    json_u64(j, "exits", total);
    json_u64(j, "kvm_run_calls", k->runs);
    json_f64(j, "kvm_run_seconds", (double)k->run_ns / 1e9);
    json_u64(j, "string_io_exits", k->string_io_ops);
    json_obj_begin(j, "assisted_instructions");
    json_u64(j, "iret", k->assist_iret);
    json_u64(j, "int", k->assist_int);
    json_u64(j, "lar_lsl_verr_verw", k->assist_seg);
    json_u64(j, "other", k->assist_other);
    json_u64(j, "faults_injected", k->assist_faults);
    json_obj_end(j);
    json_bool(j, "ud_trap", k->ud_trap);
    json_u64(j, "ud_trapped", k->ud_trapped);
    json_u64(j, "ud_genuine", k->ud_genuine);
    json_bool(j, "window_step", k->window_step);
    json_u64(j, "window_steps", k->window_steps);
}
