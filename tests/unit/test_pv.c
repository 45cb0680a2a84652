/* test_pv.c - unit tests of the paravirtual interfaces (src/pv,
 * src/devices/kvmclock.c) on a bare machine core with a small RAM: the
 * CPUID leaves with and without --cpu kvm, every hypercall's argument
 * checks through a fake vCPU (what was written, flushed, refused), and the
 * kvmclock MSRs filling pvclock structures in guest RAM. */
#include <time.h>

#include "bare_machine.h"
#include "core/machine.h"
#include "devices/devices.h"
#include "pv/pv.h"
#include "test.h"

#define RAM (8u << 20)

static struct machine *new_machine(bool kvm)
{
    struct machine *m = bare_machine_with_ram(RAM);
    m->cfg.cpu_kvm = m->cfg.cpu_kvmclock = m->cfg.cpu_pv_eoi = kvm;
    return m;
}

/* A fake vCPU over the machine's RAM that records what the hypercall did. */
struct fake {
    struct machine *m;
    uint32_t regs[8];
    int writes, flushes, last_how, blocks;
    uint32_t last_lin;
};
static bool f_read(void *ctx, uint32_t gpa, void *buf, uint32_t len)
{
    struct fake *f = ctx;
    memcpy(buf, f->m->ram + gpa, len);
    return true;
}
static void f_write(void *ctx, uint32_t gpa, uint32_t val)
{
    struct fake *f = ctx;
    memcpy(f->m->ram + gpa, &val, 4);
    f->writes++;
}
static void f_flush(void *ctx, int how, uint32_t lin)
{
    struct fake *f = ctx;
    f->flushes++;
    f->last_how = how;
    f->last_lin = lin;
}
static void f_block(void *ctx) { ((struct fake *)ctx)->blocks++; }

static uint32_t call(struct fake *f, unsigned cpl, uint32_t eax, uint32_t ebx,
                     uint32_t ecx, uint32_t edx, uint32_t esi)
{
    f->regs[0] = eax, f->regs[3] = ebx, f->regs[1] = ecx, f->regs[2] = edx;
    f->regs[6] = esi;
    struct pv_vcpu v = {.regs = f->regs, .cpl = cpl, .ctx = f,
                        .read_phys = f_read, .write_pte = f_write,
                        .flush_tlb = f_flush, .block = f_block};
    pv_hypercall(f->m, &v);
    return f->regs[0];
}

static void test_cpuid_leaves(void)
{
    struct machine *m = new_machine(false);
    uint32_t r[4];
    CHECK(!pv_cpuid(m, 1, r) && !pv_cpuid(m, 0x80000000u, r));
    CHECK(pv_cpuid(m, 0x40000000u, r) && !memcmp(&r[1], "popekpopekpk", 12));
    CHECK(pv_cpuid(m, 0x40000100u, r) && r[0] == 0 && r[1] == 0);
    CHECK(!pv_hypervisor_bit(m));
    machine_destroy(m);
    m = new_machine(true);
    CHECK(pv_cpuid(m, 0x40000100u, r) && r[0] == 0x40000101u &&
          !memcmp(&r[1], "KVMKVMKVM\0\0\0", 12));
    CHECK(pv_cpuid(m, 0x40000101u, r) && (r[0] & (1u << 3)) &&
          (r[0] & (1u << 24)));
    CHECK(pv_hypervisor_bit(m));
    CHECK(r[0] & (1u << 6)); /* PV EOI */
    m->cfg.cpu_pv_eoi = false;
    CHECK(pv_cpuid(m, 0x40000101u, r) && !(r[0] & (1u << 6)));
    m->cfg.cpu_kvmclock = false;
    CHECK(pv_cpuid(m, 0x40000101u, r) && r[0] == 0);
    machine_destroy(m);
}

static void test_hypercall_checks(void)
{
    struct machine *m = new_machine(false);
    struct fake f = {.m = m};
    CHECK(call(&f, 3, PV_HC_VERSION, 0, 0, 0, 0) == (uint32_t)-PV_EPERM);
    CHECK(call(&f, 1, PV_HC_VERSION, 0, 0, 0, 0) == PV_VERSION);
    CHECK(call(&f, 0, 77, 0, 0, 0, 0) == (uint32_t)-PV_ENOSYS);
    /* the ring-1 kernel's calls: refusals that need no descriptors */
    CHECK(call(&f, 1, PV_HC_EVENT_SEND, 1, 0, 0, 0) == (uint32_t)-PV_EINVAL);
    CHECK(call(&f, 1, PV_HC_SET_CALLBACK, 0x1008, 0x50, 0, 0) ==
          (uint32_t)-PV_EINVAL);
    CHECK(call(&f, 1, PV_HC_SET_CALLBACK, RAM, 0x50, 0, 0) ==
          (uint32_t)-PV_EFAULT);
    CHECK(call(&f, 1, PV_HC_SET_CALLBACK, 0x3000, 0x50, 0, 0) == 0);
    CHECK(call(&f, 1, PV_HC_EVENT_SEND, 6, 0, 0, 0) == 0);
    uint32_t pend;
    memcpy(&pend, m->ram + 0x3004, 4);
    CHECK(pend == 6);
    CHECK(!machine_intr_pending(m)); /* vif 0, no trap table */
    CHECK(call(&f, 1, PV_HC_SET_TRAP_TABLE, 0x8000, 1, 0, 0) ==
          (uint32_t)-PV_ENOSYS); /* this vCPU lends no descriptor reads */
    CHECK(call(&f, 1, PV_HC_IRET, 0, 0, 0, 0) == (uint32_t)-PV_ENOSYS);
    CHECK(call(&f, 1, PV_HC_SET_TIMER, 1000, 5, 0, 0) == (uint32_t)-PV_EINVAL);
    CHECK(call(&f, 1, PV_HC_SHUTDOWN, 200, 0, 0, 0) == (uint32_t)-PV_EINVAL);
    CHECK(call(&f, 1, PV_HC_NEW_BASEPTR, 0x3000, 0, 0, 0) ==
          (uint32_t)-PV_ENOSYS);
    f.regs[3] = 0;
    /* a batch of three: the second maps a frame outside RAM */
    uint32_t req[6] = {0x1000, 0x5003, 0x1004, RAM | 1, 0x1008, 0x6003};
    memcpy(m->ram + 0x8000, req, sizeof(req));
    CHECK(call(&f, 0, PV_HC_MMU_UPDATE, 0x8000, 3, PV_MMU_FLUSH_ALL, 0) ==
          (uint32_t)-PV_EINVAL);
    CHECK(f.regs[3] == 1 && f.writes == 1 && f.flushes == 1);
    uint32_t v;
    memcpy(&v, m->ram + 0x1000, 4);
    CHECK(v == 0x5003);
    memcpy(&v, m->ram + 0x1008, 4);
    CHECK(v == 0);
    /* not-present entries may hold anything */
    req[3] = 0xfffff000u;
    memcpy(m->ram + 0x8000, req, sizeof(req));
    f.writes = f.flushes = 0;
    CHECK(call(&f, 0, PV_HC_MMU_UPDATE, 0x8000, 3, PV_MMU_FLUSH_PAGE,
               0x1234000) == 3);
    CHECK(f.writes == 3 && f.flushes == 1 && f.last_how == 1 &&
          f.last_lin == 0x1234000);
    /* 4 MiB pages: only when the guest marks the entry a PDE */
    uint32_t big[2] = {0x2000 | 1, 0x00800000u | 0x83};
    memcpy(m->ram + 0x9000, big, 8);
    CHECK(call(&f, 0, PV_HC_MMU_UPDATE, 0x9000, 1, 0, 0) ==
          (uint32_t)-PV_EINVAL); /* 8-12 MiB is outside the 8 MiB of RAM */
    big[1] = 0x00400000u | 0x83;
    memcpy(m->ram + 0x9000, big, 8);
    CHECK(call(&f, 0, PV_HC_MMU_UPDATE, 0x9000, 1, 0, 0) == 1);
    CHECK(call(&f, 0, PV_HC_MMU_UPDATE, RAM - 4, 1, 0, 0) ==
          (uint32_t)-PV_EFAULT);
    CHECK(call(&f, 0, PV_HC_MMU_UPDATE, 0x9000, PV_MMU_MAX + 1, 0, 0) ==
          (uint32_t)-PV_EINVAL);
    CHECK(call(&f, 0, PV_HC_TLB_FLUSH, 3, 0, 0, 0) == (uint32_t)-PV_EINVAL);
    CHECK(call(&f, 0, PV_HC_CONSOLE_WRITE, RAM - 2, 4, 0, 0) ==
          (uint32_t)-PV_EFAULT);
    CHECK(call(&f, 0, PV_HC_BLOCK, 0, 0, 0, 0) == 0 && f.blocks == 1);
    machine_destroy(m);
}

struct pvclock {
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t mul;
    int8_t shift;
    uint8_t flags, pad[2];
} __attribute__((packed));

static void test_kvmclock_msrs(void)
{
    struct machine *m = new_machine(true);
    CHECK(kvmclock_create(m) == 0);
    uint64_t v = 0x3000 | 1;
    CHECK(machine_msr(m, 0x4b564d01, &v, true));
    struct pvclock p;
    memcpy(&p, m->ram + 0x3000, sizeof(p));
    CHECK(p.version == 2 && p.flags == 1 && p.tsc_timestamp == 0 &&
          p.system_time == 0);
    /* the scale is exactly 1: ((t << shift) * mul) >> 32 == t */
    uint64_t t = 123456789012ull;
    CHECK(((unsigned __int128)(t << p.shift) * p.mul >> 32) == t);
    v = 0;
    CHECK(machine_msr(m, 0x4b564d01, &v, false) && v == (0x3000 | 1));
    v = 0x4000;
    CHECK(machine_msr(m, 0x11, &v, true));
    uint32_t w[3];
    memcpy(w, m->ram + 0x4000, 12);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    CHECK(w[0] == 2 && w[1] > 1600000000u && w[1] <= (uint32_t)rt.tv_sec);
    v = RAM + 0x1000; /* outside RAM: ignored, no crash */
    CHECK(machine_msr(m, 0x4b564d00, &v, true));
    CHECK(!machine_msr(m, 0x4b564d05, &v, false));
    machine_destroy(m);
}

int main(void)
{
    RUN(test_cpuid_leaves);
    RUN(test_hypercall_checks);
    RUN(test_kvmclock_msrs);
    TEST_MAIN_END();
}
