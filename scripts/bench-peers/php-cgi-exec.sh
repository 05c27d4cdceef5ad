#!/bin/sh
# The PHP seed (handler/examples/php-hello/index.php) as an exec handler: one
# php-cgi per request, the only way to run PHP without a FastCGI manager.
# `make bench` runs it as `exec:scripts/bench-peers/php-cgi-exec.sh`
# (configuration php-exec), against the same index.php kept warm by fcworker's
# [app] (php-app).
#
# php-cgi run as a CGI program takes the script from SCRIPT_FILENAME and, with
# Debian's cgi.force_redirect = 1, refuses to run unless REDIRECT_STATUS is set
# (what a web server's redirect would set): the exec handler sets neither, so
# this sets both, as fcworker's FastCGI client does for php-app. php-cgi
# answers 404 to a SCRIPT_FILENAME with "..", hence the cd to make it
# canonical. No fork: the path comes from $0 by parameter expansion, cd and
# $PWD are the shell's own, and php-cgi replaces the shell.
cd "${0%/*}/../../handler/examples/php-hello" || exit 1
SCRIPT_FILENAME=$PWD/index.php
REDIRECT_STATUS=200
export SCRIPT_FILENAME REDIRECT_STATUS
exec php-cgi
