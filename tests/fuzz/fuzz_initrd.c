/* fuzz_initrd.c - libFuzzer harness: initrd_check(), the validation of
 * cpio / gzip / xz / zstd initrds (possibly concatenated) before boot. */
#include "fuzz_common.h"
#include "loaders/boot_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    initrd_check(data, size, "fuzz-initrd");
    return 0;
}
