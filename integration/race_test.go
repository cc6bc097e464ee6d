package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sanctum/council-probes/pkg/host/launchctl"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

// The guardian and integrity both promote the fallback when the primary's
// binary is gone. Started at the same moment, as their launchd timers can
// fire, exactly one may promote: the shared remediation lock and the
// re-check of the fallback lock under it make the other stand down (no
// promotion cascade). Run a few rounds so both orders are likely to occur.
func TestGuardianAndIntegrityRacePromoteOnce(t *testing.T) {
	guardian, integrity := bins["council-guardian"], bins["council-integrity"]
	if guardian == "" || integrity == "" {
		t.Fatal("the guardian and integrity binaries must both be built")
	}
	winners := map[string]int{}
	for round := 0; round < 3; round++ {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			h := probetest.NewHome(t)
			ld := probetest.NewLaunchd(t, launchctlBin)
			ff := probetest.NewForceFlow(t)
			agents := filepath.Join(h.Dir, "Library", "LaunchAgents")
			os.MkdirAll(agents, 0o700)
			port := probetest.FreePort(t)
			fallbackPlist := filepath.Join(agents, "com.sanctum.server-mlx.plist")
			writeRacePlist(t, fallbackPlist, "com.sanctum.server-mlx", []string{simBin, "--listen", fmt.Sprintf("127.0.0.1:%d", port)})
			gone := filepath.Join(h.Dir, "sanctum", "sanctum-mlx") // never created: the binary is missing
			fallbackURL := fmt.Sprintf("http://127.0.0.1:%d", port)
			env := h.Env(append(ld.Env(), "FORCE_FLOW_URL="+ff.URL())...)
			common := []string{"--primary-binary", gone, "--verify-timeout", "20s"}
			cmds := map[string][]string{
				"council-guardian": append([]string{guardian, "--url", fmt.Sprintf("http://127.0.0.1:%d", probetest.FreePort(t)),
					"--restart-after", "1", "--startup-grace", "0", "--timeout", "1s", "--fallback-url", fallbackURL,
					"--verify-interval", "100ms"}, common...),
				"council-integrity": append([]string{integrity, "--fallback-url", fallbackURL}, common...),
			}

			var wg sync.WaitGroup
			start := make(chan struct{})
			outs := map[string]string{}
			var mu sync.Mutex
			for name, argv := range cmds {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmd := exec.Command(argv[0], argv[1:]...)
					cmd.Env = env
					var out bytes.Buffer
					cmd.Stdout, cmd.Stderr = &out, &out
					<-start
					cmd.Run()
					mu.Lock()
					outs[name] = out.String()
					mu.Unlock()
				}()
			}
			close(start)
			wg.Wait()

			var enables, bootstraps, disables int
			for _, c := range ld.Calls() {
				if strings.HasPrefix(c, "enable ") && strings.HasSuffix(c, "com.sanctum.server-mlx") {
					enables++
				}
				if strings.HasPrefix(c, "bootstrap ") && strings.Contains(c, "com.sanctum.server-mlx.plist") {
					bootstraps++
				}
				// The promotion disables the primary so a reboot cannot
				// start it beside the fallback.
				if strings.HasPrefix(c, "disable ") && strings.HasSuffix(c, "/com.sanctum.mlx") {
					disables++
				}
			}
			if enables != 1 || bootstraps != 1 || disables != 1 {
				t.Fatalf("want exactly one promotion, got %d enable, %d bootstrap and %d disable-primary calls:\n%s\n%v",
					enables, bootstraps, disables, strings.Join(ld.Calls(), "\n"), outs)
			}
			lk, err := launchctl.ReadFallbackLock(filepath.Join(h.StateDir, "council-fallback.lock"))
			if err != nil {
				t.Fatalf("fallback lock: %v", err)
			}
			winners[lk.Who]++
			// The loser says why it stood down; it does not report a failure.
			for _, probe := range []string{"guardian", "integrity"} {
				for _, ev := range probetest.Events(t, h.LogFile(probe)) {
					if ev["event"] == "promote_failed" || ev["event"] == "fallback_failed" {
						t.Errorf("%s reported a failed promotion: %v", probe, ev)
					}
				}
			}
			if leaks := probetest.Leaks(h.Dir, outs["council-guardian"], outs["council-integrity"]); len(leaks) > 0 {
				t.Errorf("token leaked: %v", leaks)
			}
		})
	}
	t.Logf("promotions won: %v", winners)
}

func writeRacePlist(t *testing.T, path, label string, args []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>Label</key><string>` + label + `</string>
<key>ProgramArguments</key><array>`)
	for _, a := range args {
		b.WriteString("<string>" + a + "</string>")
	}
	b.WriteString(`</array>
<key>RunAtLoad</key><false/>
<key>KeepAlive</key><true/>
<key>Disabled</key><true/>
</dict></plist>
`)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
