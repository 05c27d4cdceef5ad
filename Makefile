# fcworker -- FastCGI worker for Alibaba Cloud Function Compute custom containers.
#
#   make            build build/fcworker and the examples
#   make run        set up, build and run nginx + fcworker on $PORT (default 9000)
#   make test       set up, build and run every test suite
#   make install    install fcworker, its plugin header and configuration under $(PREFIX)
#
# Overridable: OPTIMIZATION, CC, PREFIX, SANITIZE=1 (AddressSanitizer + UBSan).

CC ?= cc
OPTIMIZATION ?= -O2
PREFIX ?= /usr/local
WARN = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
       -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wvla -Werror=implicit-function-declaration
DEBUG = -g
CPPFLAGS += -D_GNU_SOURCE -Ihandler
CFLAGS ?=
CFLAGS += -std=c11 $(OPTIMIZATION) $(WARN) $(DEBUG) -pthread -fno-strict-aliasing

ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD = build/sanitize
else
BUILD = build
endif

LIBS = -lfcgi -linih -ldl -pthread
# Plugins call the fcw_* API in the executable: export exactly that.
EXPORT = -Wl,--dynamic-list=handler/fcworker.sym

WORKER_SRC = $(filter-out handler/main.c,$(wildcard handler/*.c))
WORKER_OBJ = $(WORKER_SRC:handler/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ = $(BUILD)/obj/main.o
BIN = $(BUILD)/fcworker

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
UNIT_SRC = $(wildcard t/unit/*.c)
UNIT_OBJ = $(UNIT_SRC:t/unit/%.c=$(BUILD)/t/unit/%.o)
IT_SRC = $(wildcard t/integration/*.c)
IT_OBJ = $(IT_SRC:t/integration/%.c=$(BUILD)/t/integration/%.o)

DEP = $(WORKER_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(IT_OBJ:.o=.d)

.PHONY: all run test test-unit test-integration setup install clean valgrind examples

all: $(BIN) examples

$(BUILD)/obj/%.o: handler/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BIN): $(WORKER_OBJ) $(MAIN_OBJ) handler/fcworker.sym
	$(CC) $(LDFLAGS) $(EXPORT) -o $@ $(WORKER_OBJ) $(MAIN_OBJ) $(LIBS)

$(BUILD)/t/unit/%.o: t/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -It $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/t/integration/%.o: t/integration/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -It $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/t/unit-tests: $(UNIT_OBJ) $(WORKER_OBJ)
	$(CC) $(LDFLAGS) $(EXPORT) -o $@ $^ $(CHECK_LIBS) $(LIBS)

$(BUILD)/t/integration-tests: $(IT_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) -pthread

-include handler/examples/Makefile.inc

setup:
	@scripts/setup

run: setup all
	exec scripts/run

test-unit: $(BUILD)/t/unit-tests
	$(BUILD)/t/unit-tests

test-integration: all $(BUILD)/t/integration-tests
	FCWORKER_BIN=$(abspath $(BIN)) $(BUILD)/t/integration-tests

test: setup
	$(MAKE) test-unit
	$(MAKE) test-integration

valgrind: $(BUILD)/t/unit-tests
	CK_FORK=no valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite $(BUILD)/t/unit-tests

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/fcworker
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/fcworker
	install -m 0644 handler/fcworker.h $(DESTDIR)$(PREFIX)/include/fcworker.h
	install -m 0644 conf/fcworker.conf conf/nginx.conf $(DESTDIR)$(PREFIX)/share/fcworker/

clean:
	rm -rf build

-include $(DEP)
