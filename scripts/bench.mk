# make bench        fcworker against nginx's own ceiling, an exec handler against
#                   fcgiwrap, the seed Flask app under gunicorn and Werkzeug, and
#                   the same app through fcworker's [app] handler against gunicorn
#                   behind nginx (proxy_pass) and against one process per request
#                   (exec); the libfcgi example through [app] (protocol = fastcgi)
#                   against the same program behind nginx (fastcgi_pass) and its
#                   CGI twin (exec), the Node example through [app] against the
#                   same server behind nginx (proxy_pass), PHP hello under php-cgi
#                   through [app] against one php-cgi per request and against
#                   php-fpm behind nginx (fastcgi_pass), and [app] in front of that
#                   same php-fpm; the hop limit (a minimal FastCGI responder) writes
#                   FC's lines like every other server: req/s, p50/p99, errors,
#                   CPU, RSS and log lines per run, cold start (the container's
#                   too when dockerd runs and `make image` was built)
#                   (scripts/bench; about 17 minutes on two cores)
# make bench-quick  a one-minute smoke run of the same (1 round, c=32, fewer servers)
#
# make bench-report  scripts/results.md from $(BUILD)/bench.json and
#                   $(BUILD)/reliability.json (scripts/reliability --all), stamped
#                   with each run's date, commit and machine
#
# BENCH_ARGS passes options on: make bench BENCH_ARGS="--rounds 5 --duration 10".
# Figures go to $(BUILD)/bench.json as well as the table on stdout ($(BUILD)/bench-partial.json
# for a run of fewer configurations, concurrencies or cold starts).

BENCH_ARGS ?=

.PHONY: bench bench-quick bench-report

bench: setup-tests
	$(MAKE) all
	scripts/bench --build $(abspath $(BUILD)) $(BENCH_ARGS)

bench-quick: setup-tests
	$(MAKE) all
	scripts/bench --quick --build $(abspath $(BUILD)) $(BENCH_ARGS)

bench-report:
	scripts/bench-report --bench $(BUILD)/bench.json --reliability $(BUILD)/reliability.json
