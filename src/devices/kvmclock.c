/* kvmclock.c - KVM's paravirtual clock, as Linux's kvm-clock driver uses
 * it, on the MSR bus: MSR_KVM_WALL_CLOCK_NEW (0x4b564d00) / _SYSTEM_TIME_NEW
 * (0x4b564d01) and the old 0x11 / 0x12.  A write of a guest-physical
 * address (bit 0 = enable, for the system time) makes popek fill a
 * pvclock structure there.  On interp and bt the guest TSC runs at 1 GHz
 * of the host's monotonic clock (from 0 at reset unless the guest writes
 * it), so the clock is the TSC itself: tsc_timestamp 0, system_time 0 and
 * a scale of exactly 1 (mul 2^31, shift 1), stable (PVCLOCK_TSC_STABLE_BIT)
 * and never rewritten.  The wall clock is the host's real time at guest
 * TSC 0.  Offered only with --cpu kvm (CPUID leaves in src/pv/cpuid.c). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define MSR_KVM_WALL_CLOCK 0x11
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define PVCLOCK_TSC_STABLE_BIT 1

struct pvclock_vcpu_time_info {
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags, pad[2];
} __attribute__((packed));

struct pvclock_wall_clock {
    uint32_t version, sec, nsec;
} __attribute__((packed));

struct kvmclock {
    struct machine *m;
    uint64_t system_time_msr, wall_clock_msr;
    uint64_t writes;
};

static void *guest_ptr(struct machine *m, uint64_t gpa, uint64_t len)
{
    return gpa_to_hva(m, gpa, len);
}

static void write_wall_clock(struct kvmclock *k, uint64_t gpa)
{
    struct pvclock_wall_clock *w = guest_ptr(k->m, gpa, sizeof(*w));
    if (!w)
        return;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t now = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
    uint64_t boot = now - clock_ns(); /* real time at guest TSC 0 */
    w->version = 1; /* odd: being written */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    w->sec = (uint32_t)(boot / 1000000000ull);
    w->nsec = (uint32_t)(boot % 1000000000ull);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    w->version = 2;
}

static void write_system_time(struct kvmclock *k, uint64_t val)
{
    if (!(val & 1))
        return;
    struct pvclock_vcpu_time_info *t =
        guest_ptr(k->m, val & ~1ull, sizeof(*t));
    if (!t)
        return;
    t->version = 1;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    t->tsc_timestamp = 0;
    t->system_time = 0;
    t->tsc_to_system_mul = 1u << 31; /* (tsc << 1) * 2^31 >> 32 = tsc */
    t->tsc_shift = 1;
    t->flags = PVCLOCK_TSC_STABLE_BIT;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    t->version = 2;
}

/* Offset 0: the wall clock MSR, 1: the system time MSR (both bases). */
static void kvmclock_msr(void *dev, uint64_t offset, uint8_t *data,
                         unsigned len, bool is_write)
{
    struct kvmclock *k = dev;
    (void)len;
    bool sys = offset == 1;
    uint64_t *reg = sys ? &k->system_time_msr : &k->wall_clock_msr;
    if (!is_write) {
        io_put(data, 8, *reg);
        return;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | data[i];
    *reg = v;
    k->writes++;
    if (sys)
        write_system_time(k, v);
    else
        write_wall_clock(k, v);
}

static void kvmclock_reset(void *opaque)
{
    struct kvmclock *k = opaque;
    k->system_time_msr = k->wall_clock_msr = 0;
}

int kvmclock_create(struct machine *m)
{
    struct kvmclock *k = calloc(1, sizeof(*k));
    if (!k || machine_add_device(m, "kvmclock", k, kvmclock_reset, NULL) < 0) {
        free(k);
        return fail("out of memory");
    }
    k->m = m;
    if (io_register(&m->msr, MSR_KVM_WALL_CLOCK_NEW, 2, kvmclock_msr, k,
                    "kvmclock") < 0)
        return -1;
    return io_register(&m->msr, MSR_KVM_WALL_CLOCK, 2, kvmclock_msr, k,
                       "kvmclock-old");
}
