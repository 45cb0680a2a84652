/* load_kernel.c - the loaders' entry point: recognise the kernel format
 * (multiboot first, because a multiboot kernel may also carry other
 * headers; then Linux bzImage, then an uncompressed Linux vmlinux ELF) and
 * hand the image to that loader. */
#include <string.h>

#include "../core/util.h"
#include "boot_priv.h"

int load_kernel(struct machine *m, const struct boot_request *req,
                struct cpu_state *entry)
{
    const char *name = req->kernel_name ? req->kernel_name : "kernel";
    if (!req->kernel || req->kernel_len == 0)
        return fail("%s: empty file", name);
    memset(entry, 0, sizeof(*entry));
    if (multiboot_detect(req->kernel, req->kernel_len))
        return multiboot_load(m, req, entry);
    if (bzimage_detect(req->kernel, req->kernel_len))
        return bzimage_load(m, req, entry);
    if (vmlinux_detect(req->kernel, req->kernel_len))
        return vmlinux_load(m, req, entry);
    /* A multiboot magic with a wrong checksum: let the loader explain. */
    if (multiboot_find_header(req->kernel, req->kernel_len, false) >= 0)
        return multiboot_load(m, req, entry);
    return fail("%s: not a multiboot kernel or a Linux bzImage", name);
}
