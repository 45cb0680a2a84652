# popek - build and test.
#   make            build/popek (and the test guests)
#   make check      build everything, run all tests, then again under ASan/UBSan
#   make SAN=1 BUILD=build-asan   the sanitizer build
#   make SAN=thread BUILD=build-tsan   ThreadSanitizer (interp engine)
# Sources are picked up by wildcard: add a file in the right folder and it is
# built.  Host code is C11 with -Wall -Wextra -Werror; guests are built with
# gcc -m32 -ffreestanding (tests/guests) and nasm where needed.

BUILD ?= build
CC ?= gcc
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -DPOPEK_VERSION='"$(VERSION)"' -MMD -MP
LDLIBS += -lpthread -lm
LDLIBS += -lZydis  # src/core/disasm.c (trace disassembly)
LDLIBS += -lz      # src/loaders/initrd.c (gzip initrd check)
LDLIBS += -lslirp  # src/devices/virtio_net.c (user-mode networking)
ifeq ($(FUZZ),1)
# The fuzzing build (make fuzz): clang's libFuzzer coverage plus ASan/UBSan.
CC := clang
CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined -Wno-gnu-variable-sized-type-not-at-end
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
# ThreadSanitizer (make SAN=thread BUILD=build-tsan): the device I/O thread
# against the vCPU thread; run it with -e interp (bt's own signal and
# mapping tricks are not for TSan).
CFLAGS += -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
LDFLAGS += -fsanitize=thread
endif
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

HOST_SRCS := $(shell find src -name '*.c' ! -name main.c | sort)
HOST_OBJS := $(HOST_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TEST_LIBS := -lunicorn

# Guest programs (32-bit multiboot ELF, freestanding).
GUEST_CC := gcc
GUEST_CFLAGS := -m32 -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
	-fno-asynchronous-unwind-tables -mno-sse -mno-mmx -mno-80387 -O2 -g \
	-std=gnu11 -Wall -Wextra -Werror -Itests/guests/lib -mgeneral-regs-only
GUEST_LDFLAGS := -m32 -nostdlib -static -no-pie -Wl,--build-id=none \
	-Wl,-T,tests/guests/lib/guest.ld
GUEST_LIB_SRCS := $(wildcard tests/guests/lib/*.c tests/guests/lib/*.S)
GUEST_LIB_OBJS := $(patsubst tests/guests/lib/%,$(BUILD)/guests/lib/%.o,$(GUEST_LIB_SRCS))
GUEST_SRCS := $(wildcard tests/guests/*.c bench/guests/*.c)
GUEST_ELFS := $(patsubst %.c,$(BUILD)/guests/%.elf,$(notdir $(GUEST_SRCS)))
GUEST_ASM := $(wildcard tests/guests/*.asm)
GUEST_ASM_ELFS := $(patsubst %.asm,$(BUILD)/guests/%.elf,$(notdir $(GUEST_ASM)))

.PHONY: all check check-one clean guests tests demo fuzz fuzz-build fuzz-bins
all: $(BUILD)/popek $(BUILD)/popek-bench guests tests

# Boot the default guest on every usable engine and show the statistics.
demo: all
	BUILD=$(BUILD) scripts/demo.sh

$(BUILD)/popek: $(BUILD)/src/main.o $(BUILD)/libpopek.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The benchmark harness: a program of its own that drives build/popek from
# outside (bench/driver); it links only popek's small utility code.
BENCH_SRCS := $(wildcard bench/driver/*.c)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/%.o)
$(BUILD)/popek-bench: $(BENCH_OBJS) $(BUILD)/libpopek.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libpopek.a: $(HOST_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

tests: $(TEST_BINS)
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libpopek.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libpopek.a $(LDFLAGS) $(TEST_LIBS) $(LDLIBS)

# Native 32-bit helper of tests/unit/test_insn_diff.c: runs instructions on
# the host CPU (never sanitized: it executes raw instruction bytes).
$(BUILD)/tests/native32_runner: tests/unit/native32/runner.c tests/unit/diff_proto.h
	@mkdir -p $(dir $@)
	gcc -m32 -O2 -std=gnu11 -Wall -Wextra -Werror -no-pie -o $@ $<
$(TEST_BINS): $(BUILD)/tests/native32_runner

guests: $(GUEST_ELFS) $(GUEST_ASM_ELFS)
$(BUILD)/guests/lib/%.c.o: tests/guests/lib/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/guests/lib/%.S.o: tests/guests/lib/%.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/guests/%.o: tests/guests/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/guests/%.o: bench/guests/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/guests/%.elf: $(BUILD)/guests/%.o $(GUEST_LIB_OBJS) tests/guests/lib/guest.ld
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_LIB_OBJS) -lgcc
$(BUILD)/guests/%.elf: tests/guests/%.asm tests/guests/lib/guest64.ld
	@mkdir -p $(dir $@)
	nasm -f elf64 -o $(BUILD)/guests/$*.asm.o $<
	ld -nostdlib -static -z max-page-size=0x1000 -z noexecstack \
		-T tests/guests/lib/guest64.ld -o $@ $(BUILD)/guests/$*.asm.o

# Native baselines for `popek bench`: a 32-bit host program (bench/native).
BENCH_NATIVE := $(BUILD)/bench/native32
all: $(BENCH_NATIVE)
$(BUILD)/bench/native32: bench/native/native32.c bench/guests/crc32_core.h tests/linux/userprog.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) -m32 -O2 -g -std=gnu11 -Wall -Wextra -Werror -fno-pie -no-pie -o $@ $<
# The same baselines as a 64-bit program, for hosts that cannot run 32-bit
# programs (the bench says which one it used).
all: $(BUILD)/bench/native64
$(BUILD)/bench/native64: bench/native/native32.c bench/guests/crc32_core.h tests/linux/userprog.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) -m64 -O2 -g -std=gnu11 -Wall -Wextra -Werror -o $@ $<

# The macrobenchmarks' guest side (popek-bench --macro, bench/macro): static
# i386 helpers for the Debian image, the generated compile project, and the
# checksum its program prints when built on the host.
MACRO := $(BUILD)/bench/macro
all: $(MACRO)/forkwait $(MACRO)/diskio $(MACRO)/netsink $(MACRO)/compile.expected \
	$(MACRO)/run.sh $(MACRO)/www/index.html
$(MACRO)/run.sh: bench/macro/run.sh
	@mkdir -p $(dir $@)
	cp $< $@
$(MACRO)/www/index.html: bench/macro/index.html
	@mkdir -p $(dir $@)
	cp $< $@
$(MACRO)/forkwait: tests/linux/forkwait.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) -m32 -static -O2 -Wall -Wextra -Werror -o $@ $<
$(MACRO)/%: bench/macro/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) -m32 -static -O2 -Wall -Wextra -Werror -o $@ $<
$(MACRO)/compile/Makefile: bench/macro/gen_compile.py
	rm -rf $(MACRO)/compile
	python3 $< $(MACRO)/compile
$(MACRO)/compile.expected: $(MACRO)/compile/Makefile
	rm -rf $(MACRO)/compile-host && cp -r $(MACRO)/compile $(MACRO)/compile-host
	$(MAKE) -s -C $(MACRO)/compile-host CC=gcc >/dev/null
	$(MACRO)/compile-host/compiled > $@.tmp && mv $@.tmp $@
	rm -rf $(MACRO)/compile-host

# Fuzzing (tests/fuzz, libFuzzer from clang-14): the loaders, the initrd
# check, the PC's devices through the io bus, and bt against the
# interpreter on generated instruction sequences.
#   make fuzz FUZZ_SECONDS=N   each harness for N seconds (default 60)
# make check runs each for a few seconds with a fixed seed.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
fuzz-bins: $(FUZZ_BINS)
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_common.h $(BUILD)/libpopek.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Isrc -o $@ $< $(BUILD)/libpopek.a $(LDFLAGS) $(LDLIBS)
fuzz-build:
	$(MAKE) FUZZ=1 BUILD=$(FUZZ_BUILD) fuzz-bins
fuzz: fuzz-build
	tests/run_fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Run every test in this build only.
check-one: all
	tests/run_tests.sh $(BUILD)

# The full suite: the normal build and the ASan/UBSan build, one summary.
check:
	$(MAKE) all
	$(MAKE) all SAN=1 BUILD=build-asan
	$(MAKE) fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) tests/run_tests.sh build build-asan

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
