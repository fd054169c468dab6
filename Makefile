# cairn — one non-recursive GNU Makefile.
#   make            build build/cairn (optimised, debug info)
#   make run        install deps, build, start a single node on 127.0.0.1:9000
#   make test       install test deps, build, run unit + integration + fuzz replay
#   make asan       the same tests under AddressSanitizer + UBSan (build/asan)
#   make tsan       the same tests under ThreadSanitizer (build/tsan; not in CI,
#                   ~17 min on 2 cores); every report fails it (tests/tsan.supp)
#   make fuzz       long libFuzzer runs (clang, build/fuzz)
#   make bench      benchmarks (bench/), results go to bench/RESULTS.md
#   make bench-scale  GET/PUT/LIST at 10^5 vs 10^7 objects (fills 10^7, ~20 min)
#   make fault      the long kill -9 harness
#   make format     clang-format every C file; make format-check lists the ones that differ (make test runs it)
#   make install    binary, man page, --help text, systemd unit, /etc/cairn/cairn.env
#                   (PREFIX=/usr/local, SYSCONFDIR=/etc, DESTDIR=, BIN=$(BUILD)/cairn)
#
# One test at a time (make test and make asan alike; no fuzz, no hardening):
#   T=<module>/<test_binary>      one unit binary, e.g. T=meta/test_meta_list
#   T=integration/<file>.py       one pytest file (also fault/<file>.py, or a
#                                 whole directory: T=integration, T=fault)
#   F=<pattern>                   with a unit T: the case names to run, a
#                                 cmocka glob (F=test_base64, F='test_list_*');
#                                 with a pytest T: a -k expression, or ::<name>
#                                 appended to the file (F=::test_put_get)
#   PY=debian | PY=newer          only that integration pass (default: both)
# e.g. make test T=core/test_digest F=test_base64
#      make test T=integration/test_ops.py F=test_generated_credentials_persist
# A T or F that selects nothing fails. JUnit XML of every unit binary and
# pytest pass lands in build/test-results/ (build/test-results/asan/).

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
BUILD ?= build
PKGS := libuv lmdb libisal libxxhash libssl libcrypto expat jansson raft
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
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o)
UNIT_BINS := $(UNIT_OBJS:.o=)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/%.o)
BENCH_BINS := $(BENCH_OBJS:.o=)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_OBJS := $(FUZZ_SRCS:%.c=$(BUILD)/%.o)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/%)

# ---- test selection: T, F and PY (see the header) ----
TSEL := $(patsubst %.c,%,$(patsubst unit/%,%,$(patsubst tests/%,%,$(strip $(T)))))
ifneq ($(TSEL),)
ifneq ($(filter integration integration/% fault fault/% cluster,$(TSEL))$(and $(filter cluster/%,$(TSEL)),$(findstring .py,$(TSEL))),)
TEST_KIND := pytest
ifeq ($(wildcard tests/$(firstword $(subst ::, ,$(TSEL)))),)
$(error T=$(T): no tests/$(firstword $(subst ::, ,$(TSEL))))
endif
else
TEST_KIND := unit
ifeq ($(wildcard tests/unit/$(TSEL).c),)
$(error T=$(T): no tests/unit/$(TSEL).c (T=<module>/<test_binary>, integration/<file>.py, fault/<file>.py or cluster/<file>.py))
endif
ifeq ($(filter $(BUILD)/tests/unit/$(TSEL),$(UNIT_BINS)),)
$(error T=$(T): its module is not in MODULES=$(MODULES))
endif
endif
else ifneq ($(strip $(F)),)
$(error F=$(F) needs T=<module>/<test_binary> or T=integration/<file>.py)
endif
ifneq ($(filter-out debian newer,$(strip $(PY))),)
$(error PY=$(PY): use PY=debian or PY=newer)
endif
# Passed to scripts/run-tests.sh single-quoted, so F may hold spaces and
# commas ("a and not b"); written out rather than $(call), which splits at commas.
RUN_TESTS_ENV = CAIRN_TEST_PY='$(subst ','\'',$(PY))'
RUN_TESTS_ARGS = '$(subst ','\'',$(TSEL))' '$(subst ','\'',$(F))'

# The builds behind run, test, asan, fuzz and bench use every CPU, unless make
# was given a -j of its own (then its job server is shared as usual).
NPROC := $(shell nproc 2>/dev/null || echo 1)
SUBMAKE = $(MAKE) --no-print-directory $$(case " $$MAKEFLAGS " in *" -j"*) ;; *) echo -j$(NPROC) ;; esac)

.PHONY: all deps test-deps bench-deps run run-cluster test test-bins unit-bins asan tsan fuzz fuzz-build \
	fuzz-bins bench bench-cluster bench-rebuild bench-sse bench-scale bench-bins fault nemesis cluster-big clean format \
	format-check install
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

# The web console (console/) is compiled in: tools/embed, built with the
# host compiler, writes its files as a C table (src/s3/console_assets.h).
# The file list is a dependency too, so adding or removing a file rebuilds.
HOSTCC ?= cc
CONSOLE_FILES := $(sort $(wildcard console/*.html console/*.js console/*.css))
ifneq ($(filter s3,$(MODULES)),)
CONSOLE_OBJ := $(BUILD)/gen/console_assets.o
endif
$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(@D)
	$(HOSTCC) -std=gnu11 -O1 -Wall -Wextra -Werror $(shell pkg-config --cflags libxxhash 2>/dev/null) -o $@ $<
$(BUILD)/gen/console.list: FORCE
	@mkdir -p $(@D)
	@echo '$(CONSOLE_FILES)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/gen/console_assets.c: $(BUILD)/tools/embed $(BUILD)/gen/console.list $(CONSOLE_FILES)
	$(BUILD)/tools/embed $@ $(CONSOLE_FILES)
$(CONSOLE_OBJ): $(BUILD)/gen/console_assets.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libcairn.a: $(LIB_OBJS) $(CONSOLE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cairn: $(MAIN_OBJ) $(BUILD)/libcairn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# `cairn --version`: git describe at build time (outside a git checkout,
# main.c's constant); main.o is rebuilt when it changes.
CAIRN_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
$(BUILD)/version.h: FORCE
	@mkdir -p $(@D)
	@echo '#define CAIRN_VERSION "$(CAIRN_VERSION)"' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(MAIN_OBJ): $(BUILD)/version.h
$(MAIN_OBJ): CFLAGS += -include $(BUILD)/version.h
FORCE:

# Unit, bench and fuzz programs: their objects come from the rule above (so
# -MMD covers the headers each test includes); these rules only link.
# Unit tests see tests/unit/ and get common/unit.h without an #include.
$(BUILD)/tests/unit/%.o: CFLAGS += -Itests/unit -include tests/unit/common/unit.h

$(UNIT_BINS): $(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libcairn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BENCH_BINS): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libcairn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcurl

# Only meaningful with the fuzz variables below: build them with fuzz-build.
$(FUZZ_BINS): $(BUILD)/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/libcairn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

unit-bins: $(UNIT_BINS)
bench-bins: $(BENCH_BINS)
fuzz-bins: $(FUZZ_BINS)

# What a test run needs built: everything, or only what T names.
ifeq ($(TEST_KIND),unit)
test-bins: $(BUILD)/tests/unit/$(TSEL)
else ifeq ($(TEST_KIND),pytest)
test-bins: $(BUILD)/cairn
else
test-bins: $(BUILD)/cairn $(UNIT_BINS)
endif

run: deps
	@$(SUBMAKE) all
	exec $(BUILD)/cairn server --listen 127.0.0.1:9000 ./data

# Three nodes on 127.0.0.1:9001-9003 (data/n1..n3), see scripts/run-cluster.sh.
run-cluster: deps
	@$(SUBMAKE) all
	@CAIRN_BIN=$(BUILD)/cairn scripts/run-cluster.sh

test: test-deps
	@$(SUBMAKE) test-bins
ifeq ($(TSEL),)
	@$(SUBMAKE) fuzz-build
endif
	@$(RUN_TESTS_ENV) scripts/run-tests.sh $(BUILD) $(RUN_TESTS_ARGS)

# Sanitizer run: a separate tree so the optimised build stays untouched.
asan: test-deps
	@$(SUBMAKE) BUILD=build/asan OPT=-O1 HARDEN= HARDEN_LD= \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" test-bins
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		CAIRN_SANITIZED=1 $(RUN_TESTS_ENV) scripts/run-tests.sh build/asan $(RUN_TESTS_ARGS)

# ThreadSanitizer run: reports go to files (servers run under pytest, whose
# output they would not reach) and run-tests.sh counts them; exitcode=0 so a
# process's status is the test's own verdict.
TSAN_DIR := $(CURDIR)/build/tsan/reports
tsan: test-deps
	@$(SUBMAKE) BUILD=build/tsan OPT=-O1 HARDEN= HARDEN_LD= \
		EXTRA_CFLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
		EXTRA_LDFLAGS="-fsanitize=thread" test-bins
	@TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp log_path=$(TSAN_DIR)/r exitcode=0 second_deadlock_stack=1" \
		CAIRN_TSAN_REPORTS=$(TSAN_DIR) CAIRN_SANITIZED=1 $(RUN_TESTS_ENV) \
		scripts/run-tests.sh build/tsan $(RUN_TESTS_ARGS)

# libFuzzer: library objects are instrumented too (clang only).
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
fuzz-build:
	@$(SUBMAKE) BUILD=build/fuzz CC=clang OPT=-O1 HARDEN= HARDEN_LD= \
		EXTRA_CFLAGS="$(FUZZ_FLAGS)" fuzz-bins

fuzz: test-deps
	@$(SUBMAKE) fuzz-build
	@scripts/run-fuzz.sh long

bench: bench-deps
	@$(SUBMAKE) all bench-bins
	@bench/run.sh $(BUILD)
	@bench/cluster.sh $(BUILD)
	@bench/rebuild.sh $(BUILD)
	@bench/sse.sh $(BUILD)

bench-sse: bench-deps
	@$(SUBMAKE) all bench-bins
	@bench/sse.sh $(BUILD)

# GET/PUT/LIST at 10^5 vs 10^7 objects: fills 10^7 objects through S3
# (~20 minutes), so it is its own target, not part of `make bench`.
bench-scale: bench-deps
	@$(SUBMAKE) all bench-bins
	@bench/scale.sh $(BUILD)

bench-cluster: bench-deps
	@$(SUBMAKE) all bench-bins
	@bench/cluster.sh $(BUILD)

bench-rebuild: bench-deps
	@$(SUBMAKE) all bench-bins
	@bench/rebuild.sh $(BUILD)

fault: test-deps
	@$(SUBMAKE) all
	@CAIRN_BIN=$(abspath $(BUILD))/cairn CAIRN_FAULT_ROUNDS=200 CAIRN_FAULT_VROUNDS=100 \
		/usr/bin/python3 -m pytest -q tests/fault

# Long cluster fault runs (not in make test): random nemeses against 5 nodes
# with a linearizability check of every epoch. NEMESIS_SECS, NEMESIS_SEED.
NEMESIS_SECS ?= 600
NEMESIS_SEED ?= 1
nemesis: test-deps
	@$(SUBMAKE) all
	@CAIRN_BIN=$(abspath $(BUILD))/cairn /usr/bin/python3 tests/cluster/nemesis.py \
		--nodes 5 --duration $(NEMESIS_SECS) --seed $(NEMESIS_SEED)
	@CAIRN_BIN=$(abspath $(BUILD))/cairn /usr/bin/python3 tests/cluster/nemesis.py \
		--nodes 3 --duration $$(( $(NEMESIS_SECS) / 2 )) --seed $$(( $(NEMESIS_SEED) + 1 ))

# A node joining a cluster whose store is over 1 GB installs it (bounded memory).
cluster-big: test-deps
	@$(SUBMAKE) all
	@CAIRN_BIN=$(abspath $(BUILD))/cairn CAIRN_BIG_SNAPSHOT=1 /usr/bin/python3 -m pytest -q -s \
		-p no:cacheprovider tests/cluster/test_big_snapshot.py

format:
	clang-format -i $$(git ls-files 'src/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]' 'tools/*.[ch]')

format-check:
	@scripts/check-format.sh

# Packaging. The config file is never overwritten (it holds the operator's
# settings and maybe credentials); the unit names the installed paths.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR := $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
BIN ?= $(BUILD)/cairn
install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/doc/cairn $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/cairn
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/cairn
	install -m 0644 docs/cairn.1 $(DESTDIR)$(PREFIX)/share/man/man1/cairn.1
	$(BIN) --help > $(DESTDIR)$(PREFIX)/share/doc/cairn/cairn-help.txt
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		packaging/cairn.service.in > $(DESTDIR)$(UNITDIR)/cairn.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/cairn.service
	test -e $(DESTDIR)$(SYSCONFDIR)/cairn/cairn.env || \
		install -m 0600 packaging/cairn.env $(DESTDIR)$(SYSCONFDIR)/cairn/cairn.env

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_OBJS:.o=.d) $(BENCH_OBJS:.o=.d) \
	$(FUZZ_OBJS:.o=.d)
