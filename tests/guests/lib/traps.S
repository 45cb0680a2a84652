/* traps.S - the low-level CPU glue of the kit: one entry stub per IDT
 * vector (pushing a uniform struct kit_frame and calling
 * kit_trap_dispatch in cpu.c), kit_setjmp/kit_longjmp used by kit_try and
 * kit_run_user to unwind out of traps, the iret into ring 3, and the
 * sysenter entry / ring-3 sysenter call. */
#define KDATA 0x10
#define UDATA 0x23

    .text
/* Vectors for which the CPU pushes an error code. */
#define HAS_ERR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

    .macro stub v
    .align 16
kit_stub_\v:
    .if HAS_ERR(\v)
    .else
    pushl $0
    .endif
    pushl $\v
    jmp kit_trap_common
    .endm

    .align 16
    .globl kit_stub_base
kit_stub_base:
    .altmacro
    .set i, 0
    .rept 256
    stub %i
    .set i, i + 1
    .endr

/* Common path: save registers and segments, switch to kernel data
 * segments, call kit_trap_dispatch(frame), restore and iret. */
kit_trap_common:
    pushal
    pushl %ds
    pushl %es
    pushl %fs
    pushl %gs
    movl $KDATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %fs
    movl %eax, %gs
    cld
    pushl %esp
    call kit_trap_dispatch
    addl $4, %esp
    popl %gs
    popl %fs
    popl %es
    popl %ds
    popal
    addl $8, %esp
    iret

/* int kit_setjmp(struct kit_jmpbuf *jb): ebx esi edi ebp esp eip eflags
 * ds es fs gs. */
    .globl kit_setjmp
kit_setjmp:
    movl 4(%esp), %eax
    movl %ebx, 0(%eax)
    movl %esi, 4(%eax)
    movl %edi, 8(%eax)
    movl %ebp, 12(%eax)
    leal 4(%esp), %ecx
    movl %ecx, 16(%eax)
    movl (%esp), %ecx
    movl %ecx, 20(%eax)
    pushfl
    popl %ecx
    movl %ecx, 24(%eax)
    movw %ds, 28(%eax)
    movw %es, 32(%eax)
    movw %fs, 36(%eax)
    movw %gs, 40(%eax)
    xorl %eax, %eax
    ret

/* void kit_longjmp(struct kit_jmpbuf *jb, int v): back into kit_setjmp's
 * caller in ring 0 with v as the result, the saved data segment registers
 * and the saved EFLAGS (so IF as it was). */
    .globl kit_longjmp
kit_longjmp:
    movl 4(%esp), %edx
    movl 8(%esp), %eax
    movl 0(%edx), %ebx
    movl 4(%edx), %esi
    movl 8(%edx), %edi
    movl 12(%edx), %ebp
    movl 16(%edx), %esp
    movw 28(%edx), %ds
    movw 32(%edx), %es
    movw 36(%edx), %fs
    movw 40(%edx), %gs
    pushl 24(%edx)
    popfl
    jmp *20(%edx)

/* void kit_enter_ring3(uint32_t eip, uint32_t esp): TSS.esp0 = our stack,
 * then iret to ring 3 with IF as it is now. */
    .globl kit_enter_ring3
kit_enter_ring3:
    movl 4(%esp), %ecx
    movl 8(%esp), %edx
    leal -16(%esp), %eax
    movl %eax, kit_tss + 4
    movl $UDATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %fs
    movl %eax, %gs
    pushl $UDATA                    /* ss */
    pushl %edx                      /* esp */
    pushfl                          /* eflags */
    pushl $0x1b                     /* cs */
    pushl %ecx                      /* eip */
    iret

/* Ring 3 lands here when the user function returns: exit with its value. */
    .globl kit_user_return
kit_user_return:
    movl %eax, %ebx
    movl $0, %eax
    int $0x80
    ud2

/* sysenter arrives here on the MSR_SYSENTER_ESP stack, ring 0, IF off.
 * Convention (kit_sysenter below): EAX = nr, EBX = a, ESI = b, ECX = user
 * esp, EDX = user return eip. */
    .globl kit_sysenter_entry
kit_sysenter_entry:
    pushl %ecx
    pushl %edx
    movl $KDATA, %edx
    movl %edx, %ds
    movl %edx, %es
    pushl $0
    pushl %esi
    pushl %ebx
    pushl %eax
    cld
    call kit_syscall_dispatch
    addl $16, %esp
    movl $UDATA, %edx
    movl %edx, %ds
    movl %edx, %es
    popl %edx
    popl %ecx
    sysexit

/* uint32_t kit_sysenter(uint32_t nr, uint32_t a, uint32_t b), from ring 3. */
    .globl kit_sysenter
kit_sysenter:
    pushl %ebx
    pushl %esi
    pushl %ebp
    movl 16(%esp), %eax
    movl 20(%esp), %ebx
    movl 24(%esp), %esi
    movl %esp, %ecx
    movl $1f, %edx
    sysenter
1:  popl %ebp
    popl %esi
    popl %ebx
    ret

    .section .note.GNU-stack, "", @progbits
