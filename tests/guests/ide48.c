/* ide48.c - 48-bit LBA on the primary ATA channel, against a sparse 16 GiB
 * scratch image (2^25 sectors: sector numbers above 2^24 need the high
 * order bytes): IDENTIFY reports the 48-bit feature set and capacity
 * (words 83/86 bit 10, 100-103); the task file registers keep their
 * previous value, read back with device control HOB set; WRITE SECTORS EXT
 * of two sectors at 0x1000010 then READ SECTORS EXT back (polled, nIEN);
 * READ NATIVE MAX ADDRESS EXT.  Same output under QEMU TCG.  The "# disk-expect" lines have the runner check the host file.
 * scratch-disk: 16G */
#include "kit.h"

#define ATA_DATA 0x1f0
#define ATA_COUNT 0x1f2
#define ATA_LBA0 0x1f3
#define ATA_LBA1 0x1f4
#define ATA_LBA2 0x1f5
#define ATA_DRIVE 0x1f6
#define ATA_STATUS 0x1f7
#define ATA_CMD 0x1f7
#define ATA_CTL 0x3f6
#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_BSY 0x80
#define CTL_NIEN 0x02
#define CTL_HOB 0x80

#define SECTORS (1ull << 25) /* 16 GiB */
#define LBA 0x1000010ull

static uint16_t buf[2 * 256];

static uint8_t ata_wait(void)
{
    uint8_t st;
    for (int i = 0; i < 1000000; i++)
        if (!((st = inb(ATA_STATUS)) & ST_BSY))
            return st;
    return 0xff;
}

/* A 48-bit command: each register written twice, high order byte first. */
static void ata_cmd48(uint8_t cmd, uint64_t lba, uint16_t count)
{
    outb(ATA_DRIVE, 0xe0);
    outb(ATA_COUNT, (uint8_t)(count >> 8));
    outb(ATA_LBA0, (uint8_t)(lba >> 24));
    outb(ATA_LBA1, (uint8_t)(lba >> 32));
    outb(ATA_LBA2, (uint8_t)(lba >> 40));
    outb(ATA_COUNT, (uint8_t)count);
    outb(ATA_LBA0, (uint8_t)lba);
    outb(ATA_LBA1, (uint8_t)(lba >> 8));
    outb(ATA_LBA2, (uint8_t)(lba >> 16));
    outb(ATA_CMD, cmd);
}

/* The LBA the task file holds (both halves). */
static uint64_t tf_lba48(void)
{
    uint64_t lo = inb(ATA_LBA0) | (uint32_t)inb(ATA_LBA1) << 8 |
                  (uint32_t)inb(ATA_LBA2) << 16;
    outb(ATA_CTL, CTL_NIEN | CTL_HOB);
    uint64_t hi = inb(ATA_LBA0) | (uint32_t)inb(ATA_LBA1) << 8 |
                  (uint32_t)inb(ATA_LBA2) << 16;
    outb(ATA_CTL, CTL_NIEN);
    return hi << 24 | lo;
}

static void fill(uint16_t *p, uint64_t lba)
{
    uint8_t *b = (uint8_t *)p;
    for (int i = 0; i < 512; i++)
        b[i] = (uint8_t)(lba * 5 + i);
    kit_snprintf((char *)b, 32, "popek lba48 %x", (unsigned)lba);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    outb(ATA_CTL, CTL_NIEN);
    outb(ATA_DRIVE, 0xe0);

    outb(ATA_CMD, 0xec); /* IDENTIFY DEVICE */
    CHECK_EQ(ata_wait() & (ST_DRQ | ST_ERR), ST_DRQ, "IDENTIFY: data ready");
    for (int i = 0; i < 256; i++)
        buf[i] = inw(ATA_DATA);
    CHECK(buf[83] & 0x0400, "IDENTIFY: 48-bit address feature set supported");
    CHECK(buf[86] & 0x0400, "IDENTIFY: ... and enabled");
    uint64_t cap = buf[100] | (uint64_t)buf[101] << 16 |
                   (uint64_t)buf[102] << 32 | (uint64_t)buf[103] << 48;
    CHECK(cap == SECTORS, "IDENTIFY: 48-bit capacity 2^25 sectors");
    CHECK_EQ(buf[60] | (uint32_t)buf[61] << 16, SECTORS,
             "IDENTIFY: 28-bit capacity the same (below 2^28)");

    outb(ATA_COUNT, 0x12);
    outb(ATA_COUNT, 0x34);
    CHECK_EQ(inb(ATA_COUNT), 0x34, "sector count reads the last value");
    outb(ATA_CTL, CTL_NIEN | CTL_HOB);
    CHECK_EQ(inb(ATA_COUNT), 0x12, "... and with HOB set the one before");
    outb(ATA_CTL, CTL_NIEN);

    fill(buf, LBA);
    fill(buf + 256, LBA + 1);
    ata_cmd48(0x34, LBA, 2); /* WRITE SECTORS EXT */
    bool ok = true;
    for (int s = 0; s < 2; s++) {
        ok &= (ata_wait() & (ST_DRQ | ST_ERR)) == ST_DRQ;
        for (int i = 0; i < 256; i++)
            outw(ATA_DATA, buf[s * 256 + i]);
    }
    ok &= !(ata_wait() & (ST_ERR | ST_DRQ));
    CHECK(ok, "WRITE SECTORS EXT: 2 sectors at 0x1000010");

    memset(buf, 0, sizeof(buf));
    ata_cmd48(0x24, LBA, 2); /* READ SECTORS EXT */
    ok = true;
    for (int s = 0; s < 2; s++) {
        ok &= (ata_wait() & (ST_DRQ | ST_ERR)) == ST_DRQ;
        for (int i = 0; i < 256; i++)
            buf[s * 256 + i] = inw(ATA_DATA);
    }
    uint16_t want[512];
    fill(want, LBA);
    fill(want + 256, LBA + 1);
    CHECK(ok && !memcmp(buf, want, sizeof(want)),
          "READ SECTORS EXT reads them back");

    outb(ATA_CMD, 0xea); /* FLUSH CACHE EXT */
    CHECK_EQ(ata_wait() & ST_ERR, 0, "FLUSH CACHE EXT");

    outb(ATA_CMD, 0x27); /* READ NATIVE MAX ADDRESS EXT */
    CHECK_EQ(ata_wait() & ST_ERR, 0, "READ NATIVE MAX ADDRESS EXT");
    CHECK(tf_lba48() == SECTORS - 1, "... names the last sector");


    kit_printf("# disk-expect: %u popek lba48 %x\n", (unsigned)LBA, (unsigned)LBA);
    kit_printf("# disk-expect: %u popek lba48 %x\n", (unsigned)LBA + 1,
               (unsigned)LBA + 1);
    kit_done();
}
