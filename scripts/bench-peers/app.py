"""The seed's function as a Flask app: the Python alternative `make bench` measures.

Every method on every path answers 200 "Hello, World!" with the header
Function-Name: $FC_FUNCTION_NAME, and prints FC's two log lines per request,
flushed, as the seed does.

    python3 app.py                                  Werkzeug, threaded (PORT, default 9000)
    gunicorn -w 2 -b 127.0.0.1:9000 app:app         gunicorn, sync workers
"""
import os

from flask import Flask, request

app = Flask(__name__)
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]


@app.route("/", defaults={"path": ""}, methods=METHODS)
@app.route("/<path:path>", methods=METHODS)
def hello(path):
    rid = request.headers.get("x-fc-request-id", "")
    print("FC Invoke Start RequestId: " + rid, flush=True)
    body = "Hello, World!"
    print("FC Invoke End RequestId: " + rid, flush=True)
    return body, 200, {"Function-Name": os.environ.get("FC_FUNCTION_NAME", "")}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "9000")), threaded=True)
