package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stream is a trimmed govulncheck -format json stream: one vulnerability
// reachable in a module, one only imported (package level), and one in the
// standard library reachable through net/http.
const stream = `
{"config": {"protocol_version": "v1.0.0", "scanner_name": "govulncheck", "scanner_version": "v1.9.0",
  "db": "file:///db", "go_version": "go1.26.11", "scan_level": "symbol", "scan_mode": "source"}}
{"progress": {"message": "Scanning your code..."}}
{"osv": {"id": "GO-1", "summary": "Bad thing in\nexample.com/mod"}}
{"osv": {"id": "GO-2", "summary": "Imported only"}}
{"osv": {"id": "GO-3", "summary": "Stdlib thing"}}
{"finding": {"osv": "GO-1", "trace": [{"module": "example.com/mod", "version": "v1.0.0"}]}}
{"finding": {"osv": "GO-1", "trace": [{"module": "example.com/mod", "version": "v1.0.0", "package": "example.com/mod/p"}]}}
{"finding": {"osv": "GO-1", "fixed_version": "v1.0.1", "trace": [
  {"module": "example.com/mod", "version": "v1.0.0", "package": "example.com/mod/p", "function": "Do", "receiver": "*T"},
  {"module": "github.com/wotkit/wotkit", "package": "github.com/wotkit/wotkit/oauthweb", "function": "handle",
   "position": {"filename": "oauthweb/x.go", "line": 7}}]}}
{"finding": {"osv": "GO-2", "trace": [{"module": "example.com/other", "version": "v0.1.0", "package": "example.com/other"}]}}
`

const stdlibFinding = `{"finding": {"osv": "GO-3", "fixed_version": "v1.26.12", "trace": [
  {"module": "stdlib", "version": "v1.26.11", "package": "net/http", "function": "Serve"},
  {"module": "github.com/wotkit/wotkit", "package": "github.com/wotkit/wotkit/broker", "function": "Listen",
   "position": {"filename": "broker/ws.go", "line": 3}}]}}`

func gate(t *testing.T, in string, accepted string, deps string, args ...string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	if accepted != "" {
		f := filepath.Join(dir, "accepted.txt")
		if err := os.WriteFile(f, []byte(accepted), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-accept", f)
	}
	if deps != "" {
		f := filepath.Join(dir, "deps.txt")
		if err := os.WriteFile(f, []byte(deps), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-deps", f)
	}
	var out bytes.Buffer
	rc := run(args, strings.NewReader(in), &out, &out)
	return rc, out.String()
}

func TestReachableFails(t *testing.T) {
	rc, out := gate(t, stream, "", "")
	if rc != 1 {
		t.Fatalf("exit %d, want 1:\n%s", rc, out)
	}
	for _, want := range []string{
		"REACHABLE GO-1 example.com/mod@v1.0.0 (fixed in: v1.0.1) Bad thing in example.com/mod",
		"e.g. github.com/wotkit/wotkit/oauthweb.handle (oauthweb/x.go:7) calls example.com/mod/p.T.Do",
		"1 reachable (0 accepted), 1 more",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "GO-2 ") {
		t.Errorf("an imported-only finding is reported as reachable:\n%s", out)
	}
}

func TestStdlibReachableFails(t *testing.T) {
	rc, out := gate(t, stream+stdlibFinding, "GO-1 example.com/mod # not our use\n", "")
	if rc != 1 || !strings.Contains(out, "REACHABLE GO-3 stdlib@v1.26.11 (fixed in: v1.26.12)") {
		t.Fatalf("exit %d, want 1 for the stdlib finding:\n%s", rc, out)
	}
}

func TestAccepted(t *testing.T) {
	acc := "# comment\n\nGO-1 example.com/mod if-not-imported=example.com/mod/q  # we never call it that way\nGO-9 example.com/gone # fixed long ago\n"
	rc, out := gate(t, stream, acc, "github.com/wotkit/wotkit/oauthweb\nexample.com/mod/p\n", "-go", "go1.26.11")
	if rc != 0 {
		t.Fatalf("exit %d, want 0:\n%s", rc, out)
	}
	for _, want := range []string{"accepted  GO-1", "we never call it that way", "GO-9 example.com/gone is accepted", "1 reachable (1 accepted)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestAcceptanceLapsesWhenPackageImported(t *testing.T) {
	acc := "GO-1 example.com/mod if-not-imported=example.com/mod/q # q not linked\n"
	rc, out := gate(t, stream, acc, "example.com/mod/p\nexample.com/mod/q\n")
	if rc != 1 || !strings.Contains(out, "lapsed: example.com/mod/q is now imported") {
		t.Fatalf("exit %d, want 1 with the acceptance lapsed:\n%s", rc, out)
	}
}

func TestAcceptanceOtherModuleDoesNotCount(t *testing.T) {
	rc, out := gate(t, stream, "GO-1 example.com/fork # another module\n", "")
	if rc != 1 {
		t.Fatalf("exit %d, want 1:\n%s", rc, out)
	}
}

func TestBrokenInput(t *testing.T) {
	for name, c := range map[string]struct {
		in, accepted, deps string
		args               []string
	}{
		"empty":             {in: ""},
		"not json":          {in: "Scanning your code...\n"},
		"no config":         {in: `{"finding": {"osv": "GO-1", "trace": [{"module": "m"}]}}`},
		"other go":          {in: stream, args: []string{"-go", "go1.26.8"}},
		"reason missing":    {in: stream, accepted: "GO-1 example.com/mod\n"},
		"bad condition":     {in: stream, accepted: "GO-1 example.com/mod unless=x # r\n"},
		"condition no deps": {in: stream, accepted: "GO-1 example.com/mod if-not-imported=x # r\n"},
		"package level":     {in: strings.Replace(stream, `"symbol"`, `"package"`, 1)},
	} {
		rc, out := gate(t, c.in, c.accepted, c.deps, c.args...)
		if rc != 2 {
			t.Errorf("%s: exit %d, want 2:\n%s", name, rc, out)
		}
	}
}
