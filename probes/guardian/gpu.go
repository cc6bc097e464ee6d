package guardian

import (
	"fmt"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/server/backend"
)

// gpuMode is --gpu: when a model outside GPU memory is worth a warning.
type gpuMode string

// The --gpu modes. On a host without a GPU a server reports every model
// entirely on the CPU (Ollama: size_vram 0), and that is how the host is:
// a warning every 30 s would be noise. What matters on any host is a model
// that has less of itself in GPU memory than it had before (another
// process took the GPU memory, a driver fell back), which auto measures
// against the best this host has shown for that model.
const (
	gpuAuto     gpuMode = "auto"
	gpuRequired gpuMode = "required"
	gpuOff      gpuMode = "off"
)

// gpuBestKey holds, in the guardian's state, the largest fraction of each
// model (by id) this host has had in GPU memory.
const gpuBestKey = "gpu_best_fraction"

// gpuSlack is how much smaller a fraction may be than the best before auto
// warns: a server's sizes move a little with its context.
const gpuSlack = 0.01

func parseGPUMode(s string) (gpuMode, error) {
	switch m := gpuMode(s); m {
	case gpuAuto, gpuRequired, gpuOff:
		return m, nil
	}
	return "", fmt.Errorf("bad --gpu %q: want auto, required or off", s)
}

// checkGPU warns on model_on_cpu by --gpu for the checked models whose
// sizes the server reports, and remembers each one's best fraction.
func (g *guardian) checkGPU(checked []backend.Model) {
	t := g.t
	mode := g.s.GPU // validated before the tick's checks
	best := map[string]float64{}
	if _, err := t.State.Get(gpuBestKey, &best); err != nil {
		best = map[string]float64{} // unreadable: learn again
	}
	var warn []string
	var attrs []any
	for _, m := range checked {
		if m.Size == nil || m.SizeVRAM == nil || *m.Size <= 0 {
			continue
		}
		frac := min(max(float64(*m.SizeVRAM)/float64(*m.Size), 0), 1)
		prev, seen := best[m.ID]
		if !seen || frac > prev {
			best[m.ID] = frac
		}
		var why string
		switch {
		case mode == gpuRequired && *m.SizeVRAM < *m.Size:
			why = whereIs(m)
		case mode == gpuAuto && seen && frac < prev-gpuSlack:
			why = fmt.Sprintf("%s; it had %.0f%% of itself there before on this host", whereIs(m), prev*100)
		}
		if why != "" {
			warn = append(warn, fmt.Sprintf("model %q %s", m.ID, why))
			attrs = append(attrs, "model", m.ID, "size", *m.Size, "size_vram", *m.SizeVRAM, "gpu_fraction", round2(frac))
		}
	}
	if err := t.State.Put(gpuBestKey, best); err != nil {
		t.Log.Warn("state_unsaved", "what", gpuBestKey, "error", err.Error())
	}
	if len(warn) == 0 {
		t.Clear(CheckModelOnCPU)
		return
	}
	t.Fail(CheckModelOnCPU, CheckModelOnCPU, alert.Warn,
		fmt.Sprintf("%s reports %s (--gpu %s)", t.Backend.Kind, strings.Join(warn, "; "), mode), append(attrs, "gpu", string(mode))...)
}

// whereIs says how much of m is in GPU memory: "entirely on CPU (0 of N
// bytes in GPU memory)" or "only partly in GPU memory (X of N bytes)".
func whereIs(m backend.Model) string {
	if *m.SizeVRAM <= 0 {
		return fmt.Sprintf("entirely on CPU (0 of %d bytes in GPU memory)", *m.Size)
	}
	return fmt.Sprintf("only partly in GPU memory (%d of %d bytes)", *m.SizeVRAM, *m.Size)
}
