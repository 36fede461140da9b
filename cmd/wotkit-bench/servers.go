package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // profiles on the --pprof address
	"path/filepath"
	"runtime"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/wotkit/wotkit/broker"
	"github.com/wotkit/wotkit/gctune"
	"github.com/wotkit/wotkit/hooks"
	"github.com/wotkit/wotkit/metrics"
	"github.com/wotkit/wotkit/storage"
)

// errNotLoopback refuses a server address that is not a loopback address.
var errNotLoopback = errors.New("benchmark servers bind loopback addresses only")

// requireLoopback checks that addr's host is a loopback IP or "localhost".
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%w: %q", errNotLoopback, addr)
}

// bareMochi is mochi v2.7.9 with the allow-all hook, configured as broker.New
// configures wotkit's: the same capabilities, inline client, $SYS interval
// and guarded listener. It is the ceiling for wotkit's hooks.
type bareMochi struct {
	server *mqtt.Server
	addr   net.Addr
}

// startBareMochi listens on addr and serves. writesPending is the per-client
// write queue (MaximumClientWritesPending); 0 means wotkit's default.
func startBareMochi(addr string, writesPending int32, log *slog.Logger) (*bareMochi, error) {
	cfg := broker.Config{TCPAddr: addr, MaxPendingWrites: writesPending, Logger: log}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	server := mqtt.New(&mqtt.Options{
		Capabilities:            cfg.Capabilities(), // wotkit's, so that only the hooks differ
		Logger:                  log.With("component", "mqtt"),
		InlineClient:            true,
		SysTopicResendInterval:  10,
		ClientNetReadBufferSize: broker.ClientReadBufferSize,
	})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("add allow hook: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	guard := broker.GuardConfig{ConnectTimeout: cfg.ConnectTimeout, MaxPacketSize: cfg.MaxPacketSize, Logger: log.With("component", "mqtt-guard")}
	if err := server.AddListener(broker.NewGuardedListener("tcp", "tcp", ln, guard)); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("add listener: %w", err)
	}
	if err := server.Serve(); err != nil {
		_ = server.Close()
		return nil, fmt.Errorf("serve mochi: %w", err)
	}
	return &bareMochi{server: server, addr: ln.Addr()}, nil
}

// close stops the server.
func (m *bareMochi) close() error {
	if err := m.server.Close(); err != nil {
		return fmt.Errorf("close mochi: %w", err)
	}
	return nil
}

// serverFlags are the flags both server subcommands take.
type serverFlags struct {
	mqtt          string
	pprof         string
	writesPending int
	logLevel      string
	contention    bool
}

// register adds the flags to fs.
func (sf *serverFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.mqtt, "mqtt", "127.0.0.1:1883", "MQTT over TCP address (loopback)")
	fs.StringVar(&sf.pprof, "pprof", "", "serve net/http/pprof on this loopback address")
	fs.IntVar(&sf.writesPending, "writes-pending", 0, "messages queued per client, mochi's MaximumClientWritesPending (0: wotkit's default)")
	fs.StringVar(&sf.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&sf.contention, "contention", false, "with --pprof: record block and mutex profiles (costs CPU)")
}

// check validates the flags and returns a logger to stderr at the chosen level.
func (sf *serverFlags) check(stderr io.Writer) (*slog.Logger, error) {
	if err := requireLoopback(sf.mqtt); err != nil {
		return nil, err
	}
	if sf.pprof != "" {
		if err := requireLoopback(sf.pprof); err != nil {
			return nil, err
		}
		if sf.contention {
			runtime.SetBlockProfileRate(int(10 * time.Microsecond))
			runtime.SetMutexProfileFraction(10)
		}
	}
	if sf.writesPending < 0 || sf.writesPending > 1<<20 {
		return nil, fmt.Errorf("--writes-pending %d: out of range", sf.writesPending)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(sf.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), nil
}

// servePprof serves the profiling handlers until ctx ends.
func servePprof(ctx context.Context, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen pprof %s: %w", addr, err)
	}
	srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server stopped", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return nil
}

// mochiCommand serves bare mochi until ctx ends: `wotkit-bench mochi`.
func mochiCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mochi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf serverFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := sf.check(stderr)
	if err != nil {
		return err
	}
	if err := servePprof(ctx, sf.pprof, log); err != nil {
		return err
	}
	go gctune.Tune(ctx, gctune.Config{}, log) // as `wotkit serve`
	m, err := startBareMochi(sf.mqtt, int32(sf.writesPending), log)
	if err != nil {
		return err
	}
	log.Info("bare mochi listening", "addr", m.addr.String())
	<-ctx.Done()
	return m.close()
}

// wotkitCommand serves wotkit's broker in this process, over the store in
// --data (the server must not run), without the portal: `wotkit-bench wotkit`.
// It is the broker of `wotkit serve` (with the bench's limits) and --pprof.
func wotkitCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("wotkit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf serverFlags
	sf.register(fs)
	data := fs.String("data", "wotkit-data", "data directory of a stopped wotkit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := sf.check(stderr)
	if err != nil {
		return err
	}
	store, err := storage.Open(filepath.Join(*data, "wotkit.db"), storage.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()
	go gctune.Tune(ctx, gctune.Config{}, log) // as `wotkit serve`
	limits := hooks.DefaultLimits
	limits.PublishRate, limits.PublishBurst, limits.SessionsPerCredential = benchPublishRate, benchPublishBurst, benchSessionsPerKey
	b, err := broker.New(broker.Config{
		TCPAddr: sf.mqtt, MaxPendingWrites: int32(sf.writesPending), Limits: &limits, Metrics: metrics.New(), Logger: log,
	}, store)
	if err != nil {
		return fmt.Errorf("new broker: %w", err)
	}
	shutdown := func() error {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return b.Shutdown(shutdownCtx)
	}
	if err := servePprof(ctx, sf.pprof, log); err != nil {
		return errors.Join(err, shutdown())
	}
	if err := b.Serve(); err != nil {
		return errors.Join(err, shutdown())
	}
	<-ctx.Done()
	return shutdown()
}
