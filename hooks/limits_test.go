package hooks_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotkit/wotkit/broker"
	"github.com/wotkit/wotkit/hooks"
	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/metrics"
	"github.com/wotkit/wotkit/storage"
)

// 10,000 wrong passwords against one key id from one address: after five,
// the attacker's attempts are refused without being checked, with growing
// delays; the key's own device, from another address, keeps connecting
// throughout: knowing a key id is not enough to lock its device out.
func TestThrottle_GuessingOneKeySlowsOnlyTheAttacker(t *testing.T) {
	w := newWorld(t)
	target, targetPW := wotkittest.Key(t, w.store, "alice", storage.ReadWrite)
	const attempts = 10000
	checked, throttled := 0, 0
	start := time.Now()
	var firstThrottled time.Time
	var deviceTime time.Duration
	deviceConnects := 0
	for i := range attempts {
		nc, code, err := wotkittest.RawConnectFrom("127.0.0.1", w.addr, fmt.Sprintf("guess-%d", i), target, "wkp_guess")
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		_ = nc.Close()
		switch code {
		case 4: // bad user name or password: the guess was checked
			checked++
		case 5: // not authorized: throttled, not checked
			if throttled == 0 {
				firstThrottled = time.Now()
			}
			throttled++
		default:
			t.Fatalf("attempt %d: CONNACK %d", i, code)
		}
		if i%1000 == 0 { // the key's own device, from its own address, is not slowed
			began := time.Now()
			nc, code, err := wotkittest.RawConnectFrom("127.0.0.2", w.addr, fmt.Sprintf("device-%d", i), target, targetPW)
			if err != nil || code != 0 {
				t.Fatalf("the attacked key's device during the attack: code %d, %v", code, err)
			}
			deviceTime += time.Since(began)
			deviceConnects++
			_ = nc.Close()
		}
	}
	t.Logf("the attacked key's device connected %d times during the attack, %v each on average", deviceConnects,
		(deviceTime / time.Duration(deviceConnects)).Round(time.Microsecond))
	took := time.Since(start)
	t.Logf("%d attempts in %v: %d checked, %d refused unchecked; checked before throttling: 5 in %v, after: %d in %v",
		attempts, took.Round(time.Millisecond), checked, throttled, firstThrottled.Sub(start).Round(time.Millisecond),
		checked-5, time.Since(firstThrottled).Round(time.Millisecond))
	// 5 free, then one per 1 s, 2 s, 4 s … window: at most a handful in the run.
	if checked < 5 || checked > 5+8 {
		t.Fatalf("%d guesses were checked, want 5 and then a few", checked)
	}
	_, ca, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: "guess-v5", CleanStart: true, Username: target, Password: []byte("wkp_guess")})
	if err == nil || ca == nil || (ca.ReasonCode != 0x9F && ca.ReasonCode != 0x8A) || ca.Properties == nil || ca.Properties.ReasonString == "" {
		t.Fatalf("MQTT 5 throttled CONNECT: %+v %v, want 0x9F or 0x8A with the wait", ca, err)
	}
	t.Logf("MQTT 5 is told: %#x %q", ca.ReasonCode, ca.Properties.ReasonString)
}

func limited(t *testing.T, l hooks.Limits) *world {
	t.Helper()
	w := &world{store: wotkittest.NewStore(t), metrics: metrics.New()}
	w.alice, w.alicePW = wotkittest.User(t, w.store, "alice", false)
	w.broker, w.addr = wotkittest.StartBroker(t, w.store, func(c *broker.Config) { c.Limits, c.Metrics = &l, w.metrics })
	return w
}

func TestLimits_SessionsPerKey(t *testing.T) {
	w := limited(t, hooks.Limits{SessionsPerCredential: 3})
	for i := range 3 {
		w.dial5(t, fmt.Sprintf("s%d", i), w.alice, w.alicePW)
	}
	_, ca, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: "s3", CleanStart: true, Username: w.alice, Password: []byte(w.alicePW)})
	if err == nil || ca == nil || ca.ReasonCode != 0x97 {
		t.Fatalf("fourth session: %+v %v, want 0x97 quota exceeded", ca, err)
	}
	if _, code, err := wotkittest.RawConnect(w.addr, "s3-v3", w.alice, w.alicePW); err != nil || code != 3 {
		t.Fatalf("fourth session over 3.1.1: code %d %v, want 3 (server unavailable)", code, err)
	}
}

// A key's persistent sessions count against its limit after their clients
// have gone, since mochi keeps them with their subscriptions and queued
// messages: a key cannot pile up sessions by disconnecting. Resuming one of
// its own sessions, or reconnecting under a live one's id, takes it over and
// is not refused.
func TestLimits_SessionsPerKeyCountPersistentOnes(t *testing.T) {
	w := limited(t, hooks.Limits{SessionsPerCredential: 2})
	for _, id := range []string{"p0", "p1"} {
		c, _ := w.persistent3(t, id, w.alice, w.alicePW)
		w.leave(t, c, "alice/cmd")
	}
	w.waitMetric(t, 0, "wotkit_mqtt_connections", "credential", "key")
	if _, code, err := wotkittest.RawConnect(w.addr, "p2", w.alice, w.alicePW); err != nil || code != 3 {
		t.Fatalf("a third session beside two persistent ones: code %d %v, want 3 (server unavailable)", code, err)
	}
	w.persistent3(t, "p0", w.alice, w.alicePW) // resumes its own session
	nc, code, err := wotkittest.RawConnect(w.addr, "p0", w.alice, w.alicePW)
	if err != nil || code != 0 {
		t.Fatalf("reconnecting under the live session's id: code %d %v, want 0", code, err)
	}
	_ = nc.Close()
}

func TestLimits_SubscriptionsPerClient(t *testing.T) {
	w := limited(t, hooks.Limits{Subscriptions: 2})
	c := w.dial5(t, "subs", w.alice, w.alicePW)
	if r := subscribe5(t, c, "alice/a", "alice/b", "alice/c"); r[0] != 1 || r[1] != 1 || r[2] != 0x8F {
		t.Fatalf("SUBACK %v, want two granted and the third refused", r)
	}
	if r := subscribe5(t, c, "alice/a"); r[0] != 1 {
		t.Fatalf("re-subscribing an existing filter: %#x", r[0])
	}
	c3, err := wotkittest.Dial3(t, w.addr, "subs3", w.alice, w.alicePW)
	if err != nil {
		t.Fatal(err)
	}
	tok := c3.SubscribeMultiple(map[string]byte{"alice/a": 0, "alice/b": 0, "alice/c": 0}, nil)
	tok.WaitTimeout(wotkittest.Timeout)
	refused := 0
	for _, code := range tok.(*paho3.SubscribeToken).Result() {
		if code == 0x80 {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("3.1.1 SUBACK %v, want one filter refused with 0x80", tok.(*paho3.SubscribeToken).Result())
	}
}

func TestLimits_PublishRatePerKey(t *testing.T) {
	w := limited(t, hooks.Limits{PublishRate: 1, PublishBurst: 2})
	c := w.dial5(t, "chatty", w.alice, w.alicePW)
	// QoS 1, one at a time: the server has read everything the client sent
	// when it disconnects it, so the close is clean and the DISCONNECT read.
	for i := range 50 {
		pctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Publish(pctx, &paho.Publish{Topic: "alice/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
		cancel()
		if err != nil {
			break // disconnected
		}
	}
	select {
	case d := <-c.Disconnected:
		if d.ReasonCode != 0x96 {
			t.Fatalf("DISCONNECT %#x, want 0x96 message rate too high", d.ReasonCode)
		}
	case <-time.After(wotkittest.Timeout):
		t.Fatal("a client over its publish rate stayed connected")
	}
	c3, err := wotkittest.Dial3(t, w.addr, "chatty3", w.alice, w.alicePW)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		c3.Publish("alice/x", 0, false, fmt.Sprint(i))
	}
	select {
	case <-c3.Lost:
	case <-time.After(wotkittest.Timeout):
		t.Fatal("a 3.1.1 client over its publish rate stayed connected")
	}
}

// A client that resets its connection right after CONNECT leaves mochi
// unable to write the CONNACK, and mochi then returns without ending the
// session: it kept every such client in its table for good, each counting
// against the key's session limit. A device on a poor network does this by
// accident, and would have locked its key out after a while.
func TestSessions_ResetAfterConnectLeavesNothing(t *testing.T) {
	store := wotkittest.NewStore(t)
	keyID, keyPW := wotkittest.User(t, store, "alice", false)
	ended := &counting{Handler: wotkittest.Logger(t).Handler(), msg: "mqtt connection ended", n: new(atomic.Int64)}
	b, addr := wotkittest.StartBroker(t, store, func(c *broker.Config) {
		c.Limits, c.Logger = &hooks.Limits{SessionsPerCredential: 5}, slog.New(ended)
	})
	for i := range 50 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		connect, err := wotkittest.ConnectBytes(fmt.Sprintf("flaky-%d", i), keyID, keyPW)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(connect); err != nil {
			t.Fatal(err)
		}
		_ = nc.(*net.TCPConn).SetLinger(0) // close with a reset
		_ = nc.Close()
	}
	// The broker is done with a connection once it has logged its end.
	for deadline := time.Now().Add(wotkittest.Timeout); ended.n.Load() < 50; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the broker ended %d of the 50 reset connections", ended.n.Load())
		}
	}
	left := func() int {
		n := 0
		for _, cl := range b.Server().Clients.GetAll() {
			if !cl.Net.Inline {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(wotkittest.Timeout); left() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 50 reset clients are still in the broker's table", left())
		}
	}
	nc, code, err := wotkittest.RawConnect(addr, "device", keyID, keyPW)
	if err != nil || code != 0 {
		t.Fatalf("the key after 50 resets: code %d %v, want 0", code, err)
	}
	_ = nc.Close()
}

// counting is a log handler that counts the records with one message.
type counting struct {
	slog.Handler
	msg string
	n   *atomic.Int64
}

func (h *counting) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h *counting) WithAttrs(as []slog.Attr) slog.Handler {
	return &counting{Handler: h.Handler.WithAttrs(as), msg: h.msg, n: h.n}
}

func (h *counting) WithGroup(name string) slog.Handler {
	return &counting{Handler: h.Handler.WithGroup(name), msg: h.msg, n: h.n}
}
