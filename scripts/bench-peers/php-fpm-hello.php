<?php
// The seed's function under php-fpm for scripts/bench: the same answer as
// php-app's script (handler/examples/php-hello/index.php, required below), plus
// FC's two log lines, which a function under php-fpm writes itself (under
// fcworker's php-app the worker writes them). The bench sends invocations only.
//
// The lines go to stderr, which php-fpm relays to its error_log (see
// php-fpm.conf); PHP's streams do not buffer writes, so each fwrite is one
// write(2), and the End line is out before the answer, which php-fpm sends
// once the script ends.
$id = $_SERVER['HTTP_X_FC_REQUEST_ID'] ?? '';
$log = fopen('php://stderr', 'w');
fwrite($log, "FC Invoke Start RequestId: $id\n");
require __DIR__ . '/../../handler/examples/php-hello/index.php';
fwrite($log, "FC Invoke End RequestId: $id\n");
