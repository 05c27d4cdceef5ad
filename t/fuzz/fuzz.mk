# libFuzzer targets (included by the top Makefile).
#
#   make fuzz               build every t/fuzz/fuzz_*.c, replay the regressions,
#                           then fuzz each target for FUZZ_SECONDS (default 60)
#   make fuzz-regressions   replay t/fuzz/regressions/<target>/* and the seed
#                           corpus once each: seconds, suitable for `make test`
#
# The worker's modules are rebuilt with clang (libFuzzer is clang's) into
# build/fuzz/obj with the same sanitizers as the fuzzer binaries, so a bug
# inside a module is caught where it happens. Each target fuzzes a copy of its
# seed corpus in build/fuzz/work/<target> (the repository's corpus is never
# written); a crash input lands in build/fuzz/artifacts/<target>/. Per-target
# logs with libFuzzer's final statistics are in build/fuzz/logs/<target>.log.
#
# A crash found here is minimised (`build/fuzz/<target> -minimize_crash=1
# -runs=100000 <crash-file>`), added to t/fuzz/regressions/<target>/ and fixed.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR = build/fuzz
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -O1 -g $(WARN) -pthread -fno-strict-aliasing $(FUZZ_SAN)

FUZZ_TARGETS = $(patsubst t/fuzz/%.c,%,$(wildcard t/fuzz/fuzz_*.c))
FUZZ_BINS = $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)
FUZZ_OBJ = $(WORKER_SRC:handler/%.c=$(FUZZ_DIR)/obj/%.o)
# A request on a real FastCGI connection, as the unit suites make one.
FUZZ_HELPERS = $(FUZZ_DIR)/t/unit/fcgi_conn.o

# Longest input per target: about what the real input can be (a config file,
# a request line, FC's 8 KB of headers, a CGI header block just past its
# 8 KB limit).
FUZZ_MAX_LEN_fuzz_config = 4096
FUZZ_MAX_LEN_fuzz_route = 512
FUZZ_MAX_LEN_fuzz_path_norm = 4096
FUZZ_MAX_LEN_fuzz_request = 8192
FUZZ_MAX_LEN_fuzz_cgi_response = 10000
FUZZ_MAX_LEN_fuzz_fcgi_record = 4096
fuzz_max_len = $(or $(FUZZ_MAX_LEN_$(1)),4096)

# libFuzzer's leak check stays on (a leak per input is a leak per request);
# ASan/UBSan reports go to the log, not to files.
FUZZ_ENV = ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz fuzz-build fuzz-regressions

fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: handler/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_DIR)/t/%.o: t/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -It $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_DIR)/fuzz_%: t/fuzz/fuzz_%.c $(FUZZ_OBJ) $(FUZZ_HELPERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -It $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -MT $@ -MF $@.d -o $@ $< $(FUZZ_HELPERS) $(FUZZ_OBJ) $(LIBS)

# Every file once, no fuzzing: a regression or a seed that crashes fails here.
fuzz-regressions: $(FUZZ_BINS)
	@rc=0; for t in $(FUZZ_TARGETS); do \
	    files=$$(find t/fuzz/regressions/$$t t/fuzz/corpus/$$t -type f 2>/dev/null | sort); \
	    n=$$(printf '%s\n' "$$files" | grep -c .); \
	    if [ "$$n" -eq 0 ]; then echo "fuzz-regressions: $$t: no inputs"; continue; fi; \
	    mkdir -p $(FUZZ_DIR)/logs; \
	    if $(FUZZ_ENV) $(FUZZ_DIR)/$$t -max_len=$(call fuzz_max_len,$$t) $$files \
	        > $(FUZZ_DIR)/logs/$$t.replay.log 2>&1; then \
	        echo "fuzz-regressions: $$t: $$n inputs ok"; \
	    else \
	        echo "fuzz-regressions: $$t: FAILED (see $(FUZZ_DIR)/logs/$$t.replay.log)"; \
	        grep -E -A12 'ERROR: |runtime error:|fuzz_.*: invariant' $(FUZZ_DIR)/logs/$$t.replay.log | head -40; \
	        rc=1; \
	    fi; \
	done; exit $$rc

# Targets run one after another (two cores, shared with the build), every one
# even when an earlier one crashed; the exit status says whether any did.
fuzz: fuzz-regressions
	@rc=0; for tl in $(foreach t,$(FUZZ_TARGETS),$(t):$(call fuzz_max_len,$(t))); do \
	    t=$${tl%%:*}; len=$${tl##*:}; \
	    work=$(FUZZ_DIR)/work/$$t; art=$(FUZZ_DIR)/artifacts/$$t/; log=$(FUZZ_DIR)/logs/$$t.log; \
	    mkdir -p $$work $$art $(FUZZ_DIR)/logs; \
	    if [ -d t/fuzz/corpus/$$t ]; then cp -p t/fuzz/corpus/$$t/* $$work/ 2>/dev/null; fi; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s (max_len $$len, corpus $$(ls $$work | wc -l))"; \
	    if $(FUZZ_ENV) $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=$$len \
	        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$$art \
	        $$work > $$log 2>&1; then st=ok; else st=CRASH; rc=1; fi; \
	    execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -1); \
	    echo "fuzz: $$t: $$st, $${execs:-?} executions, corpus $$(ls $$work | wc -l) inputs"; \
	    if [ $$st = CRASH ]; then \
	        grep -E -A20 'ERROR: |runtime error:|fuzz_.*: invariant' $$log | head -40; \
	        ls $$art; \
	    fi; \
	done; exit $$rc

-include $(FUZZ_OBJ:.o=.d) $(FUZZ_BINS:=.d)
