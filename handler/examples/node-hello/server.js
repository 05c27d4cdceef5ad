// FC's seed function with Node's built-in http module only (no npm packages), run as
// fcworker's [app]: POST /initialize writes FC's Initialize lines; every other request
// (any method, any path) is an invocation that writes FC's Invoke lines and answers
// 200 "Hello, World!" with Function-Name: $FC_FUNCTION_NAME. fcworker.conf says
// fc_lines = app, so the worker writes no lines of its own for it.
//
//   PORT=9001 node server.js     (fcworker sets PORT from [app] address)
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 9001);
const functionName = process.env.FC_FUNCTION_NAME || '';

// One process.stdout.write per line, newline included: on Linux writes to a pipe are
// synchronous, so each line is one write(2) and reaches fcworker whole, before the
// answer below is sent (FC may freeze the instance right after it).
function fcLine(text) {
  process.stdout.write(text + '\n');
}

const server = http.createServer((req, res) => {
  // fcworker always sends x-fc-request-id (generated when FC sent none).
  const rid = req.headers['x-fc-request-id'] || '';
  const init = req.method === 'POST' && req.url.split('?')[0] === '/initialize';
  const phase = init ? 'Initialize' : 'Invoke';
  // Read the body to its end before answering, so the kept-alive connection is
  // ready for fcworker's next request.
  req.resume();
  req.on('end', () => {
    fcLine(`FC ${phase} Start RequestId: ${rid}`);
    const body = init ? 'OK' : 'Hello, World!';
    fcLine(`FC ${phase} End RequestId: ${rid}`);
    // A Content-Length rather than chunked: the whole answer in one piece.
    const headers = {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    };
    if (!init) headers['Function-Name'] = functionName;
    res.writeHead(200, headers);
    res.end(body);
  });
});

// Keep-alive is on by default in HTTP/1.1; fcworker keeps a pool of connections and
// closes them itself. Node's 5 s idle timeout would close them under it (a request
// sent just as Node closes one has to be retried), and its 300 s requestTimeout would
// cut a slow upload: the route's timeout in fcworker is the one that applies.
server.keepAliveTimeout = 0;
server.requestTimeout = 0;

server.listen(port, '127.0.0.1');

// fcworker sends SIGTERM once its in-flight requests are answered: close the (then
// idle) kept-alive connections too, which server.close() alone leaves open before
// Node 19 (Debian 12 ships Node 18), and exit 0.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
