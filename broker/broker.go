package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/hooks"
	"github.com/wotkit/wotkit/metrics"
)

// Config configures the broker. Empty addresses turn a listener off.
type Config struct {
	TCPAddr   string      // MQTT over TCP, e.g. ":1883"
	WSAddr    string      // MQTT over WebSocket, e.g. ":1882"
	TLSAddr   string      // MQTT over TLS, e.g. ":8883"; needs TLSConfig
	TLSConfig *tls.Config // used by TLSAddr, and by WSAddr when set

	// ConnectTimeout closes a connection that sends no complete CONNECT in time (default 10s).
	ConnectTimeout time.Duration
	// MaxPacketSize is the largest packet a client may send, in bytes (default 1 MiB).
	MaxPacketSize uint32
	// MaxPendingWrites bounds the messages queued for one client that it has
	// not yet been sent (default 1024); a client further behind loses what
	// does not fit. mochi's own default, 8192, costs 64 KB per connection.
	MaxPendingWrites int32
	// MaxSessionExpiry bounds how long a disconnected persistent session
	// (MQTT 5 session expiry, 3.1.1 clean session off) keeps its
	// subscriptions and queued messages (default 24h).
	MaxSessionExpiry time.Duration
	// Limits bound each credential and client (nil: hooks.DefaultLimits).
	Limits *hooks.Limits
	// Metrics counts what the broker and its hooks see (nil: not counted).
	Metrics *metrics.Metrics

	Logger *slog.Logger
}

// Defaults for Config.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultMaxPacketSize    = 1 << 20
	DefaultMaxPendingWrites = 1024
	DefaultMaxSessionExpiry = 24 * time.Hour
	// MaxTopicAliases is the number of topic aliases an MQTT 5 client may set
	// on its connection (mochi's default, 65535, would let one connection keep
	// 65535 topics of up to 64 KiB each).
	MaxTopicAliases = 64
	// ClientReadBufferSize is mochi's read buffer per client. The packet guard
	// below it buffers the socket and hands out one validated packet per Read,
	// so mochi's own buffer saves no system call: a small one saves memory.
	ClientReadBufferSize = 256
)

// Validate fills defaults and reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ConnectTimeout < 0 {
		return errors.New("connect timeout must be positive")
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = DefaultMaxPacketSize
	}
	if c.MaxPendingWrites == 0 {
		c.MaxPendingWrites = DefaultMaxPendingWrites
	}
	if c.MaxPendingWrites < 0 {
		return errors.New("max pending writes must be positive")
	}
	if c.MaxSessionExpiry == 0 {
		c.MaxSessionExpiry = DefaultMaxSessionExpiry
	}
	if c.MaxSessionExpiry < time.Second || c.MaxSessionExpiry/time.Second > math.MaxUint32 {
		return fmt.Errorf("max session expiry must be from 1s to %ds", uint32(math.MaxUint32))
	}
	if c.TLSAddr != "" && c.TLSConfig == nil {
		return errors.New("a TLS listener needs a certificate and key")
	}
	if c.TCPAddr == "" && c.WSAddr == "" && c.TLSAddr == "" {
		return errors.New("no MQTT listener configured")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Capabilities returns what a broker configured by c (after Validate)
// announces to clients and enforces: mochi's defaults with c's packet size,
// write queue and session expiry, and MaxTopicAliases.
func (c Config) Capabilities() *mqtt.Capabilities {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = c.MaxPacketSize
	caps.MaximumClientWritesPending = c.MaxPendingWrites
	caps.MaximumSessionExpiryInterval = uint32(c.MaxSessionExpiry / time.Second)
	caps.TopicAliasMaximum = MaxTopicAliases
	return caps
}

// Broker is a running MQTT broker.
type Broker struct {
	shutdownOnce sync.Once

	server    *mqtt.Server
	sessions  *hooks.Sessions
	unwatch   func()
	addrs     map[string]net.Addr
	listeners []*guardedListener
	log       *slog.Logger
}

// New binds the listeners and installs the hooks; Serve starts accepting.
func New(cfg Config, store hooks.Store) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	server := mqtt.New(&mqtt.Options{
		Capabilities: cfg.Capabilities(),
		Logger:       slog.New(packetRedactor{cfg.Logger.Handler()}).With("component", "mqtt"),
		// The inline client publishes for the server itself (sensor data posted
		// over HTTP, sensor errors). Its publishes skip the publish ACL, so only
		// server code reaches it; deliveries are still checked per subscriber,
		// and no network client may take its client id.
		InlineClient:            true,
		SysTopicResendInterval:  10,
		ClientNetReadBufferSize: ClientReadBufferSize,
	})
	limits := hooks.DefaultLimits
	if cfg.Limits != nil {
		limits = *cfg.Limits
	}
	sessions, unwatch, err := hooks.Install(server, store, limits, cfg.Metrics, cfg.Logger.With("component", "mqtt-auth"))
	if err != nil {
		return nil, fmt.Errorf("install hooks: %w", err)
	}
	b := &Broker{server: server, sessions: sessions, unwatch: unwatch, addrs: map[string]net.Addr{}, log: cfg.Logger}
	cfg.Metrics.WatchBroker(b)
	guard := GuardConfig{ConnectTimeout: cfg.ConnectTimeout, MaxPacketSize: cfg.MaxPacketSize, Logger: cfg.Logger.With("component", "mqtt-guard"),
		Ended: sessions.Ended}
	listen := []struct {
		id, addr string
		open     func(string) (net.Listener, error)
	}{
		{"tcp", cfg.TCPAddr, func(a string) (net.Listener, error) { return net.Listen("tcp", a) }},
		{"tls", cfg.TLSAddr, func(a string) (net.Listener, error) { return tls.Listen("tcp", a, cfg.TLSConfig) }},
		{"ws", cfg.WSAddr, func(a string) (net.Listener, error) {
			return ListenWebSocket(a, cfg.TLSConfig, cfg.Logger.With("component", "mqtt-ws"))
		}},
	}
	for _, l := range listen {
		if l.addr == "" {
			continue
		}
		ln, err := l.open(l.addr)
		if err != nil {
			b.abort()
			return nil, fmt.Errorf("listen mqtt %s on %s: %w", l.id, l.addr, err)
		}
		gl := newGuardedListener(l.id, l.id, ln, guard)
		if err := server.AddListener(gl); err != nil {
			_ = ln.Close()
			b.abort()
			return nil, fmt.Errorf("add mqtt %s listener: %w", l.id, err)
		}
		b.listeners = append(b.listeners, gl)
		b.addrs[l.id] = ln.Addr()
	}
	return b, nil
}

// abort releases what New had set up before it failed.
func (b *Broker) abort() {
	b.unwatch()
	_ = b.server.Close()
}

// Serve starts accepting clients on every listener and returns at once.
func (b *Broker) Serve() error {
	if err := b.server.Serve(); err != nil {
		return fmt.Errorf("serve mqtt: %w", err)
	}
	for id, a := range b.addrs {
		b.log.Info("mqtt listening", "listener", id, "addr", a.String())
	}
	return nil
}

// Addr returns the bound address of a listener ("tcp", "tls" or "ws"), or nil.
func (b *Broker) Addr(listener string) net.Addr { return b.addrs[listener] }

// Server returns the mochi server, for tests and measurements.
func (b *Broker) Server() *mqtt.Server { return b.server }

// Publish sends a message as the server, through the inline client.
func (b *Broker) Publish(topic string, payload []byte) error {
	if err := b.server.Publish(topic, payload, false, 0); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// MessagesIn counts PUBLISH packets received from clients.
func (b *Broker) MessagesIn() int64 { return atomic.LoadInt64(&b.server.Info.MessagesReceived) }

// MessagesOut counts PUBLISH packets sent to clients.
func (b *Broker) MessagesOut() int64 { return atomic.LoadInt64(&b.server.Info.MessagesSent) }

// BytesIn counts bytes received from clients.
func (b *Broker) BytesIn() int64 { return atomic.LoadInt64(&b.server.Info.BytesReceived) }

// BytesOut counts bytes sent to clients.
func (b *Broker) BytesOut() int64 { return atomic.LoadInt64(&b.server.Info.BytesSent) }

// MessagesDropped counts messages a client was too far behind to be sent.
func (b *Broker) MessagesDropped() int64 { return atomic.LoadInt64(&b.server.Info.MessagesDropped) }

// LiveSessions returns how many live sessions use a key.
func (b *Broker) LiveSessions(keyID string) int { return b.sessions.KeySessions(keyID) }

// shutdownWriteTimeout bounds the DISCONNECT written to each client at shutdown.
const shutdownWriteTimeout = 100 * time.Millisecond

// Shutdown stops accepting connections, tells every connected client that
// the server is going away (MQTT 5: DISCONNECT 0x8B), then closes
// connections. It returns when done or when ctx ends; calling it again
// returns at once.
func (b *Broker) Shutdown(ctx context.Context) error {
	first := false
	b.shutdownOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	b.unwatch()
	// First, so that no client connects while the others are told, to be
	// dropped without a word at the close.
	for _, l := range b.listeners {
		l.stopAccepting()
	}
	done := make(chan error, 1)
	go func() {
		var clients []*mqtt.Client
		for _, cl := range b.server.Clients.GetAll() {
			if !cl.Net.Inline {
				clients = append(clients, cl)
			}
		}
		hooks.DisconnectAll(b.server, clients, packets.ErrServerShuttingDown, shutdownWriteTimeout)
		done <- b.server.Close()
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("close mqtt: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close mqtt: %w", ctx.Err())
	}
}
