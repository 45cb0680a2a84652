; hello64.asm - a 64-bit ELF64 multiboot guest: popek's loader enters it in
; long mode with identity-mapped page tables.  It checks that it really runs
; 64-bit code (a 64-bit shift, EFER.LMA), prints on COM1 and exits through
; isa-debug-exit: 0 (status 1) if both checks hold, 1 (status 3) if not.
; Only the kvm engine has long mode.
; engines: kvm
; Built with nasm -f elf64 and linked at 1 MiB (see the Makefile).

bits 64
default rel

MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 0x00000003
COM1     equ 0x3f8
EXIT     equ 0xf4

section .multiboot progbits alloc noexec nowrite align=4
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)

section .text
global _start
_start:
    cli
    lea rsp, [stack_top]
    lea rsi, [msg_hello]
    call puts

    xor ebx, ebx                    ; failures
    ; In 64-bit mode this is one 10-byte mov; in 32-bit mode the REX.W
    ; prefix would decode as dec eax and the shift would lose the high bits.
    mov rax, 0x0000000100000000
    shr rax, 32
    cmp rax, 1
    lea rsi, [msg_ok64]
    je .p1
    inc ebx
    lea rsi, [msg_bad64]
.p1: call puts

    mov ecx, 0xC0000080             ; IA32_EFER
    rdmsr
    test eax, 1 << 10               ; LMA
    lea rsi, [msg_oklma]
    jnz .p2
    inc ebx
    lea rsi, [msg_badlma]
.p2: call puts

    mov eax, ebx
    test eax, eax
    setnz al
    out EXIT, al
.hang:
    cli
    hlt
    jmp .hang

; puts: print the NUL-terminated string at rsi on COM1, polling LSR.THRE.
puts:
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    lodsb
    test al, al
    jz .done
    mov dx, COM1
    out dx, al
    jmp puts
.done:
    ret

section .rodata
msg_hello:  db "Hello from 64-bit long mode!", 10, 0
msg_ok64:   db "ok - 64-bit arithmetic", 10, 0
msg_bad64:  db "not ok - 64-bit arithmetic", 10, 0
msg_oklma:  db "ok - EFER.LMA is set", 10, 0
msg_badlma: db "not ok - EFER.LMA is set", 10, 0

section .bss
align 16
    resb 4096
stack_top:
