module fcworker.example/go-hello

go 1.19
