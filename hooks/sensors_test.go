package hooks_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

func (w *world) sensor(t *testing.T, owner, name, visibility string, fields ...storage.Field) storage.Sensor {
	t.Helper()
	sn := storage.Sensor{Owner: owner, Name: name, Visibility: visibility}
	if len(fields) > 0 {
		sn.Fields = fields
	}
	sn, err := w.store.CreateSensor(sn)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// waitReadings polls the history until it holds n readings.
func waitReadings(t *testing.T, store *storage.Store, id uint64, n int) []storage.Reading {
	t.Helper()
	deadline := time.Now().Add(wotkittest.Timeout)
	for {
		rs, err := store.SensorData(id, storage.DataQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) >= n || time.Now().After(deadline) {
			return rs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSensor_MQTTReadingsAreRecorded(t *testing.T) {
	w := newWorld(t)
	sn := w.sensor(t, "alice", "weather", storage.Private)
	pub := w.dial5(t, "station", w.alice, w.alicePW)
	if rc := publish5(t, pub, "alice/weather/data", `{"value": 21.5, "message": "sunny"}`); rc != 0 {
		t.Fatalf("PUBACK %#x", rc)
	}
	// Stored as sent; and a reading that needs converting takes the slow path.
	hourAgo := time.Now().Add(-time.Hour).UnixMilli()
	if rc := publish5(t, pub, "alice/weather/data", fmt.Sprintf(`{"value": "22", "timestamp": %d}`, hourAgo)); rc != 0 {
		t.Fatalf("PUBACK %#x", rc)
	}
	rs := waitReadings(t, w.store, sn.ID, 2)
	if len(rs) != 2 {
		t.Fatalf("recorded %+v", rs)
	}
	if rs[0].Values["value"] != 22.0 || rs[0].Timestamp.UnixMilli() != hourAgo {
		t.Errorf("converted reading %+v", rs[0])
	}
	if rs[1].Values["value"] != 21.5 || rs[1].Values["message"] != "sunny" {
		t.Errorf("reading stored as sent: %+v", rs[1])
	}
}

func TestSensor_BadReadingRefusedAndExplained(t *testing.T) {
	w := newWorld(t)
	sn := w.sensor(t, "alice", "weather", storage.Private, storage.Field{Name: "temp", Type: storage.FieldNumber, Required: true})
	owner := w.dial5(t, "owner", w.alice, w.alicePW)
	subscribe5(t, owner, "alice/weather/data", "alice/errors")
	pub := w.dial5(t, "station", w.alice, w.alicePW)
	pr, err := pub.Publish(ctx(t), &paho.Publish{Topic: "alice/weather/data", QoS: 1, Payload: []byte(`{"temp": "warm"}`)})
	if pr == nil || pr.ReasonCode != 0x99 || pr.Properties == nil || pr.Properties.ReasonString == "" {
		t.Fatalf("bad reading: %+v %v, want PUBACK 0x99 with a reason", pr, err)
	}
	t.Logf("reason: %s", pr.Properties.ReasonString)
	if m := wotkittest.Expect(t, owner.Msgs); m.Topic != "alice/errors" || m.Payload != pr.Properties.ReasonString {
		t.Fatalf("owner got %+v, want the reason on alice/errors", m)
	}
	// At QoS 2 the refusal is a PUBREC, which ends the exchange: a PUBACK
	// would leave the sender waiting for one.
	pr, err = pub.Publish(ctx(t), &paho.Publish{Topic: "alice/weather/data", QoS: 2, Payload: []byte(`{"temp": "hot"}`)})
	if err != nil || pr == nil || pr.ReasonCode != 0x99 || pr.Properties == nil || pr.Properties.ReasonString == "" {
		t.Fatalf("bad reading at QoS 2: %+v %v, want PUBREC 0x99 with a reason", pr, err)
	}
	if m := wotkittest.Expect(t, owner.Msgs); m.Topic != "alice/errors" || m.Payload != pr.Properties.ReasonString {
		t.Fatalf("owner got %+v, want the QoS 2 reason on alice/errors", m)
	}
	c3, err := wotkittest.Dial3(t, w.addr, "station3", w.alice, w.alicePW)
	if err != nil {
		t.Fatal(err)
	}
	// 3.1.1 has no negative PUBACK: the bad reading is acknowledged, so the
	// device does not resend it forever, and dropped.
	if tok := c3.Publish("alice/weather/data", 1, false, "not json"); !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil {
		t.Fatalf("3.1.1 bad reading not acknowledged: %v", tok.Error())
	}
	if m := wotkittest.Expect(t, owner.Msgs); m.Topic != "alice/errors" {
		t.Fatalf("3.1.1 bad reading: owner got %+v", m)
	}
	// Neither bad reading was delivered or recorded; a good one is.
	publish5(t, pub, "alice/weather/data", `{"temp": 20}`)
	if m := wotkittest.Expect(t, owner.Msgs); m.Topic != "alice/weather/data" || m.Payload != `{"temp": 20}` {
		t.Fatalf("owner got %+v before the good reading", m)
	}
	if rs := waitReadings(t, w.store, sn.ID, 1); len(rs) != 1 || rs[0].Values["temp"] != 20.0 {
		t.Fatalf("recorded %+v", rs)
	}
	// Topics of no sensor are not judged.
	if rc := publish5(t, pub, "alice/notasensor/data", "anything"); rc != 0 {
		t.Errorf("publish to a topic of no sensor: PUBACK %#x, want 0", rc)
	}
}

func TestSensor_PublicDataOpenToOthersPrivateStaysTheOwners(t *testing.T) {
	w := newWorld(t)
	w.sensor(t, "alice", "weather", storage.Public)
	w.sensor(t, "alice", "garden", storage.Public)
	w.sensor(t, "alice", "diary", storage.Private)
	w.sensor(t, "alice", "pond", storage.Public) // markers for bob
	bob := w.dial5(t, "bob", w.bob, w.bobPW)
	filters := []string{"alice/pond/data", "alice/weather/data", "alice/garden/data", "alice/diary/data", "alice/weather/message", "alice/+/data", "alice/#", "$share/g/alice/weather/data"}
	want := []byte{1, 1, 1, 0x87, 0x87, 0x87, 0x87, 0x87}
	got := subscribe5(t, bob, filters...)
	for i := range filters {
		if got[i] != want[i] {
			t.Errorf("bob SUBSCRIBE %s: %#x, want %#x", filters[i], got[i], want[i])
		}
	}
	if rc := publish5(t, bob, "alice/weather/message", "open the window"); rc != 0 {
		t.Errorf("bob publishing to a public sensor's message topic: %#x", rc)
	}
	for _, topic := range []string{"alice/weather/data", "alice/diary/message"} {
		if rc := publish5(t, bob, topic, "x"); rc != 0x87 {
			t.Errorf("bob publishing to %s: %#x, want 0x87", topic, rc)
		}
	}
	roID, roPW := wotkittest.Key(t, w.store, "bob1", storage.ReadOnly)
	ro := w.dial5(t, "bob-ro", roID, roPW)
	if rc := publish5(t, ro, "alice/weather/message", "x"); rc != 0x87 {
		t.Errorf("read-only key publishing to a public message topic: %#x", rc)
	}

	alice := w.dial5(t, "alice", w.alice, w.alicePW)
	publish5(t, alice, "alice/weather/data", `{"value": 1}`)
	if m := wotkittest.Expect(t, bob.Msgs); m.Topic != "alice/weather/data" {
		t.Fatalf("bob got %+v", m)
	}
	// Turning it PRIVATE cuts bob off at once: his subscription is gone.
	if _, err := w.store.UpdateSensor("alice", "weather", func(s *storage.Sensor) error { s.Visibility = storage.Private; return nil }); err != nil {
		t.Fatal(err)
	}
	publish5(t, alice, "alice/weather/data", `{"value": 2}`)
	publish5(t, alice, "alice/pond/data", `{"value": 3}`)
	if m := wotkittest.Expect(t, bob.Msgs); m.Topic != "alice/pond/data" {
		t.Fatalf("bob got %+v from a sensor that turned PRIVATE", m)
	}
	if r := subscribe5(t, bob, "alice/weather/data"); r[0] != 0x87 {
		t.Errorf("subscribing again to the now PRIVATE sensor: %#x", r[0])
	}
	// Deleting a sensor does the same.
	if err := w.store.DeleteSensor("alice", "garden"); err != nil {
		t.Fatal(err)
	}
	publish5(t, alice, "alice/garden/data", `{"value": 4}`)
	publish5(t, alice, "alice/pond/data", `{"value": 5}`)
	if m := wotkittest.Expect(t, bob.Msgs); m.Topic != "alice/pond/data" {
		t.Fatalf("bob got %+v from a deleted sensor", m)
	}
}

// A PUBLIC sensor's data is open to a plain subscription only: a shared one
// would let anyone join the owner's group and take a share of the owner's
// traffic. The owner's own shared subscriptions are unaffected.
func TestSensor_PublicDataCannotBeSharedByOthers(t *testing.T) {
	w := newWorld(t)
	w.sensor(t, "bob1", "weather", storage.Public)
	const group = "$share/workers/bob1/weather/data"
	worker := w.dial5(t, "bob-worker", w.bob, w.bobPW)
	if r := subscribe5(t, worker, group); r[0] != 1 {
		t.Fatalf("bob's worker SUBSCRIBE %s: %#x, want 1", group, r[0])
	}
	alice := w.dial5(t, "alice", w.alice, w.alicePW)
	if r := subscribe5(t, alice, group, "$SHARE/workers/bob1/weather/data", "bob1/weather/data"); !bytes.Equal(r, []byte{0x87, 0x87, 1}) {
		t.Fatalf("alice SUBACK %#x, want the shared filters refused (0x87) and the plain one granted", r)
	}
	alice3, err := wotkittest.Dial3(t, w.addr, "alice3", w.alice, w.alicePW)
	if err != nil {
		t.Fatal(err)
	}
	tok := alice3.Subscribe(group, 0, nil)
	tok.WaitTimeout(wotkittest.Timeout)
	// paho keys the result by the filter without its $share/GROUP/.
	if res := tok.(*paho3.SubscribeToken).Result(); len(res) != 1 || res["bob1/weather/data"] != 0x80 {
		t.Fatalf("alice 3.1.1 SUBSCRIBE %s: %v, want 0x80", group, res)
	}
	station := w.dial5(t, "station", w.bob, w.bobPW)
	const n = 20
	for i := range n {
		publish5(t, station, "bob1/weather/data", fmt.Sprintf(`{"value": %d}`, i))
	}
	for i := range n {
		want := fmt.Sprintf(`{"value": %d}`, i)
		if m := wotkittest.Expect(t, worker.Msgs); m.Payload != want {
			t.Fatalf("bob's worker got %+v, want reading %d of %d", m, i, n)
		}
		if m := wotkittest.Expect(t, alice.Msgs); m.Payload != want {
			t.Fatalf("alice's plain subscription got %+v, want reading %d", m, i)
		}
	}
}
