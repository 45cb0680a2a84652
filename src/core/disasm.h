/* disasm.h - one-line Intel-syntax disassembly of guest code for traces and
 * for logging unimplemented instructions (a thin wrapper over Zydis, which
 * is only used for display; popek's own decoder is src/x86/decode). */
#ifndef POPEK_DISASM_H
#define POPEK_DISASM_H
#include <stddef.h>
#include <stdint.h>

/* Disassemble the instruction at p (n bytes readable) as 32-bit code at
 * address eip into out (always NUL-terminated if outlen > 0).  Returns the
 * instruction length, or -1 if the bytes do not decode (out then holds
 * "(bad)" followed by the first bytes in hex). */
int disasm32(const uint8_t *p, size_t n, uint32_t eip, char *out, size_t outlen);
/* The same for 16-bit code (real mode, 16-bit protected-mode segments). */
int disasm16(const uint8_t *p, size_t n, uint32_t eip, char *out, size_t outlen);

#endif
