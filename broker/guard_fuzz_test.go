package broker

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// fuzzVersion picks the protocol version of a fuzz input from its first byte.
func fuzzVersion(sel byte) byte {
	if sel&1 == 1 {
		return 5
	}
	return 4
}

// versionSelector is the first input byte that selects version v.
func versionSelector(v byte) byte {
	if v == 5 {
		return 1
	}
	return 0
}

// fuzzSeeds returns the seed inputs: issue 501, valid packets of every type,
// the same packets cut short and with a body one byte short, and every raw
// packet of mochi's own decoder test table.
func fuzzSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{append([]byte{1}, issue501...)}
	add := func(v byte, stream []byte) {
		seeds = append(seeds, append([]byte{versionSelector(v)}, stream...))
	}

	valid := validPackets(tb)
	valid = append(valid, testPacket{name: "v5 publish with every property", version: 5, raw: encode(tb, 5, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName:   "t",
		PacketID:    1,
		Payload:     []byte("p"),
		Properties: packets.Properties{
			PayloadFormat: 1, PayloadFormatFlag: true, MessageExpiryInterval: 9, ContentType: "c",
			ResponseTopic: "r", CorrelationData: []byte{1}, SubscriptionIdentifier: []int{300},
			TopicAlias: 2, TopicAliasFlag: true, User: []packets.UserProperty{{Key: "k", Val: "v"}},
		},
	})})
	for _, p := range valid {
		add(p.version, p.raw)
		add(p.version, p.raw[:len(p.raw)-1])
		hb, body := p.raw[0], p.raw[len(p.raw)-packetBodyLen(p.raw):]
		if len(body) > 0 {
			var short bytes.Buffer
			(&packets.FixedHeader{Remaining: len(body) - 1}).Encode(&short)
			short.Bytes()[0] = hb // keep the original type and flags
			add(p.version, append(short.Bytes(), body[:len(body)-1]...))
		}
	}

	for _, cases := range packets.TPacketData {
		for _, c := range cases {
			if len(c.RawBytes) > 0 {
				v := byte(4)
				if c.Packet != nil && c.Packet.ProtocolVersion == 5 {
					v = 5
				}
				add(v, c.RawBytes)
			}
		}
	}
	return seeds
}

// packetBodyLen returns the remaining length announced by the whole packet raw.
func packetBodyLen(raw []byte) int {
	n, _, err := packets.DecodeLength(bytes.NewReader(raw[1:]))
	if err != nil {
		panic(fmt.Sprintf("seed packet %x: %v", raw, err))
	}
	return n
}

// FuzzGuardLiveBroker sends arbitrary bytes after a valid CONNECT (MQTT 5 when
// the first input byte is odd, else 3.1.1) to one live guarded broker and
// checks that the broker survives and still serves a fresh client. It also
// checks, for every PUBLISH in the input, that validatePublish accepts exactly
// what mochi's PublishDecode decodes without error or panic.
func FuzzGuardLiveBroker(f *testing.F) {
	b := startBroker(f, nil, GuardConfig{})
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	var clients atomic.Int64

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		version, stream := fuzzVersion(data[0]), data[1:]
		checkPublishValidator(t, version, stream)

		// Linger 0 resets instead of leaving TIME_WAIT sockets, which would exhaust the ephemeral ports.
		c := dial(t, b.addr)
		_ = c.SetLinger(0)
		mqttConnect(t, c, version, fmt.Sprintf("fuzz-%d", clients.Add(1)))
		_, _ = c.Write(stream) // the guard may already have closed the connection
		_ = c.CloseWrite()
		assertClosedByServer(t, c)
		_ = c.Close()

		fresh := dial(t, b.addr)
		_ = fresh.SetLinger(0)
		mqttConnect(t, fresh, 5, fmt.Sprintf("fresh-%d", clients.Add(1)))
		_ = fresh.Close()
	})
}

// checkPublishValidator compares validatePublish with mochi's PublishDecode on
// the body of every PUBLISH framed in stream (a cut-off last body included).
func checkPublishValidator(t *testing.T, version byte, stream []byte) {
	for len(stream) >= 2 {
		hb := stream[0]
		n, size, ok := 0, 0, false
		for i := 1; i < len(stream) && i <= 4; i++ {
			n |= int(stream[i]&0x7f) << (7 * (i - 1))
			if stream[i]&0x80 == 0 {
				size, ok = i+1, true
				break
			}
		}
		if !ok {
			return
		}
		body := stream[size:min(len(stream), size+n)]
		stream = stream[size+len(body):]

		qos := (hb >> 1) & 3
		if hb>>4 != packets.Publish || qos == 3 { // the fixed header decoder rejects QoS 3 first
			continue
		}
		want := mochiPublishDecodes(qos, version, body)
		if got := validatePublish(qos, version, body) == nil; got != want {
			t.Fatalf("validatePublish accepts=%v, mochi decodes=%v: v%d qos %d body %x", got, want, version, qos, body)
		}
	}
}

// mochiPublishDecodes reports whether mochi's PublishDecode decodes body without error or panic.
func mochiPublishDecodes(qos, version byte, body []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos, Remaining: len(body)},
		ProtocolVersion: version,
	}
	return pk.PublishDecode(body) == nil
}
