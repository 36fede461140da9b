package broker_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/broker"
	"github.com/wotkit/wotkit/hooks"
	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// mochi logs whole packets with some errors: a PUBLISH beyond the receive
// maximum ("error processing packet"), a reading the sensor hook refused
// ("publish packet rejected"), each with its payload, at any size a client
// may send. At the debug level too, the broker's log says which packet it was
// and does not hold the payload.
func TestLog_PacketsWithoutPayloads(t *testing.T) {
	var logs broker.SyncBuffer
	store := wotkittest.NewStore(t)
	keyID, keyPW := wotkittest.User(t, store, "alice", false)
	if _, err := store.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather", Visibility: storage.Private,
		Fields: []storage.Field{{Name: "temp", Type: storage.FieldNumber, Required: true}}}); err != nil {
		t.Fatal(err)
	}
	_, addr := wotkittest.StartBroker(t, store, func(c *broker.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Limits = &hooks.Limits{} // the flood below is no test of the publish rate
	})
	const payloadMark = "reading-payload-8f14e45f"

	// QoS 2 PUBLISHes never released, one more than mochi's receive maximum.
	nc, rc, err := wotkittest.RawConnect(addr, "station-1", keyID, keyPW)
	if err != nil || rc != 0 {
		t.Fatalf("connect: %v, code %d", err, rc)
	}
	var flood bytes.Buffer
	for id := range mqtt.NewDefaultServerCapabilities().ReceiveMaximum + 1 {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, ProtocolVersion: 4,
			TopicName: "alice/other/data", PacketID: uint16(id + 1), Payload: []byte(payloadMark)}
		if err := pk.PublishEncode(&flood); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Write(flood.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := wotkittest.WaitClosed(nc, wotkittest.Timeout); err != nil {
		t.Fatalf("a client past the receive maximum stayed connected: %v", err)
	}

	pub, _, err := wotkittest.Dial5(t, addr, &paho.Connect{ClientID: "station-2", Username: keyID, Password: []byte(keyPW), CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wotkittest.Timeout)
	defer cancel()
	pr, err := pub.Publish(ctx, &paho.Publish{Topic: "alice/weather/data", QoS: 1, Payload: []byte(`{"temp": "` + payloadMark + `"}`)})
	if pr == nil || pr.ReasonCode != packets.ErrPayloadFormatInvalid.Code {
		t.Fatalf("bad reading: %+v %v, want PUBACK 0x99", pr, err)
	}

	var out string
	deadline := time.Now().Add(wotkittest.Timeout)
	for {
		out = logs.String()
		if strings.Contains(out, "error processing packet") && strings.Contains(out, "publish packet rejected") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, line := range []string{"error processing packet", "publish packet rejected"} {
		if !strings.Contains(out, line) {
			t.Fatalf("mochi did not log %q, so the test proves nothing; log:\n%s", line, out)
		}
	}
	for _, secret := range []string{keyPW, payloadMark} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	// A client's bad reading is the client's error, not the server's: it is
	// answered with the reason, and logged at the debug level.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "alice/weather/data") && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("the refused reading logged above debug: %s", line)
		}
	}
	for _, summary := range []string{"pk.type=Publish", "packet.type=Publish", "packet.topic=alice/weather/data", "packet.payload_bytes="} {
		if !strings.Contains(out, summary) {
			t.Errorf("the log lacks the packet summary %q:\n%s", summary, out)
		}
	}
}
