package launchctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// golden compares got (as indented JSON) with testdata/<name>.golden.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s: parsed output differs from golden file\ngot:\n%s\nwant:\n%s", path, b, want)
	}
}

func TestParsePrintGolden(t *testing.T) {
	for _, name := range []string{"print-running", "print-exited", "print-signal", "print-crashed", "print-exit-nonzero"} {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			info, err := ParsePrint(in)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, info)
		})
	}
}

// The facts the probes act on, spelled out so the golden files are not
// the only check.
// What launchd tells about a KeepAlive primary it restarted by itself:
// how many times it ran, and how the last process ended.
func TestParsePrintExitCause(t *testing.T) {
	for _, tc := range []struct {
		file     string
		runs     int
		sig      int
		abnormal bool
		cause    string
	}{
		{"print-crashed.txt", 4, 11, true, "signal 11 (Segmentation fault: 11)"},
		{"print-exit-nonzero.txt", 2, 0, true, "exit code 1"},
		{"print-signal.txt", 14, 15, true, "signal 15 (Terminated: 15)"},
		{"print-running.txt", 3, 0, false, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParsePrint(in)
			if err != nil {
				t.Fatal(err)
			}
			if s.Runs != tc.runs || s.LastSignalNumber != tc.sig || s.Abnormal() != tc.abnormal || s.ExitCause() != tc.cause {
				t.Fatalf("runs %d signal %d abnormal %v cause %q; want %d %d %v %q",
					s.Runs, s.LastSignalNumber, s.Abnormal(), s.ExitCause(), tc.runs, tc.sig, tc.abnormal, tc.cause)
			}
		})
	}
	for _, tc := range []struct{ exit, cause string }{
		{"78: EX_CONFIG", "exit code 78 (78: EX_CONFIG)"},
		{"0", "exit code 0"},
		{"(unknown)", ""},
	} {
		s, err := ParsePrint([]byte("gui/501/x = {\n\tlast exit code = " + tc.exit + "\n}\n"))
		if err != nil || s.ExitCause() != tc.cause {
			t.Errorf("last exit code = %s: cause %q, %v; want %q", tc.exit, s.ExitCause(), err, tc.cause)
		}
	}
	s, _ := ParsePrint([]byte("gui/501/x = {\n\tlast terminating signal = Weird\n}\n"))
	if s.LastSignalNumber != 0 || s.ExitCause() != "signal Weird" || !s.Abnormal() {
		t.Errorf("a signal without a number: %d %q", s.LastSignalNumber, s.ExitCause())
	}
}

func TestParsePrintFacts(t *testing.T) {
	read := func(name string) *ServiceInfo {
		t.Helper()
		in, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		info, err := ParsePrint(in)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	t.Run("running", func(t *testing.T) {
		s := read("print-running.txt")
		if s.Label != "com.sanctum.mlx" || s.Target != "gui/501/com.sanctum.mlx" {
			t.Errorf("label %q target %q", s.Label, s.Target)
		}
		if !s.Running() || s.PID != 1234 || s.State != "running" {
			t.Errorf("running=%v pid=%d state=%q", s.Running(), s.PID, s.State)
		}
		if s.LastExitKnown || s.LastExit != "(never exited)" {
			t.Errorf("never exited read as known exit %d (%q)", s.LastExitCode, s.LastExit)
		}
		if s.Program != "/Users/neo/sanctum-rs/target/release/sanctum-mlx" || len(s.Arguments) != 5 || s.Arguments[4] != "1337" {
			t.Errorf("program %q args %q", s.Program, s.Arguments)
		}
		if !s.HasProperty("keepalive") || !s.HasProperty("runatload") || s.HasProperty("inferred") {
			t.Errorf("properties %q", s.Properties)
		}
		if s.Fields["state"] != "running" {
			t.Errorf("nested block leaked into top-level fields: state=%q", s.Fields["state"])
		}
	})
	t.Run("exited with a named code", func(t *testing.T) {
		s := read("print-exited.txt")
		if s.Running() || s.PID != 0 || !s.LastExitKnown || s.LastExitCode != 78 || s.Runs != 2881 {
			t.Errorf("%+v", s)
		}
		// "keepalive = 0" and "service = ..." live in a nested block.
		if _, ok := s.Fields["service"]; ok {
			t.Error("nested event trigger field read as top level")
		}
	})
	t.Run("killed by a signal", func(t *testing.T) {
		s := read("print-signal.txt")
		if s.Running() || s.LastExitKnown || s.LastSignal != "Terminated: 15" {
			t.Errorf("%+v", s)
		}
	})
}

func TestParsePrintRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"not found":    "Bad request.\nCould not find service \"com.x\" in domain for user gui: 501\n",
		"unterminated": "gui/501/com.x = {\n\tstate = running\n",
		"bad pid":      "gui/501/com.x = {\n\tpid = twelve\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if info, err := ParsePrint([]byte(in)); err == nil {
				t.Fatalf("accepted: %+v", info)
			} else if !errors.Is(err, ErrParse) {
				t.Errorf("error %v does not wrap ErrParse", err)
			}
		})
	}
}

func TestParsePrintDisabled(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[string]bool
	}{
		{"print-disabled.txt", map[string]bool{
			"com.apple.ScreenReaderUIServer": true, "com.sanctum.server-mlx": true,
			"com.sanctum.mlx": false, "com.docker.helper": false,
		}},
		{"print-disabled-legacy.txt", map[string]bool{
			"com.apple.FolderActionsDispatcher": true, "com.sanctum.server-mlx": true, "com.sanctum.mlx": false,
		}},
		{"print-disabled-empty.txt", map[string]bool{}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParsePrintDisabled(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if d, ok := got[k]; !ok || d != v {
					t.Errorf("%s: got %v (present %v), want %v", k, d, ok, v)
				}
			}
		})
	}
}

func TestParsePrintDisabledRejects(t *testing.T) {
	for name, in := range map[string]string{
		"no block":      "login item associations = {\n}\n",
		"unterminated":  "disabled services = {\n\t\"com.x\" => disabled\n",
		"unknown value": "disabled services = {\n\t\"com.x\" => maybe\n}\n",
		"unquoted":      "disabled services = {\n\tcom.x => true\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if m, err := ParsePrintDisabled([]byte(in)); err == nil {
				t.Fatalf("accepted: %v", m)
			}
		})
	}
}

func FuzzParsePrint(f *testing.F) {
	for _, name := range []string{"print-running.txt", "print-exited.txt", "print-signal.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		info, err := ParsePrint(in)
		if err != nil {
			if info != nil {
				t.Fatal("info returned with an error")
			}
			return
		}
		if info.Target == "" || info.PID < 0 || info.Runs < 0 || info.Fields == nil {
			t.Fatalf("inconsistent result: %+v", info)
		}
		if info.Running() && info.PID == 0 {
			t.Fatal("running without a pid")
		}
		if strings.Contains(info.Label, "/") {
			t.Fatalf("label %q has a slash", info.Label)
		}
	})
}

func FuzzParsePrintDisabled(f *testing.F) {
	for _, name := range []string{"print-disabled.txt", "print-disabled-legacy.txt", "print-disabled-empty.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParsePrintDisabled(in)
		if err != nil {
			if m != nil {
				t.Fatal("map returned with an error")
			}
			return
		}
		for label := range m {
			if label == "" {
				t.Fatal("empty label accepted")
			}
		}
	})
}
