/* fuzz_kernel.c - libFuzzer harness: load_kernel(), the format detection
 * in front of every loader, and kernel_probe() (--engine auto) on the same
 * bytes. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 3) {
        struct kernel_info ki;
        kernel_probe(data + 3, size - 3, &ki);
    }
    return fuzz_load(data, size, load_kernel);
}
