# cairn — one non-recursive GNU Makefile.
#   make            build build/cairn (optimised, debug info)
#   make run        install deps, build, start a single node on 127.0.0.1:9000
#   make test       install test deps, build, run unit + integration + fuzz replay
#   make asan       the same tests under AddressSanitizer + UBSan (build/asan)
#   make fuzz       long libFuzzer runs (clang, build/fuzz)
#   make bench      benchmarks (bench/), results go to bench/RESULTS.md
#   make fault      the long kill -9 harness

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
BUILD ?= build
PKGS := libuv lmdb libisal libxxhash libcrypto expat
OPT ?= -O2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Hardening (docs/SECURITY.md): stack canaries, checked libc calls, a
# position-independent binary, read-only relocations bound at start-up.
# scripts/check-hardening.sh verifies the result; make test runs it. The
# sanitizer and fuzz variants set HARDEN= (ASan replaces fortify's checks).
HARDEN ?= -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
HARDEN_LD ?= -pie -Wl,-z,relro,-z,now
CFLAGS := -std=gnu11 $(OPT) -g -Wall -Wextra -Wshadow -Wmissing-prototypes \
	-Werror -D_GNU_SOURCE -fno-strict-aliasing $(HARDEN) -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS := $(PKG_LIBS) -lhttp_parser -lpthread -lm
LDFLAGS += $(HARDEN_LD) $(EXTRA_LDFLAGS)

# MODULES narrows the build to some src/ directories (e.g. MODULES="core meta"),
# so one module can be built and tested while another is mid-change.
MODULES ?= $(notdir $(wildcard src/*))
LIB_SRCS := $(wildcard $(MODULES:%=src/%/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/src/main.o
UNIT_SRCS := $(wildcard $(MODULES:%=tests/unit/%/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
TEST_HELPER_SRCS := $(wildcard tests/unit/common/*.c)
TEST_HELPER_OBJS := $(TEST_HELPER_SRCS:%.c=$(BUILD)/%.o)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all deps test-deps bench-deps run test unit asan fuzz fuzz-build bench fault clean format
all: $(BUILD)/cairn

deps:
	@scripts/install-deps.sh build
test-deps:
	@scripts/install-deps.sh test
bench-deps:
	@scripts/install-deps.sh bench

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libcairn.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cairn: $(MAIN_OBJ) $(BUILD)/libcairn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(TEST_HELPER_OBJS) $(BUILD)/libcairn.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(TEST_HELPER_OBJS) \
		$(BUILD)/libcairn.a $(LDLIBS) -lcmocka

$(BUILD)/bench/%: bench/%.c $(BUILD)/libcairn.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libcairn.a $(LDLIBS) -lcurl

unit-bins: $(UNIT_BINS)
bench-bins: $(BENCH_BINS)

run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p data
	exec $(BUILD)/cairn server --listen 127.0.0.1:9000 ./data

test: test-deps
	@$(MAKE) --no-print-directory all unit-bins
	@$(MAKE) --no-print-directory BUILD=build/fuzz fuzz-build
	@scripts/run-tests.sh $(BUILD)

# Sanitizer run: a separate tree so the optimised build stays untouched.
asan: test-deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 HARDEN= HARDEN_LD= \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" all unit-bins
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		CAIRN_SANITIZED=1 scripts/run-tests.sh build/asan

# libFuzzer: library objects are instrumented too (clang only).
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT=-O1 HARDEN= HARDEN_LD= \
		EXTRA_CFLAGS="$(FUZZ_FLAGS)" build/fuzz/libcairn.a
	@for f in $(FUZZ_SRCS); do \
		n=$$(basename $$f .c); \
		if [ ! build/fuzz/$$n -nt $$f ] || [ build/fuzz/libcairn.a -nt build/fuzz/$$n ]; then \
		echo "clang $$n"; \
		clang -std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) \
			-fsanitize=fuzzer,address,undefined -o build/fuzz/$$n $$f \
			build/fuzz/libcairn.a $(LDLIBS) || exit 1; fi; \
	done

fuzz: test-deps
	@$(MAKE) --no-print-directory fuzz-build
	@scripts/run-fuzz.sh long

bench: bench-deps
	@$(MAKE) --no-print-directory all bench-bins
	@bench/run.sh $(BUILD)

fault: test-deps
	@$(MAKE) --no-print-directory all
	@CAIRN_BIN=$(abspath $(BUILD))/cairn CAIRN_FAULT_ROUNDS=200 /usr/bin/python3 -m pytest -q tests/fault

format:
	clang-format -i $$(git ls-files 'src/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]')

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d)
