// Command gate reads govulncheck's JSON stream (-format json) and fails on
// every vulnerability that is reachable from our code (a finding at symbol
// level) unless vuln/accepted.txt accepts it with a reason.
//
// An accepted line is
//
//	ID MODULE [if-not-imported=PACKAGE ...]  # reason
//
// MODULE is the module path as govulncheck names it ("stdlib" for the
// standard library). The acceptance lapses as soon as one of the
// if-not-imported packages shows up in the list given with -deps (the output
// of `go list -deps ./...`), so a reason such as "we never link the package
// the advisory is about" is checked on every run.
//
// Exit status: 0 clean (or all accepted), 1 a reachable vulnerability, 2 the
// input or the arguments are not what a complete scan produces.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type message struct {
	Config *struct {
		ScannerVersion string `json:"scanner_version"`
		DB             string `json:"db"`
		GoVersion      string `json:"go_version"`
		ScanLevel      string `json:"scan_level"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *finding `json:"finding"`
}

type finding struct {
	OSV          string   `json:"osv"`
	FixedVersion string   `json:"fixed_version"`
	Trace        []*frame `json:"trace"`
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
	} `json:"position"`
}

type acceptance struct {
	id, module    string
	notImported   []string
	reason        string
	line          int
	used, lapsed  bool
	lapsedBecause string
}

type key struct{ id, module string }

type vuln struct {
	key
	version, fixed, summary, symbol, caller string
	accepted                                *acceptance
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	acceptFile := fs.String("accept", "", "file of accepted findings (ID MODULE [if-not-imported=PKG]... # reason)")
	depsFile := fs.String("deps", "", "file listing the imported packages, one a line (go list -deps)")
	wantGo := fs.String("go", "", "fail unless the scan ran with this Go version (e.g. go1.26.11)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var accepted []*acceptance
	if *acceptFile != "" {
		var err error
		if accepted, err = readAccepted(*acceptFile); err != nil {
			fmt.Fprintln(stderr, "gate:", err)
			return 2
		}
	}
	if *depsFile != "" {
		deps, err := readLines(*depsFile)
		if err != nil {
			fmt.Fprintln(stderr, "gate:", err)
			return 2
		}
		imported := map[string]bool{}
		for _, d := range deps {
			imported[d] = true
		}
		for _, a := range accepted {
			for _, p := range a.notImported {
				if imported[p] {
					a.lapsed, a.lapsedBecause = true, p+" is now imported"
				}
			}
		}
	} else {
		for _, a := range accepted {
			if len(a.notImported) > 0 {
				fmt.Fprintf(stderr, "gate: %s line %d needs -deps to check if-not-imported\n", *acceptFile, a.line)
				return 2
			}
		}
	}

	vulns, cfg, unreachable, err := read(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "gate:", err)
		return 2
	}
	if *wantGo != "" && cfg.GoVersion != *wantGo {
		fmt.Fprintf(stderr, "gate: the scan ran with %s, want %s\n", cfg.GoVersion, *wantGo)
		return 2
	}
	fmt.Fprintf(stdout, "govulncheck %s, %s standard library, db %s\n", cfg.ScannerVersion, cfg.GoVersion, cfg.DB)

	failed := 0
	for _, v := range vulns {
		for _, a := range accepted {
			if a.id == v.id && a.module == v.module {
				a.used = true
				if !a.lapsed {
					v.accepted = a
				}
			}
		}
		fixed := v.fixed
		if fixed == "" {
			fixed = "none"
		}
		verdict := "REACHABLE"
		if v.accepted != nil {
			verdict = "accepted"
		} else {
			failed++
		}
		fmt.Fprintf(stdout, "%-9s %s %s@%s (fixed in: %s) %s\n", verdict, v.id, v.module, v.version, fixed, v.summary)
		fmt.Fprintf(stdout, "          e.g. %s calls %s\n", v.caller, v.symbol)
		if v.accepted != nil {
			fmt.Fprintf(stdout, "          accepted (%s:%d): %s\n", *acceptFile, v.accepted.line, v.accepted.reason)
		}
	}
	for _, a := range accepted {
		switch {
		case a.lapsed && a.used:
			fmt.Fprintf(stdout, "acceptance of %s %s lapsed: %s\n", a.id, a.module, a.lapsedBecause)
		case !a.used:
			fmt.Fprintf(stdout, "note: %s %s is accepted (%s:%d) but no longer found; remove the line\n", a.id, a.module, *acceptFile, a.line)
		}
	}
	fmt.Fprintf(stdout, "%d reachable (%d accepted), %d more in imported packages or required modules but not called\n",
		len(vulns), len(vulns)-failed, unreachable)
	if failed > 0 {
		fmt.Fprintf(stdout, "FAIL: %d reachable vulnerabilities\n", failed)
		return 1
	}
	return 0
}

type config struct{ ScannerVersion, DB, GoVersion, ScanLevel string }

// read decodes the stream and returns the reachable vulnerabilities, one per
// (ID, module), sorted, and the count of the other (unreachable) ones.
func read(r io.Reader) ([]*vuln, config, int, error) {
	var cfg config
	sawConfig := false
	summaries := map[string]string{}
	reachable := map[key]*vuln{}
	other := map[string]bool{}
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, cfg, 0, fmt.Errorf("reading govulncheck output: %v", err)
		}
		switch {
		case m.Config != nil:
			sawConfig = true
			cfg = config{m.Config.ScannerVersion, m.Config.DB, m.Config.GoVersion, m.Config.ScanLevel}
		case m.OSV != nil:
			summaries[m.OSV.ID] = strings.TrimSpace(strings.ReplaceAll(m.OSV.Summary, "\n", " "))
		case m.Finding != nil:
			f := m.Finding
			if len(f.Trace) == 0 {
				return nil, cfg, 0, fmt.Errorf("finding %s has no trace", f.OSV)
			}
			top := f.Trace[0]
			if top.Function == "" { // module or package level: not called
				other[f.OSV] = true
				continue
			}
			v := &vuln{key: key{f.OSV, top.Module}, version: top.Version, fixed: f.FixedVersion, symbol: symbol(top)}
			v.caller = v.symbol
			for i := len(f.Trace) - 1; i >= 0; i-- {
				if fr := f.Trace[i]; fr.Position != nil {
					v.caller = fmt.Sprintf("%s (%s:%d)", symbol(fr), fr.Position.Filename, fr.Position.Line)
					break
				}
			}
			// One example per vulnerability, the same on every run.
			if old, ok := reachable[v.key]; !ok || v.caller+v.symbol < old.caller+old.symbol {
				reachable[v.key] = v
			}
		}
	}
	if !sawConfig {
		return nil, cfg, 0, errors.New("no config message: not a govulncheck -format json stream")
	}
	if cfg.ScanLevel != "" && cfg.ScanLevel != "symbol" {
		return nil, cfg, 0, fmt.Errorf("scan level %q: reachability needs symbol level", cfg.ScanLevel)
	}
	var out []*vuln
	for k, v := range reachable {
		v.summary = summaries[v.id]
		delete(other, k.id)
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].id != out[j].id {
			return out[i].id < out[j].id
		}
		return out[i].module < out[j].module
	})
	return out, cfg, len(other), nil
}

func symbol(f *frame) string {
	s := f.Package
	if f.Receiver != "" {
		s += "." + strings.TrimPrefix(f.Receiver, "*")
	}
	return s + "." + f.Function
}

func readAccepted(name string) ([]*acceptance, error) {
	lines, err := readLines(name)
	if err != nil {
		return nil, err
	}
	var out []*acceptance
	for i, l := range lines {
		rule, reason, _ := strings.Cut(l, "#")
		fields := strings.Fields(rule)
		if len(fields) == 0 {
			continue
		}
		reason = strings.TrimSpace(reason)
		if len(fields) < 2 || reason == "" {
			return nil, fmt.Errorf("%s:%d: want ID MODULE [if-not-imported=PKG]... # reason", name, i+1)
		}
		a := &acceptance{id: fields[0], module: fields[1], reason: reason, line: i + 1}
		for _, f := range fields[2:] {
			p, ok := strings.CutPrefix(f, "if-not-imported=")
			if !ok || p == "" {
				return nil, fmt.Errorf("%s:%d: unknown condition %q", name, i+1, f)
			}
			a.notImported = append(a.notImported, p)
		}
		out = append(out, a)
	}
	return out, nil
}

// readLines returns the lines of a file, comments (#...) kept: the caller
// decides. Blank lines come back as empty strings.
func readLines(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		out = append(out, strings.TrimSpace(s.Text()))
	}
	return out, s.Err()
}
