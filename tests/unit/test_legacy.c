/* test_legacy.c - unit tests of the legacy PC and QEMU-compatibility
 * devices: the ATA PIO channel against temporary image files (IDENTIFY,
 * read, write, READ/WRITE MULTIPLE, CHS, flush, errors, nIEN, SRST, a
 * missing drive, bad images refused), fw_cfg (signature and items),
 * pc-testdev (ioport register, IRQ lines, scratch memory) and the CGA
 * CRTC/status ports and text buffer; and the console's flush of an
 * unfinished line.  Each test builds a bare struct
 * machine (port and MMIO spaces, RAM from malloc, an interrupt controller
 * that records line levels) and drives the devices through io_access(). */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bare_machine.h"
#include "core/machine.h"
#include "core/util.h"
#include "devices/devices.h"
#include "test.h"

/* ---- a bare machine with a recording interrupt controller ---- */

struct irq_rec {
    int level[32];
    int rises[32];
};

static void rec_set_irq(void *ctx, int irq, int level)
{
    struct irq_rec *r = ctx;
    if (irq < 0 || irq >= 32)
        return;
    if (level && !r->level[irq])
        r->rises[irq]++;
    r->level[irq] = level;
}

static struct irq_rec rec;

static struct machine *new_machine(uint64_t ram_size)
{
    struct machine *m = bare_machine_with_ram(ram_size);
    memset(&rec, 0, sizeof(rec));
    m->intc.ctx = &rec;
    m->intc.set_irq = rec_set_irq;
    return m;
}

#define IRQ(n) ((struct irq_line){.m = m, .irq = (n)})

/* ---- ATA helpers ---- */

#define MiB (1024u * 1024u)
#define ST_BSY 0x80
#define ST_DRDY 0x40
#define ST_DRQ 0x08
#define ST_ERR 0x01

/* A temporary image of size bytes; sector s filled with (s * 7 + i) & 0xff
 * at byte i.  Returns the path (static buffer per slot). */
static const char *make_image(int slot, off_t size, mode_t mode)
{
    static char paths[4][64];
    snprintf(paths[slot], sizeof(paths[slot]), "/tmp/popek-test-ide-%d-%d.img",
             (int)getpid(), slot);
    const char *p = paths[slot];
    unlink(p);
    int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    uint8_t sec[512];
    for (off_t s = 0; s * 512 < size; s++) {
        for (int i = 0; i < 512; i++)
            sec[i] = (uint8_t)(s * 7 + i);
        size_t n = size - s * 512 < 512 ? (size_t)(size - s * 512) : 512;
        if (pwrite(fd, sec, n, s * 512) != (ssize_t)n)
            abort();
    }
    close(fd);
    chmod(p, mode);
    return p;
}

static struct machine *ata_machine(const char *img0, bool ro0, const char *img1)
{
    struct machine *m = new_machine(2 * MiB);
    if (img0) {
        m->cfg.ide[m->cfg.n_ide].path = img0;
        m->cfg.ide[m->cfg.n_ide++].ro = ro0;
    }
    if (img1) {
        m->cfg.ide[m->cfg.n_ide].path = img1;
        m->cfg.ide[m->cfg.n_ide++].ro = false;
    }
    if (ata_create(m, &m->pio, 0x1f0, 0x3f6, IRQ(14)) < 0) {
        fprintf(stderr, "ata_create: %s\n", popek_error());
        abort();
    }
    return m;
}

/* Set up an LBA28 task file on the master and issue cmd. */
static void ata_cmd_lba(struct machine *m, uint8_t cmd, uint32_t lba,
                        uint8_t count)
{
    outb(m, 0x1f6, (uint8_t)(0xe0 | ((lba >> 24) & 0xf)));
    outb(m, 0x1f2, count);
    outb(m, 0x1f3, (uint8_t)lba);
    outb(m, 0x1f4, (uint8_t)(lba >> 8));
    outb(m, 0x1f5, (uint8_t)(lba >> 16));
    outb(m, 0x1f7, cmd);
}

static bool sector_is(const uint8_t *p, unsigned s)
{
    for (int i = 0; i < 512; i++)
        if (p[i] != (uint8_t)(s * 7 + i))
            return false;
    return true;
}

static void read_block(struct machine *m, uint8_t *buf, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i += 2) {
        uint16_t w = inw(m, 0x1f0);
        buf[i] = (uint8_t)w;
        buf[i + 1] = (uint8_t)(w >> 8);
    }
}

/* ---- ATA tests ---- */

static void test_ata_identify(void)
{
    const char *img = make_image(0, 1 * MiB, 0644);
    struct machine *m = ata_machine(img, false, NULL);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10));
    ata_cmd_lba(m, 0xec, 0, 0);
    CHECK(rec.level[14] == 1 && rec.rises[14] == 1);
    CHECK(inb(m, 0x3f6) == (ST_DRDY | 0x10 | ST_DRQ)); /* alt: no ack */
    CHECK(rec.level[14] == 1);
    CHECK(inb(m, 0x1f7) & ST_DRQ);
    CHECK(rec.level[14] == 0); /* reading status acknowledges */
    uint16_t w[256];
    for (int i = 0; i < 256; i++)
        w[i] = inw(m, 0x1f0);
    CHECK(!(inb(m, 0x1f7) & ST_DRQ));
    CHECK(w[0] == 0x0040);
    CHECK(w[49] & 0x0200);                         /* LBA */
    CHECK(w[60] == 2048 && w[61] == 0);            /* capacity in sectors */
    CHECK(w[83] & 0x1000);                         /* FLUSH CACHE */
    char model[41];
    for (int i = 0; i < 20; i++) {
        model[2 * i] = (char)(w[27 + i] >> 8);
        model[2 * i + 1] = (char)w[27 + i];
    }
    model[40] = 0;
    CHECKF(!strncmp(model, "POPEK HARDDISK      ", 20), "model '%s'", model);
    CHECK(w[10] != 0 && w[10] != 0x2020);          /* a serial number */
    CHECK(w[1] * w[3] * w[6] <= 2048 && w[3] == 16 && w[6] == 63);
    machine_destroy(m);
    unlink(img);
}

static void test_ata_read_sectors(void)
{
    const char *img = make_image(0, 1 * MiB, 0644);
    struct machine *m = ata_machine(img, false, NULL);
    ata_cmd_lba(m, 0x20, 5, 2);
    uint8_t buf[1024];
    CHECK(rec.rises[14] == 1);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10 | ST_DRQ));
    read_block(m, buf, 512);
    CHECK(rec.rises[14] == 2); /* one interrupt per sector */
    CHECK(inb(m, 0x1f7) & ST_DRQ);
    /* the second sector with 32-bit reads */
    for (int i = 0; i < 512; i += 4)
        io_put(buf + 512 + i, 4, inl(m, 0x1f0));
    CHECK(sector_is(buf, 5) && sector_is(buf + 512, 6));
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10)); /* done, no DRQ */
    CHECK(rec.rises[14] == 2);                 /* none after the last */
    CHECK(inb(m, 0x1f3) == 6);                 /* task file: last sector */
    CHECK(inw(m, 0x1f0) == 0);                 /* no data without DRQ */
    /* count 0 = 256 sectors */
    ata_cmd_lba(m, 0x20, 0, 0);
    static uint8_t big[256 * 512];
    for (int s = 0; s < 256; s++) {
        CHECK(inb(m, 0x1f7) & ST_DRQ);
        read_block(m, big + s * 512, 512);
    }
    CHECK(sector_is(big, 0) && sector_is(big + 255 * 512, 255));
    CHECK(!(inb(m, 0x1f7) & ST_DRQ));
    uint64_t r, w, f;
    ata_stats(m, &r, &w, &f);
    CHECK(r == 258 && w == 0 && f == 0);
    machine_destroy(m);
    unlink(img);
}

static void test_ata_write_and_flush(void)
{
    const char *img = make_image(0, 1 * MiB, 0644);
    struct machine *m = ata_machine(img, false, NULL);
    ata_cmd_lba(m, 0x30, 100, 2);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10 | ST_DRQ));
    CHECK(rec.rises[14] == 0); /* no interrupt before the first block */
    for (int i = 0; i < 256; i++)
        outw(m, 0x1f0, (uint16_t)(0xa500 + i));
    CHECK(rec.rises[14] == 1);
    CHECK(inb(m, 0x1f7) & ST_DRQ);
    for (int i = 0; i < 128; i++)
        outl(m, 0x1f0, 0xdead0000u + (uint32_t)i);
    CHECK(rec.rises[14] == 2);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10));
    /* it reached the file */
    int fd = open(img, O_RDONLY);
    uint8_t buf[1024];
    CHECK(pread(fd, buf, sizeof(buf), 100 * 512) == (ssize_t)sizeof(buf));
    CHECK(buf[0] == 0x00 && buf[1] == 0xa5 && buf[510] == 0xff &&
          buf[511] == 0xa5);
    CHECK(io_get(buf + 512, 4) == 0xdead0000u &&
          io_get(buf + 1020, 4) == 0xdead007fu);
    CHECK(pread(fd, buf, 512, 102 * 512) == 512 && sector_is(buf, 102));
    CHECK(pread(fd, buf, 512, 99 * 512) == 512 && sector_is(buf, 99));
    close(fd);
    /* and reads back through the drive */
    ata_cmd_lba(m, 0x20, 101, 1);
    (void)inb(m, 0x1f7);
    read_block(m, buf, 512);
    CHECK(io_get(buf, 4) == 0xdead0000u);
    /* FLUSH CACHE */
    int rises = rec.rises[14];
    ata_cmd_lba(m, 0xe7, 0, 0);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10));
    CHECK(rec.rises[14] == rises + 1);
    uint64_t r, w, f;
    ata_stats(m, &r, &w, &f);
    CHECK(w == 2 && f == 1);
    machine_destroy(m);
    unlink(img);
}

static void test_ata_multiple_and_chs(void)
{
    const char *img = make_image(0, 1 * MiB, 0644);
    struct machine *m = ata_machine(img, false, NULL);
    /* READ MULTIPLE before SET MULTIPLE: aborted */
    ata_cmd_lba(m, 0xc4, 0, 4);
    CHECK(inb(m, 0x1f7) & ST_ERR);
    CHECK(inb(m, 0x1f1) == 0x04);
    ata_cmd_lba(m, 0xc6, 0, 3); /* not a power of two */
    CHECK(inb(m, 0x1f7) & ST_ERR);
    ata_cmd_lba(m, 0xc6, 0, 4);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10));
    int rises = rec.rises[14];
    ata_cmd_lba(m, 0xc4, 20, 6); /* blocks of 4 and 2 */
    static uint8_t buf[6 * 512];
    CHECK(inb(m, 0x1f7) & ST_DRQ); /* acknowledges the first interrupt */
    read_block(m, buf, 4 * 512);
    CHECK(inb(m, 0x1f7) & ST_DRQ);
    read_block(m, buf + 4 * 512, 2 * 512);
    CHECK(!(inb(m, 0x1f7) & ST_DRQ));
    CHECK(rec.rises[14] == rises + 2);
    CHECK(sector_is(buf, 20) && sector_is(buf + 5 * 512, 25));
    /* CHS: cylinder 1, head 2, sector 3 = (1*16 + 2)*63 + 2 = 1136 */
    outb(m, 0x1f6, 0xa0 | 2);
    outb(m, 0x1f2, 1);
    outb(m, 0x1f3, 3);
    outb(m, 0x1f4, 1);
    outb(m, 0x1f5, 0);
    outb(m, 0x1f7, 0x20);
    CHECK(inb(m, 0x1f7) & ST_DRQ);
    read_block(m, buf, 512);
    CHECK(sector_is(buf, 1136));
    /* sector 0 does not exist in CHS */
    outb(m, 0x1f3, 0);
    outb(m, 0x1f7, 0x20);
    CHECK((inb(m, 0x1f7) & ST_ERR) && inb(m, 0x1f1) == 0x10);
    machine_destroy(m);
    unlink(img);
}

static void test_ata_errors(void)
{
    const char *img = make_image(0, 1 * MiB, 0644);
    const char *ro = make_image(1, 64 * 1024, 0644);
    struct machine *m = ata_machine(img, false, NULL);
    /* unknown command */
    ata_cmd_lba(m, 0x55, 0, 1);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10 | ST_ERR));
    CHECK(inb(m, 0x1f1) == 0x04);
    CHECK(rec.level[14] == 0 && rec.rises[14] == 1);
    /* past the end: 2048 sectors, 2047 + 2 */
    ata_cmd_lba(m, 0x20, 2047, 2);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10 | ST_ERR));
    CHECK(inb(m, 0x1f1) == 0x10); /* IDNF */
    ata_cmd_lba(m, 0x30, 4000, 1);
    CHECK((inb(m, 0x1f7) & (ST_ERR | ST_DRQ)) == ST_ERR);
    CHECK(inb(m, 0x1f1) == 0x10);
    /* the last sector itself is fine */
    ata_cmd_lba(m, 0x20, 2047, 1);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10 | ST_DRQ));
    CHECK(inb(m, 0x1f1) == 0);
    /* IDENTIFY PACKET DEVICE: an ATA disk aborts it */
    ata_cmd_lba(m, 0xa1, 0, 0);
    CHECK((inb(m, 0x1f7) & ST_ERR) && inb(m, 0x1f1) == 0x04);
    machine_destroy(m);

    /* a read-only drive aborts writes and keeps its data */
    m = ata_machine(ro, true, NULL);
    ata_cmd_lba(m, 0x30, 3, 1);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10 | ST_ERR));
    CHECK(inb(m, 0x1f1) == 0x04);
    for (int i = 0; i < 256; i++)
        outw(m, 0x1f0, 0); /* ignored: no DRQ */
    ata_cmd_lba(m, 0x20, 3, 1);
    uint8_t buf[512];
    read_block(m, buf, 512);
    CHECK(sector_is(buf, 3));
    ata_cmd_lba(m, 0xe7, 0, 0); /* flushing a read-only drive is fine */
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10));
    machine_destroy(m);
    unlink(img);
    unlink(ro);
}

static void test_ata_missing_drive_and_nien(void)
{
    /* no drives at all: everything reads 0, commands do nothing */
    struct machine *m = ata_machine(NULL, false, NULL);
    CHECK(inb(m, 0x1f7) == 0 && inb(m, 0x3f6) == 0);
    outb(m, 0x1f2, 0x55);
    CHECK(inb(m, 0x1f2) == 0);
    outb(m, 0x1f7, 0xec);
    CHECK(inb(m, 0x1f7) == 0 && rec.rises[14] == 0);
    machine_destroy(m);

    /* master only: selecting the slave reads status 0 (xv6's probe) */
    const char *img = make_image(0, 1 * MiB, 0644);
    m = ata_machine(img, false, NULL);
    outb(m, 0x1f6, 0xe0 | 0x10);
    CHECK(inb(m, 0x1f7) == 0);
    outb(m, 0x1f7, 0xec);
    CHECK(inb(m, 0x1f7) == 0 && rec.rises[14] == 0);
    outb(m, 0x1f6, 0xe0);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10));
    CHECK(inb(m, 0x1f6) == 0xe0);
    /* nIEN masks INTRQ; clearing it lets a pending one through */
    outb(m, 0x3f6, 0x02);
    ata_cmd_lba(m, 0xe7, 0, 0);
    CHECK(rec.level[14] == 0 && rec.rises[14] == 0);
    outb(m, 0x3f6, 0x00);
    CHECK(rec.level[14] == 1);
    (void)inb(m, 0x1f7);
    CHECK(rec.level[14] == 0);
    /* SRST: busy while set, then the signature */
    ata_cmd_lba(m, 0x20, 7, 1); /* a transfer in progress is cancelled */
    outb(m, 0x3f6, 0x04);
    CHECK(inb(m, 0x3f6) & ST_BSY);
    outb(m, 0x3f6, 0x00);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10));
    CHECK(inb(m, 0x1f1) == 0x01);
    CHECK(inb(m, 0x1f2) == 1 && inb(m, 0x1f3) == 1 && inb(m, 0x1f4) == 0 &&
          inb(m, 0x1f5) == 0);
    CHECK(inw(m, 0x1f0) == 0); /* the read was cancelled */
    machine_destroy(m);

    /* two drives: the slave answers on its own */
    const char *img1 = make_image(1, 64 * 1024, 0644);
    m = ata_machine(img, false, img1);
    outb(m, 0x1f6, 0xf0);
    CHECK(inb(m, 0x1f7) == (ST_DRDY | 0x10));
    outb(m, 0x1f7, 0xec);
    uint16_t w[256];
    for (int i = 0; i < 256; i++)
        w[i] = inw(m, 0x1f0);
    CHECK(w[60] == 128);
    machine_destroy(m);
    unlink(img);
    unlink(img1);
}

static void test_ata_bad_images(void)
{
    char dir[] = "/tmp/popek-test-ide-dirXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK(ata_check_image("/nonexistent/popek.img", false) < 0);
    CHECKF(strstr(popek_error(), "cannot open IDE image /nonexistent/popek.img"),
           "%s", popek_error());
    const char *odd = make_image(0, 1000, 0644);
    CHECK(ata_check_image(odd, false) < 0);
    CHECKF(strstr(popek_error(), "not a multiple of 512"), "%s", popek_error());
    const char *empty = make_image(1, 0, 0644);
    CHECK(ata_check_image(empty, true) < 0);
    CHECKF(strstr(popek_error(), "is empty"), "%s", popek_error());
    const char *rofile = make_image(2, 4096, 0444);
    CHECK(ata_check_image(rofile, false) < 0);
    CHECKF(strstr(popek_error(), ",ro"), "%s", popek_error());
    CHECK(ata_check_image(rofile, true) == 0);
    CHECK(ata_check_image(dir, true) < 0);
    /* the device refuses them too */
    struct machine *m = new_machine(2 * MiB);
    m->cfg.ide[0].path = odd;
    m->cfg.n_ide = 1;
    CHECK(ata_create(m, &m->pio, 0x1f0, 0x3f6, IRQ(14)) < 0);
    machine_destroy(m);
    rmdir(dir);
    unlink(odd);
    unlink(empty);
    chmod(rofile, 0644);
    unlink(rofile);
}

/* ---- fw_cfg ---- */

static void fw_read(struct machine *m, uint16_t key, uint8_t *buf, unsigned n)
{
    outw(m, 0x510, key);
    for (unsigned i = 0; i < n; i++)
        buf[i] = inb(m, 0x511);
}

static void test_fw_cfg(void)
{
    struct machine *m = new_machine(64 * MiB);
    CHECK(fw_cfg_create(m, &m->pio, 0x510) == 0);
    uint8_t b[16];
    fw_read(m, 0x0000, b, 5);
    CHECK(!memcmp(b, "QEMU", 4) && b[4] == 0); /* 0 past the end */
    fw_read(m, 0x0001, b, 4);
    CHECK(io_get(b, 4) == 1); /* traditional interface, no DMA */
    fw_read(m, 0x0005, b, 2);
    CHECK(io_get(b, 2) == 1);
    fw_read(m, 0x000f, b, 2);
    CHECK(io_get(b, 2) == 1);
    fw_read(m, 0x0003, b, 8);
    CHECK(io_get(b, 4) == 64 * MiB && io_get(b + 4, 4) == 0);
    fw_read(m, 0x0019, b, 4);
    CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0);
    fw_read(m, 0x1234, b, 4); /* unknown */
    CHECK(io_get(b, 4) == 0);
    /* reselecting restarts at offset 0 */
    fw_read(m, 0x0000, b, 2);
    fw_read(m, 0x0000, b, 4);
    CHECK(!memcmp(b, "QEMU", 4));
    machine_destroy(m);
}

/* ---- pc-testdev ---- */

static void test_pc_testdev(void)
{
    struct machine *m = new_machine(2 * MiB);
    CHECK(pc_testdev_create(m, &m->pio, &m->mmio) == 0);
    outl(m, 0xe0, 0x12345678);
    CHECK(inl(m, 0xe0) == 0x12345678);
    CHECK(inb(m, 0xe1) == 0x56 && inw(m, 0xe2) == 0x1234);
    outb(m, 0xe2, 0xab);
    CHECK(inl(m, 0xe0) == 0x12ab5678);
    CHECK(inl(m, 0xe8) == 0x12ab5678); /* the byte-wise window */
    outw(m, 0xe9, 0xcdef);
    CHECK(inl(m, 0xe0) == 0x12cdef78);
    outl(m, 0xe4, 0x1000); /* flush page: accepted */
    /* IRQ lines */
    outb(m, 0x2000 + 5, 1);
    CHECK(rec.level[5] == 1 && rec.rises[5] == 1);
    outb(m, 0x2000 + 5, 0);
    CHECK(rec.level[5] == 0);
    outb(m, 0x2000 + 23, 0x80);
    CHECK(rec.level[23] == 1);
    /* scratch memory at 0xff000000 */
    uint8_t d[8];
    io_put(d, 4, 0xcafef00d);
    io_access(&m->mmio, 0xff000010, d, 4, true);
    memset(d, 0, sizeof(d));
    io_access(&m->mmio, 0xff000012, d, 2, false);
    CHECK(io_get(d, 2) == 0xcafe);
    io_put(d, 1, 0x5a);
    io_access(&m->mmio, 0xff00ffff, d, 1, true);
    d[0] = 0;
    io_access(&m->mmio, 0xff00ffff, d, 1, false);
    CHECK(d[0] == 0x5a);
    CHECK(m->mmio.unclaimed_reads == 0 && m->mmio.unclaimed_writes == 0);
    machine_destroy(m);
}

/* ---- CGA ---- */

static void test_cga(void)
{
    struct machine *m = new_machine(2 * MiB);
    CHECK(cga_create(m, &m->pio, 0x3d0) == 0);
    /* the text buffer starts blank: ' ' on light grey */
    CHECK(m->ram[0xb8000] == 0x20 && m->ram[0xb8001] == 0x07);
    CHECK(m->ram[0xbfffe] == 0x20 && m->ram[0xbffff] == 0x07);
    CHECK(m->ram[0xb7fff] == 0 && m->ram[0xc0000] == 0);
    /* cursor location registers, as xv6's cgaputc uses them */
    outb(m, 0x3d4, 0x0e);
    outb(m, 0x3d5, 0x01);
    outb(m, 0x3d4, 0x0f);
    outb(m, 0x3d5, 0x42);
    outb(m, 0x3d4, 0x0e);
    CHECK(inb(m, 0x3d4) == 0x0e);
    CHECK(inb(m, 0x3d5) == 0x01);
    outb(m, 0x3d4, 0x0f);
    CHECK(inb(m, 0x3d5) == 0x42);
    /* a word write sets index and data at once */
    outw(m, 0x3d4, 0x200c); /* start address high = 0x20 */
    outb(m, 0x3d4, 0x0c);
    CHECK(inb(m, 0x3d5) == 0x20);
    /* other registers are stored; mode 3 defaults readable */
    outb(m, 0x3d4, 0x0a);
    CHECK(inb(m, 0x3d5) == 0x0d); /* cursor start */
    outb(m, 0x3d5, 0x20);         /* cursor off */
    CHECK(inb(m, 0x3d5) == 0x20);
    outb(m, 0x3d4, 0x01);
    CHECK(inb(m, 0x3d5) == 0x4f); /* 80 columns */
    /* status: retrace comes and goes */
    uint8_t s1 = inb(m, 0x3da), s2 = inb(m, 0x3da);
    CHECK(((s1 ^ s2) & 0x08) && ((s1 | s2) & 0x01));
    /* reset restores the cursor and blanks the screen */
    m->ram[0xb8000] = 'X';
    machine_reset_devices(m);
    outb(m, 0x3d4, 0x0f);
    CHECK(inb(m, 0x3d5) == 0x00);
    CHECK(m->ram[0xb8000] == 0x20);
    machine_destroy(m);
}

/* ---- the console: an unfinished line is flushed by a timer ---- */

static void test_console_flush(void)
{
    struct machine *m = new_machine(2 * MiB);
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(p[1], 1);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    char buf[16];
    console_putc(m, 'a');
    console_putc(m, 'b');
    ssize_t n1 = read(p[0], buf, sizeof(buf)); /* still buffered */
    bool armed = m->console_flush.deadline != 0 && m->timers == &m->console_flush;
    uint64_t dl = m->console_flush.deadline;
    /* the run loop fires it when due */
    vtimer_del(m, &m->console_flush);
    m->console_flush.cb(m->console_flush.opaque);
    ssize_t n2 = read(p[0], buf, sizeof(buf));
    console_putc(m, 'c');
    console_putc(m, '\n'); /* a newline flushes at once */
    ssize_t n3 = read(p[0], buf + 2, sizeof(buf) - 2);
    vtimer_del(m, &m->console_flush);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(p[0]);
    close(p[1]);
    CHECK(n1 < 0);
    CHECK(armed && dl > clock_ns() - 1000000000ull);
    CHECK(n2 == 2 && buf[0] == 'a' && buf[1] == 'b');
    CHECK(n3 == 2 && buf[2] == 'c' && buf[3] == '\n');
    machine_destroy(m);
}

int main(void)
{
    RUN(test_ata_identify);
    RUN(test_ata_read_sectors);
    RUN(test_ata_write_and_flush);
    RUN(test_ata_multiple_and_chs);
    RUN(test_ata_errors);
    RUN(test_ata_missing_drive_and_nien);
    RUN(test_ata_bad_images);
    RUN(test_fw_cfg);
    RUN(test_pc_testdev);
    RUN(test_cga);
    RUN(test_console_flush);
    TEST_MAIN_END();
}
