#!/usr/bin/env python3
"""mkseeds.py OUTDIR - write the fuzzers' starting corpus, deterministically:
OUTDIR/<harness>/<seed files>.  Small valid inputs of each format (a
multiboot ELF32 and a.out-kludge kernel, a bzImage with a setup header, a
vmlinux ELF with a Linux note, cpio and gzip initrds) so that libFuzzer
starts past the magic numbers, and fixed pseudo-random inputs for the
device and differential harnesses.  Loader inputs start with fuzz_load's
3-byte prefix (flags, initrd length) - see tests/fuzz/fuzz_common.h."""
import gzip, os, random, struct, sys

out = sys.argv[1]
rnd = random.Random(1)

def put(name, fname, data):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)

def cpio_newc(files):
    b = b""
    ino = 1
    for name, data, mode in files + [("TRAILER!!!", b"", 0)]:
        nm = name.encode() + b"\0"
        hdr = "070701" + "".join("%08x" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0))
        b += hdr.encode() + nm
        b += b"\0" * (-len(b) % 4)
        b += data
        b += b"\0" * (-len(b) % 4)
        ino += 1
    return b

initrd = cpio_newc([("init", b"#!/bin/sh\necho hi\n", 0o100755),
                    ("dev", b"", 0o040755)])
initrd_gz = gzip.compress(initrd, mtime=0)

def prefix(flags, ilen=0):
    return bytes([flags]) + struct.pack("<H", ilen)

def elf32(entry, segs, notes=b"", mb_header=b""):
    """ELF32 i386 executable: segs = [(paddr, data)], optional PT_NOTE."""
    phnum = len(segs) + (1 if notes else 0)
    off = 52 + 32 * phnum
    body = mb_header
    ph = b""
    for paddr, data in segs:
        o = off + len(body)
        ph += struct.pack("<8I", 1, o, paddr, paddr, len(data), len(data), 5,
                          0x1000)
        body += data
    if notes:
        o = off + len(body)
        ph += struct.pack("<8I", 4, o, 0, 0, len(notes), len(notes), 4, 4)
        body += notes
    eh = b"\x7fELF" + bytes([1, 1, 1, 0]) + b"\0" * 8
    eh += struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, entry, 52, 0, 0, 52, 32,
                      phnum, 40, 0, 0)
    return eh + ph + body

def mb_header(flags, extra=b""):
    magic = 0x1BADB002
    return struct.pack("<III", magic, flags, (-(magic + flags)) & 0xffffffff) + extra

code = b"\xf4" * 64
# multiboot ELF32 (header inside the first segment)
mb = elf32(0x100000, [(0x100000, mb_header(0) + code)])
for f in (0x00, 0x02, 0x0a, 0x1e):
    put("multiboot", "elf32-%02x" % f, prefix(f) + mb)
    put("kernel", "mb-elf32-%02x" % f, prefix(f) + mb)
mbm = prefix(0x0e, len(initrd)) + mb + initrd
put("multiboot", "elf32-module", mbm)
# a.out kludge: header_addr load_addr load_end_addr bss_end_addr entry_addr
aout = mb_header(0x00010000, struct.pack("<5I", 0x100000, 0x100000, 0x100000 + 96,
                                         0x101000, 0x100020)) + code
put("multiboot", "aout", prefix(0x02) + aout)
put("kernel", "mb-aout", prefix(0x02) + aout)

def bzimage(version=0x20f, xlf=0, pm_len=4096):
    setup_sects = 1
    b = bytearray(512 * (1 + setup_sects))
    b[0x1f1] = setup_sects
    struct.pack_into("<I", b, 0x1f4, pm_len // 16)
    struct.pack_into("<H", b, 0x1fe, 0xaa55)
    b[0x200:0x202] = b"\xeb\x66"
    b[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", b, 0x206, version)
    b[0x211] = 1                                   # LOADED_HIGH
    struct.pack_into("<I", b, 0x214, 0x100000)     # code32_start
    struct.pack_into("<I", b, 0x22c, 0x7fffffff)   # initrd_addr_max
    struct.pack_into("<I", b, 0x230, 0x200000)     # kernel_alignment
    b[0x234] = 1                                   # relocatable
    struct.pack_into("<I", b, 0x238, 2048)         # cmdline_size
    struct.pack_into("<H", b, 0x236, xlf)          # xloadflags
    struct.pack_into("<Q", b, 0x258, 0x1000000)    # pref_address
    struct.pack_into("<I", b, 0x260, 0x200000)     # init_size
    return bytes(b) + b"\x90" * (pm_len - 1) + b"\xf4"

for name, img in (("bz32", bzimage()), ("bz64", bzimage(xlf=3)),
                  ("bzold", bzimage(version=0x202))):
    for f in (0x0a, 0x1e):
        put("bzimage", "%s-%02x" % (name, f), prefix(f) + img)
        put("kernel", "%s-%02x" % (name, f), prefix(f) + img)
    put("bzimage", name + "-initrd", prefix(0x0e, len(initrd_gz)) + img + initrd_gz)

def note(owner, typ, desc):
    o = owner.encode() + b"\0"
    n = struct.pack("<III", len(o), len(desc), typ) + o + b"\0" * (-len(o) % 4)
    return n + desc + b"\0" * (-len(desc) % 4)

vml = elf32(0x1000000, [(0x1000000, code)], notes=note("Linux", 6, b"6.1\0"))
for f in (0x0a, 0x1e):
    put("vmlinux", "vmlinux32-%02x" % f, prefix(f) + vml)
    put("kernel", "vmlinux32-%02x" % f, prefix(f) + vml)
put("vmlinux", "vmlinux32-initrd", prefix(0x0e, len(initrd)) + vml + initrd)

put("initrd", "cpio", initrd)
put("initrd", "gzip", initrd_gz)
put("initrd", "concat", initrd + initrd_gz)
put("initrd", "gzip-trunc", initrd_gz[:len(initrd_gz) // 2])

for i in range(8):
    put("devices", "random%d" % i, bytes(rnd.randrange(256) for _ in range(512)))
    put("diff", "random%d" % i, bytes(rnd.randrange(256) for _ in range(400)))

# fuzz_diff's extended mode (mode bit 7): one seed per feature bit (ring 3,
# remapped second code page, GS base, wrapping FS base), each with paging
# and page-crossing code, and one with all of them, paging off.
ext_modes = [0x87, 0x8f, 0x97, 0xa7, 0xc7, 0xff, 0xfe]
for m in ext_modes:
    put("diff", "ext-%02x" % m,
        bytes([m]) + bytes(rnd.randrange(256) for _ in range(600)))

# hypercall: a GDT (entries 1-15: ring-1 code at 0x31, ring-1 data at
# 0x39), the data page (a trap table first), then calls: an op byte
# (number << 2 | ring) and five arguments (a mode byte, then a value:
# 0 u32, 1 u16 offset into the data page, 2 u8, 3 u16 below the RAM's end)
def hc_gdt():
    g = bytearray(120)
    struct.pack_into("<II", g, 5 * 8, 0x0000ffff, 0x00cfba00)
    struct.pack_into("<II", g, 6 * 8, 0x0000ffff, 0x00cfb200)
    return bytes(g)
def hc_arg(mode, v):
    return bytes([mode]) + struct.pack({0: "<I", 1: "<H", 2: "<B", 3: "<H"}[mode], v)
def hc_call(nr, ring, *args):
    a = list(args) + [(2, 0)] * (5 - len(args))
    return bytes([nr << 2 | ring]) + b"".join(hc_arg(m, v) for m, v in a)
hc_data = bytearray(1024)
struct.pack_into("<BBHI", hc_data, 0, 13, 0, 0x31, 0x1000)
struct.pack_into("<BBHI", hc_data, 8, 0x50, 4, 0x31, 0x2000)
struct.pack_into("<BBHI", hc_data, 16, 0x80, 3, 0x31, 0x3000)
struct.pack_into("<IIII", hc_data, 512, 0x5000, 0x7003, 0x5004 | 1, 0x400083)
struct.pack_into("<IIIIII", hc_data, 600, 1, 0x1000, 0x31, 0x202, 0, 0)
calls = (hc_call(6, 1, (1, 0), (2, 3)) +          # SET_TRAP_TABLE
         hc_call(8, 1, (2, 0x39), (0, 0x9000)) +  # STACK_SWITCH
         hc_call(7, 1, (1, 0), (2, 0x50)) +       # SET_CALLBACK
         hc_call(11, 1, (0, 5)) +                 # EVENT_SEND
         b"\xf0" + struct.pack("<I", 1) +         # event + upcall
         hc_call(2, 1, (1, 512), (2, 2), (2, 1)) +  # MMU_UPDATE
         hc_call(9, 1, (2, 0), (2, 0), (2, 0), (2, 0), (1, 600)) +  # IRET
         hc_call(12, 1, (0, 0x3000)) +            # NEW_BASEPTR
         hc_call(10, 1, (0, 100000), (0, 50000)) +  # SET_TIMER
         hc_call(13, 1, (2, 0)))                  # SHUTDOWN
put("hypercall", "calls", hc_gdt() + bytes(hc_data) + calls)
for i in range(4):
    put("hypercall", "random%d" % i,
        hc_gdt() + bytes(hc_data) + bytes(rnd.randrange(256) for _ in range(300)))
