package hooks_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/wotkit/wotkit/broker"
	"github.com/wotkit/wotkit/hooks"
	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// bareMochi runs mochi v2.7.9 with its allow-all hook behind the same guarded
// listener wotkit uses: the ceiling for wotkit's hooks.
func bareMochi(b *testing.B) string {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	server := mqtt.New(&mqtt.Options{Logger: log})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if err := server.AddListener(broker.NewGuardedListener("tcp", "tcp", ln, broker.GuardConfig{Logger: log})); err != nil {
		b.Fatal(err)
	}
	if err := server.Serve(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = server.Close() })
	return ln.Addr().String()
}

// BenchmarkConnect measures a fresh TCP connection, CONNECT and CONNACK,
// one after another, against bare mochi, wotkit with a key, and wotkit with
// an access token. Compare the ns/op of the three in one run.
func BenchmarkConnect(b *testing.B) {
	store := wotkittest.NewStore(b)
	keyID, keyPW := wotkittest.User(b, store, "alice", false)
	if _, err := store.CreateUser(storage.NewUser{Name: "bob1", Password: "password-bob1"}); err != nil {
		b.Fatal(err)
	}
	app := wotkittest.App(b, store, "bob1")
	token := wotkittest.Token(b, store, "alice", app, storage.ScopeAll, time.Hour)
	_, addr := wotkittest.StartBroker(b, store, func(c *broker.Config) { c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	cases := []struct{ name, addr, user, pass string }{
		{"baseline-mochi-allow-all", bareMochi(b), "anyone", "anything"},
		{"wotkit-key", addr, keyID, keyPW},
		{"wotkit-token", addr, app, token},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				nc, code, err := wotkittest.RawConnect(c.addr, fmt.Sprintf("bench-%d", i), c.user, c.pass)
				if err != nil || code != 0 {
					b.Fatalf("connect: code %d, %v", code, err)
				}
				_ = nc.Close()
				i++
			}
		})
	}
}

// BenchmarkRevoke1000 measures the time from deleting a key that has 1,000
// live sessions until the broker has closed the last of them (reported as
// ms/revocation; each iteration connects 1,000 new sessions untimed).
func BenchmarkRevoke1000(b *testing.B) {
	const sessions = 1000
	store := wotkittest.NewStore(b)
	wotkittest.User(b, store, "alice", false)
	_, addr := wotkittest.StartBroker(b, store, func(c *broker.Config) { c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	var total time.Duration
	for i := range b.N {
		b.StopTimer()
		id, pw := wotkittest.Key(b, store, "alice", storage.ReadWrite)
		conns := connectMany(b, addr, fmt.Sprintf("r%d", i), id, pw, sessions)
		b.StartTimer()
		start := time.Now()
		if err := store.DeleteKey(id); err != nil {
			b.Fatal(err)
		}
		for _, nc := range conns {
			if err := wotkittest.WaitClosed(nc, wotkittest.Timeout); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
		for _, nc := range conns { // or each iteration's 1,000 descriptors stay open until the end
			_ = nc.Close()
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/revocation")
}

// BenchmarkPublishToSensor measures QoS 0 messages per second from one
// publisher to one subscriber, on a topic of a recorded sensor (decoded,
// validated and queued for the batch writer) against a topic of no sensor.
func BenchmarkPublishToSensor(b *testing.B) {
	store := wotkittest.NewStore(b)
	keyID, keyPW := wotkittest.User(b, store, "alice", false)
	if _, err := store.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"}); err != nil {
		b.Fatal(err)
	}
	// No limits: the benchmark publishes far faster than a key may by default.
	_, addr := wotkittest.StartBroker(b, store, func(c *broker.Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		c.Limits = &hooks.Limits{}
	})
	for _, c := range []struct{ name, topic string }{
		{"baseline-unrecorded-topic", "alice/other/data"},
		{"recorded-sensor", "alice/weather/data"},
	} {
		b.Run(c.name, func(b *testing.B) {
			sub, _, err := wotkittest.RawConnect(addr, "sub-"+c.name, keyID, keyPW)
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			if code, err := wotkittest.RawSubscribe(sub, c.topic); err != nil || code != 0 {
				b.Fatalf("subscribe: %d %v", code, err)
			}
			pub, _, err := wotkittest.RawConnect(addr, "pub-"+c.name, keyID, keyPW)
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			msg := wotkittest.PublishBytes(c.topic, []byte(`{"value": 21.5, "message": "ok"}`))
			b.ResetTimer()
			done := make(chan int, 1)
			var received atomic.Int64
			go func() { done <- wotkittest.CountPublishes(sub, b.N, time.Minute, &received) }()
			// At most window messages on their way: the publisher keeps pace
			// with the subscriber instead of overrunning its queue (QoS 0 has no
			// flow control of its own), so the rate is one that loses nothing.
			const window = 512
			for i := range b.N {
				for int64(i)-received.Load() >= window {
					runtime.Gosched()
				}
				if _, err := pub.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			if got := <-done; got != b.N {
				b.Fatalf("received %d of %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
