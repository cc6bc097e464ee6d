// Package integration is the project's evidence that the probes tell the
// truth and are cheap (issue 10). It holds no library code:
//
//   - faultmatrix_test.go builds the real probe binaries and runs each one
//     against every fault the council simulator, the fake launchctl, the
//     Force Flow stand-in and the file system can produce, asserting the
//     check that fires, the exit code, that the alert is delivered or
//     spooled (never lost), that a healthy run alerts nothing, and that no
//     secret reaches any output. It prints the matrix at the end of the run
//     (go test -v, or on failure).
//   - fuzz_test.go fails when a parser of untrusted input has no Fuzz target
//     with a seed corpus under its package's testdata/fuzz.
//   - cmd/council-bench is `make bench`: whole-process costs against the
//     shell and openssl baselines.
package integration
