/* entry.S - the multiboot (v1) header and the guest's first instructions:
 * zero .bss, switch to the kit's stack, call kit_start(magic, mbi) in C
 * (cpu.c), which sets the machine up and calls the guest's main(). */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, want memory info */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text.entry, "ax"
    .globl _start
_start:
    cli
    cld
    movl %eax, %esi                 /* multiboot magic */
    movl %ebx, %ebp                 /* multiboot info */
    movl $__kit_bss_start, %edi
    movl $__kit_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl
    movl $kit_stack_top, %esp
    pushl %ebp
    pushl %esi
    call kit_start
1:  cli
    hlt
    jmp 1b

    .bss
    .align 16
    .globl kit_stack_bottom, kit_stack_top
kit_stack_bottom:
    .space 16384
kit_stack_top:

    .section .note.GNU-stack, "", @progbits
