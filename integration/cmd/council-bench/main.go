// The council-bench command measures the built probes as whole processes
// against the baselines they replace, in one run, and prints the ratios
// (the targets are in docs/RELIABILITY.md):
//
//   - a guardian tick against a healthy simulator vs the shell equivalent,
//     `curl -sf URL/v1/models | jq -e '.data | length > 0'` (wall and CPU);
//   - a canary tick against a simulator that answers at once vs the same chat
//     request through curl and jq: the probe's overhead outside the model;
//   - a parity-smoke tick of its ten built-in prompts against the simulator
//     answering them (probes/paritysmoke/testdata/sim-answers.json, as
//     scripts/demo.sh does): CPU outside the model, target well under 1 s;
//   - a pace tick (512 prompt + 128 generated tokens, streamed, judged)
//     against the simulator answering at once: CPU outside the model,
//     target under 20 ms, and its peak RSS under 15 MB;
//   - the peak RSS of one tick of each probe binary;
//   - the size of each stripped binary;
//   - hashing throughput vs `openssl dgst -sha256`, by running the existing
//     hashbench tool (pkg/testkit/hashbench), cold and cached.
//
// The simulator runs inside this process, so its cost is charged to neither
// side. Both sides of a ratio are measured the same way, interleaved, N
// times; the table shows medians. CPU is user+sys from the child's rusage
// (for the shell, that includes curl and jq, which sh waits for).
//
// Peak RSS comes from the child's rusage, read through a tiny launcher
// (./launcher, built at start): on Linux, Go starts children with vfork and
// exec carries the parent's high-water mark into the child's figure, so this
// process (which hosts the simulator) would inflate every reading. The
// launcher's floor is shown by measuring true(1) the same way.
//
// The table is printed and saved to OUT/<timestamp>.txt, and the samples to
// OUT/latest.bench (and OUT/<timestamp>.bench) in Go benchmark format, so two
// runs compare with `benchstat old.bench new.bench`.
//
// Usage:
//
//	council-bench [flags]
//
//	-bin DIR          the built binaries (make build; default bin)
//	-out DIR          where results go (default bench-results)
//	-n N              repetitions of each timed tick (default 30)
//	-hash-args ARGS   flags for hashbench (default: its own, 2 GiB of files;
//	                  e.g. "-large 8G -files 256" for a bigger set)
//	-no-hash          skip the hashing benchmark
//	-hashbench PATH   a built hashbench (default: go build it from ./pkg)
//	-repo DIR         the workspace root, where parity-smoke's default prompts
//	                  and the simulator's answers are read (default .)
//	-strict           exit 1 when any target is MISSED (for CI on a quiet
//	                  machine; default off)
//
// `make bench` runs it after `make build`. Targets that are missed are
// marked MISSED in the table and listed at its end. The exit status is 1 if
// something could not be measured at all or, with -strict, if a target was
// missed; by default a missed target does not fail the run, so `make bench`
// on a loaded laptop still prints its numbers.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
