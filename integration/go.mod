module github.com/sanctum/council-probes/integration

go 1.26.0

require github.com/sanctum/council-probes/pkg v0.0.0

replace github.com/sanctum/council-probes/pkg => ../pkg
