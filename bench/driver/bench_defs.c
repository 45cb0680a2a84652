/* bench_defs.c - the rows of `popek bench`: every benchmark, the guest that
 * runs it, whether the host has a native equivalent (bench/native32), its
 * unit, the N range used to scale runs, and the paper's own figures
 * (Adams & Agesen, ASPLOS 2006, Figure 4 and Section 6: cycles on a
 * Pentium 4 under VMware's software VMM and its hardware-assisted VMM). */
#include "bench.h"

#define NONE (-1.0)
#define NO_PAPER {NONE, NONE, NONE, NULL}
#define MACRO_NATIVE "a Debian i386 guest workload: no native run on this host"
/* The paravirtual rows (bench_pv: the guest kit's ring-1 kernel through
 * popek's hypercalls), each beside the row of the operation it replaces. */
#define PV_NATIVE "a paravirtual kernel needs popek's hypercalls"

const struct bench_def bench_defs[] = {
    {"syscall_int80", "null system call, int 0x80 (ring 3 -> 0 -> 3)",
     BK_GUEST, "bench_syscall", NULL, "cycles/op", false, 500, 20000000,
     NO_PAPER, NULL},
    {"syscall_sysenter", "null system call, sysenter/sysexit", BK_GUEST,
     "bench_syscall", NULL, "cycles/op", false, 500, 20000000, NO_PAPER, NULL},
    {"pv_syscall", "PV: int 0x80 ring 3 -> 1 through the trap table, IRET "
     "hypercall back", BK_GUEST, "bench_pv", PV_NATIVE, "cycles/op", false, 500,
     20000000, NO_PAPER, "paging32"},
    {"in", "in al, 0x80 (port I/O)", BK_GUEST, "bench_in", NULL, "cycles/op",
     false, 500, 20000000, {3209, NONE, 15826, "cycles"}, NULL},
    {"pv_in", "PV: port read through the PORT_IO hypercall", BK_GUEST,
     "bench_pv", PV_NATIVE, "cycles/op", false, 500, 20000000, NO_PAPER,
     "paging32"},
    {"crwr", "mov cr0 with its own value (privileged no-op)", BK_GUEST,
     "bench_crwr", "privileged instruction: no ring-3 equivalent on the host",
     "cycles/op", false, 500, 20000000, NO_PAPER, NULL},
    {"pv_clisti", "PV: virtual cli + sti (stores to the shared page)",
     BK_GUEST, "bench_pv", PV_NATIVE, "cycles/op", false, 500, 200000000,
     NO_PAPER, "paging32"},
    {"callret", "call a subroutine and return", BK_GUEST, "bench_callret", NULL,
     "cycles/op", false, 20000, 200000000, {11, 51, 11, "cycles"}, NULL},
    {"pgfault", "page fault, kernel maps the page and returns", BK_GUEST,
     "bench_pgfault", NULL, "cycles/op", false, 500, 2000000,
     {1093, 3927, 11242, "cycles"}, "paging32"},
    {"pv_pgfault", "PV: page fault through the trap table, MMU_UPDATE maps "
     "the page, IRET", BK_GUEST, "bench_pv", PV_NATIVE, "cycles/op", false,
     500, 2000000, NO_PAPER, "paging32"},
    {"divzero", "divide error, kernel skips the instruction", BK_GUEST,
     "bench_divzero", NULL, "cycles/op", false, 500, 20000000,
     {889, 3223, 1014, "cycles"}, NULL},
    {"ptemod", "kernel PTE write + invlpg of the active page table", BK_GUEST,
     "bench_ptemod", "a user process cannot write its page tables",
     "cycles/op", false, 500, 20000000, {NONE, 391, 12733, "cycles"}, "paging32"},
    {"pv_ptemod", "PV: one MMU_UPDATE (PTE + invalidate the page), then a "
     "read", BK_GUEST, "bench_pv", PV_NATIVE, "cycles/op", false, 500,
     20000000, NO_PAPER, "paging32"},
    {"pv_ptemod_batch", "PV: MMU_UPDATE of 32 PTEs + flush (per PTE)",
     BK_GUEST, "bench_pv", PV_NATIVE, "cycles/PTE", false, 512, 20000000,
     NO_PAPER, "paging32"},
    {"crc32", "CRC-32 compute loop (per byte)", BK_GUEST, "bench_crc32", NULL,
     "cycles/byte", false, 64, 4000000, NO_PAPER, NULL},
    {"forkwait", "fork + exit + wait, 40,000 processes", BK_LINUX, NULL, NULL,
     "s/40k", true, 200, 40000, {6.0, 36.9, 106.4, "s/40k"}, NULL},
    {"userprog", "user programs in Linux: qsort, hash, list, malloc, memcpy "
     "(tests/linux/userprog.c; one op = one round)", BK_LINUX, NULL, NULL,
     "cycles/op", false, 1, 1000, NO_PAPER, NULL},
    {"linux_boot", "Linux boot to the initramfs marker", BK_LINUX, NULL,
     "boot time has no native counterpart here (the host is not rebooted)",
     "s", false, 1, 1, NO_PAPER, NULL},
    /* The Debian root filesystem (bench_macro.c; with --macro). */
    {"rootfs_boot", "Debian rootfs boot to init's shell", BK_MACRO, NULL,
     "boot time has no native counterpart here", "s", false, 1, 1, NO_PAPER, NULL},
    {"rootfs_forkwait", "fork + exit + wait in Debian, 40,000 processes", BK_MACRO,
     NULL, MACRO_NATIVE, "s/40k", true, 1, 1, NO_PAPER, NULL},
    {"compile", "gcc + make of a 3,000-line C program in Debian", BK_MACRO, NULL,
     MACRO_NATIVE, "s", false, 1, 1, NO_PAPER, NULL},
    {"http_rps", "busybox httpd in the guest, wrk -c4 from the host", BK_MACRO,
     NULL, MACRO_NATIVE, "req/s", false, 1, 1, NO_PAPER, NULL},
    {"http_latency", "busybox httpd, median request latency (wrk)", BK_MACRO,
     NULL, MACRO_NATIVE, "ms", false, 1, 1, NO_PAPER, NULL},
    {"disk_seqwrite", "virtio-blk sequential write, 1 MiB O_DIRECT", BK_MACRO,
     NULL, MACRO_NATIVE, "MB/s", false, 1, 1, NO_PAPER, NULL},
    {"disk_seqread", "virtio-blk sequential read, 1 MiB O_DIRECT", BK_MACRO,
     NULL, MACRO_NATIVE, "MB/s", false, 1, 1, NO_PAPER, NULL},
    {"disk_randwrite", "virtio-blk random write, 4 KiB O_DIRECT", BK_MACRO,
     NULL, MACRO_NATIVE, "IOPS", false, 1, 1, NO_PAPER, NULL},
    {"disk_randread", "virtio-blk random read, 4 KiB O_DIRECT", BK_MACRO,
     NULL, MACRO_NATIVE, "IOPS", false, 1, 1, NO_PAPER, NULL},
    {"net_rx", "TCP bulk host -> guest through hostfwd", BK_MACRO, NULL,
     MACRO_NATIVE, "MB/s", false, 1, 1, NO_PAPER, NULL},
};
const size_t bench_ndefs = sizeof(bench_defs) / sizeof(bench_defs[0]);
