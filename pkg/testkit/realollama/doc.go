// Package realollama puts a real Ollama in the test loop: it builds the
// ollama binary from its Go module (Binary, cached outside the clone),
// runs `ollama serve` on a loopback port with its own home and model store
// (Start as a child of the test, StartSupervised as the fake launchd's
// primary job), creates models from generated GGUF files (Server.Create,
// package tinyllama), and records what the server answers on the
// endpoints the probes read (Record), so the simulator's Ollama
// personality can be compared with it (jsonshape).
//
// Nothing is downloaded but Go modules: no weights, no ollama.com.
//
// A typical test:
//
//	bin, err := realollama.Binary(ctx, realollama.Version, os.Stderr) // in TestMain
//	srv := realollama.Start(t, bin, realollama.Options{})
//	m := srv.Create(t, "tiny", realollama.Model{NumCtx: 2048})
//	answer := srv.Chat(t, m.Name, "What is 2+2?", 16) // " 1 2 3 4 ..."
package realollama
