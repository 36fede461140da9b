package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/wotkit/wotkit/admin"
)

// Broker names, as the table's columns show them.
const (
	nameWotkit    = "wotkit"
	nameMochi     = "mochi"
	nameMosquitto = "mosquitto"
)

// benchUsers is how many users share the load; each has one key and one token.
const benchUsers = 4

// wotkit's default per-key limits (1,000 messages a second, 1,000 live
// sessions) are far below what the bench pushes through one key. The bench
// raises them out of reach rather than turning them off, so that their checks
// still run and are measured. The burst allows 100 ms at the rate: the limiter
// compares against a clock read before it runs, and a publisher descheduled
// for longer than burst/rate in between is refused spuriously.
const (
	benchPublishRate    = 1e7
	benchPublishBurst   = 1e6
	benchSessionsPerKey = 100000
)

// benchLimitFlags are the `wotkit serve` flags for the limits above.
var benchLimitFlags = []string{
	"--max-publish-rate", strconv.FormatFloat(benchPublishRate, 'f', -1, 64),
	"--publish-burst", strconv.Itoa(benchPublishBurst),
	"--max-sessions-per-key", strconv.Itoa(benchSessionsPerKey),
}

// target is one broker under test, started for one round of scenarios.
type target struct {
	name   string
	addr   string
	pid    int    // the broker's process, for memory and CPU readings
	keys   []Cred // one per user
	tokens []Cred // wotkit only: one per user
	// newKey makes a fresh key for the revocation scenario and returns it with
	// a function that deletes it (wotkit only).
	newKey func(ctx context.Context, n int) (Cred, func(context.Context) error, error)
	proc   *process
}

// process is a broker running as a child process.
type process struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

// startProcess runs argv (pinned to cpus when set) with its output in logFile.
func startProcess(cpus string, logFile string, argv ...string) (*process, error) {
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	out, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1), log: logFile}
	go func() {
		p.done <- cmd.Wait()
		_ = out.Close()
	}()
	return p, nil
}

// stop sends SIGTERM and waits (killing after 10s).
func (p *process) stop() error {
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
			return nil
		}
		return err
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 10s; killed (log: %s)", p.cmd.Path, p.log)
	}
}

// waitListening dials addr until it answers, the process exits, or 15s pass.
func waitListening(ctx context.Context, p *process, addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("exited before listening on %s (%v); log: %s", addr, err, p.log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return nil
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("nothing listens on %s after 15s; log: %s", addr, p.log)
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// runCmd runs a short command and returns its stdout.
func runCmd(ctx context.Context, stdin string, argv ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// wotkitSetup holds the credentials made in a wotkit data directory.
type wotkitSetup struct {
	bin    string
	data   string
	keys   []Cred
	tokens []Cred
}

// setupWotkit makes benchUsers users, a key each, an application and a token
// each, with the CLI (and the hidden mint command for tokens) while no server runs.
func setupWotkit(ctx context.Context, bin, data string) (*wotkitSetup, error) {
	ws := &wotkitSetup{bin: bin, data: data}
	var clientID string
	for i := range benchUsers {
		name := "bench" + strconv.Itoa(i)
		if _, err := runCmd(ctx, "bench-password-"+name+"\n", bin, "user", "add", name, "--password-stdin", "--data", data); err != nil {
			return nil, err
		}
		key, err := createKey(ctx, bin, data, name, "load")
		if err != nil {
			return nil, err
		}
		ws.keys = append(ws.keys, key)
		if i == 0 {
			out, err := runCmd(ctx, "", bin, "app", "create", name, "--name", "bench", "--redirect-uri", "http://127.0.0.1/callback", "--json", "--data", data)
			if err != nil {
				return nil, err
			}
			var ac admin.AppCreated
			if err := json.Unmarshal(out, &ac); err != nil {
				return nil, fmt.Errorf("app create output: %w", err)
			}
			clientID = ac.ClientID
		}
		var tok bytes.Buffer
		if err := mintCommand(ctx, []string{"--data", data, "--user", name, "--client", clientID}, &tok, io.Discard); err != nil {
			return nil, err
		}
		ws.tokens = append(ws.tokens, Cred{Root: name, Username: clientID, Password: strings.TrimSpace(tok.String())})
	}
	return ws, nil
}

// startWotkit runs `wotkit serve` on loopback ports over ws's data (or a
// copy of it in data, when not empty), with extra flags.
func startWotkit(ctx context.Context, ws *wotkitSetup, name, data, cpus, logFile string, extra ...string) (*target, error) {
	if data == "" {
		data = ws.data
	}
	mqttAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	argv := append([]string{ws.bin, "serve", "--data", data, "--mqtt", mqttAddr, "--mqtt-ws", "", "--http", httpAddr}, benchLimitFlags...)
	argv = append(argv, extra...)
	p, err := startProcess(cpus, logFile, argv...)
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, p, mqttAddr); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &target{name: name, addr: mqttAddr, pid: p.cmd.Process.Pid, keys: ws.keys, tokens: ws.tokens, proc: p}
	t.newKey = func(ctx context.Context, n int) (Cred, func(context.Context) error, error) {
		key, err := createKey(ctx, ws.bin, data, ws.keys[0].Root, "revoke"+strconv.Itoa(n))
		if err != nil {
			return Cred{}, nil, err
		}
		del := func(ctx context.Context) error {
			_, err := runCmd(ctx, "", ws.bin, "key", "delete", key.Username, "--data", data)
			return err
		}
		return key, del, nil
	}
	return t, nil
}

// createKey makes a key named name for user with `wotkit key create` and
// returns it as a credential.
func createKey(ctx context.Context, bin, data, user, name string) (Cred, error) {
	out, err := runCmd(ctx, "", bin, "key", "create", user, "--name", name, "--json", "--data", data)
	if err != nil {
		return Cred{}, err
	}
	var kc admin.KeyCreated
	if err := json.Unmarshal(out, &kc); err != nil {
		return Cred{}, fmt.Errorf("key create output: %w", err)
	}
	return Cred{Root: user, Username: kc.KeyID, Password: kc.KeyPassword}, nil
}

// startSelf runs a server subcommand of this binary (mochi, or wotkit in-process).
func startSelf(ctx context.Context, name, cpus, logFile string, args ...string) (*target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProcess(cpus, logFile, append([]string{self}, append(args, "--mqtt", addr)...)...)
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, p, addr); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &target{name: name, addr: addr, pid: p.cmd.Process.Pid, proc: p}, nil
}

// mochiCreds are credentials for the allow-all broker: any name, any password.
func mochiCreds() []Cred {
	var cs []Cred
	for i := range benchUsers {
		n := "bench" + strconv.Itoa(i)
		cs = append(cs, Cred{Root: n, Username: n, Password: "anything"})
	}
	return cs
}

// mosquittoSetup is a password file and ACL for Debian's mosquitto.
type mosquittoSetup struct {
	bin, conf string
	dir       string
	keys      []Cred
}

// setupMosquitto writes the password file (with mosquitto_passwd), the ACL
// `pattern readwrite %u/#` and a config from tmplPath for each start.
func setupMosquitto(ctx context.Context, bin, tmplPath, dir string) (*mosquittoSetup, error) {
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		return nil, fmt.Errorf("mosquitto_passwd: %w", err)
	}
	ms := &mosquittoSetup{bin: bin, conf: tmplPath, dir: dir}
	pwFile := filepath.Join(dir, "passwd")
	for i := range benchUsers {
		name := "bench" + strconv.Itoa(i)
		pw := "bench-password-" + name
		args := []string{passwd, "-b", pwFile, name, pw}
		if i == 0 {
			args = []string{passwd, "-c", "-b", pwFile, name, pw}
		}
		if _, err := runCmd(ctx, "", args...); err != nil {
			return nil, err
		}
		ms.keys = append(ms.keys, Cred{Root: name, Username: name, Password: pw})
	}
	if err := os.WriteFile(filepath.Join(dir, "acl"), []byte("pattern readwrite %u/#\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write acl: %w", err)
	}
	return ms, nil
}

// startMosquitto renders the config for a free loopback port and runs mosquitto.
func startMosquitto(ctx context.Context, ms *mosquittoSetup, cpus, logFile string) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	tmpl, err := template.ParseFiles(ms.conf)
	if err != nil {
		return nil, fmt.Errorf("mosquitto config template: %w", err)
	}
	runAs := "root"
	if u, err := user.Current(); err == nil {
		runAs = u.Username
	}
	var conf bytes.Buffer
	if err := tmpl.Execute(&conf, map[string]string{
		"Port": port, "PasswordFile": filepath.Join(ms.dir, "passwd"), "ACLFile": filepath.Join(ms.dir, "acl"), "User": runAs,
	}); err != nil {
		return nil, fmt.Errorf("mosquitto config template: %w", err)
	}
	confFile := filepath.Join(ms.dir, "mosquitto.conf")
	if err := os.WriteFile(confFile, conf.Bytes(), 0o600); err != nil {
		return nil, fmt.Errorf("write mosquitto config: %w", err)
	}
	p, err := startProcess(cpus, logFile, ms.bin, "-c", confFile)
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, p, addr); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("mosquitto: %w", err)
	}
	return &target{name: nameMosquitto, addr: addr, pid: p.cmd.Process.Pid, keys: ms.keys, proc: p}, nil
}

// raiseNoFile raises the soft open-files limit to at least need (up to the
// hard limit); children started afterwards inherit it.
func raiseNoFile(need uint64, log *slog.Logger) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= need {
		// Setting it anyway makes children inherit this limit, not the one before Go raised it.
		return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Max < need {
		return fmt.Errorf("open files: need %d, hard limit %d: raise it (ulimit -Hn) or lower --conns", need, lim.Max)
	}
	old := lim.Cur
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	log.Info("raised open-files limit", "from", old, "to", need)
	return nil
}
