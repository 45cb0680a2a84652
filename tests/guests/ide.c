/* ide.c - the primary ATA channel in PIO mode against a fresh scratch disk
 * image (run_guests.sh creates it, attaches it with --ide and deletes it
 * afterwards): probing the master and the missing slave as xv6 does,
 * IDENTIFY DEVICE, reads of untouched (zero) sectors, WRITE SECTORS then
 * READ SECTORS / READ MULTIPLE back, FLUSH CACHE, IRQ 14 per data block
 * with nIEN clear and none with nIEN set, and the errors (IDNF past the
 * end, ABRT for an unknown command).  The same output under QEMU
 * (tests/guests/lib/qemu_check.sh attaches the scratch disk there too).  The "# disk-expect: LBA TEXT" lines
 * ask the runner to check, after popek exits, that sector LBA of the host
 * file starts with TEXT.
 * With bench=N on the command line it also times N one-sector PIO reads
 * (command, status poll, then 256 inw; and again with rep insw) and prints
 * the cost per sector (not part of the normal run: timings are never
 * compared); bench_inw=N / bench_insw=N time only one of the two.
 * scratch-disk: 1M */
#include "kit.h"

#define ATA_DATA 0x1f0
#define ATA_ERROR 0x1f1
#define ATA_COUNT 0x1f2
#define ATA_LBA0 0x1f3
#define ATA_LBA1 0x1f4
#define ATA_LBA2 0x1f5
#define ATA_DRIVE 0x1f6
#define ATA_STATUS 0x1f7
#define ATA_CMD 0x1f7
#define ATA_CTL 0x3f6
#define ST_BSY 0x80
#define ST_DRDY 0x40
#define ST_DRQ 0x08
#define ST_ERR 0x01

#define DISK_SECTORS 2048 /* scratch-disk: 1M */

static volatile uint32_t irq14_count;
static uint16_t buf[4 * 256];

static void on_irq14(struct kit_frame *f)
{
    (void)f;
    irq14_count++;
    (void)inb(ATA_STATUS); /* acknowledge the drive */
    kit_pic_eoi(14);
}

/* Wait until not busy; returns the status. */
static uint8_t ata_wait(void)
{
    uint8_t st;
    for (int i = 0; i < 1000000; i++)
        if (!((st = inb(ATA_STATUS)) & ST_BSY))
            return st;
    return 0xff;
}

static void ata_cmd(uint8_t cmd, uint32_t lba, uint8_t count)
{
    outb(ATA_DRIVE, (uint8_t)(0xe0 | ((lba >> 24) & 0x0f)));
    outb(ATA_COUNT, count);
    outb(ATA_LBA0, (uint8_t)lba);
    outb(ATA_LBA1, (uint8_t)(lba >> 8));
    outb(ATA_LBA2, (uint8_t)(lba >> 16));
    outb(ATA_CMD, cmd);
}

static void pio_in(uint16_t *p, unsigned words)
{
    __asm__ volatile("cld; rep insw" : "+D"(p), "+c"(words) : "d"(ATA_DATA) : "memory");
}

static void pio_out(const uint16_t *p, unsigned words)
{
    __asm__ volatile("cld; rep outsw" : "+S"(p), "+c"(words) : "d"(ATA_DATA) : "memory");
}

/* The text written at the start of sector lba. */
static void sector_text(uint32_t lba, char *out, size_t n)
{
    kit_snprintf(out, n, "popek ide sector %u", (unsigned)lba);
}

static void fill_sector(uint16_t *p, uint32_t lba)
{
    uint8_t *b = (uint8_t *)p;
    for (int i = 0; i < 512; i++)
        b[i] = (uint8_t)(lba * 3 + i);
    char t[32];
    sector_text(lba, t, sizeof(t));
    memcpy(b, t, strlen(t));
}

static bool sector_ok(const uint16_t *p, uint32_t lba)
{
    uint16_t want[256];
    fill_sector(want, lba);
    return !memcmp(p, want, 512);
}

/* One polled PIO sector read: command, status poll, 256 data words
 * (one inw each, or one rep insw). */
static void read_one(uint32_t lba, bool rep)
{
    ata_cmd(0x20, lba, 1);
    while ((inb(ATA_STATUS) & (ST_BSY | ST_DRQ)) != ST_DRQ)
        ;
    if (rep) {
        pio_in(buf, 256);
        return;
    }
    for (int i = 0; i < 256; i++)
        buf[i] = inw(ATA_DATA);
}

static void bench(uint32_t n, int first, int last)
{
    outb(ATA_CTL, 0x02); /* nIEN: polling only */
    for (int rep = first; rep <= last; rep++) {
        uint64_t t0 = rdtsc();
        for (uint32_t i = 0; i < n; i++)
            read_one(i % DISK_SECTORS, rep);
        uint64_t t1 = rdtsc();
        kit_printf("# bench: %u sector reads with %s: %u ns each (guest TSC "
                   "at 1 GHz: command + status + 256 words)\n", (unsigned)n,
                   rep ? "rep insw" : "256 inw", (unsigned)((t1 - t0) / n));
    }
    outb(ATA_CTL, 0x00);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    outb(ATA_CTL, 0x02); /* nIEN while probing */

    /* xv6's probe: the master answers, the missing slave reads 0. */
    outb(ATA_DRIVE, 0xe0);
    CHECK_EQ(ata_wait() & (ST_BSY | ST_DRDY), ST_DRDY, "master: ready");
    outb(ATA_DRIVE, 0xe0 | 0x10);
    bool slave = false;
    for (int i = 0; i < 1000; i++)
        if (inb(ATA_STATUS) != 0)
            slave = true;
    CHECK(!slave, "slave: absent (status reads 0)");
    outb(ATA_DRIVE, 0xe0);

    /* IDENTIFY DEVICE */
    ata_cmd(0xec, 0, 0);
    CHECK_EQ(ata_wait() & (ST_DRQ | ST_ERR), ST_DRQ, "IDENTIFY: data ready");
    pio_in(buf, 256);
    CHECK_EQ(buf[0] & 0x8000, 0, "IDENTIFY: an ATA device");
    CHECK(buf[49] & 0x0200, "IDENTIFY: LBA supported");
    CHECK_EQ(buf[60] | (uint32_t)buf[61] << 16, DISK_SECTORS, "IDENTIFY: 2048 sectors");
    char model[41];
    for (int i = 0; i < 20; i++) {
        model[2 * i] = (char)(buf[27 + i] >> 8);
        model[2 * i + 1] = (char)buf[27 + i];
    }
    model[40] = 0;
    for (int i = 39; i >= 0 && model[i] == ' '; i--)
        model[i] = 0;
    /* popek says "POPEK HARDDISK" (the unit tests check that), QEMU
     * "QEMU HARDDISK": the guest checks only that there is a name. */
    bool printable = model[0] != 0;
    for (int i = 0; model[i]; i++)
        printable &= model[i] >= 0x20 && model[i] < 0x7f;
    CHECK(printable, "IDENTIFY: a model name");
    CHECK(!(inb(ATA_STATUS) & ST_DRQ), "IDENTIFY: DRQ clear after 256 words");

    /* An untouched sector of the fresh image reads as zeros. */
    ata_cmd(0x20, 1000, 1);
    CHECK_EQ(ata_wait() & (ST_DRQ | ST_ERR), ST_DRQ, "read: data ready");
    pio_in(buf, 256);
    bool zero = true;
    for (int i = 0; i < 256; i++)
        zero &= buf[i] == 0;
    CHECK(zero, "read: a fresh sector is zero");

    /* WRITE SECTORS 10-12, then FLUSH CACHE. */
    ata_cmd(0x30, 10, 3);
    bool wrote = true;
    for (uint32_t s = 10; s < 13; s++) {
        wrote &= (ata_wait() & (ST_DRQ | ST_ERR)) == ST_DRQ;
        fill_sector(buf, s);
        pio_out(buf, 256);
    }
    CHECK(wrote, "write: DRQ for each of 3 sectors");
    CHECK_EQ(ata_wait() & (ST_DRQ | ST_ERR | ST_DRDY), ST_DRDY, "write: complete");
    ata_cmd(0xe7, 0, 0);
    CHECK_EQ(ata_wait() & (ST_ERR | ST_DRDY), ST_DRDY, "FLUSH CACHE: no error");

    /* READ SECTORS them back. */
    ata_cmd(0x20, 10, 3);
    bool same = true;
    for (uint32_t s = 10; s < 13; s++) {
        same &= (ata_wait() & (ST_DRQ | ST_ERR)) == ST_DRQ;
        pio_in(buf, 256);
        same &= sector_ok(buf, s);
    }
    CHECK(same, "read back: sectors 10-12 hold what was written");

    /* READ MULTIPLE with blocks of 2 sectors. */
    ata_cmd(0xc6, 0, 2);
    CHECK_EQ(ata_wait() & ST_ERR, 0, "SET MULTIPLE 2");
    ata_cmd(0xc4, 10, 3);
    CHECK_EQ(ata_wait() & ST_DRQ, ST_DRQ, "READ MULTIPLE: first block");
    pio_in(buf, 512);
    CHECK_EQ(ata_wait() & ST_DRQ, ST_DRQ, "READ MULTIPLE: second block");
    pio_in(buf + 512, 256);
    CHECK(sector_ok(buf, 10) && sector_ok(buf + 256, 11) && sector_ok(buf + 512, 12),
          "READ MULTIPLE: the same data");
    CHECK_EQ(ata_wait() & ST_DRQ, 0, "READ MULTIPLE: done");

    /* Interrupts: IRQ 14 once per data block with nIEN clear. */
    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    kit_set_handler(KIT_IRQ_BASE + 14, on_irq14);
    kit_pic_unmask(14);
    (void)inb(ATA_STATUS);
    outb(ATA_CTL, 0x00);
    ata_cmd(0x20, 10, 2);
    sti_hlt();
    cli();
    CHECK_EQ(irq14_count, 1, "IRQ 14 when the first sector is ready");
    pio_in(buf, 256);
    sti_hlt();
    cli();
    CHECK_EQ(irq14_count, 2, "IRQ 14 when the second sector is ready");
    pio_in(buf + 256, 256);
    CHECK(sector_ok(buf, 10) && sector_ok(buf + 256, 11), "interrupt-driven read: data");
    ata_cmd(0xe7, 0, 0);
    sti_hlt();
    cli();
    CHECK_EQ(irq14_count, 3, "IRQ 14 when FLUSH CACHE completes");
    outb(ATA_CTL, 0x02);
    ata_cmd(0xe7, 0, 0);
    sti();
    for (int i = 0; i < 1000; i++)
        pause();
    cli();
    CHECK_EQ(irq14_count, 3, "no IRQ 14 with nIEN set");
    (void)inb(ATA_STATUS);
    kit_pic_mask(14);

    /* Errors. */
    ata_cmd(0x20, DISK_SECTORS, 1);
    uint8_t st = ata_wait();
    CHECK_EQ(st & (ST_ERR | ST_DRQ), ST_ERR, "read past the end: ERR");
    /* A drive says IDNF (popek: the unit tests check it); QEMU ABRT. */
    CHECK(inb(ATA_ERROR) & (0x10 | 0x04), "read past the end: IDNF (or ABRT)");
    ata_cmd(0x55, 0, 0);
    CHECK_EQ(ata_wait() & ST_ERR, ST_ERR, "unknown command: ERR");
    CHECK_EQ(inb(ATA_ERROR), 0x04, "unknown command: ABRT");

    /* What the runner checks in the host file afterwards. */
    char t[32];
    for (uint32_t s = 10; s < 13; s++) {
        sector_text(s, t, sizeof(t));
        kit_printf("# disk-expect: %u %s\n", (unsigned)s, t);
    }

    uint32_t n = kit_param_u32("bench", 0);
    if (n)
        bench(n, 0, 1);
    if ((n = kit_param_u32("bench_inw", 0)))
        bench(n, 0, 0);
    if ((n = kit_param_u32("bench_insw", 0)))
        bench(n, 1, 1);
    return 0;
}
