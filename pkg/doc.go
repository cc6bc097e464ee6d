// Package pkg is the root of the packages the council probes share. Its
// folders are its layers; a package imports only from the layers below its
// own (layers_test.go checks it), and no production binary links testkit
// (`make lint` checks it):
//
//	probes/*, status, plists      the binaries: one tick each, a tiny main
//	        │
//	probe                         the contract: flags, tick, channels,
//	        │                     exit codes, the plugin line
//	server/*        host/*        talking to the server (transport, openai,
//	        │                     backend) | the host it runs on (service,
//	        │                     launchctl, systemctl, proccpu, accesslog,
//	        │                     primarycheck, signing, manifest, hashcache,
//	        │                     tilde, paths, secretscan)
//	core/*                        what every probe uses: alert, state, lock,
//	                              eventlog, metrics, atomicfile, redact, text
//
//	testkit/*                     simulators and test helpers (councilsim,
//	                              launchdsim, systemdsim, simproc,
//	                              forceflowsim, testpki, probetest, gobuild,
//	                              hashbench; realollama, a real Ollama built
//	                              and run for tests, tinyllama, jsonshape,
//	                              fifo):
//	                              tests, the demo and the bench only
package pkg
