/* fuzz_devices.c - libFuzzer harness for the device models: builds the PC
 * board (pc_board_create) on a machine with a do-nothing engine and
 * replays the input as a sequence of guest actions: port reads/writes
 * (anywhere, or near the ports the PC's devices own), MMIO and MSR
 * accesses, firing the next virtual timer, console input, INTA cycles and
 * device resets.  Any crash or sanitizer report is a bug. */
#include "board/board.h"
#include "fuzz_common.h"

static bool nop_usable(char *why, size_t n) { (void)why; (void)n; return true; }
static int nop_create(struct machine *m) { m->engine = m; return 0; }
static int nop_map_ram(struct machine *m, uint64_t gpa, uint64_t size,
                       void *hva, int fd, uint64_t off)
{
    (void)m; (void)gpa; (void)size; (void)hva; (void)fd; (void)off;
    return 0;
}
static int nop_vcpu(struct machine *m) { (void)m; return 0; }
static int nop_run(struct machine *m, struct vm_exit *ex)
{
    (void)m;
    ex->reason = EXIT_HLT;
    return 0;
}
static int nop_get(struct machine *m, struct cpu_state *s)
{
    (void)m;
    memset(s, 0, sizeof(*s));
    return 0;
}
static int nop_set(struct machine *m, const struct cpu_state *s)
{
    (void)m; (void)s;
    return 0;
}
static bool nop_window(struct machine *m) { (void)m; return true; }
static void nop_inject(struct machine *m, uint8_t v) { (void)m; (void)v; }
static void nop_kick(struct machine *m) { (void)m; }
static void nop_destroy(struct machine *m) { m->engine = NULL; }

static const struct engine_ops nop_ops = {
    .name = "fuzz", .usable = nop_usable, .create = nop_create,
    .map_ram = nop_map_ram, .vcpu_create = nop_vcpu, .run = nop_run,
    .get_state = nop_get, .set_state = nop_set, .irq_window_open = nop_window,
    .inject_irq = nop_inject, .kick = nop_kick, .destroy = nop_destroy,
};

/* Ports the PC board's devices own (and their neighbours). */
static const uint16_t ports[] = {
    0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43, 0x60, 0x61, 0x64,
    0x70, 0x71, 0x80, 0x92, 0xf4, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc,
    0x3fd, 0x3fe, 0x3ff, 0xcf8, 0xcf9, 0xcfc, 0xcfd, 0xcfe, 0xcff, 0x4d0,
    0x4d1, 0x510, 0x511, 0x600, 0x604, 0x608, 0xafe0, 0xe0, 0xe4, 0x1f0,
    0x1f7, 0x3f6, 0x3d4, 0x3d5,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct machine_config cfg = {.engine = "fuzz", .ram_size = 2u << 20,
                                 .quiet = true};
    struct machine *m = machine_create_ops(&cfg, &nop_ops);
    if (!m || pc_board_create(m) < 0)
        abort();
    struct fuzz_in in = {data, size};
    for (int steps = 0; in.n && steps < 4096; steps++) {
        unsigned op = fuzz_get(&in, 1) % 10;
        static const unsigned lens[4] = {1, 2, 4, 1};
        uint8_t buf[8] = {0};
        switch (op) {
        case 0:
        case 1: { /* any port */
            uint16_t port = (uint16_t)fuzz_get(&in, 2);
            unsigned len = lens[fuzz_get(&in, 1) & 3];
            uint32_t v = op ? fuzz_get(&in, 4) : 0;
            memcpy(buf, &v, 4);
            machine_pio(m, port, buf, len, op == 1);
            break;
        }
        case 2:
        case 3: { /* a device's port */
            uint8_t sel = (uint8_t)fuzz_get(&in, 1);
            uint16_t port = (uint16_t)(ports[sel % ARRAY_SIZE(ports)] +
                                       ((sel >> 6) & 3) * (sel & 0x20 ? 1 : 0));
            unsigned len = lens[(sel >> 4) & 1 ? 0 : fuzz_get(&in, 1) & 3];
            uint32_t v = op == 3 ? fuzz_get(&in, 4) : 0;
            memcpy(buf, &v, 4);
            machine_pio(m, port, buf, len, op == 3);
            break;
        }
        case 4: { /* MMIO near the PC's devices or anywhere */
            uint32_t a = fuzz_get(&in, 4);
            if (a & 1)
                a = 0xfec00000u | (a & 0x2fffffu);
            unsigned len = lens[fuzz_get(&in, 1) & 3];
            bool w = a & 2;
            uint32_t v = fuzz_get(&in, 4);
            memcpy(buf, &v, 4);
            machine_mmio(m, a, buf, len, w);
            break;
        }
        case 5: { /* fire the earliest timer now */
            struct vtimer *first = NULL;
            for (struct vtimer *t = m->timers; t; t = t->next)
                if (!first || t->deadline < first->deadline)
                    first = t;
            if (first) {
                vtimer_del(m, first);
                first->cb(first->opaque);
            }
            break;
        }
        case 6: { /* a byte of console input */
            unsigned h = atomic_load(&m->input_head);
            m->input[h % INPUT_RING] = (uint8_t)fuzz_get(&in, 1);
            if (h - atomic_load(&m->input_tail) < INPUT_RING)
                atomic_store(&m->input_head, h + 1);
            if (m->console_rx)
                m->console_rx(m->console_rx_opaque);
            break;
        }
        case 7: /* INTA */
            if (machine_intr_pending(m) && m->intc.ack)
                m->intc.ack(m->intc.ctx);
            break;
        case 8: { /* MSR */
            uint32_t idx = fuzz_get(&in, 4);
            uint64_t v = fuzz_get(&in, 4);
            machine_msr(m, idx, &v, idx & 1);
            break;
        }
        case 9:
            if (fuzz_get(&in, 1) == 0xa5)
                machine_reset_devices(m);
            break;
        }
    }
    machine_destroy(m);
    return 0;
}
