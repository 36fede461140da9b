package broker_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/broker"
	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/metrics"
)

// connections returns the live MQTT connections that m counts.
func connections(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, f := range families {
		if f.GetName() == "wotkit_mqtt_connections" {
			for _, g := range f.GetMetric() {
				n += g.GetGauge().GetValue()
			}
		}
	}
	return n
}

// What one connection may hold is bounded: a persistent session asked to
// last forever is kept at most MaxSessionExpiry after its client goes away,
// and CONNACK says so, even when its DISCONNECT asks for ever again; a client may set MaxTopicAliases topic aliases, not
// mochi's 65535, and an alias beyond them ends the connection (0x94, topic
// alias invalid) [MQTT-3.3.2-9]. (mochi does not announce its alias maximum
// in CONNACK, which by [MQTT-3.2.2-17] means none; clients that use aliases
// anyway get this many.)
func TestBroker_ConnectionStateBounded(t *testing.T) {
	store := wotkittest.NewStore(t)
	keyID, keyPW := wotkittest.User(t, store, "alice", false)
	m := metrics.New()
	b, addr := wotkittest.StartBroker(t, store, func(c *broker.Config) { c.MaxSessionExpiry, c.Metrics = 3600e9, m })
	forever := uint32(0xFFFFFFFF)
	c, ack, err := wotkittest.Dial5(t, addr, &paho.Connect{
		ClientID: "gateway", UsernameFlag: true, Username: keyID, PasswordFlag: true, Password: []byte(keyPW),
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &forever},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ack.Properties.SessionExpiryInterval; got == nil || *got != 3600 {
		t.Errorf("CONNACK session expiry %v, want 3600", got)
	}
	// The server counts the connection just after its CONNACK; the count
	// going back to 0 then says the server is done with the DISCONNECT.
	waitConnections := func(want float64) {
		t.Helper()
		for deadline := time.Now().Add(wotkittest.Timeout); connections(t, m) != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the server counts %v connections, want %v", connections(t, m), want)
			}
		}
	}
	waitConnections(1)
	// A DISCONNECT may set the expiry again (MQTT 5, 3.14.2.2.2); the maximum still holds.
	if err := c.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: &forever}}); err != nil {
		t.Fatal(err)
	}
	waitConnections(0)
	kept, ok := b.Server().Clients.Get("gateway")
	if !ok {
		t.Fatal("the persistent session was not kept")
	}
	if got := kept.Properties.Props.SessionExpiryInterval; got != 3600 {
		t.Errorf("session kept for %d s after a DISCONNECT asked for ever, want 3600", got)
	}
	// paho refuses to send such an alias itself, so the PUBLISH is written by hand.
	nc, err := net.DialTimeout("tcp", addr, wotkittest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(wotkittest.Timeout))
	write := func(pk packets.Packet, encode func(*packets.Packet, *bytes.Buffer) error) {
		t.Helper()
		var buf bytes.Buffer
		if err := encode(&pk, &buf); err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "raw",
			UsernameFlag: true, Username: []byte(keyID), PasswordFlag: true, Password: []byte(keyPW)}},
		(*packets.Packet).ConnectEncode)
	write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 5, TopicName: "alice/x",
		Properties: packets.Properties{TopicAlias: broker.MaxTopicAliases + 1, TopicAliasFlag: true}, Payload: []byte("1")},
		(*packets.Packet).PublishEncode)
	got, err := io.ReadAll(nc) // CONNACK, then DISCONNECT and the end of the connection
	if err != nil {
		t.Fatalf("the connection stayed open after an alias beyond the maximum: %v", err)
	}
	// got holds whole packets: a fixed header byte, the remaining length
	// (one byte: these are short), the body. The last is a DISCONNECT.
	var last []byte
	for rest := got; len(rest) >= 2 && int(rest[1]) <= len(rest)-2; rest = rest[2+int(rest[1]):] {
		last = rest[:2+int(rest[1])]
	}
	if len(last) < 3 || last[0] != 0xE0 || last[2] != packets.ErrTopicAliasInvalid.Code {
		t.Fatalf("last packet % x, want DISCONNECT 0x94 topic alias invalid (all: % x)", last, got)
	}
}
