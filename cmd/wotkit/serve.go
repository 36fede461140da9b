package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/wotkit/wotkit/admin"
	"github.com/wotkit/wotkit/broker"
	"github.com/wotkit/wotkit/gctune"
	"github.com/wotkit/wotkit/hooks"
	"github.com/wotkit/wotkit/metrics"
	"github.com/wotkit/wotkit/oauthweb"
	"github.com/wotkit/wotkit/storage"
)

// serveConfig is everything `wotkit serve` takes.
type serveConfig struct {
	data           string
	mqttAddr       string
	wsAddr         string
	tlsMQTTAddr    string
	httpAddr       string
	tlsCert        string
	tlsKey         string
	publicURL      string
	signup         bool
	connectTimeout time.Duration
	maxPacketSize  uint
	maxPending     int
	tokenTTL       time.Duration
	retention      storage.Retention // zero: keep everything
	maxPerUser     int               // keys, applications and sensors of one user, each; 0: no limit
	limits         *hooks.Limits     // nil: hooks.DefaultLimits
	sessionExpiry  time.Duration     // 0: broker.DefaultMaxSessionExpiry
	logLevel       string
	logger         *slog.Logger
	bcryptCost     int // 0: default; tests lower it
}

func serveCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var cfg serveConfig
	fs.StringVar(&cfg.data, "data", "wotkit-data", "directory of the database file and admin socket")
	fs.StringVar(&cfg.mqttAddr, "mqtt", ":1883", "MQTT over TCP address (empty: off)")
	fs.StringVar(&cfg.wsAddr, "mqtt-ws", ":1882", "MQTT over WebSocket address (empty: off)")
	fs.StringVar(&cfg.tlsMQTTAddr, "mqtt-tls", ":8883", "MQTT over TLS address, used with --tls-cert and --tls-key")
	fs.StringVar(&cfg.httpAddr, "http", ":8080", "web portal and HTTP API address (HTTPS with --tls-cert)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate file: turns on MQTT over TLS and HTTPS")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key file for --tls-cert")
	fs.StringVar(&cfg.publicURL, "public-url", "http://localhost:8080", "public base URL of the portal (OAuth2 issuer, links)")
	fs.BoolVar(&cfg.signup, "signup", true, "let anyone sign up in the portal")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", broker.DefaultConnectTimeout, "close an MQTT connection that sends no CONNECT within this time")
	fs.UintVar(&cfg.maxPacketSize, "max-packet-size", broker.DefaultMaxPacketSize, "largest MQTT packet a client may send, in bytes")
	fs.DurationVar(&cfg.tokenTTL, "token-ttl", oauthweb.DefaultTokenTTL, "lifetime of OAuth2 access tokens")
	fs.IntVar(&cfg.retention.MaxReadings, "retain-readings", storage.DefaultRetention.MaxReadings, "readings kept per sensor, newest first (0: no limit by count)")
	fs.DurationVar(&cfg.retention.MaxAge, "retain-age", storage.DefaultRetention.MaxAge, "age of the oldest reading kept (0: no limit by age)")
	fs.IntVar(&cfg.maxPerUser, "max-per-user", storage.DefaultMaxPerUser, "keys, applications and sensors one user may have, each (0: no limit)")
	limits := hooks.DefaultLimits
	cfg.limits = &limits
	fs.IntVar(&cfg.limits.SessionsPerCredential, "max-sessions-per-key", cfg.limits.SessionsPerCredential, "MQTT sessions one key or token may have, live or persistent (0: no limit)")
	fs.IntVar(&cfg.limits.Subscriptions, "max-subscriptions", cfg.limits.Subscriptions, "subscriptions one MQTT client may have (0: no limit)")
	fs.Float64Var(&cfg.limits.PublishRate, "max-publish-rate", cfg.limits.PublishRate, "messages per second one key or token may publish, over all its sessions (0: no limit)")
	fs.IntVar(&cfg.limits.PublishBurst, "publish-burst", cfg.limits.PublishBurst, "messages a key or token may publish at once above --max-publish-rate")
	fs.IntVar(&cfg.maxPending, "max-pending-writes", broker.DefaultMaxPendingWrites, "messages queued for one MQTT client before it loses what does not fit")
	fs.DurationVar(&cfg.sessionExpiry, "max-session-expiry", broker.DefaultMaxSessionExpiry, "longest a disconnected persistent MQTT session keeps its subscriptions and queued messages")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: serve takes no arguments", errUsage)
	}
	if cfg.sessionExpiry < time.Second { // as a flag, 0 is no default
		return fmt.Errorf("%w: --max-session-expiry must be at least 1s", errUsage)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	cfg.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	inst, err := start(cfg)
	if err != nil {
		return err
	}
	go gctune.Tune(ctx, gctune.Config{}, cfg.logger)
	<-ctx.Done()
	cfg.logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return inst.shutdown(shutdownCtx)
}

// instance is a running wotkit: store, broker, portal and admin socket.
type instance struct {
	stopOnce sync.Once
	stopErr  error

	store    *storage.Store
	broker   *broker.Broker
	web      *http.Server
	webAddr  net.Addr
	adminSrv *http.Server
	log      *slog.Logger
}

// start opens the store and starts every server; it returns once all listen.
func start(cfg serveConfig) (inst *instance, err error) {
	log := cfg.logger
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	var tlsConfig *tls.Config
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else {
		cfg.tlsMQTTAddr = ""
	}
	if cfg.retention.MaxReadings < 0 || cfg.retention.MaxAge < 0 || cfg.maxPerUser < 0 {
		return nil, fmt.Errorf("%w: --retain-readings, --retain-age and --max-per-user must not be negative", errUsage)
	}
	if cfg.maxPacketSize > math.MaxUint32 || cfg.maxPending > math.MaxInt32 {
		return nil, fmt.Errorf("%w: --max-packet-size must be at most %d, --max-pending-writes at most %d", errUsage, uint32(math.MaxUint32), math.MaxInt32)
	}
	if cfg.tokenTTL < 0 {
		return nil, fmt.Errorf("%w: --token-ttl must not be negative", errUsage)
	}
	if err := oauthweb.ValidatePublicURL(cfg.publicURL); err != nil {
		return nil, fmt.Errorf("%w: --public-url: %v", errUsage, err)
	}

	m := metrics.New()
	brokerCfg := broker.Config{
		TCPAddr: cfg.mqttAddr, WSAddr: cfg.wsAddr, TLSAddr: cfg.tlsMQTTAddr, TLSConfig: tlsConfig,
		ConnectTimeout: cfg.connectTimeout, MaxPacketSize: uint32(cfg.maxPacketSize), MaxPendingWrites: int32(cfg.maxPending),
		MaxSessionExpiry: cfg.sessionExpiry, Limits: cfg.limits, Metrics: m, Logger: log,
	}
	if err := brokerCfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: mqtt: %v", errUsage, err)
	}
	store, err := storage.Open(filepath.Join(cfg.data, dbName), storage.Options{BcryptCost: cfg.bcryptCost, Retention: &cfg.retention, MaxPerUser: cfg.maxPerUser, Verify: true, Logger: log.With("component", "storage")})
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("%w: is another wotkit serve running with --data %s?", err, cfg.data)
	}
	if errors.Is(err, storage.ErrCorrupt) {
		return nil, fmt.Errorf("%w; wotkit will not serve from it: restore a backup (README, Backups)", err)
	}
	if err != nil {
		return nil, err
	}
	started := &instance{store: store, log: log}
	defer func() {
		if err != nil {
			started.abort()
		}
	}()
	inst = started

	adminLn, err := admin.Listen(cfg.data)
	if err != nil {
		return nil, err
	}
	inst.adminSrv = &http.Server{Handler: admin.Handler(store, log.With("component", "admin")), ReadHeaderTimeout: 5 * time.Second}
	go inst.serveHTTP("admin", inst.adminSrv, adminLn, false)

	inst.broker, err = broker.New(brokerCfg, store)
	if err != nil {
		return nil, err
	}
	if err := inst.broker.Serve(); err != nil {
		return nil, err
	}

	mqttShown := cfg.mqttAddr
	if a := inst.broker.Addr("tcp"); a != nil {
		mqttShown = a.String()
	}
	portal, err := oauthweb.New(oauthweb.Config{
		Store: store, PublicURL: cfg.publicURL, MQTTAddr: mqttShown, Signup: cfg.signup,
		SecureCookie: tlsConfig != nil, LiveSessions: inst.broker.LiveSessions, TokenTTL: cfg.tokenTTL, Publish: inst.broker.Publish, Metrics: m,
		Logger: log.With("component", "web"),
	})
	if err != nil {
		return nil, err
	}
	webLn, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return nil, fmt.Errorf("listen http on %s: %w", cfg.httpAddr, err)
	}
	inst.webAddr = webLn.Addr()
	inst.web = &http.Server{
		Handler: portal, TLSConfig: tlsConfig, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
	}
	go inst.serveHTTP("web", inst.web, webLn, tlsConfig != nil)
	log.Info("web listening", "addr", inst.webAddr.String(), "tls", tlsConfig != nil, "public_url", cfg.publicURL)
	return inst, nil
}

// serveHTTP serves srv on ln until it is shut down.
func (inst *instance) serveHTTP(name string, srv *http.Server, ln net.Listener, useTLS bool) {
	var err error
	if useTLS {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		inst.log.Error("http server stopped", "server", name, "error", err)
	}
}

// shutdown stops taking work, tells MQTT clients, and closes the store last,
// so that every write that was answered is on disk. Each part stops once;
// calling it again returns the first call's result.
func (inst *instance) shutdown(ctx context.Context) error {
	inst.stopOnce.Do(func() {
		var errs []error
		if inst.web != nil {
			errs = append(errs, inst.web.Shutdown(ctx))
		}
		if inst.broker != nil {
			errs = append(errs, inst.broker.Shutdown(ctx))
		}
		if inst.adminSrv != nil {
			errs = append(errs, inst.adminSrv.Shutdown(ctx))
		}
		errs = append(errs, inst.store.Close())
		inst.stopErr = errors.Join(errs...)
	})
	return inst.stopErr
}

// abort releases whatever start had opened before it failed.
func (inst *instance) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := inst.shutdown(ctx); err != nil {
		inst.log.Warn("cleanup after failed start", "error", err)
	}
}
