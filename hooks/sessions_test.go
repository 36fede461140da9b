package hooks_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

const connections = "wotkit_mqtt_connections"

// The connections gauge counts live connections: a connection taken over or
// revoked is uncounted exactly once, whether its own end, the takeover or the
// revocation gets there first.
func TestConnectionsGauge_CountsLiveConnections(t *testing.T) {
	t.Run("takeover", func(t *testing.T) {
		w := newWorld(t)
		for range 5 { // a live session taken over by the same key
			w.dial5(t, "device", w.alice, w.alicePW)
		}
		w.waitMetric(t, 1, connections, "credential", "key")
		gw, _ := w.persistent3(t, "gateway", w.alice, w.alicePW)
		w.leave(t, gw) // a persistent session resumed once its connection is gone
		w.waitMetric(t, 1, connections, "credential", "key")
		w.persistent3(t, "gateway", w.alice, w.alicePW)
		w.waitMetric(t, 2, connections, "credential", "key")
		// A token of the same user takes over the key's live session.
		tok := wotkittest.Token(t, w.store, "alice", wotkittest.App(t, w.store, "bob1"), storage.ScopeAll, time.Hour)
		if _, _, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: "device", CleanStart: true, Password: []byte(tok)}); err != nil {
			t.Fatal(err)
		}
		w.waitMetric(t, 1, connections, "credential", "key")
		w.waitMetric(t, 1, connections, "credential", "token")
	})
	t.Run("revocation", func(t *testing.T) {
		w := newWorld(t)
		doomed, doomedPW := wotkittest.Key(t, w.store, "alice", storage.ReadWrite)
		conns := connectMany(t, w.addr, "doomed", doomed, doomedPW, 50)
		w.dial5(t, "keeper", w.alice, w.alicePW)
		w.waitMetric(t, 51, connections, "credential", "key")
		if err := w.store.DeleteKey(doomed); err != nil {
			t.Fatal(err)
		}
		for _, nc := range conns {
			if err := wotkittest.WaitClosed(nc, wotkittest.Timeout); err != nil {
				t.Fatal(err)
			}
		}
		w.waitMetric(t, 1, connections, "credential", "key")
	})
}

// A device that reconnects with its client id while the clean session of its
// old connection is still being ended keeps its new session. mochi v2.7.9
// ends the old session by client id after the connection has gone: held up
// here in its last hook (as a busy server may hold it), it then removed the
// new session from its client table, and the new subscriber received nothing.
func TestSessions_ReconnectWhileOldSessionEnds(t *testing.T) {
	w := newWorld(t)
	hold := &holdEnd{id: "device", reached: make(chan struct{}), release: make(chan struct{}), returned: make(chan struct{})}
	if err := w.broker.Server().AddHook(hold, nil); err != nil {
		t.Fatal(err)
	}
	old, code, err := wotkittest.RawConnect(w.addr, "device", w.alice, w.alicePW)
	if err != nil || code != 0 {
		t.Fatalf("connect: code %d %v", code, err)
	}
	if rc, err := wotkittest.RawSubscribe(old, "alice/#"); err != nil || rc != 0 {
		t.Fatalf("subscribe: %d %v", rc, err)
	}
	_ = old.(*net.TCPConn).SetLinger(0) // the connection drops
	_ = old.Close()
	select {
	case <-hold.reached:
	case <-time.After(wotkittest.Timeout):
		t.Fatal("the old session's end never reached mochi's last hook")
	}
	time.AfterFunc(300*time.Millisecond, func() { close(hold.release) })

	nc, code, err := wotkittest.RawConnect(w.addr, "device", w.alice, w.alicePW)
	if err != nil || code != 0 {
		t.Fatalf("reconnect: code %d %v", code, err)
	}
	defer nc.Close()
	if rc, err := wotkittest.RawSubscribe(nc, "alice/#"); err != nil || rc != 0 {
		t.Fatalf("subscribe again: %d %v", rc, err)
	}
	<-hold.returned
	time.Sleep(200 * time.Millisecond) // mochi removes the old session's entry right after the hook
	pub, code, err := wotkittest.RawConnect(w.addr, "publisher", w.alice, w.alicePW)
	if err != nil || code != 0 {
		t.Fatalf("publisher: code %d %v", code, err)
	}
	defer pub.Close()
	if _, err := pub.Write(wotkittest.PublishBytes("alice/weather/data", []byte(`{"value":1}`))); err != nil {
		t.Fatal(err)
	}
	if got := wotkittest.CountPublishes(nc, 1, wotkittest.Timeout, nil); got != 1 {
		t.Fatal("the reconnected device received nothing once its old session had ended")
	}
}

// holdEnd holds up, until release, the end of the first closed session of
// client id in mochi's last hook before mochi removes the id from its table.
type holdEnd struct {
	mqtt.HookBase
	id                         string
	held                       atomic.Bool
	reached, release, returned chan struct{}
}

func (h *holdEnd) ID() string           { return "hold-end" }
func (h *holdEnd) Provides(b byte) bool { return b == mqtt.OnUnsubscribed }

func (h *holdEnd) OnUnsubscribed(cl *mqtt.Client, _ packets.Packet) {
	if cl.ID != h.id || !cl.Closed() {
		return
	}
	if h.held.CompareAndSwap(false, true) { // once; later calls pass
		close(h.reached)
		<-h.release
		close(h.returned)
	}
}

// Topic aliases live as long as their connection [MQTT-3.3.2-7], but mochi
// keeps the messages it sent (or queued) under an alias, without their topic,
// in a persistent session: resent on the next connection, the alias means
// nothing there, and the QoS 1 message was lost [MQTT-4.4.0-1] (mochi sends
// it with an unknown alias; the ACL dropped it as a message with no topic).
// The server never sends aliases to a session that outlives its connection.
func TestSessions_QueuedMessagesOfAPersistentSessionKeepTheirTopic(t *testing.T) {
	w := newWorld(t)
	connect := func(clean bool) *paho.Connect {
		expiry, aliases := uint32(600), uint16(10)
		return &paho.Connect{ClientID: "device", CleanStart: clean, Username: w.alice, Password: []byte(w.alicePW),
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry, TopicAliasMaximum: &aliases}}
	}
	dev, _, err := wotkittest.Dial5(t, w.addr, connect(true))
	if err != nil {
		t.Fatal(err)
	}
	subscribe5(t, dev, "alice/#")
	pub := w.dial5(t, "pub", w.alice, w.alicePW)
	publish5(t, pub, "alice/cmd", "one")
	wotkittest.Expect(t, dev.Msgs)
	_ = dev.Disconnect(&paho.Disconnect{})
	publish5(t, pub, "alice/cmd", "two") // queued for the session, or sent to its closing connection

	dev, ca, err := wotkittest.Dial5(t, w.addr, connect(false))
	if err != nil || !ca.SessionPresent {
		t.Fatalf("resume: %+v %v", ca, err)
	}
	publish5(t, pub, "alice/marker", "marker")
	// mochi resends queued messages from the connecting goroutine and sends
	// live ones from the writer: they may come in either order. "one" comes
	// again when its PUBACK had not reached the server before the disconnect
	// (QoS 1 is at least once).
	got := map[string]string{}
	for len(got) < 3 && (got["two"] == "" || got["marker"] == "") {
		m := wotkittest.Expect(t, dev.Msgs)
		got[m.Payload] = m.Topic
	}
	if got["two"] != "alice/cmd" || got["marker"] != "alice/marker" {
		t.Fatalf("after resuming: %v, want two on alice/cmd and the marker", got)
	}
}
