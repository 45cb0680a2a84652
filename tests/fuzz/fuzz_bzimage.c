/* fuzz_bzimage.c - libFuzzer harness: bzimage_load() on arbitrary bytes (plus an
 * optional initrd and command line, see fuzz_load in fuzz_common.h).  Any
 * crash, sanitizer report or hang is a bug: a bad image must give an
 * error message, nothing else. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_load(data, size, bzimage_load);
}
