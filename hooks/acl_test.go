package hooks_test

import (
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// persistent3 connects a 3.1.1 client with clean session off, whose received
// messages arrive on the returned channel.
func (w *world) persistent3(t *testing.T, id, user, pass string) (*wotkittest.Conn3, chan wotkittest.Message) {
	t.Helper()
	got := make(chan wotkittest.Message, 64)
	c, err := wotkittest.Dial3(t, w.addr, id, user, pass, func(o *paho3.ClientOptions) {
		o.SetCleanSession(false)
		o.SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
			got <- wotkittest.Message{Topic: m.Topic(), Payload: string(m.Payload())}
		})
	})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c, got
}

// leave subscribes a persistent session to filters and disconnects it, so
// that messages are queued for it.
func (w *world) leave(t *testing.T, c *wotkittest.Conn3, filters ...string) {
	t.Helper()
	for _, f := range filters {
		if tok := c.Subscribe(f, 1, nil); !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	r := c.OptionsReader()
	id := r.ClientID()
	c.Disconnect(0)
	// Until the server has seen it go, a message for the session would still
	// reach the old connection rather than wait in the session.
	for deadline := time.Now().Add(wotkittest.Timeout); ; time.Sleep(5 * time.Millisecond) {
		if cl, ok := w.broker.Server().Clients.Get(id); ok && cl.Closed() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still holds %s's connection", id)
		}
	}
}

// A persistent session resumed with another credential of the same user
// brings its queued messages only as far as the new credential may read:
// mochi hands them over and resends them with no ACL check [MQTT-3.1.2-5].
// Its subscriptions come along and are judged at each delivery.
func TestTakeover_InheritedMessagesJudgedByTheNewCredential(t *testing.T) {
	w := newWorld(t)
	app := wotkittest.App(t, w.store, "bob1")
	t.Run("write-only token resumes a key's session", func(t *testing.T) {
		gw, _ := w.persistent3(t, "gateway", w.alice, w.alicePW)
		w.leave(t, gw, "alice/cmd")
		pub := w.dial5(t, "alice-pub", w.alice, w.alicePW)
		publish5(t, pub, "alice/cmd", "queued while offline")

		tok := wotkittest.Token(t, w.store, "alice", app, storage.ScopeWrite, time.Hour)
		c, got := w.persistent3(t, "gateway", app, tok)
		if !c.SessionPresent {
			t.Fatal("alice's token did not resume alice's session")
		}
		// The queued message would be resent before the server reads this
		// PUBLISH, which the inherited alice/cmd routes back to this client:
		// the ACL refuses that delivery. mochi routes a QoS 1 message after
		// its PUBACK, so the refusal is counted once the PUBACK is on its way.
		denied := w.metric(t, "wotkit_mqtt_acl_delivery_denials_total")
		if pt := c.Publish("alice/cmd", 1, false, "after takeover"); !pt.WaitTimeout(wotkittest.Timeout) || pt.Error() != nil {
			t.Fatalf("publish: %v", pt.Error())
		}
		w.waitMetric(t, denied+1, "wotkit_mqtt_acl_delivery_denials_total")
		wotkittest.ExpectNone(t, got, 100*time.Millisecond)
	})
	t.Run("an admin's token resumes the admin key's # session", func(t *testing.T) {
		ops, _ := w.persistent3(t, "ops", w.root, w.rootPW)
		w.leave(t, ops, "#")
		root := w.dial5(t, "root-pub", w.root, w.rootPW)
		publish5(t, root, "bob1/secret", "bob's, queued")
		publish5(t, root, "root/queued", "root's, queued")

		tok := wotkittest.Token(t, w.store, "root", app, storage.ScopeAll, time.Hour)
		c, got := w.persistent3(t, "ops", app, tok)
		if !c.SessionPresent {
			t.Fatal("root's token did not resume root's session")
		}
		publish5(t, root, "bob1/secret", "bob's, live")
		publish5(t, root, "root/marker", "marker")
		// mochi resends the queued messages after the CONNACK, from another
		// goroutine than the one delivering live ones, so the marker may come
		// first; bob's live message would come before the marker, bob's
		// queued one before root's.
		for want := map[string]bool{"root/queued": true, "root/marker": true}; len(want) > 0; {
			m := wotkittest.Expect(t, got)
			if !want[m.Topic] {
				t.Fatalf("the token's session got %+v, want only root/queued and root/marker", m)
			}
			delete(want, m.Topic)
		}
	})
}

// A 3.1.1 client's refused filter is counted as refused by the ACL though
// mochi answers it 0x80, the only 3.1.1 failure code [MQTT-3.9.3-2], and not
// as a refused delivery; an invalid filter, also 0x80, is not the ACL's.
func TestACL_RefusedSubscriptionsCounted(t *testing.T) {
	w := newWorld(t)
	c, err := wotkittest.Dial3(t, w.addr, "alice3", w.alice, w.alicePW)
	if err != nil {
		t.Fatal(err)
	}
	tok := c.SubscribeMultiple(map[string]byte{"#": 0, "bob1/#": 0, "alice/#x": 0, "alice/#": 0}, nil)
	if !tok.WaitTimeout(wotkittest.Timeout) {
		t.Fatal("no SUBACK")
	}
	if res := tok.(*paho3.SubscribeToken).Result(); res["#"] != 0x80 || res["bob1/#"] != 0x80 || res["alice/#x"] != 0x80 || res["alice/#"] != 0 {
		t.Fatalf("SUBACK %v", res)
	}
	v5 := w.dial5(t, "alice5", w.alice, w.alicePW)
	if r := subscribe5(t, v5, "$SYS/#"); r[0] != 0x87 {
		t.Fatalf("SUBACK %#x", r[0])
	}
	if got := w.metric(t, "wotkit_mqtt_acl_denials_total", "kind", "subscribe"); got != 3 {
		t.Errorf("subscribe denials %v, want 3", got)
	}
	if got := w.metric(t, "wotkit_mqtt_acl_delivery_denials_total"); got != 0 {
		t.Errorf("delivery denials %v, want 0", got)
	}
}
