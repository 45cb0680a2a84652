/* diff_proto.h - the pipe protocol between tests/unit/test_insn_diff.c and
 * its native 32-bit helper (tests/unit/native32/runner.c): fixed-size
 * binary records, one case in, one result out. */
#ifndef POPEK_DIFF_PROTO_H
#define POPEK_DIFF_PROTO_H
#include <stdint.h>

#define DIFF_DATA 0x00200000u      /* data window (both worlds) */
#define DIFF_DATA_SIZE 0x1000u
#define DIFF_CODE 0x00210000u      /* the instruction under test */
/* The helper's first 4 bytes: ready, or it could not set itself up. */
#define DIFF_READY "P32R"
#define DIFF_NOT_READY "P32E"

struct diff_case {
    uint8_t code[60];
    uint32_t code_len;
    uint32_t regs[8];
    uint32_t eflags;
    uint8_t mem[DIFF_DATA_SIZE];
};

struct diff_result {
    uint32_t regs[8];
    uint32_t eflags;
    int32_t fault;                 /* -1 none, else exception vector */
    uint8_t mem[DIFF_DATA_SIZE];
};

#endif
