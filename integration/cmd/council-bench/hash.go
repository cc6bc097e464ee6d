package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// hashbenchPkg is the existing hashing benchmark; council-bench runs it
// rather than measuring hashing a second way.
const hashbenchPkg = "github.com/sanctum/council-probes/pkg/testkit/hashbench"

type hashRow struct {
	What             string
	Ours, Base       float64
	Unit, Ratio, Tgt string
}

type hashResult struct {
	Table   string // hashbench's own table, verbatim
	Rows    []hashRow
	Skipped string
	Err     string
}

// runHashbench builds hashbench (unless given) and runs it with the
// configured flags; its progress goes to stderr, its table into the report.
func runHashbench(ctx context.Context, cfg config, tmp string, stderr io.Writer) hashResult {
	hb := cfg.hashbench
	if hb == "" {
		hb = filepath.Join(tmp, "hashbench")
		if err := goBuild(ctx, hashbenchPkg, hb); err != nil {
			return hashResult{Err: err.Error()}
		}
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, hb, strings.Fields(cfg.hashArgs)...)
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return hashResult{Err: fmt.Sprintf("hashbench %s: %v", cfg.hashArgs, err)}
	}
	rows, err := parseHashbench(out.String())
	if err != nil {
		return hashResult{Table: out.String(), Err: err.Error()}
	}
	return hashResult{Table: out.String(), Rows: rows}
}

var cols = regexp.MustCompile(`\s{2,}`)

// parseHashbench reads hashbench's table: a header line starting with
// "measurement", then one row per measurement up to a blank line, columns
// separated by two or more spaces: what, ours, openssl, ratio, target.
func parseHashbench(s string) ([]hashRow, error) {
	var rows []hashRow
	in := false
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(line, "measurement"):
			in = true
			continue
		case !in:
			continue
		case strings.TrimSpace(line) == "":
			in = false
			continue
		}
		f := cols.Split(strings.TrimSpace(line), -1)
		if len(f) < 4 {
			return nil, fmt.Errorf("hashbench row %q: want at least 4 columns", line)
		}
		r := hashRow{What: f[0], Ratio: f[3]}
		if len(f) > 4 {
			r.Tgt = f[4]
		}
		var err error
		if r.Ours, r.Unit, err = valueUnit(f[1]); err != nil {
			return nil, fmt.Errorf("hashbench row %q: %w", line, err)
		}
		if b, _, err := valueUnit(f[2]); err == nil {
			r.Base = b // "-" or "n/a" when there is no baseline
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no table in hashbench output")
	}
	return rows, nil
}

func valueUnit(s string) (float64, string, error) {
	v, unit, ok := strings.Cut(s, " ")
	if !ok {
		return 0, "", fmt.Errorf("%q is not a value and a unit", s)
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, unit, err
}
