//go:build !unix

// Package simproc: without Unix processes the simulators start nothing,
// so nothing they started is alive.
package simproc

// Alive reports false: nothing was started.
func Alive(int) bool { return false }
