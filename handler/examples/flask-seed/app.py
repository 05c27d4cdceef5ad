"""FC's seed function as the documentation writes it: a Flask app, run under gunicorn.

POST /initialize prints FC's Initialize lines; every other request (any method, any
path) is an invocation: it prints FC's Invoke lines and answers 200 "Hello, World!"
with Function-Name: $FC_FUNCTION_NAME. The app writes FC's lines itself, so
fcworker.conf says fc_lines = app and the worker writes none for it.

Each print is flushed (flush=True): stdout is a pipe, block-buffered, and FC freezes
the instance right after the answer, so a buffered line would show up late or never.

scripts/bench-peers/app.py is the same invocation handler (without /initialize) for
`make bench`.
"""
import os
import sys

from flask import Flask, request

REQUEST_ID_HEADER = "x-fc-request-id"
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]

app = Flask(__name__)

# One write() per line, whatever the environment: under PYTHONUNBUFFERED (common in
# Python images) print() writes the text and its newline in two calls, and gunicorn's
# workers share one stdout pipe, so two requests' lines could run together.
sys.stdout.reconfigure(line_buffering=True, write_through=False)


@app.route("/initialize", methods=["POST"])
def initialize():
    # "" rather than None when run without FC: fcworker always sends the header.
    rid = request.headers.get(REQUEST_ID_HEADER, "")
    print("FC Initialize Start RequestId: " + rid, flush=True)
    # one-time set-up goes here (models, connections): it lasts for the instance
    print("FC Initialize End RequestId: " + rid, flush=True)
    return "OK"


@app.route("/", defaults={"path": ""}, methods=METHODS)
@app.route("/<path:path>", methods=METHODS)
def invoke(path):
    rid = request.headers.get(REQUEST_ID_HEADER, "")
    print("FC Invoke Start RequestId: " + rid, flush=True)
    body = "Hello, World!"
    print("FC Invoke End RequestId: " + rid, flush=True)
    return body, 200, {"Function-Name": os.environ.get("FC_FUNCTION_NAME", "")}


if __name__ == "__main__":
    # Without gunicorn, for a quick look: Werkzeug's development server.
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "9001")), threaded=True)
