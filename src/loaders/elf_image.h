/* elf_image.h - a strict reader of ELF32/ELF64 x86 executables for the
 * multiboot loader: validates the headers of an untrusted image and lists
 * its PT_LOAD segments.  Every offset and size is checked against the file. */
#ifndef POPEK_ELF_IMAGE_H
#define POPEK_ELF_IMAGE_H
#include <stddef.h>
#include <stdint.h>

#define ELF_MAX_LOAD_SEGS 64

struct elf_seg {
    uint64_t offset, vaddr, paddr, filesz, memsz;
};

struct elf_image {
    int bits;          /* 32 or 64 */
    uint64_t entry;    /* e_entry as written (virtual) */
    unsigned nseg;     /* PT_LOAD segments */
    struct elf_seg seg[ELF_MAX_LOAD_SEGS];
};

/* Is this an ELF file at all (the 4-byte magic)? */
int elf_is_elf(const uint8_t *img, size_t len);
/* Parse and validate; -1 with fail("<name>: <problem>"). */
int elf_parse(const uint8_t *img, size_t len, const char *name,
              struct elf_image *out);
/* Does a PT_NOTE segment hold a note whose owner (name) is `owner`, e.g.
 * "Linux" in a Linux vmlinux?  Malformed notes are just skipped. */
int elf_has_note_owner(const uint8_t *img, size_t len, const char *owner);
/* Physical address of virtual address v through the PT_LOAD segments
 * (v itself if no segment maps it). */
uint64_t elf_virt_to_phys(const struct elf_image *e, uint64_t v);

#endif
