/* post_port.c - port 0x80, where firmware and kernels write POST codes (and
 * Linux writes dummies to delay I/O).  Writes are accepted and remembered;
 * reads return the last value written, as on most chipsets. */
#include <stdlib.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

struct post_port {
    uint8_t last;
};

static void post_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                    bool is_write)
{
    struct post_port *p = dev;
    (void)offset;
    if (is_write)
        p->last = data[0];
    else
        io_put(data, len, p->last * 0x01010101u);
}

int post_port_create(struct machine *m, struct io_space *bus, uint16_t base)
{
    if (machine_find_device(m, "post"))
        return fail("the POST port already exists on this machine");
    struct post_port *p = calloc(1, sizeof(*p));
    if (!p || machine_add_device(m, "post", p, NULL, NULL) < 0) {
        free(p);
        return fail("out of memory");
    }
    return io_register(bus, base, 1, post_io, p, "post");
}
