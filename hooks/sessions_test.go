package hooks_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

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
