/* kvm_guestmem.h - guest memory as the vCPU sees it, for the kvm engine's
 * instruction assists (kvm_assist.c, kvm_udtrap.c): linear addresses
 * through the guest's page tables (32-bit, PAE and 4-level, setting
 * accessed/dirty bits), and segment descriptors from the GDT/LDT.  Faults
 * are recorded for injection instead of being raised. */
#ifndef POPEK_KVM_GUESTMEM_H
#define POPEK_KVM_GUESTMEM_H
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct machine;

#define VEC_TS 10
#define VEC_NP 11
#define VEC_SS 12
#define VEC_GP 13
#define VEC_PF 14

/* Results: done, a fault to inject (fault_*), or cannot be done (why). */
enum { A_OK = 0, A_FAULT = 1, A_STOP = 2 };

struct gmem {
    struct machine *m;
    const struct kvm_sregs *sr; /* paging mode, CR3, GDT/LDT */
    bool lma;                   /* IA-32e mode: 4-level paging */
    int fault_vec;
    uint32_t fault_err;
    uint64_t fault_cr2;
    char why[160];
};

int gm_fault(struct gmem *a, int vec, uint32_t err);
int gm_stop(struct gmem *a, const char *why);
/* Copy len bytes between linear address lin and buf (write: into guest).
 * user: the access is made at CPL 3 (page U/S checks). */
int gm_access(struct gmem *a, uint64_t lin, void *buf, unsigned len,
              bool write, bool user);
/* Read the 8-byte descriptor of a non-null selector (#GP(sel) if beyond
 * the table limit); where = its linear address. */
int gm_read_desc(struct gmem *a, uint16_t sel, uint64_t *d, uint64_t *where);
/* Mark a code/data descriptor accessed, as loading it does on a CPU. */
int gm_set_accessed(struct gmem *a, uint64_t where, uint64_t d);
void gm_desc_to_seg(uint64_t d, uint16_t sel, struct kvm_segment *s);

#endif
