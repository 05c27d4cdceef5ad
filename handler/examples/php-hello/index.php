<?php
// The seed's function in PHP, kept warm by fcworker's [app] handler under
// php-cgi (protocol = fastcgi, script = this file): every request answers
// 200 "Hello, World!" with Function-Name. The FC log lines are the worker's.
header('Content-Type: text/plain; charset=utf-8');
header('Function-Name: ' . (getenv('FC_FUNCTION_NAME') ?: ''));
echo 'Hello, World!';
