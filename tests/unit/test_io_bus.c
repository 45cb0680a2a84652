/* test_io_bus.c - unit tests of the port/MMIO bus (src/core/io_bus.c):
 * overlap refusal, dispatch with offsets relative to the registered base,
 * unclaimed accesses (all ones, counted), accesses straddling the end of a
 * range (split bytewise), and RAM ranges in the memory map. */
#include "core/io_bus.h"
#include "core/util.h"
#include "test.h"

/* A device that records its last access and answers reads with
 * 0xa0 + offset in every byte. */
struct recorder {
    int calls;
    uint64_t offset;
    unsigned len;
    bool is_write;
    uint32_t value;
};

static void recorder_io(void *dev, uint64_t offset, uint8_t *data,
                        unsigned len, bool is_write)
{
    struct recorder *r = dev;
    r->calls++;
    r->offset = offset;
    r->len = len;
    r->is_write = is_write;
    if (is_write) {
        r->value = io_get(data, len);
    } else {
        for (unsigned i = 0; i < len; i++)
            data[i] = (uint8_t)(0xa0 + offset + i);
    }
}

static void test_overlap_refused(void)
{
    struct io_space s;
    struct recorder r = {0};
    io_space_init(&s, "port");
    CHECK(io_register(&s, 0x100, 0x10, recorder_io, &r, "a") == 0);
    CHECK(io_register(&s, 0x108, 0x10, recorder_io, &r, "b") < 0);
    CHECK(strstr(popek_error(), "overlaps") != NULL);
    CHECK(io_register(&s, 0xf8, 0x9, recorder_io, &r, "c") < 0);
    CHECK(io_register(&s, 0x100, 1, recorder_io, &r, "d") < 0);
    CHECK(io_register(&s, 0x10f, 1, recorder_io, &r, "e") < 0);
    CHECK(io_register(&s, 0x0f0, 0x10, recorder_io, &r, "f") == 0);
    CHECK(io_register(&s, 0x110, 0x10, recorder_io, &r, "g") == 0);
    CHECK(io_register(&s, 0x200, 0, recorder_io, &r, "empty") < 0);
    CHECK(io_register(&s, ~0ull - 1, 4, recorder_io, &r, "wrap") < 0);
    CHECK(s.n == 3);
    CHECK(io_find(&s, 0x10f) && strcmp(io_find(&s, 0x10f)->name, "a") == 0);
    CHECK(io_find(&s, 0x110) && strcmp(io_find(&s, 0x110)->name, "g") == 0);
    CHECK(io_find(&s, 0x120) == NULL);
    io_space_free(&s);
}

static void test_dispatch_offsets(void)
{
    struct io_space s;
    struct recorder r = {0};
    io_space_init(&s, "port");
    CHECK(io_register(&s, 0x3f8, 8, recorder_io, &r, "dev") == 0);
    uint8_t d[4] = {0x34, 0x12, 0, 0};
    io_access(&s, 0x3fa, d, 2, true);
    CHECK(r.calls == 1 && r.offset == 2 && r.len == 2 && r.is_write);
    CHECK(r.value == 0x1234);
    io_access(&s, 0x3fc, d, 4, false);
    CHECK(r.calls == 2 && r.offset == 4 && r.len == 4 && !r.is_write);
    CHECK(d[0] == 0xa4 && d[3] == 0xa7);
    CHECK(s.unclaimed_reads == 0 && s.unclaimed_writes == 0);
    io_space_free(&s);
}

static void test_unclaimed(void)
{
    struct io_space s;
    struct recorder r = {0};
    io_space_init(&s, "port");
    CHECK(io_register(&s, 0x60, 1, recorder_io, &r, "dev") == 0);
    uint8_t d[4] = {1, 2, 3, 4};
    io_access(&s, 0x61, d, 4, false);
    CHECK(d[0] == 0xff && d[1] == 0xff && d[2] == 0xff && d[3] == 0xff);
    CHECK(s.unclaimed_reads == 1 && s.last_unclaimed == 0x61);
    io_access(&s, 0x1234, d, 1, true);
    CHECK(s.unclaimed_writes == 1 && s.last_unclaimed == 0x1234);
    /* An access that starts unclaimed is unclaimed as a whole. */
    d[0] = 0;
    io_access(&s, 0x5f, d, 2, false);
    CHECK(d[0] == 0xff && d[1] == 0xff && s.unclaimed_reads == 2);
    CHECK(r.calls == 0);
    io_space_free(&s);
}

static void test_split_straddling(void)
{
    struct io_space s;
    struct recorder r = {0};
    io_space_init(&s, "port");
    CHECK(io_register(&s, 0x200, 2, recorder_io, &r, "dev") == 0);
    uint8_t d[4] = {0};
    /* Bytes 0x201 (claimed) and 0x202-0x204 (unclaimed). */
    io_access(&s, 0x201, d, 4, false);
    CHECK(r.calls == 1 && r.offset == 1 && r.len == 1);
    CHECK(d[0] == 0xa1 && d[1] == 0xff && d[2] == 0xff && d[3] == 0xff);
    CHECK(s.unclaimed_reads == 3);
    uint8_t w[2] = {0x55, 0x66};
    io_access(&s, 0x201, w, 2, true);
    CHECK(r.calls == 2 && r.is_write && r.value == 0x55 && r.len == 1);
    CHECK(s.unclaimed_writes == 1);
    io_space_free(&s);
}

static void test_ram_range(void)
{
    struct io_space s;
    struct recorder r = {0};
    uint8_t ram[64] = {0};
    io_space_init(&s, "mmio");
    CHECK(io_register_ram(&s, 0x1000, sizeof(ram), ram, "ram") == 0);
    CHECK(io_register(&s, 0x1020, 0x10, recorder_io, &r, "mmio") < 0);
    CHECK(io_register(&s, 0x1040, 0x10, recorder_io, &r, "mmio") == 0);
    uint8_t d[4] = {0xde, 0xad, 0xbe, 0xef};
    io_access(&s, 0x1008, d, 4, true);
    CHECK(ram[8] == 0xde && ram[11] == 0xef);
    uint8_t q[4] = {0};
    io_access(&s, 0x1008, q, 4, false);
    CHECK(memcmp(q, d, 4) == 0);
    io_access(&s, 0x1044, q, 1, false);
    CHECK(r.calls == 1 && r.offset == 4 && q[0] == 0xa4);
    io_space_free(&s);
}

/* Removing a range (a PCI BAR moving): only the exact range of that device
 * goes, its neighbours stay, and the freed space can be taken again. */
static void test_unregister(void)
{
    struct io_space s;
    struct recorder a = {0}, b = {0};
    uint8_t ram[16] = {0};
    io_space_init(&s, "mmio");
    CHECK(io_register_ram(&s, 0, sizeof(ram), ram, "ram") == 0);
    CHECK(io_register(&s, 0x100, 0x10, recorder_io, &a, "a") == 0);
    CHECK(io_register(&s, 0x110, 0x10, recorder_io, &b, "b") == 0);
    CHECK(io_unregister(&s, 0x100, &b) < 0);  /* not b's range */
    CHECK(io_unregister(&s, 0x104, &a) < 0);  /* not a range base */
    CHECK(io_unregister(&s, 0, NULL) < 0);    /* RAM is not removable */
    CHECK(io_unregister(&s, 0x100, &a) == 0);
    CHECK(s.n == 2);
    uint8_t d[1] = {0};
    io_access(&s, 0x100, d, 1, false);
    CHECK(a.calls == 0 && d[0] == 0xff && s.unclaimed_reads == 1);
    io_access(&s, 0x111, d, 1, false);
    CHECK(b.calls == 1 && d[0] == 0xa1);
    CHECK(io_unregister(&s, 0x100, &a) < 0);  /* already gone */
    CHECK(io_register(&s, 0x108, 0x8, recorder_io, &a, "a2") == 0);
    io_access(&s, 0x10a, d, 1, false);
    CHECK(a.calls == 1 && a.offset == 2);
    io_space_free(&s);
}

int main(void)
{
    RUN(test_unregister);
    RUN(test_overlap_refused);
    RUN(test_dispatch_offsets);
    RUN(test_unclaimed);
    RUN(test_split_straddling);
    RUN(test_ram_range);
    TEST_MAIN_END();
}
