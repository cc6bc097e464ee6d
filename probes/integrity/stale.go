package integrity

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
	"github.com/sanctum/council-probes/pkg/core/text"
	"github.com/sanctum/council-probes/pkg/host/primarycheck"
	"github.com/sanctum/council-probes/pkg/host/service"
)

// PID sources: where the stale-process check learns the primary's pid.
const (
	pidFromService = "service"  // the service manager's: launchctl print's pid, systemd's MainPID
	pidFromFile    = "pid-file" // --pid-file
	pidFromPort    = "port"     // the process listening on --primary-port, via /proc/net/tcp (Linux)
	pidAuto        = "auto"     // the service manager on macOS; elsewhere pid-file if set, else systemd's MainPID (or the port without systemd)
	// pidFromLaunchctl and pidFromSystemd are the service source by the
	// name of its manager (launchctl: the source's name before systemd).
	pidFromLaunchctl = "launchctl"
	pidFromSystemd   = "systemd"
)

// maxPIDFile bounds the read of --pid-file: a pid and a newline.
const maxPIDFile = 4 << 10

// Outcomes of the stale-process check, for errors.Is.
var (
	// errNotRunning: no primary process to compare. Its own state (warn),
	// neither a pass nor a stale process.
	errNotRunning = errors.New("primary not running")
	// errStale: the running process executes a file other than the
	// binary on disk (rebuilt but not restarted); the next respawn
	// changes behaviour.
	errStale = errors.New("running primary is stale")
)

// runningExe is what the platform knows about a process's executable.
type runningExe struct {
	// IDs are the candidate file identities: on Linux the one of
	// /proc/<pid>/exe; on macOS every text vnode lsof lists (the
	// executable, dyld, libraries), since lsof's order is not a contract.
	IDs []fileID
	// Primary is the ID to report as "the running inode".
	Primary fileID
	// Path is the executable's path when known ("" otherwise), without
	// Linux's " (deleted)" suffix.
	Path string
}

// processReport is what the stale-process check saw.
type processReport struct {
	PID     int
	Source  string
	Exe     string
	Running fileID
	Disk    fileID
	// DiskErr is set when the binary on disk could not be stat'ed.
	DiskErr error
}

// staleCheck compares the running primary's executable with the binary on
// disk. Its side effects are fields so tests point them at fixtures.
type staleCheck struct {
	Source  string // a PIDFrom* constant, resolved (not auto)
	PIDFile string
	Port    int
	Label   string
	// Manager is asked for the primary's pid (pidFromService).
	Manager service.Manager
	// ProcRoot is /proc (PIDFromPort, and the Linux exe lookup).
	ProcRoot string
	// Lsof is the lsof runner (macOS exe lookup).
	Lsof *lsof
	// Exe looks up a process's executable; default the platform's.
	Exe func(ctx context.Context, c *staleCheck, pid int, binary string) (runningExe, error)
}

// resolvePIDSource turns "auto" (and the manager's names) into the source
// for goos and the service manager kind: launchd's pid on macOS; on Linux
// a pid file if one is set, else systemd's MainPID, else (no systemd) the
// port.
func resolvePIDSource(source, goos, pidFile string, kind service.Kind) string {
	switch source {
	case pidFromLaunchctl, pidFromSystemd:
		return pidFromService
	case pidAuto, "":
	default:
		return source
	}
	switch {
	case goos == "darwin":
		return pidFromService
	case pidFile != "":
		return pidFromFile
	case kind == service.Systemd:
		return pidFromService
	}
	return pidFromPort
}

// Check finds the primary's pid, looks up its executable and compares it
// with binary. It returns ErrNotRunning (wrapped) when there is no primary
// process, ErrStale when the inodes differ, another error when the check
// could not be made.
func (c *staleCheck) Check(ctx context.Context, binary string) (processReport, error) {
	rep := processReport{Source: c.Source}
	pid, err := c.FindPID(ctx)
	if err != nil {
		return rep, err
	}
	rep.PID = pid
	exe, err := c.exe(ctx, pid, binary)
	if err != nil {
		return rep, err
	}
	rep.Exe, rep.Running = exe.Path, exe.Primary
	if c.Source != pidFromService && exe.Path != "" && !samePath(exe.Path, binary) {
		// A pid file left behind, or the port held by the fallback: that
		// process is not the primary, and comparing inodes would cry stale.
		return rep, fmt.Errorf("%w: pid %d (from %s) runs %s, not %s", errNotRunning, pid, c.Source, exe.Path, binary)
	}
	rep.Disk, rep.DiskErr = statID(binary)
	if rep.DiskErr != nil {
		return rep, fmt.Errorf("%w: pid %d runs inode %s; the binary on disk is gone (%v)", errStale, pid, rep.Running, rep.DiskErr)
	}
	for _, id := range exe.IDs {
		if id.Same(rep.Disk) {
			rep.Running = id
			return rep, nil
		}
	}
	return rep, fmt.Errorf("%w: pid %d runs inode %s, the binary on disk is inode %s (rebuilt, not restarted)",
		errStale, pid, rep.Running, rep.Disk)
}

func (c *staleCheck) exe(ctx context.Context, pid int, binary string) (runningExe, error) {
	lookup := c.Exe
	if lookup == nil {
		lookup = platformExe
	}
	return lookup(ctx, c, pid, binary)
}

// samePath compares an executable path as the kernel reports it (symlinks
// resolved) with the configured binary path (maybe through a symlink).
func samePath(exe, binary string) bool {
	if abs, err := filepath.Abs(binary); err == nil {
		binary = abs
	}
	if r, err := filepath.EvalSymlinks(binary); err == nil {
		binary = r
	} else if r, err := filepath.EvalSymlinks(filepath.Dir(binary)); err == nil {
		// The binary itself is gone; its directory still resolves.
		binary = filepath.Join(r, filepath.Base(binary))
	}
	return filepath.Clean(exe) == filepath.Clean(binary)
}

// FindPID returns the primary's pid from the configured source.
func (c *staleCheck) FindPID(ctx context.Context) (int, error) {
	switch c.Source {
	case pidFromService:
		if c.Manager == nil {
			return 0, errors.New("find pid: no service manager")
		}
		st, err := c.Manager.Status(ctx, c.Label)
		if errors.Is(err, service.ErrNotLoaded) {
			return 0, fmt.Errorf("%w: %s is not loaded in %s", errNotRunning, c.Label, c.Manager.Kind())
		}
		if err != nil {
			return 0, fmt.Errorf("find pid: %w", err)
		}
		if !st.Running() {
			return 0, fmt.Errorf("%w: %s reports %s %q with no pid", errNotRunning, c.Manager.Kind(), c.Label, st.State)
		}
		return st.PID, nil
	case pidFromFile:
		data, err := atomicfile.ReadRegular(c.PIDFile, maxPIDFile)
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%w: no pid file %s", errNotRunning, c.PIDFile)
		}
		if err != nil {
			return 0, fmt.Errorf("find pid: %w", err)
		}
		pid, err := parsePIDFile(data)
		if err != nil {
			return 0, fmt.Errorf("find pid: %s: %w", c.PIDFile, err)
		}
		return pid, nil
	case pidFromPort:
		return pidListeningOn(c.procRoot(), c.Port)
	}
	return 0, fmt.Errorf("bad --pid-source %q: want %s, %s (or its manager's name, %s or %s), %s or %s", c.Source, pidAuto, pidFromService,
		pidFromLaunchctl, pidFromSystemd, pidFromFile, pidFromPort)
}

func (c *staleCheck) procRoot() string {
	if c.ProcRoot == "" {
		return "/proc"
	}
	return c.ProcRoot
}

// parsePIDFile reads a pid file: a positive decimal number on the first
// line, surrounding space allowed.
func parsePIDFile(data []byte) (int, error) {
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSpace(line)
	pid, err := strconv.Atoi(line)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file holds %q, not a positive pid", text.Cut(line, 40))
	}
	return pid, nil
}

// tcpListen is the socket state LISTEN in /proc/net/tcp{,6}.
const tcpListen = "0A"

// listeningInodes parses /proc/net/tcp or /proc/net/tcp6 and returns the
// socket inodes listening on port (any local address).
func listeningInodes(r io.Reader, port int) ([]uint64, error) {
	var inodes []uint64
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if first {
			first = false
			if len(f) > 0 && f[0] == "sl" {
				continue // header
			}
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("parse /proc/net/tcp: short line %q", text.Cut(sc.Text(), 80))
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("parse /proc/net/tcp: local address %q", f[1])
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("parse /proc/net/tcp: port %q: %w", hexPort, err)
		}
		if int(p) != port || f[3] != tcpListen {
			continue
		}
		ino, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse /proc/net/tcp: inode %q: %w", f[9], err)
		}
		if ino != 0 {
			inodes = append(inodes, ino)
		}
	}
	return inodes, sc.Err()
}

// pidListeningOn finds the process holding a listening TCP socket on port,
// from /proc/net/tcp{,6} and the /proc/<pid>/fd links ("socket:[inode]").
// Processes whose fds cannot be read (other users') are skipped.
func pidListeningOn(procRoot string, port int) (int, error) {
	want := map[uint64]bool{}
	found := false
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(procRoot, "net", name))
		if err != nil {
			continue // no IPv6, or not Linux
		}
		inodes, err := listeningInodes(f, port)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("find pid on port %d: %w", port, err)
		}
		found = true
		for _, i := range inodes {
			want[i] = true
		}
	}
	if !found {
		return 0, fmt.Errorf("find pid on port %d: %s/net/tcp unreadable: the port source needs Linux's /proc (use --pid-source launchctl on macOS)", port, procRoot)
	}
	if len(want) == 0 {
		return 0, fmt.Errorf("%w: nothing listens on port %d", errNotRunning, port)
	}
	procs, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, fmt.Errorf("find pid on port %d: %w", port, err)
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(procRoot, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if ino, ok := socketInode(target); ok && want[ino] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: a socket listens on port %d but no readable process holds it (another user's?)", errNotRunning, port)
}

// socketInode parses an fd link target "socket:[12345]".
func socketInode(target string) (uint64, bool) {
	s, ok := strings.CutPrefix(target, "socket:[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	return ino, err == nil
}

// lsofFile is one file of `lsof -F` output.
type lsofFile struct {
	FD    string
	Inode uint64
	Name  string
}

// lsof runs `lsof -Fin -a -p <pid> -d txt`: the text (executable and
// mapped code) vnodes of one process, in lsof's field output.
type lsof struct {
	Path string
	Exec func(ctx context.Context, path string, args []string) ([]byte, int, error)
}

// Args is lsof's argv (after the program name) for pid.
func (l *lsof) Args(pid int) []string {
	return []string{"-Fin", "-a", "-p", strconv.Itoa(pid), "-d", "txt"}
}

// TextFiles runs lsof and parses its answer. lsof exits 1 with no output
// when the process is gone: that is ErrNotRunning.
func (l *lsof) TextFiles(ctx context.Context, pid int) ([]lsofFile, error) {
	path := l.Path
	if path == "" {
		path = "lsof"
	}
	run := l.Exec
	if run == nil {
		run = service.ExecCommand
	}
	out, code, err := run(ctx, path, l.Args(pid))
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", path, err)
	}
	files, perr := parseLsof(out, pid)
	if code != 0 {
		if len(files) == 0 && len(bytes.TrimSpace(out)) == 0 {
			return nil, fmt.Errorf("%w: lsof finds no process %d", errNotRunning, pid)
		}
		if perr != nil || len(files) == 0 {
			return nil, fmt.Errorf("%s %s: exit %d: %s", path, strings.Join(l.Args(pid), " "), code, primarycheck.FirstLines(string(out), 3))
		}
		// lsof exits 1 on harmless warnings while still listing files.
	}
	if perr != nil {
		return nil, perr
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: lsof lists no text file for pid %d", errNotRunning, pid)
	}
	return files, nil
}

// parseLsof parses lsof's field output (-F): a 'p' line starts a process,
// an 'f' line a file, and 'i' (inode) and 'n' (name) lines describe it.
// Only the files of pid are kept; files without an inode are skipped.
// Lines of other fields are ignored, so -F with more fields parses too.
func parseLsof(out []byte, pid int) ([]lsofFile, error) {
	var files []lsofFile
	var cur *lsofFile
	curPID := -1
	flush := func() {
		if cur != nil && curPID == pid && cur.Inode != 0 {
			files = append(files, *cur)
		}
		cur = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		val := line[1:]
		switch line[0] {
		case 'p':
			flush()
			p, err := strconv.Atoi(val)
			if err != nil {
				return nil, fmt.Errorf("parse lsof line %d: pid %q", n, val)
			}
			curPID = p
		case 'f':
			flush()
			if curPID < 0 {
				return nil, fmt.Errorf("parse lsof line %d: file before any process", n)
			}
			cur = &lsofFile{FD: val}
		case 'i':
			if cur == nil {
				return nil, fmt.Errorf("parse lsof line %d: inode before any file", n)
			}
			ino, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				// Some lsof builds print the inode in hex with 0x.
				ino, err = strconv.ParseUint(strings.TrimPrefix(val, "0x"), 16, 64)
			}
			if err != nil {
				return nil, fmt.Errorf("parse lsof line %d: inode %q", n, val)
			}
			cur.Inode = ino
		case 'n':
			if cur != nil {
				cur.Name = val
			}
		}
	}
	flush()
	return files, sc.Err()
}

// lsofExe turns lsof's text files into the process's executable: every
// text inode is a candidate, and the one named like binary (or else the
// first, which lsof lists first on macOS) is reported.
func lsofExe(files []lsofFile, binary string) runningExe {
	exe := runningExe{}
	for _, f := range files {
		exe.IDs = append(exe.IDs, fileID{Ino: f.Inode})
	}
	exe.Primary = exe.IDs[0]
	for _, f := range files {
		if f.Name != "" && samePath(f.Name, binary) {
			exe.Primary, exe.Path = fileID{Ino: f.Inode}, f.Name
			break
		}
	}
	return exe
}
