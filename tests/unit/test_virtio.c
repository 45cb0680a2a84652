/* test_virtio.c - unit tests of the PCI bus (src/devices/pci.c,
 * pci_host.c: BAR sizing, mapping on enable, capability walk, MSI-X table
 * and PBA, shared INTx), the split virtqueue code (virtio_ring.c:
 * descriptor chains, indirect tables, broken chains, event index,
 * wrap-around of the 16-bit indices) and the virtio PCI transport
 * (virtio_pci.c: feature negotiation, queue set-up, notify, ISR), on a
 * bare struct machine with anonymous RAM and no engine. */
#include <sys/mman.h>

#include "core/machine.h"
#include "core/util.h"
#include "devices/devices.h"
#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "devices/virtio_ring.h"
#include "test.h"

#define RAM (1u << 20)

static struct machine *new_machine(void)
{
    struct machine *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    io_space_init(&m->pio, "port");
    io_space_init(&m->mmio, "mmio");
    io_space_init(&m->msr, "msr");
    m->ram_fd = m->timer_fd = m->wake_fd = -1;
    m->ram_size = RAM;
    m->ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m->ram == MAP_FAILED)
        abort();
    if (io_register_ram(&m->mmio, 0, RAM, m->ram, "ram") < 0)
        abort();
    return m;
}

/* interrupt and MSI recorders */
static int irq_level[24], irq_changes;
static void rec_set_irq(void *ctx, int irq, int level)
{
    (void)ctx;
    irq_level[irq] = level;
    irq_changes++;
}
static uint64_t msi_addr;
static uint32_t msi_data;
static int msi_count;
static void rec_msi(void *ctx, uint64_t addr, uint32_t data)
{
    (void)ctx;
    msi_addr = addr;
    msi_data = data;
    msi_count++;
}

static uint32_t cfg_read(struct machine *m, int slot, unsigned reg, unsigned len)
{
    uint8_t a[4], d[4] = {0};
    io_put(a, 4, 0x80000000u | (unsigned)slot << 11 | (reg & 0xfc));
    io_access(&m->pio, 0xcf8, a, 4, true);
    io_access(&m->pio, 0xcfc + (reg & 3), d, len, false);
    return io_get(d, len);
}

static void cfg_write(struct machine *m, int slot, unsigned reg, unsigned len,
                      uint32_t v)
{
    uint8_t a[4], d[4];
    io_put(a, 4, 0x80000000u | (unsigned)slot << 11 | (reg & 0xfc));
    io_access(&m->pio, 0xcf8, a, 4, true);
    io_put(d, len, v);
    io_access(&m->pio, 0xcfc + (reg & 3), d, len, true);
}

static uint32_t mmio_read(struct machine *m, uint64_t a, unsigned len)
{
    uint8_t d[8] = {0};
    io_access(&m->mmio, a, d, len, false);
    return io_get(d, len);
}

static void mmio_write(struct machine *m, uint64_t a, unsigned len, uint64_t v)
{
    uint8_t d[8];
    io_put(d, len, v);
    io_access(&m->mmio, a, d, len, true);
}

/* A device whose BAR answers reads with 0x50 + offset. */
static int dummy_calls;
static void dummy_io(void *dev, uint64_t off, uint8_t *data, unsigned len,
                     bool is_write)
{
    (void)dev;
    dummy_calls++;
    if (!is_write)
        for (unsigned i = 0; i < len; i++)
            data[i] = (uint8_t)(0x50 + off + i);
}

static struct pci_device *dummy(struct machine *m, bool intx)
{
    return pci_device_new(pci_bus_of(m), "dummy", 0x1234, 0x5678, 0x0b4000,
                          3, 0xaaaa, 0xbbbb, intx, NULL);
}

static void test_bar_sizing(void)
{
    struct machine *m = new_machine();
    CHECK(pci_host_create(m, &m->pio) == 0);
    struct pci_device *d = dummy(m, false);
    CHECK(d && d->slot == 1);
    CHECK(pci_bar_init(d, 0, 0x1000, false, dummy_io, d, "mem") == 0);
    CHECK(pci_bar_init(d, 2, 0x20, true, dummy_io, d, "io") == 0);
    CHECK(pci_bar_init(d, 0, 0x1000, false, dummy_io, d, "again") < 0);
    CHECK(cfg_read(m, 1, 0, 4) == 0x56781234);
    CHECK(cfg_read(m, 1, 0x08, 4) == 0x0b400003);
    CHECK(cfg_read(m, 1, 0x2c, 4) == 0xbbbbaaaa);
    CHECK(cfg_read(m, 1, 0x0e, 1) == 0);
    /* pre-assigned in the windows */
    uint32_t b0 = cfg_read(m, 1, 0x10, 4), b2 = cfg_read(m, 1, 0x18, 4);
    CHECK(b0 == PCI_MEM_BASE);
    CHECK(b2 == (PCI_IO_BASE | 1));
    CHECK(cfg_read(m, 1, 0x14, 4) == 0); /* unimplemented BAR */
    /* sizing: all ones, read the mask, restore */
    cfg_write(m, 1, 0x10, 4, 0xffffffff);
    CHECK(cfg_read(m, 1, 0x10, 4) == 0xfffff000);
    cfg_write(m, 1, 0x10, 4, b0);
    cfg_write(m, 1, 0x18, 4, 0xffffffff);
    CHECK(cfg_read(m, 1, 0x18, 4) == 0xffffffe1);
    cfg_write(m, 1, 0x18, 4, b2);
    cfg_write(m, 1, 0x14, 4, 0xffffffff);
    CHECK(cfg_read(m, 1, 0x14, 4) == 0);
    /* read-only IDs, empty slots */
    cfg_write(m, 1, 0, 4, 0);
    CHECK(cfg_read(m, 1, 0, 4) == 0x56781234);
    CHECK(cfg_read(m, 2, 0, 4) == 0xffffffff);
    machine_destroy(m);
}

static void test_bar_mapping(void)
{
    struct machine *m = new_machine();
    CHECK(pci_host_create(m, &m->pio) == 0);
    struct pci_device *d = dummy(m, false);
    CHECK(pci_bar_init(d, 0, 0x1000, false, dummy_io, d, "mem") == 0);
    CHECK(pci_bar_init(d, 1, 0x10, true, dummy_io, d, "io") == 0);
    CHECK((cfg_read(m, 1, 4, 2) & 3) == 3); /* firmware enabled decoding */
    dummy_calls = 0;
    CHECK(mmio_read(m, PCI_MEM_BASE + 0x10, 1) == 0x60);
    uint8_t b = 0;
    io_access(&m->pio, PCI_IO_BASE + 2, &b, 1, false);
    CHECK(b == 0x52 && dummy_calls == 2);
    /* memory decode off: unclaimed; I/O still there */
    cfg_write(m, 1, 4, 2, PCI_CMD_IO);
    CHECK(mmio_read(m, PCI_MEM_BASE + 0x10, 1) == 0xff);
    io_access(&m->pio, PCI_IO_BASE + 2, &b, 1, false);
    CHECK(b == 0x52);
    /* sizing with decode off maps nothing at 0xfffff000 */
    cfg_write(m, 1, 0x10, 4, 0xffffffff);
    CHECK(io_find(&m->mmio, 0xfffff000) == NULL);
    /* move, then enable: only the new address decodes */
    cfg_write(m, 1, 0x10, 4, 0xd0000000);
    cfg_write(m, 1, 4, 2, PCI_CMD_IO | PCI_CMD_MEM);
    CHECK(mmio_read(m, 0xd0000004, 1) == 0x54);
    CHECK(mmio_read(m, PCI_MEM_BASE + 0x10, 1) == 0xff);
    /* a BAR on top of RAM is refused (stays unmapped), RAM intact */
    cfg_write(m, 1, 0x10, 4, 0x1000);
    m->ram[0x1000] = 0x77;
    CHECK(mmio_read(m, 0x1000, 1) == 0x77);
    CHECK(!d->bar[0].mapped);
    /* reset: back where firmware put it */
    pci_device_reset(d);
    CHECK(cfg_read(m, 1, 0x10, 4) == PCI_MEM_BASE && d->bar[0].mapped);
    CHECK(mmio_read(m, PCI_MEM_BASE, 1) == 0x50);
    machine_destroy(m);
}

static void test_cap_walk(void)
{
    struct machine *m = new_machine();
    CHECK(pci_host_create(m, &m->pio) == 0);
    struct pci_device *d = dummy(m, false);
    CHECK(!(cfg_read(m, 1, 6, 2) & PCI_STATUS_CAPS));
    uint8_t a = pci_cap_add(d, 0x09, 16);
    uint8_t b = pci_cap_add(d, 0x05, 10);
    uint8_t c = pci_cap_add(d, 0x09, 20);
    CHECK(a == 0x40 && b == 0x50 && c == 0x5c);
    CHECK(pci_cap_add(d, 0x09, 250) == 0);
    CHECK(cfg_read(m, 1, 6, 2) & PCI_STATUS_CAPS);
    uint8_t ids[8], n = 0;
    unsigned p = cfg_read(m, 1, PCI_CAP_PTR, 1);
    while (p && n < 8) {
        ids[n++] = (uint8_t)cfg_read(m, 1, p, 1);
        p = cfg_read(m, 1, p + 1, 1);
    }
    CHECK(n == 3 && ids[0] == 0x09 && ids[1] == 0x05 && ids[2] == 0x09);
    machine_destroy(m);
}

static void test_msix(void)
{
    struct machine *m = new_machine();
    m->msi = rec_msi;
    msi_count = 0;
    CHECK(pci_host_create(m, &m->pio) == 0);
    struct pci_device *d = dummy(m, false);
    CHECK(pci_msix_init(d, 3, 1) == 0);
    unsigned c = cfg_read(m, 1, PCI_CAP_PTR, 1);
    CHECK(cfg_read(m, 1, c, 1) == PCI_CAP_ID_MSIX);
    CHECK((cfg_read(m, 1, c + 2, 2) & 0x7ff) == 2); /* table size N-1 */
    CHECK(cfg_read(m, 1, c + 4, 4) == 1);           /* table: BAR1 + 0 */
    CHECK(cfg_read(m, 1, c + 8, 4) == 0x801);       /* PBA: BAR1 + 0x800 */
    uint32_t bar = cfg_read(m, 1, 0x14, 4) & ~0xfu;
    CHECK(bar >= PCI_MEM_BASE);
    /* not enabled: nothing sent, nothing pending */
    pci_msix_notify(d, 1);
    CHECK(msi_count == 0 && mmio_read(m, bar + 0x800, 4) == 0);
    /* program vector 1, enable, but it is masked (reset state) */
    CHECK(mmio_read(m, bar + 16 + 12, 4) == 1);
    mmio_write(m, bar + 16, 4, 0xfee00000);
    mmio_write(m, bar + 16 + 4, 4, 0);
    mmio_write(m, bar + 16 + 8, 4, 0x4041);
    cfg_write(m, 1, c + 2, 2, 0x8000);
    CHECK(pci_msix_enabled(d));
    pci_msix_notify(d, 1);
    CHECK(msi_count == 0 && mmio_read(m, bar + 0x800, 4) == 2);
    /* unmask: the pending message goes out, the PBA bit clears */
    mmio_write(m, bar + 16 + 12, 4, 0);
    CHECK(msi_count == 1 && msi_addr == 0xfee00000 && msi_data == 0x4041);
    CHECK(mmio_read(m, bar + 0x800, 4) == 0);
    pci_msix_notify(d, 1);
    CHECK(msi_count == 2);
    /* function mask holds it back until cleared */
    cfg_write(m, 1, c + 2, 2, 0xc000);
    pci_msix_notify(d, 1);
    CHECK(msi_count == 2 && mmio_read(m, bar + 0x800, 1) == 2);
    cfg_write(m, 1, c + 2, 2, 0x8000);
    CHECK(msi_count == 3);
    /* vectors beyond the table are ignored */
    pci_msix_notify(d, 5);
    CHECK(msi_count == 3);
    machine_destroy(m);
}

static void test_intx_shared(void)
{
    struct machine *m = new_machine();
    m->intc.set_irq = rec_set_irq;
    memset(irq_level, 0, sizeof(irq_level));
    CHECK(pci_host_create(m, &m->pio) == 0);
    struct pci_device *a = dummy(m, true), *x = dummy(m, true),
                      *b = dummy(m, true);
    CHECK(a->slot == 1 && x->slot == 2 && b->slot == 3);
    CHECK(a->gsi == 11 && x->gsi == 10 && b->gsi == 11);
    CHECK(cfg_read(m, 1, PCI_INT_LINE, 1) == 11);
    CHECK(cfg_read(m, 2, PCI_INT_PIN, 1) == 1);
    pci_set_intx(a, true);
    CHECK(irq_level[11] == 1 && (cfg_read(m, 1, 6, 2) & PCI_STATUS_INTX));
    pci_set_intx(b, true);
    pci_set_intx(a, false); /* b still holds the line */
    CHECK(irq_level[11] == 1);
    pci_set_intx(b, false);
    CHECK(irq_level[11] == 0 && irq_level[10] == 0);
    /* INTx disable in the command register */
    pci_set_intx(x, true);
    CHECK(irq_level[10] == 1);
    cfg_write(m, 2, 4, 2, cfg_read(m, 2, 4, 2) | PCI_CMD_INTX_DISABLE);
    CHECK(irq_level[10] == 0 && (cfg_read(m, 2, 6, 2) & PCI_STATUS_INTX));
    cfg_write(m, 2, 4, 2, 0);
    CHECK(irq_level[10] == 1);
    machine_destroy(m);
}

/* ---- virtqueues ---- */

#define QN 8
#define DESC 0x10000
#define AVAIL 0x11000
#define USED 0x12000

static void setdesc(struct machine *m, uint64_t table, unsigned i,
                    uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *p = m->ram + table + 16 * i;
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

static uint16_t rd16(struct machine *m, uint64_t a)
{
    uint16_t v;
    memcpy(&v, m->ram + a, 2);
    return v;
}

static void wr16(struct machine *m, uint64_t a, uint16_t v)
{
    memcpy(m->ram + a, &v, 2);
}

/* The driver publishes head at avail slot idx. */
static void offer(struct machine *m, uint16_t idx, uint16_t head)
{
    wr16(m, AVAIL + 4 + 2 * (idx % QN), head);
    wr16(m, AVAIL + 2, (uint16_t)(idx + 1));
}

static void vq_init(struct machine *m, struct virtq *q)
{
    memset(q, 0, sizeof(*q));
    q->ram = m->ram;
    q->ram_size = m->ram_size;
    q->max = QN;
    virtq_reset(q);
    q->desc = DESC;
    q->avail = AVAIL;
    q->used = USED;
    q->enabled = true;
    memset(m->ram + DESC, 0, 0x3000);
}

static void test_vq_chain(void)
{
    struct machine *m = new_machine();
    struct virtq q;
    struct virtq_elem *e = malloc(sizeof(*e));
    vq_init(m, &q);
    CHECK(virtq_valid(&q));
    CHECK(virtq_pop(&q, e) == 0);
    /* header (out) -> data (out) -> status (in) */
    setdesc(m, DESC, 3, 0x20000, 16, VRING_DESC_F_NEXT, 5);
    setdesc(m, DESC, 5, 0x21000, 512, VRING_DESC_F_NEXT, 1);
    setdesc(m, DESC, 1, 0x22000, 1, VRING_DESC_F_WRITE, 0);
    memcpy(m->ram + 0x20000, "0123456789abcdef", 16);
    offer(m, 0, 3);
    CHECK(virtq_has_avail(&q));
    CHECK(virtq_pop(&q, e) == 1);
    CHECK(e->head == 3 && e->n_out == 2 && e->n_in == 1);
    CHECK(e->out_len == 528 && e->in_len == 1);
    CHECK(e->iov[0].iov_base == m->ram + 0x20000 && e->iov[2].iov_len == 1);
    char buf[8] = {0};
    CHECK(iov_to_buf(e->iov, e->n_out, 10, buf, 8) == 8);
    CHECK(memcmp(buf, "abcdef", 6) == 0);
    struct iovec sl[4];
    CHECK(iov_slice(e->iov, e->n_out, 16, 512, sl, 4) == 1 &&
          sl[0].iov_base == m->ram + 0x21000 && sl[0].iov_len == 512);
    uint8_t st = 0;
    CHECK(iov_from_buf(e->iov + e->n_out, e->n_in, 0, &st, 1) == 1);
    virtq_push(&q, e->head, 1);
    CHECK(rd16(m, USED + 2) == 1);
    uint32_t id, len;
    memcpy(&id, m->ram + USED + 4, 4);
    memcpy(&len, m->ram + USED + 8, 4);
    CHECK(id == 3 && len == 1);
    CHECK(virtq_pop(&q, e) == 0);
    /* readable after writable is refused; so is a loop; so is an address
     * outside RAM */
    setdesc(m, DESC, 0, 0x20000, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    setdesc(m, DESC, 2, 0x20000, 4, 0, 0);
    offer(m, 1, 0);
    CHECK(virtq_pop(&q, e) == -1);
    setdesc(m, DESC, 4, 0x20000, 4, VRING_DESC_F_NEXT, 6);
    setdesc(m, DESC, 6, 0x20000, 4, VRING_DESC_F_NEXT, 4);
    offer(m, 2, 4);
    CHECK(virtq_pop(&q, e) == -1);
    setdesc(m, DESC, 7, RAM - 2, 4, 0, 0);
    offer(m, 3, 7);
    CHECK(virtq_pop(&q, e) == -1);
    offer(m, 4, QN); /* head out of range */
    CHECK(virtq_pop(&q, e) == -1);
    CHECK(q.errors == 4);
    free(e);
    machine_destroy(m);
}

static void test_vq_indirect(void)
{
    struct machine *m = new_machine();
    struct virtq q;
    struct virtq_elem *e = malloc(sizeof(*e));
    vq_init(m, &q);
    uint64_t tbl = 0x30000;
    setdesc(m, tbl, 0, 0x20000, 16, VRING_DESC_F_NEXT, 1);
    setdesc(m, tbl, 1, 0x21000, 100, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
    setdesc(m, tbl, 2, 0x22000, 1, VRING_DESC_F_WRITE, 0);
    setdesc(m, DESC, 0, tbl, 48, VRING_DESC_F_INDIRECT, 0);
    offer(m, 0, 0);
    CHECK(virtq_pop(&q, e) == -1); /* not negotiated */
    q.indirect = true;
    offer(m, 1, 0);
    CHECK(virtq_pop(&q, e) == 1);
    CHECK(e->n_out == 1 && e->n_in == 2 && e->in_len == 101);
    /* an indirect table pointing to another indirect table is refused */
    setdesc(m, tbl, 0, tbl, 48, VRING_DESC_F_INDIRECT, 0);
    offer(m, 2, 0);
    CHECK(virtq_pop(&q, e) == -1);
    free(e);
    machine_destroy(m);
}

static void test_vq_event_idx(void)
{
    struct machine *m = new_machine();
    struct virtq q;
    struct virtq_elem *e = malloc(sizeof(*e));
    vq_init(m, &q);
    /* flags mode: NO_INTERRUPT suppresses */
    setdesc(m, DESC, 0, 0x20000, 8, VRING_DESC_F_WRITE, 0);
    offer(m, 0, 0);
    CHECK(virtq_pop(&q, e) == 1);
    virtq_push(&q, 0, 8);
    CHECK(virtq_should_notify(&q));
    wr16(m, AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
    offer(m, 1, 0);
    CHECK(virtq_pop(&q, e) == 1);
    virtq_push(&q, 0, 8);
    CHECK(!virtq_should_notify(&q));
    /* event index mode */
    vq_init(m, &q);
    q.event_idx = true;
    setdesc(m, DESC, 0, 0x20000, 8, VRING_DESC_F_WRITE, 0);
    uint64_t used_event = AVAIL + 4 + 2 * QN;
    uint64_t avail_event = USED + 4 + 8 * QN;
    for (uint16_t i = 0; i < 4; i++)
        offer(m, i, 0);
    wr16(m, used_event, 2); /* interrupt when used idx passes 2 */
    CHECK(virtq_pop(&q, e) == 1);
    CHECK(rd16(m, avail_event) == 1); /* device asks for the next kick */
    virtq_push(&q, 0, 8);
    CHECK(virtq_should_notify(&q)); /* first signal always goes */
    CHECK(virtq_pop(&q, e) == 1);
    virtq_push(&q, 0, 8);
    CHECK(!virtq_should_notify(&q)); /* used idx 2: event 2 not passed */
    CHECK(virtq_pop(&q, e) == 1);
    virtq_push(&q, 0, 8);
    CHECK(virtq_should_notify(&q)); /* used idx 3 passes event 2 */
    CHECK(virtq_pop(&q, e) == 1);
    virtq_push(&q, 0, 8);
    CHECK(!virtq_should_notify(&q)); /* event still 2: already signalled */
    CHECK(rd16(m, avail_event) == 4);
    free(e);
    machine_destroy(m);
}

static void test_vq_wraparound(void)
{
    struct machine *m = new_machine();
    struct virtq q;
    struct virtq_elem *e = malloc(sizeof(*e));
    vq_init(m, &q);
    q.event_idx = true;
    /* both sides near the end of the 16-bit index space */
    q.last_avail = q.used_idx = 65533;
    q.signalled = 65533;
    q.signalled_valid = true;
    wr16(m, USED + 2, 65533);
    for (unsigned k = 0; k < QN; k++)
        setdesc(m, DESC, k, 0x20000 + 0x100 * k, 16, VRING_DESC_F_WRITE, 0);
    uint16_t idx = 65533;
    for (int k = 0; k < 6; k++) /* 65533 .. 2 */
        offer(m, idx++, (uint16_t)k);
    CHECK(rd16(m, AVAIL + 2) == 3);
    wr16(m, AVAIL + 4 + 2 * QN, 0); /* used_event 0: signal when passing 0 */
    int got = 0;
    while (virtq_pop(&q, e) == 1) {
        CHECK(e->head == got && e->iov[0].iov_base == m->ram + 0x20000 + 0x100 * got);
        virtq_push(&q, e->head, 16);
        got++;
    }
    CHECK(got == 6 && q.last_avail == 3 && q.used_idx == 3);
    CHECK(rd16(m, USED + 2) == 3);
    /* the used entries landed in slots 65533 % 8 = 5, 6, 7, 0, 1, 2 */
    uint32_t id;
    memcpy(&id, m->ram + USED + 4 + 8 * 0, 4);
    CHECK(id == 3);
    memcpy(&id, m->ram + USED + 4 + 8 * 5, 4);
    CHECK(id == 0);
    CHECK(virtq_should_notify(&q)); /* 65533 -> 3 passed event 0 */
    free(e);
    machine_destroy(m);
}

/* ---- the virtio PCI transport ---- */

static int notified[VIRTIO_MAX_QUEUES], dev_resets;
static void t_notify(struct virtio_dev *v, unsigned qi)
{
    (void)v;
    notified[qi]++;
}
static void t_reset(struct virtio_dev *v)
{
    (void)v;
    dev_resets++;
}
static const struct virtio_ops t_ops = {.notify = t_notify, .reset = t_reset};

static void test_virtio_pci(void)
{
    struct machine *m = new_machine();
    m->intc.set_irq = rec_set_irq;
    memset(irq_level, 0, sizeof(irq_level));
    CHECK(pci_host_create(m, &m->pio) == 0);
    struct virtio_dev *v = calloc(1, sizeof(*v));
    v->config[0] = 0x42;
    CHECK(virtio_pci_init(v, m, "vtest", 4, 0xff0000, 2, 64, 1ull << 3, 8,
                          &t_ops, NULL) == 0);
    CHECK(cfg_read(m, 1, 0, 4) == 0x10441af4);
    CHECK(cfg_read(m, 1, 8, 1) == 1); /* revision 1: modern */
    CHECK(cfg_read(m, 1, 0x2e, 2) == 4);
    /* find the common and notify capabilities by walking the list */
    unsigned p = cfg_read(m, 1, PCI_CAP_PTR, 1), common = 0, notify = 0;
    int types = 0;
    while (p) {
        if (cfg_read(m, 1, p, 1) == PCI_CAP_ID_VNDR) {
            unsigned t = cfg_read(m, 1, p + 3, 1);
            types |= 1 << t;
            CHECK(cfg_read(m, 1, p + 4, 1) == 4);
            uint32_t off = cfg_read(m, 1, p + 8, 4);
            if (t == 1)
                common = off;
            if (t == 2) {
                notify = off;
                CHECK(cfg_read(m, 1, p + 16, 4) == VPCI_NOTIFY_MULT);
            }
        }
        p = cfg_read(m, 1, p + 1, 1);
    }
    CHECK(types == 0x1e);
    uint64_t bar = cfg_read(m, 1, 0x20, 4) & ~0xfu;
    uint64_t cc = bar + common;
    /* features: VERSION_1 (bit 32), EVENT_IDX (29), INDIRECT (28), bit 3 */
    mmio_write(m, cc + 0x00, 4, 0);
    CHECK(mmio_read(m, cc + 0x04, 4) == (1u << 29 | 1u << 28 | 1u << 3));
    mmio_write(m, cc + 0x00, 4, 1);
    CHECK(mmio_read(m, cc + 0x04, 4) == 1);
    CHECK(mmio_read(m, cc + 0x12, 2) == 2);
    /* without VERSION_1 FEATURES_OK does not stick */
    mmio_write(m, cc + 0x14, 1, 1 | 2);
    mmio_write(m, cc + 0x08, 4, 0);
    mmio_write(m, cc + 0x0c, 4, 1u << 29);
    mmio_write(m, cc + 0x14, 1, 1 | 2 | 8);
    CHECK(mmio_read(m, cc + 0x14, 1) == 3);
    /* reset, then properly */
    int resets = dev_resets;
    mmio_write(m, cc + 0x14, 1, 0);
    CHECK(dev_resets == resets + 1 && mmio_read(m, cc + 0x14, 1) == 0);
    mmio_write(m, cc + 0x14, 1, 1 | 2);
    mmio_write(m, cc + 0x08, 4, 0);
    mmio_write(m, cc + 0x0c, 4, 1u << 29);
    mmio_write(m, cc + 0x08, 4, 1);
    mmio_write(m, cc + 0x0c, 4, 1);
    mmio_write(m, cc + 0x14, 1, 1 | 2 | 8);
    CHECK(mmio_read(m, cc + 0x14, 1) == 11);
    /* queue 1: size, addresses (two 32-bit halves), enable */
    mmio_write(m, cc + 0x16, 2, 1);
    CHECK(mmio_read(m, cc + 0x18, 2) == 64);
    CHECK(mmio_read(m, cc + 0x1e, 2) == 1);
    mmio_write(m, cc + 0x18, 2, 16);
    mmio_write(m, cc + 0x20, 4, DESC);
    mmio_write(m, cc + 0x24, 4, 0);
    mmio_write(m, cc + 0x28, 4, AVAIL);
    mmio_write(m, cc + 0x30, 4, USED);
    mmio_write(m, cc + 0x1a, 2, 7); /* beyond the 3 MSI-X vectors */
    CHECK(mmio_read(m, cc + 0x1a, 2) == 0xffff);
    mmio_write(m, cc + 0x1c, 2, 1);
    CHECK(v->q[1].enabled && v->q[1].num == 16 && v->q[1].event_idx);
    CHECK(v->q[1].desc == DESC && v->q[1].used == USED);
    mmio_write(m, cc + 0x14, 1, 1 | 2 | 8 | 4);
    /* notify queue 1 at notify + 1 * multiplier */
    mmio_write(m, bar + notify + 4, 2, 1);
    CHECK(notified[1] == 1 && notified[0] == 0);
    /* an interrupt through INTx (MSI-X off): ISR bit 0, read clears */
    int gsi = v->pci->gsi;
    v->q[1].signalled_valid = false;
    virtio_notify(v, &v->q[1]);
    CHECK(irq_level[gsi] == 1);
    CHECK(mmio_read(m, bar + VPCI_ISR, 1) == 1);
    CHECK(irq_level[gsi] == 0 && mmio_read(m, bar + VPCI_ISR, 1) == 0);
    /* device config */
    CHECK(mmio_read(m, bar + VPCI_DEVICE, 1) == 0x42);
    virtio_pci_free(v);
    free(v);
    machine_destroy(m);
}

int main(void)
{
    RUN(test_bar_sizing);
    RUN(test_bar_mapping);
    RUN(test_cap_walk);
    RUN(test_msix);
    RUN(test_intx_shared);
    RUN(test_vq_chain);
    RUN(test_vq_indirect);
    RUN(test_vq_event_idx);
    RUN(test_vq_wraparound);
    RUN(test_virtio_pci);
    TEST_MAIN_END();
}
