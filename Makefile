# crmstream build. `make` builds the daemon; `make test` runs every test (README).
# Sources are found by wildcard: a new file in src/, connectors/ or tests/ needs no edit here.

CC      ?= cc
SAN     ?=
BUILD   ?= build$(if $(SAN),-$(SAN))
PKGS    := rdkafka avro-c libconfig libcurl jansson libmicrohttpd sqlite3 libpq
# CFLAGS, LDFLAGS and LDLIBS are the user's (`make CFLAGS=-O0` swaps the optimization only); the
# rules use ALL_*, which add what the build cannot do without: the language level, the include
# paths, the warnings as errors, the libraries and the sanitizer.
CFLAGS  ?= -O2 -g
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
SAN_CFLAGS :=
SAN_LDFLAGS :=
ifeq ($(SAN),asan)
SAN_CFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_LDFLAGS := -fsanitize=address,undefined
endif
# libFuzzer targets (tests/fuzz/): everything built with clang's coverage instrumentation, ASan
# and UBSan; the targets link libFuzzer's main.
ifeq ($(SAN),fuzz)
CC      := clang
SAN_CFLAGS  := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
SAN_LDFLAGS := -fsanitize=address,undefined
endif
# ThreadSanitizer: data races between the sync threads, librdkafka's callbacks, the metrics
# server and the shutdown path.
ifeq ($(SAN),tsan)
SAN_CFLAGS  := -fsanitize=thread -fno-omit-frame-pointer
SAN_LDFLAGS := -fsanitize=thread
endif
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Werror -pthread -Isrc $(PKG_CFLAGS) \
              $(SAN_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SAN_LDFLAGS) $(LDFLAGS)
ALL_LDLIBS  = $(PKG_LIBS) -lavro -lm -pthread $(LDLIBS)

ENGINE_SRC := $(filter-out src/main.c,$(wildcard src/*.c))
CONN_SRC   := $(wildcard connectors/*.c connectors/*/*.c)
AVSC       := $(shell find avro -name '*.avsc' 2>/dev/null)
LIB_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(ENGINE_SRC) $(CONN_SRC)) $(BUILD)/gen/embedded_schemas.o
ifeq ($(SAN),tsan)
LIB_OBJ    += $(BUILD)/tests/tsan/c11_threads.o
endif
MAIN_OBJ   := $(BUILD)/src/main.o
SIM_SRC    := $(wildcard tests/sim/*.c tests/sim/*/*.c)
SIM_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(SIM_SRC))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_SRC  := $(wildcard bench/*.c)
BENCH_BIN  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

.PHONY: all deps test test-unit test-integration test-integration-asan test-asan valgrind demo bench bench-backfill format clean sim \
        fuzz fuzz-build fuzz-seeds test-fuzz test-tsan test-integration-tsan
all: crmstream $(BUILD)/crmsim $(BUILD)/crmtool

crmstream: $(BUILD)/crmstream
	@if [ "$(BUILD)" = build ]; then ln -sf $(BUILD)/crmstream crmstream; fi

$(BUILD)/crmstream: $(MAIN_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

sim: $(BUILD)/crmsim
$(BUILD)/crmsim: $(SIM_OBJ) $(BUILD)/src/crm_time.o $(BUILD)/src/util.o $(BUILD)/src/schema_compat.o $(BUILD)/src/schema_canon.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(BUILD)/crmtool: tests/tools/crmtool.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB_OBJ) $(ALL_LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(LIB_OBJ) $(ALL_LDLIBS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -fsanitize=fuzzer $(ALL_LDFLAGS) -o $@ $< $(LIB_OBJ) $(ALL_LDLIBS)

# Benchmarks share the bench simulator's record generator (tests/sim/bench_item.c).
BENCH_SHARED := $(BUILD)/tests/sim/bench_item.o
$(BUILD)/bench/%: bench/%.c $(LIB_OBJ) $(BENCH_SHARED)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/sim $(ALL_LDFLAGS) -o $@ $< $(BENCH_SHARED) $(LIB_OBJ) $(ALL_LDLIBS)

$(BUILD)/gen/embedded_schemas.c: $(AVSC) scripts/embed-avro.sh
	@mkdir -p $(dir $@)
	scripts/embed-avro.sh $@

$(BUILD)/gen/embedded_schemas.o: $(BUILD)/gen/embedded_schemas.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Installs Debian packages and the Kafka broker jars (idempotent).
deps:
	scripts/install-deps.sh

# Everything CI runs: unit tests (plain, valgrind, ASan/UBSan, ThreadSanitizer), every fuzz
# target briefly, the integration suite on a real broker, and subsets of it again with the
# ASan/UBSan and the ThreadSanitizer builds of every binary.
test: test-unit valgrind test-asan test-tsan test-fuzz test-integration test-integration-asan \
      test-integration-tsan

# Integration tests run in JOBS lanes, each with its own broker on KAFKA_PORT + 10*lane (see
# tests/run-integration.sh; they mostly wait). JOBS=1: one at a time. Unit tests stay serial:
# CPU-bound, and their timing checks (test_copper_paging under valgrind) failed two at a time.
JOBS ?= 2

test-unit: $(UNIT_BIN) $(BUILD)/crmsim
	tests/run-unit.sh $(UNIT_BIN)

test-integration: all
	JOBS=$(JOBS) tests/run-integration.sh

# Unit tests under AddressSanitizer + UBSan.
test-asan:
	$(MAKE) SAN=asan test-unit

ASAN_INTEGRATION ?= 01_sync_exactly_once 07_http_faults 09_sigterm 12_custom_field_evolution 13_schema_registry 26_close_activity_edits_event_log 55_resync_state_reset 83_sources_reload
test-integration-asan:
	$(MAKE) SAN=asan all
	JOBS=$(JOBS) BUILD=build-asan TESTS="$(ASAN_INTEGRATION)" tests/run-integration.sh

# Fuzzing (README "Fuzzing"): each target of tests/fuzz/ for FUZZ_SECONDS, starting from the
# committed seeds (tests/fuzz/corpus/<target>/); what it finds goes to build-fuzz/corpus/, crashes
# to build-fuzz/artifacts/. FUZZ_TARGETS narrows the list.
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) SAN=fuzz fuzz-build
	BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BIN)

# The seed corpora, from the simulators (tests/fuzz/make-seeds.sh; commit what changes).
$(BUILD)/fuzz-seeds: tests/fuzz/seeds.c $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz $(ALL_LDFLAGS) -o $@ $< $(LIB_OBJ) $(ALL_LDLIBS)

fuzz-seeds: $(BUILD)/fuzz-seeds $(BUILD)/crmsim $(BUILD)/crmstream
	tests/fuzz/make-seeds.sh

# CI: every target briefly (6 targets x 25 s, under 3 minutes).
test-fuzz:
	$(MAKE) fuzz FUZZ_SECONDS=25

# Unit tests under ThreadSanitizer (tests/tsan/tsan.supp lists only third-party false positives).
TSAN_ENV := TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan/tsan.supp second_deadlock_stack=1"
test-tsan:
	$(TSAN_ENV) $(MAKE) SAN=tsan test-unit

TSAN_INTEGRATION ?= 01_sync_exactly_once 09_sigterm 10_operations
test-integration-tsan:
	$(MAKE) SAN=tsan all
	$(TSAN_ENV) JOBS=$(JOBS) BUILD=build-tsan TESTS="$(TSAN_INTEGRATION)" tests/run-integration.sh

valgrind: $(UNIT_BIN) $(BUILD)/crmsim
	VALGRIND=1 tests/run-unit.sh $(UNIT_BIN)

demo: # builds quietly itself (output in .cache/demo/build.log)
	scripts/demo.sh

# One line per connector (`crmstream connectors`; N records each, default 20000); bench/run.sh
# alone is the engine's 1M-record figure.
bench: all $(BENCH_BIN)
	@for c in $$($(BUILD)/crmstream connectors); do CONNECTOR=$$c N=$${N:-20000} bench/connector.sh | tail -n 1 || exit 1; done

# Backfill wall time against the CRMs' default rate limits (bench/backfill.sh; minutes).
bench-backfill: all
	bench/backfill.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz build-tsan build-clang crmstream
