/* kvm_state.c - the kvm engine's register file: struct cpu_state (popek's
 * engine-neutral registers) to and from KVM's kvm_regs, kvm_sregs (segment
 * caches, GDT/IDT, control registers, EFER) and the SYSENTER MSRs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../core/machine.h"
#include "kvm_priv.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176

/* kvm_regs lists the GPRs as named fields; this maps popek's x86 encoding
 * order onto them. */
__u64 *kvm_gpr(struct kvm_regs *r, int i)
{
    __u64 *const slot[NR_GPRS] = {
        [R_EAX] = &r->rax, [R_ECX] = &r->rcx,
        [R_EDX] = &r->rdx, [R_EBX] = &r->rbx,
        [R_ESP] = &r->rsp, [R_EBP] = &r->rbp,
        [R_ESI] = &r->rsi, [R_EDI] = &r->rdi,
        [R_R8] = &r->r8,   [R_R9] = &r->r9,
        [R_R10] = &r->r10, [R_R11] = &r->r11,
        [R_R12] = &r->r12, [R_R13] = &r->r13,
        [R_R14] = &r->r14, [R_R15] = &r->r15,
    };
    return slot[i];
}

static void seg_from_kvm(struct seg_reg *s, const struct kvm_segment *k)
{
    s->sel = k->selector;
    s->base = k->base;
    s->limit = k->limit;
    s->type = k->type;
    s->s = k->s;
    s->dpl = k->dpl;
    s->present = k->present;
    s->avl = k->avl;
    s->l = k->l;
    s->db = k->db;
    s->g = k->g;
    s->unusable = k->unusable;
}

void seg_to_kvm(struct kvm_segment *k, const struct seg_reg *s)
{
    memset(k, 0, sizeof(*k));
    k->selector = s->sel;
    k->base = s->base;
    k->limit = s->limit;
    k->type = s->type & 0xf;
    k->s = s->s ? 1 : 0;
    k->dpl = s->dpl & 3;
    k->present = s->present ? 1 : 0;
    k->avl = s->avl ? 1 : 0;
    k->l = s->l ? 1 : 0;
    k->db = s->db ? 1 : 0;
    k->g = s->g ? 1 : 0;
    /* A null or not-present data segment is "unusable" to VMX. */
    k->unusable = s->unusable || !s->present;
}

static struct kvm_segment *sregs_seg(struct kvm_sregs *sr, int i)
{
    struct kvm_segment *const seg[NR_SEGS] = {
        [SEG_ES] = &sr->es, [SEG_CS] = &sr->cs, [SEG_SS] = &sr->ss,
        [SEG_DS] = &sr->ds, [SEG_FS] = &sr->fs, [SEG_GS] = &sr->gs,
        [SEG_LDTR] = &sr->ldt, [SEG_TR] = &sr->tr,
    };
    return seg[i];
}

/* kvm_msrs ends in a flexible array: keep the header and entries together. */
struct sysenter_msrs {
    struct kvm_msrs hdr;
    struct kvm_msr_entry e[3];
};

static void sysenter_init(struct sysenter_msrs *b)
{
    memset(b, 0, sizeof(*b));
    b->hdr.nmsrs = 3;
    b->e[0].index = MSR_IA32_SYSENTER_CS;
    b->e[1].index = MSR_IA32_SYSENTER_ESP;
    b->e[2].index = MSR_IA32_SYSENTER_EIP;
}

int kvm_fetch_regs(struct kvm_engine *k, struct kvm_regs *r,
                   struct kvm_sregs *sr)
{
    if (k->sync_fresh) {
        *r = k->run->s.regs.regs;
        *sr = k->run->s.regs.sregs;
        return 0;
    }
    if (ioctl(k->vcpu_fd, KVM_GET_REGS, r) < 0)
        return fail("KVM_GET_REGS: %s", strerror(errno));
    if (ioctl(k->vcpu_fd, KVM_GET_SREGS, sr) < 0)
        return fail("KVM_GET_SREGS: %s", strerror(errno));
    return 0;
}

int kvm_store_regs(struct kvm_engine *k, const struct kvm_regs *r,
                   const struct kvm_sregs *in)
{
    /* KVM_SET_SREGS queues any interrupt set in interrupt_bitmap: a copy
     * taken at the last exit may still show one that has since been
     * delivered, and it would be delivered again.  Interrupts are the run
     * loop's business (KVM_INTERRUPT), never the register file's. */
    struct kvm_sregs copy = *in;
    const struct kvm_sregs *sr = &copy;
    memset(copy.interrupt_bitmap, 0, sizeof(copy.interrupt_bitmap));
    if (k->sync_fresh) {
        /* Applied by KVM at the start of the next KVM_RUN. */
        k->run->s.regs.regs = *r;
        k->run->s.regs.sregs = *sr;
        k->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
        return 0;
    }
    if (ioctl(k->vcpu_fd, KVM_SET_SREGS, sr) < 0)
        return fail("KVM_SET_SREGS (cr0 %#llx cr4 %#llx efer %#llx): %s",
                    (unsigned long long)sr->cr0, (unsigned long long)sr->cr4,
                    (unsigned long long)sr->efer, strerror(errno));
    if (ioctl(k->vcpu_fd, KVM_SET_REGS, r) < 0)
        return fail("KVM_SET_REGS: %s", strerror(errno));
    return 0;
}

int kvm_get_state(struct machine *m, struct cpu_state *s)
{
    struct kvm_engine *k = KVM_OF(m);
    struct kvm_regs r;
    struct kvm_sregs sr;
    if (kvm_fetch_regs(k, &r, &sr) < 0)
        return -1;
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < NR_GPRS; i++)
        s->gpr[i] = *kvm_gpr(&r, i);
    s->rip = r.rip;
    s->rflags = r.rflags;
    for (int i = 0; i < NR_SEGS; i++)
        seg_from_kvm(&s->seg[i], sregs_seg(&sr, i));
    s->gdt.base = sr.gdt.base;
    s->gdt.limit = sr.gdt.limit;
    s->idt.base = sr.idt.base;
    s->idt.limit = sr.idt.limit;
    s->cr0 = sr.cr0;
    s->cr2 = sr.cr2;
    s->cr3 = sr.cr3;
    s->cr4 = sr.cr4;
    s->cr8 = sr.cr8;
    s->efer = sr.efer;
    struct sysenter_msrs msrs;
    sysenter_init(&msrs);
    int n = ioctl(k->vcpu_fd, KVM_GET_MSRS, &msrs);
    if (n != 3)
        return fail("KVM_GET_MSRS (SYSENTER): %s",
                    n < 0 ? strerror(errno) : "not all MSRs read");
    s->sysenter_cs = msrs.e[0].data;
    s->sysenter_esp = msrs.e[1].data;
    s->sysenter_eip = msrs.e[2].data;
    return 0;
}

int kvm_set_state(struct machine *m, const struct cpu_state *s)
{
    struct kvm_engine *k = KVM_OF(m);
    struct kvm_regs r;
    struct kvm_sregs sr;
    /* Start from KVM's own sregs to keep apic_base and the pending
     * interrupt bitmap. */
    if (kvm_fetch_regs(k, &r, &sr) < 0)
        return -1;
    for (int i = 0; i < NR_SEGS; i++)
        seg_to_kvm(sregs_seg(&sr, i), &s->seg[i]);
    /* CS and TR are never "unusable".  Loaders may leave TR empty (a flat
     * entry state has no TSS); VMX insists on a present busy TSS, so give it
     * the one the CPU has after reset: type 11, limit 0xffff. */
    sr.cs.unusable = 0;
    if (!s->seg[SEG_TR].present || !s->seg[SEG_TR].type) {
        sr.tr.type = 11;
        sr.tr.present = 1;
        sr.tr.s = 0;
        if (!sr.tr.limit)
            sr.tr.limit = 0xffff;
    }
    sr.tr.unusable = 0;
    sr.gdt.base = s->gdt.base;
    sr.gdt.limit = s->gdt.limit;
    sr.idt.base = s->idt.base;
    sr.idt.limit = s->idt.limit;
    sr.cr0 = s->cr0;
    sr.cr2 = s->cr2;
    sr.cr3 = s->cr3;
    sr.cr4 = s->cr4;
    sr.cr8 = s->cr8;
    sr.efer = s->efer;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < NR_GPRS; i++)
        *kvm_gpr(&r, i) = s->gpr[i];
    r.rip = s->rip;
    r.rflags = s->rflags | 2; /* bit 1 is always set */
    /* Set it now with ioctls (not through run->s.regs) so that we can see
     * what KVM made of it. */
    k->run->kvm_dirty_regs = 0;
    k->sync_fresh = false;
    if (kvm_store_regs(k, &r, &sr) < 0)
        return -1;
    struct kvm_sregs got;
    if (ioctl(k->vcpu_fd, KVM_GET_SREGS, &got) < 0)
        return fail("KVM_GET_SREGS: %s", strerror(errno));
    const uint64_t cr0_bits = CR0_PE | CR0_PG, cr4_bits = CR4_PAE | CR4_PSE;
    if ((got.cr0 & cr0_bits) != (s->cr0 & cr0_bits) ||
        (got.cr4 & cr4_bits) != (s->cr4 & cr4_bits) ||
        (got.efer & EFER_LMA) != (s->efer & EFER_LMA))
        return fail("this host's KVM (%s backend) does not take the entry "
                    "state: asked for cr0 %#llx cr4 %#llx efer %#llx, got "
                    "cr0 %#llx cr4 %#llx efer %#llx%s",
                    kvm_backend_name(), (unsigned long long)s->cr0,
                    (unsigned long long)s->cr4, (unsigned long long)s->efer,
                    (unsigned long long)got.cr0, (unsigned long long)got.cr4,
                    (unsigned long long)got.efer,
                    (s->cr0 & CR0_PG) && !(s->efer & EFER_LMA)
                        ? " (32-bit paging is not supported)"
                        : "");
    struct sysenter_msrs msrs;
    sysenter_init(&msrs);
    msrs.e[0].data = s->sysenter_cs;
    msrs.e[1].data = s->sysenter_esp;
    msrs.e[2].data = s->sysenter_eip;
    int n = ioctl(k->vcpu_fd, KVM_SET_MSRS, &msrs);
    if (n != 3)
        return fail("KVM_SET_MSRS (SYSENTER): %s",
                    n < 0 ? strerror(errno) : "not all MSRs written");
    return 0;
}
