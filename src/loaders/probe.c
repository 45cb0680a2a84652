/* probe.c - what kind of kernel a file holds, without loading it: used by
 * `--engine auto` to pick an engine that can run the guest, and to refuse
 * an engine that cannot before the guest boots.  Same detection order as
 * load_kernel(): multiboot, bzImage, vmlinux. */
#include <string.h>

#include "../core/util.h"
#include "boot_priv.h"
#include "elf_image.h"

int kernel_probe(const uint8_t *img, size_t len, struct kernel_info *ki)
{
    memset(ki, 0, sizeof(*ki));
    if (!img || !len)
        return -1;
    if (multiboot_detect(img, len)) {
        ki->format = "multiboot";
        /* An ELF64 image is entered in long mode; the a.out kludge and
         * ELF32 images in 32-bit protected mode. */
        ki->is64 = elf_is_elf(img, len) && len > 4 && img[4] == 2;
        return 0;
    }
    if (bzimage_detect(img, len)) {
        ki->format = "bzImage";
        ki->linux_kernel = true;
        ki->is64 = len > HDR_XLOADFLAGS + 2 &&
                   rd16(img + HDR_VERSION) >= 0x20c &&
                   (rd16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64);
        return 0;
    }
    if (vmlinux_detect(img, len)) {
        ki->format = "vmlinux";
        ki->linux_kernel = true;
        ki->is64 = len > 4 && img[4] == 2;
        return 0;
    }
    return -1;
}
