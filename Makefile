# fcworker -- FastCGI worker for Alibaba Cloud Function Compute custom containers.
#
#   make            build build/fcworker, its launcher build/fcworker-run, and the examples
#   make run        set up, build and run nginx + fcworker on $PORT (default 9000)
#   make test       set up for the tests, build and run every test suite (all of them,
#                   even when one fails; the failures together at the end)
#   make install    install fcworker, its launcher fcworker-run, its plugin header and
#                   configuration under $(PREFIX)
#   make config-reference  rewrite conf/README.md's tables of settings from the
#                   worker's own table (handler/config/config_table.c)
#   make check-layers  no include cycle among handler/'s modules (scripts/check-layers)
#
# Overridable: OPTIMIZATION, CC, PREFIX, SANITIZE=1 (AddressSanitizer + UBSan).

CC ?= cc
OPTIMIZATION ?= -O2
PREFIX ?= /usr/local
WARN = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
       -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wvla -Werror=implicit-function-declaration
DEBUG = -g
# handler/'s layers, top down below main.c and server.c (handler/README.md);
# every one is on the include path, so a module is included by its name alone.
HANDLER_LAYERS = core dispatch config handlers app cgi request settings base
CPPFLAGS += -D_GNU_SOURCE -Ihandler $(HANDLER_LAYERS:%=-Ihandler/%)
CFLAGS ?=
CFLAGS += -std=c11 $(OPTIMIZATION) $(WARN) $(DEBUG) -pthread -fno-strict-aliasing

ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD = build/sanitize
else
BUILD = build
endif

LIBS = -lfcgi -linih -lhttp_parser -ldl -pthread
# Plugins call the fcw_* API in the executable: export exactly that.
EXPORT = -Wl,--dynamic-list=handler/fcworker.sym

WORKER_SRC = $(filter-out handler/main.c,$(wildcard handler/*.c $(HANDLER_LAYERS:%=handler/%/*.c)))
WORKER_OBJ = $(WORKER_SRC:handler/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ = $(BUILD)/obj/main.o
BIN = $(BUILD)/fcworker
# fcworker-run, the launcher (handler/launch/): its own program, on a few of base/'s modules.
LAUNCH_OBJ = $(patsubst handler/%.c,$(BUILD)/obj/%.o,$(wildcard handler/launch/*.c)) \
             $(BUILD)/obj/base/clock.o $(BUILD)/obj/base/error.o
LAUNCHER = $(BUILD)/fcworker-run

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

# One executable per test file (t/unit/test_*.c, t/integration/test_*.c), so a
# suite runs in its own process and helpers add suites without a shared list.
UNIT_TESTS = $(patsubst t/unit/%.c,$(BUILD)/t/unit/%,$(wildcard t/unit/test_*.c))
IT_TESTS = $(patsubst t/integration/%.c,$(BUILD)/t/integration/%,$(wildcard t/integration/test_*.c))
# The harness every integration suite links: t/integration/*.c but the suites
# (runtime, HTTP and FastCGI clients, fixtures, processes, ...; harness.h
# includes their headers).
IT_HELPERS = $(patsubst t/integration/%.c,$(BUILD)/t/integration/%.o,$(filter-out t/integration/test_%,$(wildcard t/integration/*.c)))
# What the unit suites share beside the suites (t/unit/*.c but test_*: a
# request on a real FastCGI connection).
UNIT_HELPERS = $(patsubst t/unit/%.c,$(BUILD)/t/unit/%.o,$(filter-out t/unit/test_%,$(wildcard t/unit/*.c)))
# Helpers both kinds of suite link (t/support/*.c).
TEST_SUPPORT = $(patsubst t/%.c,$(BUILD)/t/%.o,$(wildcard t/support/*.c))

DEP = $(WORKER_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(LAUNCH_OBJ:.o=.d) $(wildcard $(BUILD)/t/*/*.d)

.SECONDARY:

.PHONY: all run test test-unit test-integration setup setup-tests install clean valgrind examples \
        config-reference check-layers

all: $(BIN) $(LAUNCHER) examples

$(BUILD)/obj/%.o: handler/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BIN): $(WORKER_OBJ) $(MAIN_OBJ) handler/fcworker.sym
	$(CC) $(LDFLAGS) $(EXPORT) -o $@ $(WORKER_OBJ) $(MAIN_OBJ) $(LIBS)

$(LAUNCHER): $(LAUNCH_OBJ)
	$(CC) $(LDFLAGS) -o $@ $(LAUNCH_OBJ) -pthread

$(BUILD)/t/%.o: t/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -It $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/t/unit/test_%: $(BUILD)/t/unit/test_%.o $(UNIT_HELPERS) $(TEST_SUPPORT) $(WORKER_OBJ)
	$(CC) $(LDFLAGS) $(EXPORT) -o $@ $^ $(CHECK_LIBS) $(LIBS)

$(BUILD)/t/integration/test_%: $(BUILD)/t/integration/test_%.o $(IT_HELPERS) $(TEST_SUPPORT)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) -pthread

-include handler/examples/Makefile.inc
-include docker/docker.mk
-include scripts/bench.mk
-include t/fuzz/fuzz.mk

# What running needs; setup-tests adds what the test suites start (app servers,
# Check, python3-yaml), so make test needs no network once it has run.
setup:
	@scripts/setup

setup-tests:
	@scripts/setup --tests

run: setup all
	exec scripts/run

test-unit: $(UNIT_TESTS)
	@scripts/run-tests $(UNIT_TESTS)

test-integration: all $(IT_TESTS)
	@FCWORKER_BIN=$(abspath $(BIN)) FCWORKER_BUILD=$(abspath $(BUILD)) scripts/run-tests $(IT_TESTS)

# Unit and integration suites, then the local FC driver against a real run and
# the deploy manifests: everything that needs no docker (make test-container
# and scripts/check-hardening do the rest, and .ci/run runs them too).
test: setup-tests
	@MAKE="$(MAKE)" scripts/test-all test-unit test-integration test-fc-local test-deploy

check-layers:
	@scripts/check-layers

valgrind: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do CK_FORK=no valgrind -q --error-exitcode=1 --leak-check=full \
	    --errors-for-leak-kinds=definite $$t || exit 1; done

install: $(BIN) $(LAUNCHER)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/fcworker
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/fcworker
	install -m 0755 $(LAUNCHER) $(DESTDIR)$(PREFIX)/bin/fcworker-run
	install -m 0644 handler/fcworker.h $(DESTDIR)$(PREFIX)/include/fcworker.h
	install -m 0644 conf/fcworker.conf conf/nginx.conf $(DESTDIR)$(PREFIX)/share/fcworker/

config-reference: $(BIN)
	scripts/config-reference $(abspath $(BIN)) conf/README.md

clean:
	rm -rf build

-include $(DEP)
