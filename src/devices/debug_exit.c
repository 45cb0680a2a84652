/* debug_exit.c - QEMU's isa-debug-exit device on port 0xf4: the test guests
 * end a run by writing a value v there, and popek exits with (v << 1) | 1
 * (always odd, so it cannot be confused with popek's own statuses).  The
 * device is one byte wide at 0xf4; 0xf4-0xf7 are claimed so that 2- and
 * 4-byte writes reach it whole (their full value is used), while writes that
 * start at 0xf5-0xf7 are ignored.  Reads return 0xff. */
#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

static void debug_exit_io(void *dev, uint64_t offset, uint8_t *data,
                          unsigned len, bool is_write)
{
    struct machine *m = dev;
    if (!is_write) {
        io_put(data, len, 0xffffffffu);
        return;
    }
    if (offset != 0)
        return;
    uint32_t v = io_get(data, len);
    machine_request_stop(m, (int)((v << 1) | 1),
                         "guest wrote %#x to isa-debug-exit", v);
}

int debug_exit_create(struct machine *m, struct io_space *bus, uint16_t base)
{
    /* The device has no state of its own: the machine is its context. */
    return io_register(bus, base, 4, debug_exit_io, m, "isa-debug-exit");
}
