# crmstream build. `make` builds the daemon; `make test` runs every test (README).
# Sources are found by wildcard: a new file in src/, connectors/ or tests/ needs no edit here.

CC      ?= cc
SAN     ?=
BUILD   ?= build$(if $(SAN),-$(SAN))
PKGS    := rdkafka avro-c libconfig libcurl jansson libmicrohttpd sqlite3 libpq
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -Isrc \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lavro -lm -pthread
ifeq ($(SAN),asan)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

ENGINE_SRC := $(filter-out src/main.c,$(wildcard src/*.c))
CONN_SRC   := $(wildcard connectors/*.c connectors/*/*.c)
AVSC       := $(shell find avro -name '*.avsc' 2>/dev/null)
LIB_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(ENGINE_SRC) $(CONN_SRC)) $(BUILD)/gen/avro_embedded.o
MAIN_OBJ   := $(BUILD)/src/main.o
SIM_SRC    := $(wildcard tests/sim/*.c tests/sim/*/*.c)
SIM_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(SIM_SRC))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_SRC  := $(wildcard bench/*.c)
BENCH_BIN  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all deps test test-unit test-integration test-integration-asan test-asan valgrind demo bench format clean sim
all: crmstream $(BUILD)/crmsim $(BUILD)/crmtool

crmstream: $(BUILD)/crmstream
	@if [ "$(BUILD)" = build ]; then ln -sf $(BUILD)/crmstream crmstream; fi

$(BUILD)/crmstream: $(MAIN_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

sim: $(BUILD)/crmsim
$(BUILD)/crmsim: $(SIM_OBJ) $(BUILD)/src/crm_time.o $(BUILD)/src/util.o $(BUILD)/src/avro_compat.o $(BUILD)/src/avro_schema.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/crmtool: tests/tools/crmtool.c $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(BUILD)/gen/avro_embedded.c: $(AVSC) scripts/embed-avro.sh
	@mkdir -p $(dir $@)
	scripts/embed-avro.sh $@

$(BUILD)/gen/avro_embedded.o: $(BUILD)/gen/avro_embedded.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Installs Debian packages and the Kafka broker jars (idempotent).
deps:
	scripts/install-deps.sh

# Everything CI runs: unit tests (plain, valgrind, ASan/UBSan), the integration suite on a real
# broker, and a subset of it again with the ASan/UBSan build of every binary.
test: test-unit valgrind test-asan test-integration test-integration-asan

test-unit: $(UNIT_BIN) $(BUILD)/crmsim
	tests/run-unit.sh $(UNIT_BIN)

test-integration: all
	tests/run-integration.sh

# Unit tests under AddressSanitizer + UBSan.
test-asan:
	$(MAKE) SAN=asan test-unit

ASAN_INTEGRATION ?= 01_sync_exactly_once 07_http_faults 09_sigterm 12_custom_field_evolution 13_schema_registry 26_close_activity_edits_event_log 55_resync_state_reset
test-integration-asan:
	$(MAKE) SAN=asan all
	BUILD=build-asan TESTS="$(ASAN_INTEGRATION)" tests/run-integration.sh

valgrind: $(UNIT_BIN) $(BUILD)/crmsim
	VALGRIND=1 tests/run-unit.sh $(UNIT_BIN)

demo: # builds quietly itself (output in .cache/demo/build.log)
	scripts/demo.sh

# One line per connector users run (N records each, default 20000); bench/run.sh alone is the
# engine's 1M-record figure.
bench: all $(BENCH_BIN)
	@for c in close pipedrive copper testcrm; do CONNECTOR=$$c N=$${N:-20000} bench/connector.sh | tail -n 1 || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan crmstream
