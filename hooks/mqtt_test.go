package hooks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
	paho3packets "github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/wotkit/wotkit/broker"
	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/metrics"
	"github.com/wotkit/wotkit/storage"
)

// world is a broker with users alice and bob (one read-write key each) and an
// admin, whose hooks count into metrics.
type world struct {
	store                  *storage.Store
	metrics                *metrics.Metrics
	broker                 *broker.Broker
	addr                   string
	alice, bob, root       string // key ids
	alicePW, bobPW, rootPW string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{store: wotkittest.NewStore(t), metrics: metrics.New()}
	w.alice, w.alicePW = wotkittest.User(t, w.store, "alice", false)
	w.bob, w.bobPW = wotkittest.User(t, w.store, "bob1", false)
	w.root, w.rootPW = wotkittest.User(t, w.store, "root", true)
	w.broker, w.addr = wotkittest.StartBroker(t, w.store, func(c *broker.Config) { c.Metrics = w.metrics })
	return w
}

// metric returns the value of the counter or gauge name whose labels include
// the given name, value pairs; 0 when there is none.
func (w *world) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := w.metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			if hasLabels(have, labels) {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func hasLabels(have map[string]string, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		if have[pairs[i]] != pairs[i+1] {
			return false
		}
	}
	return true
}

// waitMetric waits until the metric equals want and fails the test if it does
// not within wotkittest.Timeout: a connection's end is counted by the broker's
// goroutine for it, after the client sees the connection closed.
func (w *world) waitMetric(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(wotkittest.Timeout)
	for got := w.metric(t, name, labels...); got != want; got = w.metric(t, name, labels...) {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wotkittest.Timeout)
	t.Cleanup(cancel)
	return c
}

func (w *world) dial5(t *testing.T, id, user, pass string) *wotkittest.Conn5 {
	t.Helper()
	c, _, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: id, CleanStart: true, Username: user, Password: []byte(pass)})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

func subscribe5(t *testing.T, c *wotkittest.Conn5, filters ...string) []byte {
	t.Helper()
	s := &paho.Subscribe{}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	sa, err := c.Subscribe(ctx(t), s)
	if err != nil && sa == nil {
		t.Fatalf("subscribe %v: %v", filters, err)
	}
	return sa.Reasons
}

func publish5(t *testing.T, c *wotkittest.Conn5, topic, payload string) byte {
	t.Helper()
	pr, err := c.Publish(ctx(t), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	if pr == nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return pr.ReasonCode
}

func TestKeyPublishReachesOwnersSubscriber(t *testing.T) {
	w := newWorld(t)
	t.Run("mqtt5", func(t *testing.T) {
		sub := w.dial5(t, "sub5", w.alice, w.alicePW)
		if r := subscribe5(t, sub, "alice/weather/data"); r[0] != 1 {
			t.Fatalf("SUBACK %#x, want granted QoS 1", r[0])
		}
		pub := w.dial5(t, "pub5", w.alice, w.alicePW)
		if rc := publish5(t, pub, "alice/weather/data", `{"value":21.5}`); rc != 0 {
			t.Fatalf("PUBACK %#x, want 0", rc)
		}
		if m := wotkittest.Expect(t, sub.Msgs); m.Topic != "alice/weather/data" || m.Payload != `{"value":21.5}` {
			t.Fatalf("got %+v", m)
		}
	})
	t.Run("mqtt311", func(t *testing.T) {
		got := make(chan wotkittest.Message, 1)
		sub, err := wotkittest.Dial3(t, w.addr, "sub3", w.alice, w.alicePW)
		if err != nil {
			t.Fatal(err)
		}
		tok := sub.Subscribe("alice/#", 1, func(_ paho3.Client, m paho3.Message) {
			got <- wotkittest.Message{Topic: m.Topic(), Payload: string(m.Payload())}
		})
		if !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		if code := tok.(*paho3.SubscribeToken).Result()["alice/#"]; code != 1 {
			t.Fatalf("SUBACK %#x, want 1", code)
		}
		pub, err := wotkittest.Dial3(t, w.addr, "pub3", w.alice, w.alicePW)
		if err != nil {
			t.Fatal(err)
		}
		pub.Publish("alice/weather/data", 1, false, "3.1.1 reading").WaitTimeout(wotkittest.Timeout)
		if m := wotkittest.Expect(t, got); m.Payload != "3.1.1 reading" {
			t.Fatalf("got %+v", m)
		}
	})
}

func TestConnectRefusals(t *testing.T) {
	w := newWorld(t)
	// Each case gets a key of its own: five failures against one key id
	// start the throttle (TestThrottle_…).
	key := func() (string, string) { return wotkittest.Key(t, w.store, "alice", storage.ReadWrite) }
	k1, pw1 := key()
	k2, _ := key()
	k3, _ := key()
	cases := []struct{ name, user, pass string }{
		{"wrong password", k1, pw1 + "x"},
		{"unknown key id", "KAAAAAAAAAAAAAAAAAAAAAAAA", w.alicePW},
		{"empty credentials", "", ""},
		{"no password", k2, ""},
		{"another key's password", k3, w.bobPW},
		{"user's own account password", "alice", "password-alice"},
	}
	for _, c := range cases {
		t.Run(c.name+"/mqtt311", func(t *testing.T) {
			_, err := wotkittest.Dial3(t, w.addr, "refused3", c.user, c.pass)
			// 3.1.1 return code 4: bad user name or password [MQTT-3.2.2.3].
			if !errors.Is(err, paho3packets.ErrorRefusedBadUsernameOrPassword) {
				t.Fatalf("err = %v, want return code 4 (bad user name or password)", err)
			}
		})
		t.Run(c.name+"/mqtt5", func(t *testing.T) {
			_, ca, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: "refused5", CleanStart: true, Username: c.user, Password: []byte(c.pass)})
			if err == nil || ca == nil || ca.ReasonCode != 0x86 {
				t.Fatalf("connack %+v err %v, want reason 0x86", ca, err)
			}
		})
	}
}

func TestACL_OtherUsersTopicsRefused(t *testing.T) {
	w := newWorld(t)
	bob := w.dial5(t, "bob-sub", w.bob, w.bobPW)
	subscribe5(t, bob, "bob1/#")
	alice := w.dial5(t, "alice", w.alice, w.alicePW)

	if rc := publish5(t, alice, "bob1/weather/message", "from alice"); rc != 0x87 {
		t.Errorf("alice publishing to bob1/...: PUBACK %#x, want 0x87 not authorized", rc)
	}
	if r := subscribe5(t, alice, "bob1/#", "bob1/weather/data"); r[0] != 0x87 || r[1] != 0x87 {
		t.Errorf("alice subscribing to bob1's topics: SUBACK %#x, want 0x87 each", r)
	}
	// Ordering proves absence: bob's own later message arrives, alice's earlier one never did.
	bobPub := w.dial5(t, "bob-pub", w.bob, w.bobPW)
	publish5(t, bobPub, "bob1/weather/data", "marker")
	if m := wotkittest.Expect(t, bob.Msgs); m.Payload != "marker" {
		t.Fatalf("bob received %+v before his own marker", m)
	}
}

func TestACL_SubscribeFilters(t *testing.T) {
	w := newWorld(t)
	filters := []string{"#", "+/x/data", "bob1/#", "$SYS/#", "alice/#", "alice/+/data", "$share/g/alice/#", "$share/g/bob1/#"}
	alice := w.dial5(t, "alice", w.alice, w.alicePW)
	root := w.dial5(t, "root", w.root, w.rootPW)
	gotAlice, gotRoot := subscribe5(t, alice, filters...), subscribe5(t, root, filters...)
	for i, f := range filters {
		wantAlice := byte(0x87)
		if f == "alice/#" || f == "alice/+/data" || f == "$share/g/alice/#" {
			wantAlice = 1
		}
		if gotAlice[i] != wantAlice {
			t.Errorf("alice SUBSCRIBE %q: %#x, want %#x", f, gotAlice[i], wantAlice)
		}
		if gotRoot[i] != 1 {
			t.Errorf("admin SUBSCRIBE %q: %#x, want 1", f, gotRoot[i])
		}
	}
	t.Run("mqtt311 refusal code", func(t *testing.T) {
		c, err := wotkittest.Dial3(t, w.addr, "alice3", w.alice, w.alicePW)
		if err != nil {
			t.Fatal(err)
		}
		tok := c.SubscribeMultiple(map[string]byte{"#": 0, "$SYS/#": 0, "alice/#": 0}, nil)
		tok.WaitTimeout(wotkittest.Timeout)
		res := tok.(*paho3.SubscribeToken).Result()
		if res["#"] != 0x80 || res["$SYS/#"] != 0x80 || res["alice/#"] != 0 {
			t.Errorf("SUBACK %v, want # and $SYS/# 0x80, alice/# 0", res)
		}
	})
	// mochi's $SYS topics are retained: a granted $SYS/# gets them at once.
	t.Run("only the admin receives $SYS", func(t *testing.T) {
		if m := wotkittest.Expect(t, root.Msgs); !strings.HasPrefix(m.Topic, "$SYS/") {
			t.Errorf("admin got %q, want a $SYS/ topic", m.Topic)
		}
		pub := w.dial5(t, "alice-pub", w.alice, w.alicePW)
		publish5(t, pub, "alice/marker", "marker")
		if m := wotkittest.Expect(t, alice.Msgs); m.Topic != "alice/marker" {
			t.Errorf("alice got %q before her marker", m.Topic)
		}
	})
}

func TestACL_SharedSubscription(t *testing.T) {
	w := newWorld(t)
	alice := w.dial5(t, "alice-shared", w.alice, w.alicePW)
	if r := subscribe5(t, alice, "$share/g/alice/#"); r[0] != 1 {
		t.Fatalf("alice $share/g/alice/#: %#x", r[0])
	}
	bob := w.dial5(t, "bob-shared", w.bob, w.bobPW)
	if r := subscribe5(t, bob, "$share/g/alice/#"); r[0] != 0x87 {
		t.Fatalf("bob $share/g/alice/#: %#x, want 0x87", r[0])
	}
	pub := w.dial5(t, "alice-pub", w.alice, w.alicePW)
	publish5(t, pub, "alice/weather/data", "shared")
	if m := wotkittest.Expect(t, alice.Msgs); m.Payload != "shared" {
		t.Fatalf("got %+v", m)
	}
}

func TestReadOnlyKeyCannotPublish(t *testing.T) {
	w := newWorld(t)
	roID, roPW := wotkittest.Key(t, w.store, "alice", storage.ReadOnly)
	sub := w.dial5(t, "sub", w.alice, w.alicePW)
	subscribe5(t, sub, "alice/#")

	t.Run("mqtt5 PUBACK 0x87", func(t *testing.T) {
		ro := w.dial5(t, "ro5", roID, roPW)
		if rc := publish5(t, ro, "alice/weather/data", "from read-only 5"); rc != 0x87 {
			t.Fatalf("PUBACK %#x, want 0x87", rc)
		}
		if r := subscribe5(t, ro, "alice/#"); r[0] != 1 {
			t.Fatalf("read-only key may still subscribe: %#x", r[0])
		}
	})
	t.Run("mqtt311 nothing delivered", func(t *testing.T) {
		ro, err := wotkittest.Dial3(t, w.addr, "ro3", roID, roPW)
		if err != nil {
			t.Fatal(err)
		}
		ro.Publish("alice/weather/data", 0, false, "from read-only 3").WaitTimeout(wotkittest.Timeout)
	})
	rw := w.dial5(t, "rw", w.alice, w.alicePW)
	publish5(t, rw, "alice/weather/data", "marker")
	if m := wotkittest.Expect(t, sub.Msgs); m.Payload != "marker" {
		t.Fatalf("subscriber got %q from a read-only key", m.Payload)
	}
}

func TestWillOnForbiddenTopicRefusedAtConnect(t *testing.T) {
	w := newWorld(t)
	will := func(topic string) *paho.Connect {
		return &paho.Connect{ClientID: "will-" + topic, CleanStart: true, Username: w.alice, Password: []byte(w.alicePW),
			WillMessage: &paho.WillMessage{Topic: topic, Payload: []byte("gone")}}
	}
	_, ca, err := wotkittest.Dial5(t, w.addr, will("bob1/status"))
	if err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Fatalf("will on bob1/status: connack %+v err %v, want 0x87", ca, err)
	}
	_, err = wotkittest.Dial3(t, w.addr, "will3", w.alice, w.alicePW, func(o *paho3.ClientOptions) { o.SetWill("$SYS/x", "gone", 0, false) })
	if !errors.Is(err, paho3packets.ErrorRefusedNotAuthorised) {
		t.Fatalf("3.1.1 will on $SYS/x: %v, want return code 5", err)
	}
	// A Will on the client's own topic is accepted and delivered when it drops.
	sub := w.dial5(t, "will-sub", w.alice, w.alicePW)
	subscribe5(t, sub, "alice/status")
	c, _, err := wotkittest.Dial5(t, w.addr, will("alice/status"))
	if err != nil {
		t.Fatalf("will on alice/status: %v", err)
	}
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0x04}) // disconnect with Will message
	if m := wotkittest.Expect(t, sub.Msgs); m.Topic != "alice/status" || m.Payload != "gone" {
		t.Fatalf("got %+v", m)
	}
}

// A Will is published as if the client sent it, so its topic must be one the
// client could PUBLISH to: a topic name, without wildcards [MQTT-4.7.1-1]
// [MQTT-3.3.2-2], and not in $SYS, which no client publishes to (mochi drops
// such a PUBLISH). mochi checks neither for a Will; without the check alice's
// Will on alice/+ reached her subscribers under the topic "alice/+".
func TestWillTopicWithWildcardsOrSysRefusedAtConnect(t *testing.T) {
	w := newWorld(t)
	sub := w.dial5(t, "will-sub", w.alice, w.alicePW)
	subscribe5(t, sub, "alice/#")
	cases := []struct{ user, pass, topic string }{
		{w.alice, w.alicePW, "alice/+"},
		{w.alice, w.alicePW, "alice/#"},
		{w.alice, w.alicePW, "alice/+/data"},
		{w.root, w.rootPW, "$SYS/broker/version"},
	}
	for i, c := range cases {
		c5, ca, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: fmt.Sprintf("will-%d", i), CleanStart: true,
			Username: c.user, Password: []byte(c.pass), WillMessage: &paho.WillMessage{Topic: c.topic, Payload: []byte("gone")}})
		if err == nil {
			_ = c5.Disconnect(&paho.Disconnect{ReasonCode: 0x04}) // disconnect with Will message
		}
		if err == nil || ca == nil || ca.ReasonCode != 0x87 {
			t.Errorf("will on %q: connack %+v err %v, want 0x87", c.topic, ca, err)
		}
	}
	pub := w.dial5(t, "pub", w.alice, w.alicePW)
	publish5(t, pub, "alice/marker", "marker")
	if m := wotkittest.Expect(t, sub.Msgs); m.Topic != "alice/marker" {
		t.Fatalf("subscriber got %+v before the marker: a Will was published", m)
	}
}

func TestClientIDOfAnotherUserCannotBeTakenOver(t *testing.T) {
	w := newWorld(t)
	t.Run("live session", func(t *testing.T) {
		alice := w.dial5(t, "sensor-1", w.alice, w.alicePW)
		subscribe5(t, alice, "alice/#")
		_, ca, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: "sensor-1", CleanStart: false, Username: w.bob, Password: []byte(w.bobPW)})
		if err == nil || ca == nil || ca.ReasonCode != 0x85 {
			t.Fatalf("bob taking sensor-1: connack %+v err %v, want 0x85", ca, err)
		}
		_, err = wotkittest.Dial3(t, w.addr, "sensor-1", w.bob, w.bobPW)
		if !errors.Is(err, paho3packets.ErrorRefusedIDRejected) {
			t.Fatalf("3.1.1 bob taking sensor-1: %v, want return code 2", err)
		}
		// alice's session is untouched: it still receives.
		pub := w.dial5(t, "alice-pub", w.alice, w.alicePW)
		publish5(t, pub, "alice/x", "still mine")
		if m := wotkittest.Expect(t, alice.Msgs); m.Payload != "still mine" {
			t.Fatalf("got %+v", m)
		}
	})
	t.Run("persistent session", func(t *testing.T) {
		c, err := wotkittest.Dial3(t, w.addr, "gateway-7", w.alice, w.alicePW, func(o *paho3.ClientOptions) { o.SetCleanSession(false) })
		if err != nil {
			t.Fatal(err)
		}
		c.Subscribe("alice/#", 1, nil).WaitTimeout(wotkittest.Timeout)
		c.Disconnect(0)
		_, err = wotkittest.Dial3(t, w.addr, "gateway-7", w.bob, w.bobPW, func(o *paho3.ClientOptions) { o.SetCleanSession(false) })
		if !errors.Is(err, paho3packets.ErrorRefusedIDRejected) {
			t.Fatalf("bob resuming alice's persistent session: %v, want identifier rejected", err)
		}
		// The owner's other key may resume it.
		k2, pw2 := wotkittest.Key(t, w.store, "alice", storage.ReadWrite)
		if _, err := wotkittest.Dial3(t, w.addr, "gateway-7", k2, pw2, func(o *paho3.ClientOptions) { o.SetCleanSession(false) }); err != nil {
			t.Fatalf("alice's second key resuming her session: %v", err)
		}
	})
	t.Run("inline client id", func(t *testing.T) {
		_, ca, err := wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: "inline", CleanStart: true, Username: w.alice, Password: []byte(w.alicePW)})
		if err == nil || ca == nil || ca.ReasonCode != 0x85 {
			t.Fatalf("client id inline: connack %+v err %v, want 0x85", ca, err)
		}
	})
}

func TestTopicAliasCannotEscapeACL(t *testing.T) {
	w := newWorld(t)
	bob := w.dial5(t, "bob", w.bob, w.bobPW)
	subscribe5(t, bob, "bob1/#")
	alice := w.dial5(t, "alice-alias", w.alice, w.alicePW)
	aliasPub := func(qos byte, topic string, alias uint16, payload string) byte {
		pr, err := alice.Publish(ctx(t), &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload),
			Properties: &paho.PublishProperties{TopicAlias: &alias}})
		if pr == nil || (err != nil && qos == 2) { // paho.golang fails a QoS 2 answered by PUBACK
			t.Fatalf("publish QoS %d: %v", qos, err)
		}
		return pr.ReasonCode
	}
	if rc := aliasPub(1, "bob1/x", 1, "set alias to bob's topic"); rc != 0x87 {
		t.Fatalf("alias set on bob1/x: %#x, want 0x87", rc)
	}
	if rc := aliasPub(1, "", 1, "use alias"); rc != 0x87 {
		t.Fatalf("publishing through an alias never set: %#x, want 0x87", rc)
	}
	if rc := aliasPub(2, "", 1, "use alias at QoS 2"); rc != 0x87 {
		t.Fatalf("publishing at QoS 2 through an alias never set: PUBREC %#x, want 0x87", rc)
	}
	// A legitimate alias works: set on alice's own topic, then used by number.
	sub := w.dial5(t, "alice-sub", w.alice, w.alicePW)
	subscribe5(t, sub, "alice/#")
	if rc := aliasPub(1, "alice/temp", 2, "first"); rc != 0 {
		t.Fatalf("alias set on own topic: %#x", rc)
	}
	if rc := aliasPub(1, "", 2, "by alias"); rc != 0 {
		t.Fatalf("publish by own alias: %#x", rc)
	}
	for _, want := range []string{"first", "by alias"} {
		if m := wotkittest.Expect(t, sub.Msgs); m.Topic != "alice/temp" || m.Payload != want {
			t.Fatalf("got %+v, want %q on alice/temp", m, want)
		}
	}
	bobPub := w.dial5(t, "bob-pub", w.bob, w.bobPW)
	publish5(t, bobPub, "bob1/x", "marker")
	if m := wotkittest.Expect(t, bob.Msgs); m.Payload != "marker" {
		t.Fatalf("bob received %+v through alice's alias", m)
	}
}

// The inline client publishes for the server and skips the publish ACL, so
// no network client, not even an admin, may take its client id.
func TestInlineClient_OnlyTheServerSpeaksThroughIt(t *testing.T) {
	w := newWorld(t)
	b, addr := wotkittest.StartBroker(t, w.store)
	_, ca, err := wotkittest.Dial5(t, addr, &paho.Connect{ClientID: "inline", CleanStart: true, Username: w.root, Password: []byte(w.rootPW)})
	if err == nil || ca == nil || ca.ReasonCode != 0x85 {
		t.Fatalf("an admin taking the inline client's id: connack %+v err %v, want 0x85", ca, err)
	}
	alice, _, err := wotkittest.Dial5(t, addr, &paho.Connect{ClientID: "alice", CleanStart: true, Username: w.alice, Password: []byte(w.alicePW)})
	if err != nil {
		t.Fatal(err)
	}
	subscribe5(t, alice, "alice/#")
	if err := b.Publish("alice/weather/message", []byte("from the server")); err != nil {
		t.Fatal(err)
	}
	if m := wotkittest.Expect(t, alice.Msgs); m.Payload != "from the server" {
		t.Fatalf("alice got %+v", m)
	}
}

// Each user's client asks for everyone's traffic (#, +/data, the next user's
// topics) beside its own; only its own filter is granted, and it receives its
// own messages and nothing of the others'.
func TestManyUsersStayApart(t *testing.T) {
	w := newWorld(t)
	const n = 5
	name := func(i int) string { return fmt.Sprintf("user%d", i%n) }
	subs, pubs := make([]*wotkittest.Conn5, n), make([]*wotkittest.Conn5, n)
	for i := range n {
		id, pw := wotkittest.User(t, w.store, name(i), false)
		subs[i], pubs[i] = w.dial5(t, name(i)+"-sub", id, pw), w.dial5(t, name(i)+"-pub", id, pw)
	}
	for i, s := range subs {
		filters := []string{name(i) + "/#", "#", "+/data", name(i+1) + "/#", "$share/g/" + name(i+1) + "/data"}
		if got := subscribe5(t, s, filters...); !bytes.Equal(got, []byte{1, 0x87, 0x87, 0x87, 0x87}) {
			t.Fatalf("%s SUBACK %#x for %q, want only its own filter granted", name(i), got, filters)
		}
	}
	// Deliveries to one client keep the order of the publishes, each of
	// which is acknowledged after it is delivered: every other user's data
	// is published before a user's marker, so it would arrive before it.
	for _, leaf := range []string{"data", "marker"} {
		for i, p := range pubs {
			publish5(t, p, name(i)+"/"+leaf, name(i))
		}
	}
	for i, s := range subs {
		for _, leaf := range []string{"data", "marker"} {
			if m := wotkittest.Expect(t, s.Msgs); m.Topic != name(i)+"/"+leaf || m.Payload != name(i) {
				t.Fatalf("%s received %+v, want its own %s", name(i), m, leaf)
			}
		}
	}
}
