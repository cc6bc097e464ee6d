package integrity

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sanctum/council-probes/pkg/host/service"
	"github.com/sanctum/council-probes/pkg/testkit/probetest"
)

func TestParsePIDFile(t *testing.T) {
	tests := []struct {
		name, in string
		want     int
		wantErr  bool
	}{
		{"plain", "4242\n", 4242, false},
		{"spaces", "  4242  \n", 4242, false},
		{"no newline", "17", 17, false},
		{"second line ignored", "17\nextra\n", 17, false},
		{"empty", "", 0, true},
		{"zero", "0\n", 0, true},
		{"negative", "-1\n", 0, true},
		{"text", "sanctum\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePIDFile([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParsePIDFile(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestListeningInodes(t *testing.T) {
	tests := []struct {
		name, file string
		port       int
		want       []uint64
	}{
		{"primary port listens", "proc_net_tcp", 1337, []uint64{48211}},
		{"mtls port", "proc_net_tcp", 1338, []uint64{48212}},
		{"an established connection is not a listener", "proc_net_tcp", 54321, nil},
		{"nothing on the port", "proc_net_tcp", 9999, nil},
		{"ipv6 listener", "proc_net_tcp6", 1337, []uint64{48300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := listeningInodes(f, tt.port)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ListeningInodes(%d) = %v, want %v", tt.port, got, tt.want)
			}
		})
	}
	t.Run("malformed", func(t *testing.T) {
		if _, err := listeningInodes(strings.NewReader("  sl local\n 0: zz\n"), 1337); err == nil {
			t.Error("a short line parsed")
		}
	})
}

// fakeProc lays out a /proc with net/tcp from the fixture and processes
// whose fd links point at sockets.
func fakeProc(t *testing.T, procs map[string][]string) string {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "net"), 0o755)
	data, err := os.ReadFile(filepath.Join("testdata", "proc_net_tcp"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "net", "tcp"), data, 0o644)
	for pid, links := range procs {
		fd := filepath.Join(root, pid, "fd")
		os.MkdirAll(fd, 0o755)
		for i, l := range links {
			if err := os.Symlink(l, filepath.Join(fd, string(rune('3'+i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func TestPIDListeningOn(t *testing.T) {
	root := fakeProc(t, map[string][]string{
		"100":  {"/dev/null", "socket:[51007]"},             // a client connection on 1337
		"4242": {"/dev/null", "pipe:[7]", "socket:[48211]"}, // the listener
		"self": {"socket:[48211]"},                          // not a pid
	})
	tests := []struct {
		name    string
		port    int
		want    int
		wantErr error
	}{
		{"the listener's pid", 1337, 4242, nil},
		{"listening socket held by nobody readable", 1338, 0, errNotRunning},
		{"nothing listens", 9999, 0, errNotRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pidListeningOn(root, tt.port)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("PIDListeningOn(%d) = %d, %v; want %d, %v", tt.port, got, err, tt.want, tt.wantErr)
			}
		})
	}
	t.Run("no proc at all", func(t *testing.T) {
		_, err := pidListeningOn(t.TempDir(), 1337)
		if err == nil || errors.Is(err, errNotRunning) {
			t.Errorf("err = %v, want an error saying /proc is needed (not 'not running')", err)
		}
	})
}

func TestParseLsof(t *testing.T) {
	tests := []struct {
		name, file string
		pid        int
		want       []lsofFile
	}{
		{"executable, dyld and a library", "lsof_txt.txt", 4242, []lsofFile{
			{FD: "txt", Inode: 9977907, Name: "/Users/sanctum/sanctum-rs/target/release/sanctum-mlx"},
			{FD: "txt", Inode: 1152921500312811482, Name: "/usr/lib/dyld"},
			{FD: "txt", Inode: 33571, Name: "/Users/sanctum/sanctum-rs/target/release/libmlx.dylib"},
		}},
		{"replaced executable", "lsof_txt_replaced.txt", 4242, []lsofFile{
			{FD: "txt", Inode: 9977801, Name: "/Users/sanctum/sanctum-rs/target/release (/dev/disk3s5)"},
			{FD: "txt", Inode: 1152921500312811482, Name: "/usr/lib/dyld"},
		}},
		{"another pid's files are dropped", "lsof_txt.txt", 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseLsof(data, tt.pid)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLsof =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"ftxt\ni1\n", "p1\ni5\n", "pxyz\n", "p1\nftxt\nizz\n"} {
		t.Run("malformed "+strings.ReplaceAll(bad, "\n", `\n`), func(t *testing.T) {
			if _, err := parseLsof([]byte(bad), 1); err == nil {
				t.Error("parsed")
			}
		})
	}
}

func TestLsofExe(t *testing.T) {
	files := []lsofFile{{Inode: 11, Name: "/usr/lib/dyld"}, {Inode: 22, Name: "/nonexistent/bin/sanctum-mlx"}}
	exe := lsofExe(files, "/nonexistent/bin/sanctum-mlx")
	if exe.Primary.Ino != 22 || exe.Path != "/nonexistent/bin/sanctum-mlx" {
		t.Errorf("named executable not preferred: %+v", exe)
	}
	if exe := lsofExe(files, "/elsewhere"); exe.Primary.Ino != 11 || exe.Path != "" || len(exe.IDs) != 2 {
		t.Errorf("without a name match, want the first text file and every candidate: %+v", exe)
	}
}

// fakeLsof answers from a fixture for pid 4242 and like lsof for a missing
// process otherwise, recording its argv.
func TestLsofTextFiles(t *testing.T) {
	dir := t.TempDir()
	fixture, _ := filepath.Abs(filepath.Join("testdata", "lsof_txt.txt"))
	argvLog := filepath.Join(dir, "argv")
	path := probetest.WriteScript(t, dir, "lsof", `echo "$@" > "`+argvLog+`"
[ "$4" = 4242 ] && { cat "`+fixture+`"; exit 0; }
[ "$4" = 4343 ] && { echo "lsof: WARNING: can't stat() nfs file system" >&2; cat "`+fixture+`" | sed s/4242/4343/; exit 1; }
exit 1
`)
	l := &lsof{Path: path}
	tests := []struct {
		name    string
		pid     int
		files   int
		wantErr error
	}{
		{"running", 4242, 3, nil},
		{"warning but files listed", 4343, 3, nil},
		{"gone", 99999, 0, errNotRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := l.TextFiles(context.Background(), tt.pid)
			if len(files) != tt.files || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("TextFiles(%d) = %d files, %v; want %d, %v", tt.pid, len(files), err, tt.files, tt.wantErr)
			}
			argv, _ := os.ReadFile(argvLog)
			if got, want := strings.TrimSpace(string(argv)), strings.Join(l.Args(tt.pid), " "); got != want {
				t.Errorf("lsof ran with %q, want %q", got, want)
			}
		})
	}
}

func TestStaleCheckWithLsof(t *testing.T) {
	// The darwin path, driven on any OS: pid from a pid file, text vnodes
	// from lsof's answer, compared with the binary's inode on disk.
	dir := t.TempDir()
	bin := filepath.Join(dir, "sanctum-mlx")
	probetest.CopyFile(t, "/bin/sleep", bin, 0o755)
	disk, _ := statID(bin)
	pidFile := filepath.Join(dir, "pid")
	os.WriteFile(pidFile, []byte("4242\n"), 0o644)
	tests := []struct {
		name    string
		files   []lsofFile
		wantErr error
	}{
		{"running the binary on disk", []lsofFile{{Inode: 1}, {Inode: disk.Ino, Name: bin}}, nil},
		{"running the binary on disk, unnamed", []lsofFile{{Inode: 1}, {Inode: disk.Ino}}, nil},
		{"running a replaced binary", []lsofFile{{Inode: disk.Ino + 1, Name: bin}, {Inode: 1}}, errStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &staleCheck{Source: pidFromFile, PIDFile: pidFile,
				Exe: func(_ context.Context, _ *staleCheck, pid int, binary string) (runningExe, error) {
					return lsofExe(tt.files, binary), nil
				}}
			rep, err := sc.Check(context.Background(), bin)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.wantErr)
			}
			if rep.PID != 4242 || rep.Disk.Ino != disk.Ino {
				t.Errorf("report %+v", rep)
			}
			if err != nil && !strings.Contains(err.Error(), "inode") {
				t.Errorf("error %q does not name the inodes", err)
			}
		})
	}
}

func TestResolvePIDSource(t *testing.T) {
	tests := []struct {
		source, goos, pidFile string
		kind                  service.Kind
		want                  string
	}{
		{"auto", "darwin", "", service.Launchd, pidFromService},
		{"auto", "darwin", "/x.pid", service.Launchd, pidFromService},
		{"auto", "linux", "/x.pid", service.Systemd, pidFromFile},
		{"auto", "linux", "", service.Systemd, pidFromService},
		{"", "linux", "", service.Systemd, pidFromService},
		{"auto", "linux", "", service.Launchd, pidFromPort}, // no systemd to ask
		{"launchctl", "linux", "", service.Launchd, pidFromService},
		{"systemd", "linux", "/x.pid", service.Systemd, pidFromService},
		{"port", "darwin", "", service.Launchd, pidFromPort},
	}
	for _, tt := range tests {
		t.Run(tt.source+"/"+tt.goos+"/"+tt.pidFile+"/"+string(tt.kind), func(t *testing.T) {
			if got := resolvePIDSource(tt.source, tt.goos, tt.pidFile, tt.kind); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// An unknown --pid-source is a setting error in the one wording of every
// probe's flag errors, naming the sources there are.
func TestUnknownPIDSource(t *testing.T) {
	_, err := (&staleCheck{Source: "ps"}).FindPID(context.Background())
	if err == nil || !strings.Contains(err.Error(), `bad --pid-source "ps": want auto, service (or its manager's name, launchctl or systemd), pid-file or port`) {
		t.Fatalf("err = %v", err)
	}
}
