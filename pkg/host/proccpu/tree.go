package proccpu

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sanctum/council-probes/pkg/core/text"
)

// A server's work often happens in a child process: `ollama serve` spends
// 1-4% of a core while its child `ollama runner` generates at 60-130%,
// and vLLM's API process hands the work to engine processes. So a busy or
// idle verdict is about the primary's whole process tree: the primary, its
// children and theirs, read from one process table taken at each end of
// the window.

// Proc is one process as a process table lists it.
type Proc struct {
	PID, PPID int
	// Age is how long the process has existed when the table was read
	// (its elapsed time); negative when the table does not say.
	Age time.Duration
	// CPU is its cumulative user + system time.
	CPU time.Duration
	// Zombie: it has ended and waits to be reaped; its times are final.
	Zombie bool

	startTicks uint64 // Linux: start time in clock ticks after boot
}

// maxTreeProcs bounds how many processes one tree may hold: a fork bomb
// under the primary must not make a probe walk a million pids.
const maxTreeProcs = 4096

// Tree returns root and its descendants among procs, root first, then
// each generation in pid order of the table. found is false when root is
// not in the table or has ended (a zombie is not a running server).
func Tree(procs []Proc, root int) (tree []Proc, found bool) {
	byPID := make(map[int]int, len(procs))
	children := map[int][]int{}
	for i, p := range procs {
		if _, dup := byPID[p.PID]; dup || p.PID <= 0 {
			continue
		}
		byPID[p.PID] = i
		if p.PPID != p.PID {
			children[p.PPID] = append(children[p.PPID], i)
		}
	}
	i, ok := byPID[root]
	if !ok || procs[i].Zombie {
		return nil, false
	}
	seen := map[int]bool{root: true}
	tree = append(tree, procs[i])
	for next := 0; next < len(tree) && len(tree) < maxTreeProcs; next++ {
		for _, c := range children[tree[next].PID] {
			if p := procs[c]; !seen[p.PID] && len(tree) < maxTreeProcs {
				seen[p.PID] = true
				tree = append(tree, p)
			}
		}
	}
	return tree, true
}

// ageSlack is how far two readings of one process's age may disagree
// (ps prints whole seconds; the table is read at two moments).
const ageSlack = 2 * time.Second

// treeCPU is the CPU time the tree used between two readings of it taken
// window apart. A process in both readings counts what it used in
// between; one that started during the window counts all it used (its
// age says so); one that ended during the window counts nothing of its
// last part, which is lost with it (the tree's total is never made
// negative by it). A pid in both readings whose age went back is a new
// process on a reused pid.
func treeCPU(before, after []Proc, window time.Duration) time.Duration {
	was := make(map[int]Proc, len(before))
	for _, p := range before {
		was[p.PID] = p
	}
	var total time.Duration
	for _, p := range after {
		b, ok := was[p.PID]
		if ok && (p.Age < 0 || b.Age < 0 || p.Age+ageSlack >= b.Age) {
			total += max(p.CPU-b.CPU, 0)
			continue
		}
		// New to the tree. Only a process younger than the window can
		// have used all its CPU inside it; an older one was missed by
		// the first reading, and its baseline is unknown.
		if p.Age >= 0 && p.Age <= window+ageSlack {
			total += max(p.CPU, 0)
		}
	}
	return total
}

// maxPSTable bounds what is read of `ps -A`: one short line per process.
const maxPSTable = 8 << 20

// PSTableArgs are ps's arguments for the whole process table: pid, parent
// pid, elapsed time and CPU time of every process, without headers. BSD
// (macOS) and procps ps both take them.
var PSTableArgs = []string{"-A", "-o", "pid=,ppid=,etime=,cputime="}

// ParsePSTable parses the output of `ps -A -o pid=,ppid=,etime=,cputime=`:
// one line per process, four fields, the times as ParsePSCPUTime reads
// them. Any line in another shape is ErrFormat: a table half understood
// is not a table.
func ParsePSTable(out []byte) ([]Proc, error) {
	var procs []Proc
	for n, line := range bytes.Split(out, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(why string) ([]Proc, error) {
			return nil, fmt.Errorf("parse ps table line %d %q: %s: %w", n+1, text.Cut(string(line), 60), why, ErrFormat)
		}
		if len(f) != 4 {
			return bad(fmt.Sprintf("%d fields, want 4", len(f)))
		}
		pid, err1 := strconv.Atoi(string(f[0]))
		ppid, err2 := strconv.Atoi(string(f[1]))
		if err1 != nil || err2 != nil || pid <= 0 || ppid < 0 || !digits(string(f[0])) || !digits(string(f[1])) {
			return bad("pid or ppid is not a number")
		}
		age, err := ParsePSCPUTime(f[2])
		if err != nil {
			return bad("elapsed time")
		}
		cpu, err := ParsePSCPUTime(f[3])
		if err != nil {
			return bad("cpu time")
		}
		procs = append(procs, Proc{PID: pid, PPID: ppid, Age: age, CPU: cpu})
	}
	if len(procs) == 0 {
		return nil, fmt.Errorf("parse ps table: no process listed: %w", ErrFormat)
	}
	return procs, nil
}

// PSTable runs `<ps> -A -o pid=,ppid=,etime=,cputime=` (by argv, one exec
// for the whole table) and parses it.
func PSTable(ctx context.Context, ps string) ([]Proc, error) {
	var out, errOut limitedBuffer
	out.max, errOut.max = maxPSTable+1, maxPSOutput
	if err := runPS(ctx, ps, PSTableArgs, &out, &errOut); err != nil {
		return nil, err
	}
	if len(out.b) > maxPSTable {
		return nil, fmt.Errorf("%s -A: more than %d bytes of process table", ps, maxPSTable)
	}
	procs, err := ParsePSTable(out.b)
	if err != nil {
		return nil, fmt.Errorf("%s -A: %w", ps, err)
	}
	return procs, nil
}

// TreeOf reads the process table and returns pid's tree (see Tree); a
// pid that does not run is ErrNoProcess.
func (r *Reader) TreeOf(ctx context.Context, pid int) ([]Proc, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("process tree of pid %d: %w", pid, ErrNoProcess)
	}
	procs, err := r.table(ctx)
	if err != nil {
		return nil, err
	}
	tree, ok := Tree(procs, pid)
	if !ok {
		return nil, fmt.Errorf("process tree of pid %d: %w", pid, ErrNoProcess)
	}
	return tree, nil
}

// TreeCPUTime is the cumulative CPU time of pid's whole tree now.
func (r *Reader) TreeCPUTime(ctx context.Context, pid int) (time.Duration, error) {
	tree, err := r.TreeOf(ctx, pid)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, p := range tree {
		total += p.CPU
	}
	return total, nil
}
