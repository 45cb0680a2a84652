/* initrd.c - checks a Linux initrd before it is loaded, so that a truncated
 * or wrong file gives a clear error instead of a kernel panic deep into the
 * boot.  Like the kernel's unpack_to_rootfs(), it accepts a sequence of
 * members: cpio newc archives (walked entry by entry up to TRAILER!!!),
 * zero padding, and gzip (fully inflated with zlib, CRC checked), xz (stream
 * footer checked) or zstd (frames and blocks walked) compressed archives. */
#include <string.h>
#include <zlib.h>

#include "../core/util.h"
#include "boot_priv.h"

#define CPIO_HDR 110

static int hexfield(const uint8_t *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        uint8_t c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* Walk a cpio newc archive at p; on success *used is its length (to the
 * end of the TRAILER!!! entry, 4-byte aligned). */
static int check_cpio(const uint8_t *p, size_t len, size_t base,
                      const char *name, size_t *used)
{
    size_t off = 0;
    for (;;) {
        if (len - off < CPIO_HDR)
            return fail("%s: truncated: cpio archive ends at offset %zu "
                        "without its TRAILER!!! entry", name, base + off);
        const uint8_t *h = p + off;
        if (memcmp(h, "070701", 6) && memcmp(h, "070702", 6))
            return fail("%s: corrupt cpio archive: bad entry magic at offset "
                        "%zu", name, base + off);
        uint32_t filesize, namesize;
        if (hexfield(h + 54, &filesize) || hexfield(h + 94, &namesize))
            return fail("%s: corrupt cpio archive: bad header at offset %zu",
                        name, base + off);
        if (namesize == 0 || namesize > len - off - CPIO_HDR)
            return fail("%s: truncated: cpio entry name at offset %zu runs "
                        "past the end of the file", name, base + off);
        const uint8_t *fname = h + CPIO_HDR;
        bool trailer = namesize == 11 && !memcmp(fname, "TRAILER!!!", 11);
        size_t data = (size_t)align_up(off + CPIO_HDR + namesize, 4);
        if (data > len || filesize > len - data)
            return fail("%s: truncated: cpio entry \"%.*s\" at offset %zu "
                        "needs %u data bytes past the end of the file", name,
                        (int)(namesize > 64 ? 64 : namesize - 1), fname,
                        base + off, filesize);
        off = (size_t)align_up(data + filesize, 4);
        if (off > len)
            off = len;
        if (trailer) {
            *used = off;
            return 0;
        }
    }
}

/* Inflate a gzip member completely (zlib checks the CRC and length); the
 * output is discarded except its first bytes, which must start a cpio
 * archive.  *used is the compressed length. */
static int check_gzip(const uint8_t *p, size_t len, size_t base,
                      const char *name, size_t *used)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return fail("%s: cannot initialise zlib", name);
    uint8_t out[16384], head[6];
    size_t head_len = 0;
    size_t done = 0;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        size_t chunk = len - done > (1u << 30) ? (1u << 30) : len - done;
        z.next_in = (Bytef *)(uintptr_t)(p + done);
        z.avail_in = (uInt)chunk;
        do {
            z.next_out = out;
            z.avail_out = sizeof(out);
            rc = inflate(&z, Z_NO_FLUSH);
            size_t got = sizeof(out) - z.avail_out;
            while (head_len < sizeof(head) && got) {
                head[head_len] = out[head_len];
                head_len++;
                got--;
            }
        } while (rc == Z_OK && z.avail_out == 0);
        done += chunk - z.avail_in;
        if (rc == Z_BUF_ERROR) {
            inflateEnd(&z);
            return fail("%s: truncated: gzip stream at offset %zu ends before "
                        "its trailer", name, base);
        }
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            const char *why = z.msg ? z.msg : "data error";
            inflateEnd(&z);
            return fail("%s: corrupt gzip stream at offset %zu: %s", name,
                        base, why);
        }
        if (rc != Z_STREAM_END && done == len) {
            inflateEnd(&z);
            return fail("%s: truncated: gzip stream at offset %zu ends before "
                        "its trailer", name, base);
        }
    }
    inflateEnd(&z);
    if (head_len < 6 || (memcmp(head, "070701", 6) && memcmp(head, "070702", 6)))
        return fail("%s: gzip stream at offset %zu does not contain a cpio "
                    "newc archive", name, base);
    *used = done;
    return 0;
}

/* xz: the stream must end with a 12-byte footer whose magic is "YZ" (only
 * the last member of an initrd can be checked this cheaply). */
static int check_xz(const uint8_t *p, size_t len, size_t base,
                    const char *name, size_t *used)
{
    size_t end = len;
    while (end > 0 && p[end - 1] == 0) /* stream padding */
        end--;
    if (end < 24 || p[end - 2] != 'Y' || p[end - 1] != 'Z')
        return fail("%s: truncated: xz stream at offset %zu has no stream "
                    "footer", name, base);
    *used = len;
    return 0;
}

/* zstd: walk frame headers and block headers to the last block. */
static int check_zstd(const uint8_t *p, size_t len, size_t base,
                      const char *name, size_t *used)
{
    size_t off = 4;
    if (len < 5)
        goto truncated;
    uint8_t fhd = p[off++];
    unsigned fcs_flag = fhd >> 6, single = (fhd >> 5) & 1;
    unsigned checksum = (fhd >> 2) & 1, did_flag = fhd & 3;
    if (fhd & 0x08)
        return fail("%s: corrupt zstd frame at offset %zu: reserved bit set",
                    name, base);
    static const unsigned did_len[4] = {0, 1, 2, 4};
    static const unsigned fcs_len[4] = {0, 2, 4, 8};
    size_t hdr = (single ? 0 : 1) + did_len[did_flag] +
                 (fcs_flag == 0 && single ? 1 : fcs_len[fcs_flag]);
    if (len - off < hdr)
        goto truncated;
    off += hdr;
    for (;;) {
        if (len - off < 3)
            goto truncated;
        uint32_t bh = p[off] | (p[off + 1] << 8) | ((uint32_t)p[off + 2] << 16);
        off += 3;
        unsigned last = bh & 1, type = (bh >> 1) & 3;
        uint32_t size = bh >> 3;
        if (type == 3)
            return fail("%s: corrupt zstd frame at offset %zu: reserved "
                        "block type", name, base);
        size_t body = type == 1 ? 1 : size;
        if (len - off < body)
            goto truncated;
        off += body;
        if (last)
            break;
    }
    if (checksum) {
        if (len - off < 4)
            goto truncated;
        off += 4;
    }
    *used = off;
    return 0;
truncated:
    return fail("%s: truncated: zstd frame at offset %zu ends before its "
                "last block", name, base);
}

int initrd_check(const uint8_t *p, size_t len, const char *name)
{
    if (!p || len == 0)
        return fail("%s: empty file", name);
    size_t off = 0;
    bool any = false;
    while (off < len) {
        const uint8_t *q = p + off;
        size_t n = len - off, used = 0;
        int rc;
        if (q[0] == 0) { /* padding between members */
            off++;
            continue;
        }
        if (n >= 6 && (!memcmp(q, "070701", 6) || !memcmp(q, "070702", 6)))
            rc = check_cpio(q, n, off, name, &used);
        else if (n >= 2 && q[0] == 0x1f && q[1] == 0x8b)
            rc = check_gzip(q, n, off, name, &used);
        else if (n >= 6 && !memcmp(q, "\xfd" "7zXZ\0", 6))
            rc = check_xz(q, n, off, name, &used);
        else if (n >= 4 && !memcmp(q, "\x28\xb5\x2f\xfd", 4))
            rc = check_zstd(q, n, off, name, &used);
        else if (!any)
            return fail("%s: not an initramfs: neither a cpio newc archive "
                        "nor gzip/xz/zstd-compressed", name);
        else
            return fail("%s: unrecognised data at offset %zu after the "
                        "initramfs archive", name, off);
        if (rc < 0)
            return -1;
        any = true;
        off += used ? used : 1;
    }
    if (!any)
        return fail("%s: contains only zero bytes", name);
    return 0;
}
