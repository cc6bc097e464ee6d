// Package real is the real-server tier (make test-real): every probe run
// against a real Ollama, built from its Go module (pkg/testkit/realollama,
// cached outside the clone) and serving a tiny model the tests generate
// (pkg/testkit/tinyllama), both as a plain child process and as the
// primary supervised by the fake launchd, so the guardian's restart,
// verification and wedged paths act on a real process tree (`ollama
// serve` and its `ollama runner`). It also records what Ollama answers and
// compares its shape with the simulator's Ollama personality.
//
// Its tests carry the build tag "real", so make test stays fast: go test
// -tags real ./real/ (from integration/) runs them. When Ollama cannot be
// built here, TestMain fails with the reason; the tier is never skipped.
//
// Writing a test here: newHost gives a council host with a real Ollama as
// the primary (hostConfig chooses plain or supervised, server options and
// the model), host.run runs one tick of a probe against it with the flags
// every tick of that probe needs, and returns its exit code, output and
// events. See host_test.go.
package real
