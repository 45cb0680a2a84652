/* virtio_dma.c - code loaded by a device's DMA runs as loaded: a minimal
 * virtio 1.x block driver (PCI config mechanism #1, the modern common
 * configuration in BAR4 as popek lays it out, one 8-entry split queue,
 * polling the used ring with interrupts off) writes a sector holding
 * `mov $V, %eax; ret`, then reads it back into a page whose previous code
 * the CPU has just executed many times (so bt has translated it and the
 * interpreter has decoded it), and calls it: the new V must come back.
 * Rounds with a new V each time, also with the read landing in the middle
 * of the page, and a chain of two data buffers straddling the page.
 * scratch-vdisk: 64K */
#include "kit.h"

#define QSIZE 8
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define DESC_F_NEXT 1
#define DESC_F_WRITE 2

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct blk_req {
    uint32_t type, reserved;
    uint64_t sector;
};

static struct desc descs[QSIZE] __attribute__((aligned(16)));
static struct {
    uint16_t flags, idx, ring[QSIZE], used_event;
} avail __attribute__((aligned(4)));
static struct {
    uint16_t flags, idx;
    struct { uint32_t id, len; } ring[QSIZE];
    uint16_t avail_event;
} used_ring __attribute__((aligned(4)));
static struct blk_req req;
static volatile uint8_t req_status;
static uint8_t wbuf[1024] __attribute__((aligned(512)));
static uint8_t code_page[2 * 4096] __attribute__((aligned(4096)));

static volatile uint8_t *common;
static volatile uint16_t *notify;
static uint16_t avail_idx;

static uint32_t cfg_read(unsigned slot, unsigned reg)
{
    outl(0xcf8, 0x80000000u | slot << 11 | reg);
    return inl(0xcfc);
}

static void cfg_write(unsigned slot, unsigned reg, uint32_t v)
{
    outl(0xcf8, 0x80000000u | slot << 11 | reg);
    outl(0xcfc, v);
}

static void w8(unsigned off, uint8_t v) { *(volatile uint8_t *)(common + off) = v; }
static uint8_t r8(unsigned off) { return *(volatile uint8_t *)(common + off); }
static void w16(unsigned off, uint16_t v) { *(volatile uint16_t *)(common + off) = v; }
static uint16_t r16(unsigned off) { return *(volatile uint16_t *)(common + off); }
static void w32(unsigned off, uint32_t v) { *(volatile uint32_t *)(common + off) = v; }
static uint32_t r32(unsigned off) { return *(volatile uint32_t *)(common + off); }

static bool setup(void)
{
    unsigned slot = 0;
    for (unsigned s = 1; s < 32 && !slot; s++)
        if (cfg_read(s, 0) == (0x1042u << 16 | 0x1af4u))
            slot = s;
    if (!CHECK(slot, "a virtio-blk PCI function (1af4:1042) is on bus 0"))
        return false;
    cfg_write(slot, 0x04, cfg_read(slot, 0x04) | 0x6); /* memory, master */
    uint32_t bar4 = cfg_read(slot, 0x20) & ~0xfu;
    common = (volatile uint8_t *)bar4;
    w8(0x14, 0);                    /* reset */
    w8(0x14, 1 | 2);                /* ACKNOWLEDGE | DRIVER */
    w32(0x00, 1);                   /* device_feature_select: bits 32-63 */
    bool v1 = r32(0x04) & 1;
    w32(0x08, 0);
    w32(0x0c, 0);
    w32(0x08, 1);
    w32(0x0c, 1);                   /* VIRTIO_F_VERSION_1 only */
    w8(0x14, 1 | 2 | 8);            /* FEATURES_OK */
    bool fok = r8(0x14) & 8;
    w16(0x16, 0);                   /* queue_select */
    w16(0x18, QSIZE);
    w32(0x20, (uint32_t)descs);
    w32(0x24, 0);
    w32(0x28, (uint32_t)&avail);
    w32(0x2c, 0);
    w32(0x30, (uint32_t)&used_ring);
    w32(0x34, 0);
    w16(0x1c, 1);                   /* queue_enable */
    notify = (volatile uint16_t *)(bar4 + 0x3000 + 4u * r16(0x1e));
    w8(0x14, 1 | 2 | 8 | 4);        /* DRIVER_OK */
    return CHECK(v1 && fok && r16(0x1c) == 1 && !(r8(0x14) & 0x40),
                 "the device takes VERSION_1 and queue 0");
}

/* One request (type, sector) on data buffers d[0..n): returns the status
 * byte, or 0xff if the device did not answer. */
static uint8_t request(uint32_t type, uint32_t sector, void *const *d,
                       const uint32_t *len, unsigned n)
{
    req = (struct blk_req){.type = type, .sector = sector};
    req_status = 0xee;
    descs[0] = (struct desc){.addr = (uint32_t)&req, .len = sizeof(req),
                             .flags = DESC_F_NEXT, .next = 1};
    for (unsigned i = 0; i < n; i++)
        descs[1 + i] = (struct desc){
            .addr = (uint32_t)d[i], .len = len[i],
            .flags = (uint16_t)(DESC_F_NEXT |
                                (type == VIRTIO_BLK_T_IN ? DESC_F_WRITE : 0)),
            .next = (uint16_t)(2 + i)};
    descs[1 + n] = (struct desc){.addr = (uint32_t)&req_status, .len = 1,
                                 .flags = DESC_F_WRITE};
    avail.ring[avail_idx % QSIZE] = 0;
    barrier();
    avail.idx = ++avail_idx;
    __asm__ volatile("lock; orl $0, (%%esp)" ::: "memory");
    *notify = 0;
    for (uint32_t i = 0; i < 100000000u; i++) {
        if (*(volatile uint16_t *)&used_ring.idx == avail_idx)
            return req_status;
        pause();
    }
    return 0xff;
}

static uint32_t call_at(uint8_t *p)
{
    uint32_t (*fn)(void) = (uint32_t (*)(void))(void *)p;
    return fn();
}

/* mov $v, %eax; ret */
static void put_fn(uint8_t *p, uint32_t v)
{
    p[0] = 0xb8;
    memcpy(p + 1, &v, 4);
    p[5] = 0xc3;
}

/* Run the function at p often (translated, decoded), checking it returns
 * v every time. */
static bool hot(uint8_t *p, uint32_t v)
{
    bool ok = true;
    for (int i = 0; i < 200; i++)
        ok &= call_at(p) == v;
    return ok;
}

static void rounds(const char *what, unsigned off, bool straddle)
{
    unsigned bad = 0, io = 0;
    for (uint32_t k = 1; k <= 20; k++) {
        uint32_t old = k * 0x01010101u, want = k * 0x9e3779b1u;
        uint8_t *p = code_page + off;
        put_fn(p, old);             /* by the CPU: a traced store */
        if (!hot(p, old))
            bad++;
        /* the new code goes to the disk, then comes back by DMA */
        memset(wbuf, 0x90, sizeof(wbuf));
        put_fn(wbuf, want);
        void *wd[1] = {wbuf};
        uint32_t wl[1] = {512};
        if (request(VIRTIO_BLK_T_OUT, k, wd, wl, 1) != 0)
            io++;
        uint8_t st;
        if (straddle) {
            /* two buffers: the end of page 0 and the start of page 1 */
            void *rd[2] = {p, p + 256};
            uint32_t rl[2] = {256, 256};
            st = request(VIRTIO_BLK_T_IN, k, rd, rl, 2);
        } else {
            void *rd[1] = {p};
            uint32_t rl[1] = {512};
            st = request(VIRTIO_BLK_T_IN, k, rd, rl, 1);
        }
        if (st != 0)
            io++;
        if (call_at(p) != want || !hot(p, want))
            bad++;
    }
    CHECK_EQ(io, 0, "%s: 40 requests completed with status OK", what);
    CHECK_EQ(bad, 0, "%s: 20 rounds, code read by DMA over hot code runs",
             what);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    cli();
    if (!setup())
        kit_done();
    rounds("page start", 0, false);
    rounds("mid-page", 0x800, false);
    rounds("straddling two pages", 0x1000 - 256, true);
    kit_done();
}
