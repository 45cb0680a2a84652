/* elf_image.c - validates ELF32/ELF64 x86 executables and lists their
 * PT_LOAD segments for the multiboot loader (see elf_image.h).  Offsets are
 * read explicitly as little-endian fields so the host's struct layout never
 * matters, and every field is checked before it is used. */
#include "elf_image.h"

#include <string.h>

#include "../core/util.h"
#include "boot_priv.h"

#define ELF_PT_LOAD 1
#define ELF_ET_EXEC 2
#define ELF_EM_386 3
#define ELF_EM_X86_64 62

int elf_is_elf(const uint8_t *img, size_t len)
{
    return len >= 4 && !memcmp(img, "\x7f" "ELF", 4);
}

/* Read one program header (32- or 64-bit layout) into type + seg. */
static void read_phdr(const uint8_t *ph, int bits, uint32_t *type,
                      struct elf_seg *s)
{
    *type = rd32(ph);
    if (bits == 32) {
        s->offset = rd32(ph + 4);
        s->vaddr = rd32(ph + 8);
        s->paddr = rd32(ph + 12);
        s->filesz = rd32(ph + 16);
        s->memsz = rd32(ph + 20);
    } else {
        s->offset = rd64(ph + 8);
        s->vaddr = rd64(ph + 16);
        s->paddr = rd64(ph + 24);
        s->filesz = rd64(ph + 32);
        s->memsz = rd64(ph + 40);
    }
}

int elf_parse(const uint8_t *img, size_t len, const char *name,
              struct elf_image *out)
{
    memset(out, 0, sizeof(*out));
    if (!elf_is_elf(img, len))
        return fail("%s: not an ELF file", name);
    if (len < 52)
        return fail("%s: truncated: ELF header needs 52 bytes, file has %zu",
                    name, len);
    int bits = img[4] == 1 ? 32 : img[4] == 2 ? 64 : 0;
    if (!bits)
        return fail("%s: bad ELF class %u", name, img[4]);
    if (img[5] != 1)
        return fail("%s: not a little-endian ELF file", name);
    size_t ehsize = bits == 32 ? 52 : 64;
    if (len < ehsize)
        return fail("%s: truncated: ELF64 header needs 64 bytes, file has %zu",
                    name, len);
    uint16_t type = rd16(img + 16), machine = rd16(img + 18);
    if (type != ELF_ET_EXEC)
        return fail("%s: ELF type %u is not an executable (ET_EXEC)", name,
                    type);
    if (bits == 32 && machine != ELF_EM_386)
        return fail("%s: ELF32 machine %u is not i386", name, machine);
    if (bits == 64 && machine != ELF_EM_X86_64)
        return fail("%s: ELF64 machine %u is not x86-64", name, machine);
    uint64_t phoff;
    uint16_t phentsize, phnum;
    if (bits == 32) {
        out->entry = rd32(img + 24);
        phoff = rd32(img + 28);
        phentsize = rd16(img + 42);
        phnum = rd16(img + 44);
    } else {
        out->entry = rd64(img + 24);
        phoff = rd64(img + 32);
        phentsize = rd16(img + 54);
        phnum = rd16(img + 56);
    }
    size_t min_ph = bits == 32 ? 32 : 56;
    if (phnum == 0)
        return fail("%s: ELF file has no program headers", name);
    if (phentsize < min_ph)
        return fail("%s: bad ELF program header size %u (need %zu)", name,
                    phentsize, min_ph);
    if (phoff > len || (uint64_t)phnum * phentsize > len - phoff)
        return fail("%s: truncated: program headers at offset %#llx "
                    "(%u x %u bytes) extend past the end of the file "
                    "(%zu bytes)", name, (unsigned long long)phoff, phnum,
                    phentsize, len);
    out->bits = bits;
    for (unsigned i = 0; i < phnum; i++) {
        uint32_t ptype;
        struct elf_seg s;
        read_phdr(img + phoff + (uint64_t)i * phentsize, bits, &ptype, &s);
        if (ptype != ELF_PT_LOAD || s.memsz == 0)
            continue;
        if (s.filesz > s.memsz)
            return fail("%s: segment %u: file size %#llx exceeds memory "
                        "size %#llx", name, i,
                        (unsigned long long)s.filesz,
                        (unsigned long long)s.memsz);
        if (s.filesz && (s.offset > len || s.filesz > len - s.offset))
            return fail("%s: truncated: segment %u (offset %#llx, %#llx "
                        "bytes) extends past the end of the file (%zu bytes)",
                        name, i, (unsigned long long)s.offset,
                        (unsigned long long)s.filesz, len);
        if (s.paddr + s.memsz < s.paddr)
            return fail("%s: segment %u: address %#llx + size %#llx "
                        "overflows", name, i, (unsigned long long)s.paddr,
                        (unsigned long long)s.memsz);
        if (!s.filesz)
            s.offset = 0; /* pure bss: nothing is read from the file */
        if (out->nseg == ELF_MAX_LOAD_SEGS)
            return fail("%s: more than %d loadable segments", name,
                        ELF_MAX_LOAD_SEGS);
        out->seg[out->nseg++] = s;
    }
    if (!out->nseg)
        return fail("%s: ELF file has no loadable (PT_LOAD) segments", name);
    return 0;
}

/* Walk the notes in [p, p+len): namesz, descsz, type, name, desc (4-byte
 * aligned). */
static int notes_have_owner(const uint8_t *p, uint64_t len, const char *owner)
{
    size_t olen = strlen(owner) + 1;
    uint64_t off = 0;
    while (len - off >= 12) {
        uint64_t namesz = rd32(p + off), descsz = rd32(p + off + 4);
        uint64_t name = off + 12;
        uint64_t desc = name + align_up(namesz, 4);
        uint64_t next = desc + align_up(descsz, 4);
        if (next > len)
            return 0;
        if (namesz == olen && !memcmp(p + name, owner, olen))
            return 1;
        off = next;
    }
    return 0;
}

int elf_has_note_owner(const uint8_t *img, size_t len, const char *owner)
{
    if (!elf_is_elf(img, len) || len < 64)
        return 0;
    int bits = img[4] == 1 ? 32 : img[4] == 2 ? 64 : 0;
    if (!bits)
        return 0;
    uint64_t phoff = bits == 32 ? rd32(img + 28) : rd64(img + 32);
    uint16_t phentsize = rd16(img + (bits == 32 ? 42 : 54));
    uint16_t phnum = rd16(img + (bits == 32 ? 44 : 56));
    if (phentsize < (bits == 32 ? 32 : 56) || phoff > len ||
        (uint64_t)phnum * phentsize > len - phoff)
        return 0;
    for (unsigned i = 0; i < phnum; i++) {
        uint32_t type;
        struct elf_seg s;
        read_phdr(img + phoff + (uint64_t)i * phentsize, bits, &type, &s);
        if (type != 4 /* PT_NOTE */ || s.offset > len ||
            s.filesz > len - s.offset)
            continue;
        if (notes_have_owner(img + s.offset, s.filesz, owner))
            return 1;
    }
    return 0;
}

uint64_t elf_virt_to_phys(const struct elf_image *e, uint64_t v)
{
    for (unsigned i = 0; i < e->nseg; i++) {
        const struct elf_seg *s = &e->seg[i];
        if (v >= s->vaddr && v - s->vaddr < s->memsz)
            return s->paddr + (v - s->vaddr);
    }
    return v;
}
