/* ata.c - the primary ATA (IDE) channel of a PC in PIO mode: the command
 * block at base (0x1f0-0x1f7), the control block at ctrl (0x3f6: device
 * control nIEN/SRST on write, alternate status on read), INTRQ on irq (14),
 * and two drives (master, slave) backed by host image files from
 * `--ide FILE[,ro]` (machine_config.ide).
 *
 * Commands: READ SECTORS (0x20/0x21), WRITE SECTORS (0x30/0x31), READ /
 * WRITE MULTIPLE (0xc4/0xc5) with SET MULTIPLE MODE (0xc6, up to 16
 * sectors a block), READ VERIFY (0x40/0x41), IDENTIFY DEVICE (0xec: model
 * "POPEK HARDDISK", LBA capacity, word 49 LBA bit), FLUSH CACHE (0xe7/0xea:
 * fdatasync of the image), SET FEATURES (write cache on/off, transfer
 * mode), INITIALIZE DEVICE PARAMETERS (CHS translation), EXECUTE DEVICE
 * DIAGNOSTIC, RECALIBRATE/SEEK and the power commands as no-ops; the
 * 48-bit commands READ/WRITE SECTORS EXT (0x24/0x34), READ/WRITE MULTIPLE
 * EXT (0x29/0x39), READ VERIFY EXT (0x42), READ NATIVE MAX ADDRESS EXT
 * (0x27), FLUSH CACHE EXT (IDENTIFY words 83/86 bit 10, 100-103).  CHS,
 * 28-bit and 48-bit LBA addressing: each write of a task file register
 * keeps the previous value as its "high order byte", read back with device
 * control HOB (bit 7) set.  Everything else is aborted (ERR, error ABRT),
 * as are writes to a read-only drive; a sector range past the end of the
 * image fails with IDNF and the task file naming the first bad sector.
 *
 * Commands complete at once (BSY is never seen).  A data block is ready
 * with DRQ set and, unless nIEN, INTRQ raised; INTRQ drops when the guest
 * reads the status register (not the alternate status) or a new command
 * is written.  The task file registers are written to both drives, as on
 * the cable; a missing drive reads status 0 (QEMU's and a pulled-down
 * bus's answer), so probes for it fail fast, and with no drive at all
 * every register reads 0.  Data goes to the host file with pread/pwrite;
 * with the drive's write cache disabled (SET FEATURES 0x82) every write
 * command is followed by fdatasync. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define SECTOR 512u
#define MAX_MULT 16u
#define LBA28_MAX 0x0fffffffu

/* status */
#define ST_BSY 0x80
#define ST_DRDY 0x40
#define ST_DSC 0x10
#define ST_DRQ 0x08
#define ST_ERR 0x01
/* error */
#define ER_UNC 0x40
#define ER_IDNF 0x10
#define ER_ABRT 0x04
/* device control */
#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB 0x80
/* drive/head */
#define SEL_LBA 0x40
#define SEL_DEV 0x10

struct ata_drive {
    bool present, ro, write_cache;
    int fd;
    const char *path;
    uint64_t sectors;
    uint16_t cyls, heads, spt;      /* default CHS geometry */
    uint16_t cur_heads, cur_spt;    /* current CHS translation */
    uint8_t status, error;
    uint8_t mult;                   /* sectors per block; 0 = disabled */
    char serial[21];
};

enum xfer { XFER_NONE, XFER_READ, XFER_WRITE, XFER_IDENTIFY };

struct ata {
    struct machine *m;
    struct irq_line irq;
    struct ata_drive d[2];
    /* the task file, shared by both drives */
    uint8_t feature, nsect, sect, lcyl, hcyl, select;
    /* the previous values ("high order bytes" of 48-bit commands, read
     * back with device control HOB set) */
    uint8_t hob_feature, hob_nsect, hob_sect, hob_lcyl, hob_hcyl;
    bool ext;                       /* the command is a 48-bit one */
    uint8_t ctl;
    bool intrq, irq_level;
    /* the PIO transfer in progress (on drive cur) */
    enum xfer xfer;
    int cur;
    unsigned block;                 /* sectors per DRQ block */
    uint64_t lba;                   /* first sector of the current block */
    uint32_t left;                  /* sectors after the current block */
    unsigned pos, end;              /* bytes of buf transferred / in block */
    uint8_t buf[MAX_MULT * SECTOR];
    /* statistics */
    uint64_t sectors_read, sectors_written, flushes;
};

static struct ata_drive *sel_drive(struct ata *a)
{
    return &a->d[(a->select & SEL_DEV) ? 1 : 0];
}

static void update_irq(struct ata *a)
{
    bool level = a->intrq && !(a->ctl & CTL_NIEN);
    if (level != a->irq_level) {
        a->irq_level = level;
        irq_set(a->irq, level);
    }
}

static void raise_intrq(struct ata *a)
{
    a->intrq = true;
    update_irq(a);
}

/* ---- addressing ---- */

/* The sector the task file names, or false if a CHS address is invalid. */
static bool tf_sector(struct ata *a, struct ata_drive *d, uint64_t *lba)
{
    if (a->ext) {
        *lba = (uint64_t)a->hob_hcyl << 40 | (uint64_t)a->hob_lcyl << 32 |
               (uint64_t)a->hob_sect << 24 | (uint64_t)a->hcyl << 16 |
               (uint64_t)a->lcyl << 8 | a->sect;
        return true;
    }
    if (a->select & SEL_LBA) {
        *lba = (uint64_t)(a->select & 0xf) << 24 | (uint64_t)a->hcyl << 16 |
               (uint64_t)a->lcyl << 8 | a->sect;
        return true;
    }
    unsigned cyl = (unsigned)a->hcyl << 8 | a->lcyl;
    unsigned head = a->select & 0xf;
    if (!a->sect || a->sect > d->cur_spt || head >= d->cur_heads)
        return false;
    *lba = ((uint64_t)cyl * d->cur_heads + head) * d->cur_spt + a->sect - 1;
    return true;
}

/* Point the task file at sector lba (after a transfer or an error). */
static void tf_set_sector(struct ata *a, struct ata_drive *d, uint64_t lba)
{
    if (a->ext) {
        a->sect = (uint8_t)lba;
        a->lcyl = (uint8_t)(lba >> 8);
        a->hcyl = (uint8_t)(lba >> 16);
        a->hob_sect = (uint8_t)(lba >> 24);
        a->hob_lcyl = (uint8_t)(lba >> 32);
        a->hob_hcyl = (uint8_t)(lba >> 40);
        return;
    }
    if (a->select & SEL_LBA) {
        a->sect = (uint8_t)lba;
        a->lcyl = (uint8_t)(lba >> 8);
        a->hcyl = (uint8_t)(lba >> 16);
        a->select = (uint8_t)((a->select & 0xf0) | ((lba >> 24) & 0xf));
        return;
    }
    if (!d->cur_heads || !d->cur_spt)
        return;
    uint64_t cyl = lba / ((uint64_t)d->cur_heads * d->cur_spt);
    uint64_t rest = lba % ((uint64_t)d->cur_heads * d->cur_spt);
    a->sect = (uint8_t)(rest % d->cur_spt + 1);
    a->lcyl = (uint8_t)cyl;
    a->hcyl = (uint8_t)(cyl >> 8);
    a->select = (uint8_t)((a->select & 0xf0) | ((rest / d->cur_spt) & 0xf));
}

static uint32_t tf_count(struct ata *a)
{
    if (a->ext) {
        uint32_t n = (uint32_t)a->hob_nsect << 8 | a->nsect;
        return n ? n : 65536;
    }
    return a->nsect ? a->nsect : 256;
}

/* ---- completion ---- */

static void cmd_ok(struct ata *a, struct ata_drive *d)
{
    d->status = ST_DRDY | ST_DSC;
    d->error = 0;
    a->xfer = XFER_NONE;
    raise_intrq(a);
}

static void cmd_error(struct ata *a, struct ata_drive *d, uint8_t err)
{
    d->status = ST_DRDY | ST_DSC | ST_ERR;
    d->error = err;
    a->xfer = XFER_NONE;
    raise_intrq(a);
}

/* Check the task file's sector range; on failure end the command. */
static bool range_ok(struct ata *a, struct ata_drive *d, uint64_t *lba,
                     uint32_t n)
{
    if (!tf_sector(a, d, lba)) {
        cmd_error(a, d, ER_IDNF);
        return false;
    }
    if (*lba >= d->sectors || n > d->sectors - *lba) {
        tf_set_sector(a, d, *lba < d->sectors ? d->sectors : *lba);
        cmd_error(a, d, ER_IDNF);
        return false;
    }
    return true;
}

/* ---- PIO data transfers ---- */

static void read_block(struct ata *a)
{
    struct ata_drive *d = &a->d[a->cur];
    uint32_t n = a->left < a->block ? a->left : a->block;
    size_t len = (size_t)n * SECTOR;
    ssize_t r = pread(d->fd, a->buf, len, (off_t)(a->lba * SECTOR));
    if (r != (ssize_t)len) {
        tf_set_sector(a, d, a->lba);
        cmd_error(a, d, ER_UNC);
        return;
    }
    a->left -= n;
    a->pos = 0;
    a->end = (unsigned)len;
    a->sectors_read += n;
    d->status = ST_DRDY | ST_DSC | ST_DRQ;
    raise_intrq(a);
}

static void write_block(struct ata *a)
{
    struct ata_drive *d = &a->d[a->cur];
    uint32_t n = a->end / SECTOR;
    ssize_t r = pwrite(d->fd, a->buf, a->end, (off_t)(a->lba * SECTOR));
    if (r != (ssize_t)a->end) {
        tf_set_sector(a, d, a->lba);
        cmd_error(a, d, ER_UNC);
        return;
    }
    a->sectors_written += n;
    a->lba += n;
    if (a->left) {
        uint32_t k = a->left < a->block ? a->left : a->block;
        a->left -= k;
        a->pos = 0;
        a->end = k * SECTOR;
        d->status = ST_DRDY | ST_DSC | ST_DRQ;
        raise_intrq(a);
        return;
    }
    if (!d->write_cache && fdatasync(d->fd) < 0) {
        cmd_error(a, d, ER_ABRT);
        return;
    }
    tf_set_sector(a, d, a->lba - 1);
    cmd_ok(a, d);
}

/* The guest consumed or filled the whole block in buf. */
static void block_done(struct ata *a)
{
    struct ata_drive *d = &a->d[a->cur];
    switch (a->xfer) {
    case XFER_READ:
        a->lba += a->end / SECTOR;
        if (a->left) {
            read_block(a);
        } else {
            tf_set_sector(a, d, a->lba - 1);
            d->status = ST_DRDY | ST_DSC; /* no interrupt after the last */
            a->xfer = XFER_NONE;
        }
        break;
    case XFER_IDENTIFY:
        d->status = ST_DRDY | ST_DSC;
        a->xfer = XFER_NONE;
        break;
    case XFER_WRITE:
        write_block(a);
        break;
    default:
        break;
    }
}

static void data_io(struct ata *a, uint8_t *data, unsigned len, bool is_write)
{
    struct ata_drive *d = &a->d[a->cur];
    bool active = a->xfer != XFER_NONE && (d->status & ST_DRQ) &&
                  sel_drive(a) == d &&
                  (is_write ? a->xfer == XFER_WRITE : a->xfer != XFER_WRITE);
    if (!active) {
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    unsigned n = len < a->end - a->pos ? len : a->end - a->pos;
    if (is_write)
        memcpy(a->buf + a->pos, data, n);
    else
        memcpy(data, a->buf + a->pos, n);
    if (!is_write && n < len)
        memset(data + n, 0, len - n);
    a->pos += n;
    if (a->pos == a->end)
        block_done(a);
}

/* ---- IDENTIFY DEVICE ---- */

static void id_string(uint16_t *w, unsigned words, const char *s)
{
    /* ATA strings: space padded, two characters a word, first one in the
     * high byte. */
    size_t n = strlen(s);
    for (unsigned i = 0; i < words; i++) {
        uint8_t hi = 2 * i < n ? (uint8_t)s[2 * i] : ' ';
        uint8_t lo = 2 * i + 1 < n ? (uint8_t)s[2 * i + 1] : ' ';
        w[i] = (uint16_t)(hi << 8 | lo);
    }
}

static void identify(struct ata *a, struct ata_drive *d)
{
    uint16_t w[256];
    memset(w, 0, sizeof(w));
    uint64_t lba28 = d->sectors > LBA28_MAX ? LBA28_MAX : d->sectors;
    uint64_t cur_cyls = d->sectors / ((uint64_t)d->cur_heads * d->cur_spt);
    if (cur_cyls > 65535)
        cur_cyls = 65535;
    uint64_t cur_cap = cur_cyls * d->cur_heads * d->cur_spt;
    w[0] = 0x0040;               /* fixed device */
    w[1] = d->cyls;
    w[3] = d->heads;
    w[6] = d->spt;
    id_string(&w[10], 10, d->serial);
    id_string(&w[23], 4, "1.0");
    id_string(&w[27], 20, "POPEK HARDDISK");
    w[47] = 0x8000 | MAX_MULT;
    w[49] = 0x0200;              /* LBA supported (no DMA) */
    w[50] = 0x4000;
    w[51] = 0x0200;              /* PIO mode 2 timing */
    w[53] = 0x0003;              /* words 54-58 and 64-70 valid */
    w[54] = (uint16_t)cur_cyls;
    w[55] = d->cur_heads;
    w[56] = d->cur_spt;
    w[57] = (uint16_t)cur_cap;
    w[58] = (uint16_t)(cur_cap >> 16);
    w[59] = d->mult ? (uint16_t)(0x0100 | d->mult) : 0;
    w[60] = (uint16_t)lba28;
    w[61] = (uint16_t)(lba28 >> 16);
    w[64] = 0x0003;              /* PIO modes 3 and 4 */
    w[65] = w[66] = w[67] = w[68] = 120;
    w[80] = 0x007e;              /* ATA-1 to ATA-6 */
    w[82] = 0x0020;              /* write cache */
    w[83] = 0x7400;              /* FLUSH CACHE (EXT), 48-bit addresses */
    w[84] = 0x4000;
    w[85] = d->write_cache ? 0x0020 : 0;
    w[86] = 0x3400;
    w[100] = (uint16_t)d->sectors;       /* 48-bit capacity */
    w[101] = (uint16_t)(d->sectors >> 16);
    w[102] = (uint16_t)(d->sectors >> 32);
    w[87] = 0x4000;
    for (unsigned i = 0; i < 256; i++)
        io_put(a->buf + 2 * i, 2, w[i]);
    a->xfer = XFER_IDENTIFY;
    a->pos = 0;
    a->end = SECTOR;
    d->status = ST_DRDY | ST_DSC | ST_DRQ;
    d->error = 0;
    raise_intrq(a);
}

/* ---- commands ---- */

static void set_signature(struct ata *a)
{
    a->nsect = 1;
    a->sect = 1;
    a->lcyl = 0;
    a->hcyl = 0;
    for (int i = 0; i < 2; i++) {
        a->d[i].error = 0x01; /* diagnostic passed */
        if (a->d[i].present)
            a->d[i].status = ST_DRDY | ST_DSC;
    }
}

static void start_read(struct ata *a, struct ata_drive *d, unsigned block)
{
    uint64_t lba;
    uint32_t n = tf_count(a);
    if (!range_ok(a, d, &lba, n))
        return;
    a->xfer = XFER_READ;
    a->block = block;
    a->lba = lba;
    a->left = n;
    read_block(a);
}

static void start_write(struct ata *a, struct ata_drive *d, unsigned block)
{
    uint64_t lba;
    uint32_t n = tf_count(a);
    if (d->ro) {
        cmd_error(a, d, ER_ABRT);
        return;
    }
    if (!range_ok(a, d, &lba, n))
        return;
    uint32_t k = n < block ? n : block;
    a->xfer = XFER_WRITE;
    a->block = block;
    a->lba = lba;
    a->left = n - k;
    a->pos = 0;
    a->end = k * SECTOR;
    d->status = ST_DRDY | ST_DSC | ST_DRQ; /* no interrupt for the first */
    d->error = 0;
}

static void flush(struct ata *a, struct ata_drive *d)
{
    a->flushes++;
    if (!d->ro && fdatasync(d->fd) < 0)
        cmd_error(a, d, ER_ABRT);
    else
        cmd_ok(a, d);
}

static void set_features(struct ata *a, struct ata_drive *d)
{
    switch (a->feature) {
    case 0x02: /* enable write cache */
        d->write_cache = true;
        break;
    case 0x82: /* disable write cache: flush what it holds */
        d->write_cache = false;
        if (!d->ro && fdatasync(d->fd) < 0) {
            cmd_error(a, d, ER_ABRT);
            return;
        }
        break;
    case 0x03: /* transfer mode: PIO modes only */
        if ((a->nsect >> 3) > 1) {
            cmd_error(a, d, ER_ABRT);
            return;
        }
        break;
    case 0x55: case 0xaa: /* read look-ahead off/on */
    case 0x66: case 0xcc: /* reverting to power-on defaults off/on */
        break;
    default:
        cmd_error(a, d, ER_ABRT);
        return;
    }
    cmd_ok(a, d);
}

static void command(struct ata *a, uint8_t cmd)
{
    struct ata_drive *d = sel_drive(a);
    if (!d->present) {
        if (cmd == 0x90 && a->d[0].present) /* diagnostic: both drives */
            d = &a->d[0];
        else
            return; /* nobody answers */
    }
    a->intrq = false;
    update_irq(a);
    a->xfer = XFER_NONE;
    a->cur = (int)(d - a->d);
    d->error = 0;
    a->ext = cmd == 0x24 || cmd == 0x29 || cmd == 0x34 || cmd == 0x39 ||
             cmd == 0x42 || cmd == 0x27;
    switch (cmd) {
    case 0x24: /* READ SECTORS EXT */
        start_read(a, d, 1);
        break;
    case 0x29: /* READ MULTIPLE EXT */
        if (!d->mult)
            cmd_error(a, d, ER_ABRT);
        else
            start_read(a, d, d->mult);
        break;
    case 0x34: /* WRITE SECTORS EXT */
        start_write(a, d, 1);
        break;
    case 0x39: /* WRITE MULTIPLE EXT */
        if (!d->mult)
            cmd_error(a, d, ER_ABRT);
        else
            start_write(a, d, d->mult);
        break;
    case 0x42: { /* READ VERIFY SECTORS EXT */
        uint64_t lba;
        if (range_ok(a, d, &lba, tf_count(a))) {
            tf_set_sector(a, d, lba + tf_count(a) - 1);
            cmd_ok(a, d);
        }
        break;
    }
    case 0x27: /* READ NATIVE MAX ADDRESS EXT */
        tf_set_sector(a, d, d->sectors - 1);
        cmd_ok(a, d);
        break;
    case 0x20: case 0x21: /* READ SECTORS (with/without retries) */
        start_read(a, d, 1);
        break;
    case 0xc4: /* READ MULTIPLE */
        if (!d->mult)
            cmd_error(a, d, ER_ABRT);
        else
            start_read(a, d, d->mult);
        break;
    case 0x30: case 0x31: /* WRITE SECTORS */
        start_write(a, d, 1);
        break;
    case 0xc5: /* WRITE MULTIPLE */
        if (!d->mult)
            cmd_error(a, d, ER_ABRT);
        else
            start_write(a, d, d->mult);
        break;
    case 0xc6: /* SET MULTIPLE MODE */
        if (a->nsect > MAX_MULT || (a->nsect & (a->nsect - 1))) {
            cmd_error(a, d, ER_ABRT);
        } else {
            d->mult = a->nsect;
            cmd_ok(a, d);
        }
        break;
    case 0x40: case 0x41: { /* READ VERIFY SECTORS */
        uint64_t lba;
        if (range_ok(a, d, &lba, tf_count(a))) {
            tf_set_sector(a, d, lba + tf_count(a) - 1);
            cmd_ok(a, d);
        }
        break;
    }
    case 0xec: /* IDENTIFY DEVICE */
        identify(a, d);
        break;
    case 0xe7: case 0xea: /* FLUSH CACHE (EXT) */
        flush(a, d);
        break;
    case 0xef: /* SET FEATURES */
        set_features(a, d);
        break;
    case 0x91: /* INITIALIZE DEVICE PARAMETERS */
        if (!a->nsect) {
            cmd_error(a, d, ER_ABRT);
        } else {
            d->cur_spt = a->nsect;
            d->cur_heads = (uint16_t)((a->select & 0xf) + 1);
            cmd_ok(a, d);
        }
        break;
    case 0x90: /* EXECUTE DEVICE DIAGNOSTIC */
        set_signature(a);
        a->select &= (uint8_t)~SEL_DEV;
        raise_intrq(a);
        break;
    case 0xe5: case 0x98: /* CHECK POWER MODE: active or idle */
        a->nsect = 0xff;
        cmd_ok(a, d);
        break;
    case 0x70: /* SEEK */
    case 0xe0: case 0xe1: case 0xe2: case 0xe3: /* standby/idle (now) */
    case 0x94: case 0x95: case 0x96: case 0x97:
        cmd_ok(a, d);
        break;
    default:
        if (cmd >= 0x10 && cmd <= 0x1f) { /* RECALIBRATE */
            cmd_ok(a, d);
            break;
        }
        cmd_error(a, d, ER_ABRT);
        break;
    }
}

static void soft_reset(struct ata *a)
{
    a->xfer = XFER_NONE;
    a->intrq = false;
    a->select = 0;
    set_signature(a);
    update_irq(a);
}

/* ---- the ports ---- */

static bool any_drive(struct ata *a)
{
    return a->d[0].present || a->d[1].present;
}

static uint8_t read_status(struct ata *a)
{
    if (a->ctl & CTL_SRST)
        return any_drive(a) ? ST_BSY : 0;
    struct ata_drive *d = sel_drive(a);
    return d->present ? d->status : 0;
}

static void cmd_block_io(void *dev, uint64_t offset, uint8_t *data,
                         unsigned len, bool is_write)
{
    struct ata *a = dev;
    if (offset == 0) {
        data_io(a, data, len, is_write);
        return;
    }
    if (len > 1) { /* byte registers: one at a time */
        for (unsigned i = 0; i < len && offset + i < 8; i++)
            cmd_block_io(dev, offset + i, data + i, 1, is_write);
        return;
    }
    if (is_write) {
        uint8_t v = data[0];
        if (offset >= 1 && offset <= 5)
            a->ctl &= (uint8_t)~CTL_HOB; /* a write clears HOB */
        switch (offset) {
        case 1: a->hob_feature = a->feature; a->feature = v; break;
        case 2: a->hob_nsect = a->nsect; a->nsect = v; break;
        case 3: a->hob_sect = a->sect; a->sect = v; break;
        case 4: a->hob_lcyl = a->lcyl; a->lcyl = v; break;
        case 5: a->hob_hcyl = a->hcyl; a->hcyl = v; break;
        case 6: a->select = v | 0xa0; break; /* bits 7 and 5: obsolete, 1 */
        case 7:
            if (!(a->ctl & CTL_SRST))
                command(a, v);
            break;
        }
        return;
    }
    uint8_t v = 0;
    bool hob = a->ctl & CTL_HOB;
    if (any_drive(a)) {
        switch (offset) {
        case 1: v = sel_drive(a)->present ? sel_drive(a)->error : 0; break;
        case 2: v = hob ? a->hob_nsect : a->nsect; break;
        case 3: v = hob ? a->hob_sect : a->sect; break;
        case 4: v = hob ? a->hob_lcyl : a->lcyl; break;
        case 5: v = hob ? a->hob_hcyl : a->hcyl; break;
        case 6: v = a->select; break;
        case 7:
            v = read_status(a);
            a->intrq = false;
            update_irq(a);
            break;
        }
    }
    data[0] = v;
}

static void ctl_block_io(void *dev, uint64_t offset, uint8_t *data,
                         unsigned len, bool is_write)
{
    struct ata *a = dev;
    (void)offset;
    if (!is_write) {
        memset(data, 0, len);
        data[0] = read_status(a);
        return;
    }
    uint8_t v = data[0];
    bool was_reset = a->ctl & CTL_SRST;
    a->ctl = v;
    if (v & CTL_SRST) {
        a->xfer = XFER_NONE;
        a->intrq = false;
    } else if (was_reset) {
        soft_reset(a);
    }
    update_irq(a);
}

/* ---- images ---- */

/* Open an image for a drive: regular file or block device, readable (and
 * writable unless ro), a non-zero multiple of 512 bytes.  Returns the fd
 * and its size, or -1 with fail(). */
static int open_image(const char *path, bool ro, uint64_t *size)
{
    int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (!ro && (e == EACCES || e == EROFS || e == EPERM) &&
            access(path, R_OK) == 0)
            return fail("IDE image %s cannot be opened for writing (%s): "
                        "attach it read-only with --ide %s,ro", path,
                        strerror(e), path);
        return fail("cannot open IDE image %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        close(fd);
        return fail("IDE image %s is not a regular file or block device",
                    path);
    }
    /* A file nobody may write (root could still open it read-write): the
     * user marked it read-only, so writing needs an explicit ,ro. */
    if (!ro && S_ISREG(st.st_mode) && !(st.st_mode & 0222)) {
        close(fd);
        return fail("IDE image %s is a read-only file: attach it read-only "
                    "with --ide %s,ro", path, path);
    }
    off_t end = lseek(fd, 0, SEEK_END);
    if (end <= 0 || end % SECTOR) {
        close(fd);
        if (end == 0)
            return fail("IDE image %s is empty", path);
        return fail("IDE image %s: size %lld bytes is not a multiple of "
                    "512", path, (long long)end);
    }
    *size = (uint64_t)end;
    return fd;
}

int ata_check_image(const char *path, bool ro)
{
    uint64_t size;
    int fd = open_image(path, ro, &size);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int attach(struct ata *a, int idx, const char *path, bool ro)
{
    struct ata_drive *d = &a->d[idx];
    uint64_t size;
    int fd = open_image(path, ro, &size);
    if (fd < 0)
        return -1;
    d->present = true;
    d->ro = ro;
    d->fd = fd;
    d->path = path;
    d->sectors = size / SECTOR;
    d->write_cache = true;
    d->heads = 16;
    d->spt = 63;
    uint64_t cyls = d->sectors / (16 * 63);
    d->cyls = (uint16_t)(cyls > 16383 ? 16383 : cyls ? cyls : 1);
    d->cur_heads = d->heads;
    d->cur_spt = d->spt;
    snprintf(d->serial, sizeof(d->serial), "POPEK%04d", idx + 1);
    return 0;
}

static void ata_reset(void *opaque)
{
    struct ata *a = opaque;
    a->ctl = 0;
    for (int i = 0; i < 2; i++) {
        a->d[i].mult = 0;
        a->d[i].status = 0;
    }
    soft_reset(a);
}

static void ata_destroy(void *opaque)
{
    struct ata *a = opaque;
    for (int i = 0; i < 2; i++)
        if (a->d[i].present)
            close(a->d[i].fd);
    free(a);
}

int ata_create(struct machine *m, struct io_space *bus, uint16_t base,
               uint16_t ctrl, struct irq_line irq)
{
    struct ata *a = calloc(1, sizeof(*a));
    if (!a || machine_add_device(m, "ata", a, ata_reset, ata_destroy) < 0) {
        free(a);
        return fail("out of memory");
    }
    a->m = m;
    a->irq = irq;
    if (m->cfg.n_ide > 2)
        return fail("at most two IDE drives (--ide) on the primary channel");
    for (int i = 0; i < m->cfg.n_ide; i++)
        if (attach(a, i, m->cfg.ide[i].path, m->cfg.ide[i].ro) < 0)
            return -1;
    ata_reset(a);
    if (io_register(bus, base, 8, cmd_block_io, a, "ata-cmd") < 0)
        return -1;
    return io_register(bus, ctrl, 1, ctl_block_io, a, "ata-ctl");
}

void ata_stats(struct machine *m, uint64_t *read, uint64_t *written,
               uint64_t *flushes)
{
    struct ata *a = machine_find_device(m, "ata");
    *read = a ? a->sectors_read : 0;
    *written = a ? a->sectors_written : 0;
    *flushes = a ? a->flushes : 0;
}
