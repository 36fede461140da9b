package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/admin"
	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// wotkit runs one command line and returns its stdout, failing the test on error.
func wotkit(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := wotkitErr(t, stdin, args...)
	if err != nil {
		t.Fatalf("wotkit %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func wotkitErr(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), wotkittest.Timeout)
	defer cancel()
	err := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), err
}

// startInstance runs a whole wotkit on loopback ports over a fresh data
// directory, its configuration changed by tweak.
func startInstance(t *testing.T, dir string, tweak ...func(*serveConfig)) *instance {
	t.Helper()
	cfg := serveConfig{
		data: dir, mqttAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", publicURL: "http://localhost:8080",
		signup: true, connectTimeout: 10 * time.Second, maxPacketSize: 1 << 20,
		logger: wotkittest.Logger(t), bcryptCost: bcrypt.MinCost,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	inst, err := start(cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	shutdownAtCleanup(t, inst)
	return inst
}

// shutdownAtCleanup shuts inst down when the test ends, and waits for it: not
// with t.Context, which is cancelled before cleanups run, so that shutdown
// would return at once and the server log on after the test.
func shutdownAtCleanup(t *testing.T, inst *instance) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wotkittest.Timeout)
		defer cancel()
		if err := inst.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
}

func createKey(t *testing.T, dir, user string, extra ...string) (id, pw string) {
	t.Helper()
	out := wotkit(t, "", append([]string{"key", "create", user, "--name", "gateway", "--json", "--data", dir}, extra...)...)
	var kc struct {
		KeyID       string `json:"key_id"`
		KeyPassword string `json:"key_password"`
	}
	if err := json.Unmarshal([]byte(out), &kc); err != nil || kc.KeyID == "" || !strings.HasPrefix(kc.KeyPassword, "wkp_") {
		t.Fatalf("key create --json printed %q (%v)", out, err)
	}
	return kc.KeyID, kc.KeyPassword
}

func TestCLI_WithoutServer(t *testing.T) {
	dir := t.TempDir()
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", dir)
	if _, err := wotkitErr(t, "another password\n", "user", "add", "alice", "--password-stdin", "--data", dir); !errors.Is(err, storage.ErrExists) {
		t.Errorf("adding alice twice: %v, want ErrExists", err)
	}
	if _, err := wotkitErr(t, "some password\n", "user", "add", "Bad/Name", "--password-stdin", "--data", dir); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("invalid name: %v, want ErrInvalid", err)
	}
	if _, err := wotkitErr(t, "", "user", "add", "carol", "--password-stdin", "--data", dir); !errors.Is(err, errUsage) {
		t.Errorf("no password on stdin: %v, want a usage error", err)
	}
	id, _ := createKey(t, dir, "alice", "--read-only", "--description", "roof")
	var keys []storage.Key
	if err := json.Unmarshal([]byte(wotkit(t, "", "key", "list", "alice", "--json", "--data", dir)), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != id || keys[0].Permissions != storage.ReadOnly || keys[0].Description != "roof" {
		t.Fatalf("key list: %+v", keys)
	}
	if out := wotkit(t, "", "key", "list", "alice", "--data", dir); strings.Contains(out, "wkp_") {
		t.Fatal("key list shows a password")
	}
	wotkit(t, "new password 123\n", "user", "passwd", "alice", "--password-stdin", "--data", dir)
	if out := wotkit(t, "", "user", "list", "--data", dir); !strings.Contains(out, "alice") {
		t.Fatalf("user list: %q", out)
	}
	wotkit(t, "", "key", "delete", id, "--data", dir)
	if _, err := wotkitErr(t, "", "key", "delete", id, "--data", dir); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleting twice: %v, want ErrNotFound", err)
	}
}

func TestCLI_EnvironmentTwin(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("WOTKIT_DATA", dir)
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin")
	if out := wotkit(t, "", "user", "list", "--data", dir); !strings.Contains(out, "alice") {
		t.Fatalf("user made with WOTKIT_DATA is not in %s: %q", dir, out)
	}
	// The command line wins over the twin, for a flag that may be repeated too:
	// its values replace the twin's, not add to them.
	t.Setenv("WOTKIT_REDIRECT_URI", "https://env.example/cb")
	wotkit(t, "", "app", "create", "alice", "--name", "Dashboard", "--redirect-uri", "https://cli.example/cb")
	wotkit(t, "", "app", "create", "alice", "--name", "From env")
	var apps []storage.App
	if err := json.Unmarshal([]byte(wotkit(t, "", "app", "list", "--json")), &apps); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range apps {
		got[a.Name] = strings.Join(a.RedirectURIs, " ")
	}
	if got["Dashboard"] != "https://cli.example/cb" || got["From env"] != "https://env.example/cb" {
		t.Fatalf("redirect URIs %v, want the command line's alone, or else WOTKIT_REDIRECT_URI's", got)
	}
}

// While the server holds the file, the CLI asks it over the admin socket: no
// hang on the lock, and a key deleted from the CLI ends its live sessions.
func TestCLI_WhileServerRuns_KeyDeletedCannotConnect(t *testing.T) {
	dir := t.TempDir()
	inst := startInstance(t, dir)
	addr := inst.broker.Addr("tcp").String()
	start := time.Now()
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", dir)
	id, pw := createKey(t, dir, "alice")
	t.Logf("user add + key create through the running server took %v", time.Since(start))

	c, _, err := wotkittest.Dial5(t, addr, &paho.Connect{ClientID: "gw", CleanStart: true, Username: id, Password: []byte(pw)})
	if err != nil {
		t.Fatalf("connect with the CLI's key: %v", err)
	}
	wotkit(t, "", "key", "delete", id, "--data", dir)
	select {
	case d := <-c.Disconnected:
		if d.ReasonCode != 0x87 {
			t.Errorf("DISCONNECT %#x, want 0x87", d.ReasonCode)
		}
	case <-time.After(wotkittest.Timeout):
		t.Fatal("live session survived key delete from the CLI")
	}
	_, ca, err := wotkittest.Dial5(t, addr, &paho.Connect{ClientID: "gw", CleanStart: true, Username: id, Password: []byte(pw)})
	if err == nil || ca == nil || ca.ReasonCode != 0x86 {
		t.Fatalf("deleted key connects: connack %+v err %v", ca, err)
	}
}

// The server's per-user limit holds for the CLI too while the server runs
// (it asks the server), and says why.
func TestCLI_WhileServerRuns_PerUserLimitHolds(t *testing.T) {
	dir := t.TempDir()
	startInstance(t, dir, func(c *serveConfig) { c.maxPerUser = 1 })
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", dir)
	createKey(t, dir, "alice")
	_, err := wotkitErr(t, "", "key", "create", "alice", "--name", "second", "--json", "--data", dir)
	if !errors.Is(err, storage.ErrLimit) || !strings.Contains(err.Error(), "may have at most 1 keys") {
		t.Fatalf("a second key past --max-per-user 1: %v, want the limit", err)
	}
}

func TestServe_SecondServerOnSameDataFailsFast(t *testing.T) {
	dir := t.TempDir()
	startInstance(t, dir)
	began := time.Now()
	_, err := start(serveConfig{data: dir, mqttAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", publicURL: "http://localhost:8080", logger: wotkittest.Logger(t)})
	if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("second server: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "another wotkit serve") {
		t.Errorf("error does not say what to do: %v", err)
	}
	t.Logf("second server refused after %v", time.Since(began))
}

func TestServe_ShutdownTellsClientsAndKeepsData(t *testing.T) {
	dir := t.TempDir()
	inst, err := start(serveConfig{data: dir, mqttAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", publicURL: "http://localhost:8080",
		logger: wotkittest.Logger(t), bcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", dir)
	id, pw := createKey(t, dir, "alice")
	c, _, err := wotkittest.Dial5(t, inst.broker.Addr("tcp").String(), &paho.Connect{ClientID: "gw", CleanStart: true, Username: id, Password: []byte(pw)})
	if err != nil {
		t.Fatal(err)
	}
	raw, code, err := wotkittest.RawConnect(inst.broker.Addr("tcp").String(), "gw3", id, pw)
	if err != nil || code != 0 {
		t.Fatalf("3.1.1 connect: code %d, %v", code, err)
	}
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wotkittest.Timeout)
	defer cancel()
	if err := inst.shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	select {
	case d := <-c.Disconnected:
		if d.ReasonCode != 0x8B {
			t.Errorf("DISCONNECT %#x, want 0x8B server shutting down", d.ReasonCode)
		}
	case <-time.After(wotkittest.Timeout):
		t.Fatal("client was not told of the shutdown")
	}
	// 3.1.1 has no DISCONNECT from the server [MQTT-3.14.0]: the connection is just closed.
	if got, err := wotkittest.ReadUntilClosed(raw, wotkittest.Timeout); err != nil || len(got) > 0 {
		t.Errorf("3.1.1 client at shutdown: sent % x (%v), want the connection closed with nothing sent", got, err)
	}
	// The file is released and holds everything that was answered.
	var keys []storage.Key
	if err := json.Unmarshal([]byte(wotkit(t, "", "key", "list", "alice", "--json", "--data", dir)), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != id || keys[0].LastUsed.IsZero() {
		t.Fatalf("after restart: %+v, want the key with its last use recorded", keys)
	}
}

func TestCLI_Apps(t *testing.T) {
	dir := t.TempDir()
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", dir)
	out := wotkit(t, "", "app", "create", "alice", "--name", "Dashboard", "--redirect-uri", "https://dash.example.com/cb",
		"--redirect-uri", "http://localhost:8000/cb", "--json", "--data", dir)
	var ac struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &ac); err != nil || ac.ClientID == "" || !strings.HasPrefix(ac.ClientSecret, "wks_") {
		t.Fatalf("app create --json printed %q (%v)", out, err)
	}
	if _, err := wotkitErr(t, "", "app", "create", "alice", "--name", "Bad", "--redirect-uri", "http://evil.example/cb", "--data", dir); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("plain-http redirect URI: %v, want ErrInvalid", err)
	}
	var apps []storage.App
	if err := json.Unmarshal([]byte(wotkit(t, "", "app", "list", "--json", "--data", dir)), &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].ClientID != ac.ClientID || len(apps[0].RedirectURIs) != 2 || apps[0].Owner != "alice" {
		t.Fatalf("app list: %+v", apps)
	}
	if out := wotkit(t, "", "app", "list", "--data", dir); strings.Contains(out, "wks_") {
		t.Fatal("app list shows a secret")
	}
	wotkit(t, "", "app", "delete", ac.ClientID, "--data", dir)
	if _, err := wotkitErr(t, "", "app", "delete", ac.ClientID, "--data", dir); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
}

func TestCLI_PasswdEndsWebSessions(t *testing.T) {
	dir := t.TempDir()
	inst := startInstance(t, dir)
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", dir)
	token, _, err := inst.store.CreateWebSession("alice")
	if err != nil {
		t.Fatal(err)
	}
	wotkit(t, "a brand new password\n", "user", "passwd", "alice", "--password-stdin", "--data", dir)
	if _, err := inst.store.WebSession(token); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("web session survived a password change from the CLI: %v", err)
	}
}

// A serve flag out of range is a usage error that says which, before anything
// is opened: never a value silently cut to fit (a --max-packet-size of 2^32+1
// read as 1 would refuse every CONNECT) or replaced by a default.
func TestServe_FlagsOutOfRangeRefused(t *testing.T) {
	for _, c := range []struct{ flag, value, want string }{
		{"--max-packet-size", "4294967297", "--max-packet-size"},
		{"--max-pending-writes", "3000000000", "--max-pending-writes"},
		{"--token-ttl", "-1h", "--token-ttl"},
		{"--retain-readings", "-1", "--retain-readings"},
		{"--max-per-user", "-1", "--max-per-user"},
		{"--public-url", "wotkit.example", "--public-url"},
		{"--max-session-expiry", "-1s", "--max-session-expiry"},
		{"--max-session-expiry", "0", "--max-session-expiry"},
	} {
		dir := t.TempDir()
		_, err := wotkitErr(t, "", "serve", "--data", dir, "--mqtt", "127.0.0.1:0", "--mqtt-ws", "", "--http", "127.0.0.1:0", c.flag, c.value)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %s %s: %v, want a usage error about %s", c.flag, c.value, err, c.want)
		}
		if _, statErr := os.Stat(filepath.Join(dir, dbName)); statErr == nil {
			t.Errorf("serve %s %s created a database before refusing", c.flag, c.value)
		}
	}
}

// A listener that cannot be opened (the MQTT port is taken) fails serve with
// an error that names it, and releases what was opened before: the database
// can be opened again at once.
func TestServe_PortTakenFailsCleanly(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	_, err = wotkitErr(t, "", "serve", "--data", dir, "--mqtt", taken.Addr().String(), "--mqtt-ws", "", "--http", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("serve on a taken MQTT port: %v, want an error naming %s", err, taken.Addr())
	}
	store, err := storage.Open(filepath.Join(dir, dbName), storage.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the database is still held after the failed start: %v", err)
	}
	_ = store.Close()
}

// A data directory too deep for a unix socket path (sun_path holds 108 bytes
// on Linux, 104 on the BSDs) is refused at start with the reason, not with
// bind's bare "invalid argument".
func TestServe_DataDirectoryTooLongForTheAdminSocketSaysSo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 110))
	_, err := start(serveConfig{
		data: dir, mqttAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", publicURL: "http://localhost:8080",
		logger: wotkittest.Logger(t), bcryptCost: bcrypt.MinCost,
	})
	if err == nil {
		t.Fatal("serve started with an admin socket path no unix socket can have")
	}
	if !strings.Contains(err.Error(), "shorter data directory") {
		t.Fatalf("the error does not say what to do: %v", err)
	}
}

// The admin socket is its owner's alone from the moment it exists: made in a
// private directory, restricted, then moved into the data directory (made
// there, it would be open to whoever the umask lets in until the chmod); it
// goes when the server stops. (No test can see that instant; this one checks
// the mode, that nothing of the private directory stays, and the removal.)
func TestServe_AdminSocketOwnersOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil { // a data directory made by someone else, open to all
		t.Fatal(err)
	}
	inst := startInstance(t, dir)
	fi, err := os.Stat(admin.SocketPath(dir))
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v, want a socket with mode 0600", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("data directory holds %d entries, want the database and the socket: %v", len(entries), entries)
	}
	if err := inst.shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(admin.SocketPath(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin socket after shutdown: %v, want it gone", err)
	}
}
