/* cmdline.c - the multiboot command line reaches the guest (popek
 * --append, QEMU -append) and the kit's parameter helpers parse it.
 * popek-args: --append "n=123 name=abc hex=0x1f big=5k flag" */
#include "kit.h"

int main(struct multiboot_info *mbi)
{
    CHECK(kit_multiboot_ok, "booted with the multiboot magic");
    CHECK(mbi && (mbi->flags & MBI_FLAG_CMDLINE), "boot information has a command line");
    CHECK(mbi && (mbi->flags & MBI_FLAG_MEM) && mbi->mem_upper >= 1024,
          "boot information reports memory above 1 MiB");
    CHECK_EQ(kit_param_u32("n", 0), 123, "n=123");
    char buf[16];
    CHECK(kit_param("name", buf, sizeof(buf)) && !strcmp(buf, "abc"), "name=abc");
    CHECK_EQ(kit_param_u32("hex", 0), 0x1f, "hex=0x1f");
    CHECK_EQ(kit_param_u32("big", 0), 5000, "big=5k");
    CHECK(kit_param("flag", NULL, 0), "a bare word is a present parameter");
    CHECK_EQ(kit_param_u32("missing", 99), 99, "an absent parameter gives the default");
    CHECK(!kit_param("nam", NULL, 0), "a prefix of a name does not match");
    return 0;
}
