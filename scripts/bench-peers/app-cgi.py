"""The seed's Flask app (app.py, unchanged) as a CGI program: one Python process
per request, the only way to run it with an exec handler. `make bench` runs it as
`exec:/usr/bin/python3 -B scripts/bench-peers/app-cgi.py` (configuration
exec-flask), the standard library's CGI adapter around the same app object.

The app prints FC's log lines on stdout, which for a CGI program is the answer
itself: they would land in the response and corrupt it. The adapter takes the
real stdout first, then print() goes to stderr, which the exec handler logs
line by line (the worker writes the FC Start/End lines for exec handlers).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wsgiref.handlers import CGIHandler  # noqa: E402

from app import app  # noqa: E402

handler = CGIHandler()      # holds sys.stdout.buffer: the CGI answer
sys.stdout = sys.stderr     # the app's print() lines: the worker's log
handler.run(app)
