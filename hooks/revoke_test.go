package hooks_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// connectMany opens n raw sessions with one key and fails the test on any refusal.
func connectMany(t testing.TB, addr, prefix, keyID, pw string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			nc, code, err := wotkittest.RawConnect(addr, fmt.Sprintf("%s-%d", prefix, i), keyID, pw)
			if err == nil && code != 0 {
				err = fmt.Errorf("CONNACK %d", code)
			}
			if err != nil {
				errs <- err
				return
			}
			conns[i] = nc
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		for _, nc := range conns {
			_ = nc.Close()
		}
	})
	return conns
}

func TestRevocation_DeletedKeyEndsEveryLiveSession(t *testing.T) {
	w := newWorld(t)
	const n = 200
	b, addr := wotkittest.StartBroker(t, w.store)
	doomedID, doomedPW := wotkittest.Key(t, w.store, "alice", storage.ReadWrite)
	conns := connectMany(t, addr, "doomed", doomedID, doomedPW, n)
	if got := b.LiveSessions(doomedID); got != n {
		t.Fatalf("live sessions before: %d, want %d", got, n)
	}
	// An MQTT 5 session of the same key is told why.
	v5, _, err := wotkittest.Dial5(t, addr, &paho.Connect{ClientID: "doomed-v5", CleanStart: true, Username: doomedID, Password: []byte(doomedPW)})
	if err != nil {
		t.Fatal(err)
	}
	// Another key of the same user is not touched.
	keep, _, err := wotkittest.Dial5(t, addr, &paho.Connect{ClientID: "keeper", CleanStart: true, Username: w.alice, Password: []byte(w.alicePW)})
	if err != nil {
		t.Fatal(err)
	}
	subscribe5(t, keep, "alice/#")

	start := time.Now()
	if err := w.store.DeleteKey(doomedID); err != nil {
		t.Fatal(err)
	}
	for i, nc := range conns {
		got, err := wotkittest.ReadUntilClosed(nc, wotkittest.Timeout)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if len(got) > 0 { // 3.1.1 has no DISCONNECT from the server [MQTT-3.14.0]
			t.Fatalf("3.1.1 session %d was sent % x before the close, want nothing", i, got)
		}
	}
	t.Logf("revoked %d live sessions of one key: last seen closed %v after DeleteKey", n, time.Since(start))
	select {
	case d := <-v5.Disconnected:
		if d.ReasonCode != 0x87 {
			t.Errorf("MQTT 5 DISCONNECT reason %#x, want 0x87", d.ReasonCode)
		}
	case <-time.After(wotkittest.Timeout):
		t.Error("MQTT 5 session got no DISCONNECT")
	}
	if got := b.LiveSessions(doomedID); got != 0 {
		t.Errorf("live sessions after: %d", got)
	}
	if _, code, err := wotkittest.RawConnect(addr, "again", doomedID, doomedPW); err != nil || code != 4 {
		t.Errorf("next CONNECT with the deleted key: code %d err %v, want 4", code, err)
	}
	pub, _, err := wotkittest.Dial5(t, addr, &paho.Connect{ClientID: "pub-after", CleanStart: true, Username: w.alice, Password: []byte(w.alicePW)})
	if err != nil {
		t.Fatal(err)
	}
	publish5(t, pub, "alice/x", "other key still works")
	if m := wotkittest.Expect(t, keep.Msgs); m.Payload != "other key still works" {
		t.Fatalf("got %+v", m)
	}
}

func TestRevocation_ResetPasswordEndsSessionsOfTheOldPassword(t *testing.T) {
	w := newWorld(t)
	c, err := wotkittest.Dial3(t, w.addr, "resettable", w.alice, w.alicePW)
	if err != nil {
		t.Fatal(err)
	}
	_, newPW, err := w.store.ResetKeyPassword(w.alice)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Lost:
	case <-time.After(wotkittest.Timeout):
		t.Fatal("session of the old password still connected")
	}
	if _, err := wotkittest.Dial3(t, w.addr, "old", w.alice, w.alicePW); err == nil {
		t.Fatal("old password still connects")
	}
	if _, err := wotkittest.Dial3(t, w.addr, "new", w.alice, newPW); err != nil {
		t.Fatalf("new password: %v", err)
	}
}

// A persistent session's subscriptions and queued messages go with its key:
// resuming the client id afterwards finds no session and nothing queued.
func TestRevocation_PurgesPersistentSessionAndQueue(t *testing.T) {
	w := newWorld(t)
	doomedID, doomedPW := wotkittest.Key(t, w.store, "alice", storage.ReadWrite)
	persistent := func(o *paho3.ClientOptions) { o.SetCleanSession(false) }
	c, err := wotkittest.Dial3(t, w.addr, "gateway", doomedID, doomedPW, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Subscribe("alice/cmd", 1, nil); !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	c.Disconnect(0)
	// Queue a message for the offline session.
	pub := w.dial5(t, "pub", w.alice, w.alicePW)
	publish5(t, pub, "alice/cmd", "queued while offline")

	if err := w.store.DeleteKey(doomedID); err != nil {
		t.Fatal(err)
	}
	got := make(chan wotkittest.Message, 4)
	k2, pw2 := wotkittest.Key(t, w.store, "alice", storage.ReadWrite)
	c2, err := wotkittest.Dial3(t, w.addr, "gateway", k2, pw2, persistent, func(o *paho3.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
			got <- wotkittest.Message{Topic: m.Topic(), Payload: string(m.Payload())}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if c2.SessionPresent {
		t.Fatal("the revoked key's persistent session was resumed")
	}
	// Anything queued would be resent before the server reads our SUBSCRIBE,
	// so the marker arriving first proves nothing queued is coming.
	c2.Subscribe("alice/marker", 1, nil).WaitTimeout(wotkittest.Timeout)
	publish5(t, pub, "alice/marker", "marker")
	if m := wotkittest.Expect(t, got); m.Payload != "marker" {
		t.Fatalf("got %+v: a message queued for the revoked key was delivered", m)
	}
}

// A retained message waits for every later subscriber: one that a revoked
// credential set goes with it (PRODUCT: nothing it queued is delivered
// afterwards), or a stolen key's retained command on a device's message
// topic would reach the device at each of its subscriptions after the key was
// deleted. Retained messages set by other credentials stay, and so do those
// of a token that ends while its grant stands (tokens expire, and refreshes
// replace them, as a matter of course).
func TestRevocation_RemovesTheRetainedMessagesOfTheCredential(t *testing.T) {
	w := newWorld(t)
	doomedID, doomedPW := wotkittest.Key(t, w.store, "alice", storage.ReadWrite)
	app := wotkittest.App(t, w.store, "bob1")
	tok := wotkittest.Token(t, w.store, "alice", app, storage.ScopeAll, time.Hour)
	tok2 := wotkittest.Token(t, w.store, "alice", app, storage.ScopeAll, time.Hour)
	byToken := func(tok string) func(t *testing.T, id string) *wotkittest.Conn5 {
		return func(t *testing.T, id string) *wotkittest.Conn5 {
			c, _, err := w.dialToken5(t, id, app, tok)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	cases := []struct {
		name    string
		connect func(t *testing.T, id string) *wotkittest.Conn5
		revoke  func() error
		want    string
	}{
		{"token revoked, grant stands", byToken(tok2), func() error { return w.store.RevokeToken(app, tok2) },
			"alice/door/message=open alice/status=kept"},
		{"key deleted", func(t *testing.T, id string) *wotkittest.Conn5 { return w.dial5(t, id, doomedID, doomedPW) },
			func() error { return w.store.DeleteKey(doomedID) }, "alice/status=kept"},
		{"grant revoked", byToken(tok), func() error { return w.store.RevokeGrant("alice", app) }, "alice/status=kept"},
	}
	keeper := w.dial5(t, "keeper", w.alice, w.alicePW)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			retain := func(cl *wotkittest.Conn5, topic, payload string) {
				t.Helper()
				pr, err := cl.Publish(ctx(t), &paho.Publish{Topic: topic, QoS: 1, Retain: true, Payload: []byte(payload)})
				if pr == nil || pr.ReasonCode != 0 {
					t.Fatalf("retain on %s: %+v %v", topic, pr, err)
				}
			}
			doomed := c.connect(t, "doomed")
			retain(doomed, "alice/door/message", "open")
			retain(keeper, "alice/status", "kept")
			// The credential's session may be gone before its key is deleted.
			_ = doomed.Disconnect(&paho.Disconnect{})
			if err := c.revoke(); err != nil {
				t.Fatal(err)
			}

			sub := w.dial5(t, "sub", w.alice, w.alicePW)
			subscribe5(t, sub, "alice/#")
			// mochi queues a subscription's retained messages after its SUBACK,
			// before it reads the next SUBSCRIBE: a marker published after that
			// one's SUBACK comes after them.
			subscribe5(t, sub, "alice/marker")
			publish5(t, keeper, "alice/marker", "marker")
			var got []string
			for m := wotkittest.Expect(t, sub.Msgs); m.Topic != "alice/marker"; m = wotkittest.Expect(t, sub.Msgs) {
				got = append(got, m.Topic+"="+m.Payload)
			}
			slices.Sort(got)
			if strings.Join(got, " ") != c.want {
				t.Fatalf("retained messages after the revocation: %q, want %s", got, c.want)
			}
			_ = sub.Disconnect(&paho.Disconnect{})
		})
	}
}

// A Will waits for the connection to end: the Will of a session whose
// credential is revoked is never published (PRODUCT: nothing it queued is
// delivered afterwards), in 3.1.1 and MQTT 5 alike, while a session whose
// connection merely drops sends its Will as usual.
func TestRevocation_WillNotPublished(t *testing.T) {
	w := newWorld(t)
	sub := w.dial5(t, "watcher", w.alice, w.alicePW)
	subscribe5(t, sub, "alice/#")
	for _, v := range []string{"3.1.1", "5"} {
		t.Run(v, func(t *testing.T) {
			id, pw := wotkittest.Key(t, w.store, "alice", storage.ReadWrite)
			if v == "5" {
				c, _, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: "door5", CleanStart: true, Username: id, Password: []byte(pw),
					WillMessage: &paho.WillMessage{Topic: "alice/door/message", Payload: []byte("open5")}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Disconnect(&paho.Disconnect{})
			} else {
				c, err := wotkittest.Dial3(t, w.addr, "door3", id, pw, func(o *paho3.ClientOptions) { o.SetWill("alice/door/message", "open3", 1, false) })
				if err != nil {
					t.Fatal(err)
				}
				defer c.Disconnect(0)
			}
			if err := w.store.DeleteKey(id); err != nil {
				t.Fatal(err)
			}
			// mochi publishes a Will as the session's connection ends, before
			// it stops counting the connection: once only the watcher is
			// counted, a Will would be ahead of the marker.
			for deadline := time.Now().Add(wotkittest.Timeout); atomic.LoadInt64(&w.broker.Server().Info.ClientsConnected) > 1; {
				if time.Now().After(deadline) {
					t.Fatal("the revoked session's connection did not end")
				}
				time.Sleep(time.Millisecond)
			}
			pub := w.dial5(t, "marker"+v, w.alice, w.alicePW)
			publish5(t, pub, "alice/marker", "after "+v)
			if m := wotkittest.Expect(t, sub.Msgs); m.Topic != "alice/marker" {
				t.Fatalf("after the key was deleted the subscriber got %s=%q, want only the marker", m.Topic, m.Payload)
			}
			_ = pub.Disconnect(&paho.Disconnect{})
		})
	}
	// The control: a session that ends with its Will, unrevoked, sends it.
	id, pw := wotkittest.Key(t, w.store, "alice", storage.ReadWrite)
	c, _, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: "dropper", CleanStart: true, Username: id, Password: []byte(pw),
		WillMessage: &paho.WillMessage{Topic: "alice/door/message", Payload: []byte("dropped")}})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0x04}) // disconnect with Will message
	if m := wotkittest.Expect(t, sub.Msgs); m.Topic != "alice/door/message" || m.Payload != "dropped" {
		t.Fatalf("an unrevoked session's Will: got %s=%q", m.Topic, m.Payload)
	}
}
