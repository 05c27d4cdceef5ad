module fcworker.example/go-fcgi-hello

go 1.19
