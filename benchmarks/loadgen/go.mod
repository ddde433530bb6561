module lantern.local/benchmarks/loadgen

go 1.26
