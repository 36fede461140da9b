package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/hooks"
)

// issue501 is a SUBSCRIBE without its options byte: it panics mochi's v5 decoder (mochi-mqtt/server issue 501).
var issue501 = []byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61}

// ioTimeout bounds every network wait in the tests; reaching it means "not closed" / "no answer".
const ioTimeout = 5 * time.Second

// SyncBuffer is a goroutine-safe log sink (exported for the broker_test package).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// allowHook allows every connection and topic, like mochi's hooks/auth.AllowHook,
// which cannot be imported here: it pulls in gopkg.in/yaml.v3, absent from go.sum.
type allowHook struct{ mqtt.HookBase }

func (h *allowHook) ID() string { return "allow-all" }

func (h *allowHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// testBroker is a running mochi server with one guarded listener.
type testBroker struct {
	addr string           // the listener's bound address
	ln   *guardedListener // the listener
	logs *SyncBuffer      // what the guard logged
	stop func()           // closes the server; also run at cleanup
}

// startBroker runs a real mochi server (allow-all auth) whose only listener is
// the guarded listener on ln (a fresh 127.0.0.1:0 TCP listener when ln is nil).
func startBroker(tb testing.TB, ln net.Listener, cfg GuardConfig) *testBroker {
	tb.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			tb.Fatal(err)
		}
	}
	logs := &SyncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))

	srv := mqtt.New(&mqtt.Options{InlineClient: false, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(allowHook), nil); err != nil {
		tb.Fatal(err)
	}
	l := newGuardedListener("guarded", "test", ln, cfg)
	if err := srv.AddListener(l); err != nil {
		tb.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		tb.Fatal(err)
	}
	stop := sync.OnceFunc(func() { _ = srv.Close() })
	tb.Cleanup(stop)
	return &testBroker{addr: l.Address(), ln: l, logs: logs, stop: stop}
}

// dial opens a raw TCP connection to addr.
func dial(tb testing.TB, addr string) *net.TCPConn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// encoders maps each packet type to mochi's encoder for it.
var encoders = map[byte]func(*packets.Packet, *bytes.Buffer) error{
	packets.Connect:     (*packets.Packet).ConnectEncode,
	packets.Publish:     (*packets.Packet).PublishEncode,
	packets.Puback:      (*packets.Packet).PubackEncode,
	packets.Pubrec:      (*packets.Packet).PubrecEncode,
	packets.Pubrel:      (*packets.Packet).PubrelEncode,
	packets.Pubcomp:     (*packets.Packet).PubcompEncode,
	packets.Subscribe:   (*packets.Packet).SubscribeEncode,
	packets.Unsubscribe: (*packets.Packet).UnsubscribeEncode,
	packets.Pingreq:     (*packets.Packet).PingreqEncode,
	packets.Disconnect:  (*packets.Packet).DisconnectEncode,
	packets.Auth:        (*packets.Packet).AuthEncode,
}

// encode returns the wire bytes of pk for the given protocol version.
func encode(tb testing.TB, version byte, pk packets.Packet) []byte {
	tb.Helper()
	pk.ProtocolVersion = version
	pk.Mods.AllowResponseInfo = true
	var buf bytes.Buffer
	if err := encoders[pk.FixedHeader.Type](&pk, &buf); err != nil {
		tb.Fatalf("encode %s: %v", packets.PacketNames[pk.FixedHeader.Type], err)
	}
	return buf.Bytes()
}

// connectPacket returns a clean-start CONNECT with keepalive 0 for clientID.
func connectPacket(tb testing.TB, version byte, clientID string) []byte {
	return encode(tb, version, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect:     packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, ClientIdentifier: clientID},
	})
}

// readPacket reads one whole MQTT packet from r and returns its header byte and body.
func readPacket(r io.Reader) (byte, []byte, error) {
	br := bufio.NewReader(r)
	hb, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, _, err := packets.DecodeLength(br)
	if err != nil {
		return 0, nil, err
	}
	body := make([]byte, n)
	_, err = io.ReadFull(br, body)
	return hb, body, err
}

// mqttConnect sends a CONNECT on c and requires a successful CONNACK.
func mqttConnect(tb testing.TB, c net.Conn, version byte, clientID string) {
	tb.Helper()
	if _, err := c.Write(connectPacket(tb, version, clientID)); err != nil {
		tb.Fatalf("write CONNECT: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	// Reading byte-wise from c directly keeps later bytes on the socket.
	hb, body, err := readPacket(oneByteReader{c})
	if err != nil {
		tb.Fatalf("read CONNACK: %v", err)
	}
	if hb>>4 != packets.Connack || len(body) < 2 || body[1] != 0 {
		tb.Fatalf("want successful CONNACK, got header %#x body %x", hb, body)
	}
}

// oneByteReader reads at most one byte per call, so no bytes are buffered past a packet.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 1)]) }

// assertClosedByServer drains c until the server closes it; it fails if c is still open after ioTimeout.
func assertClosedByServer(tb testing.TB, c net.Conn) {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		tb.Fatal("connection still open: the server did not close it")
	}
}

// assertGuardLogged requires the guard to have logged closing c with reason.
func assertGuardLogged(tb testing.TB, b *testBroker, c net.Conn, reason error) {
	tb.Helper()
	remote := "remote=" + c.LocalAddr().String() + " "
	for line := range strings.Lines(b.logs.String()) {
		if strings.Contains(line, "packet guard closed connection") && strings.Contains(line, remote) {
			if !strings.Contains(line, reason.Error()) {
				tb.Fatalf("guard closed %s for another reason than %q: %s", c.LocalAddr(), reason, line)
			}
			return
		}
	}
	tb.Fatalf("guard logged nothing for %s; log:\n%s", c.LocalAddr(), b.logs.String())
}

func TestGuard_MalformedSubscribeDoesNotKillBroker(t *testing.T) {
	b := startBroker(t, nil, GuardConfig{})

	bad := dial(t, b.addr)
	mqttConnect(t, bad, 5, "bad")
	if _, err := bad.Write(issue501); err != nil {
		t.Fatal(err)
	}
	assertClosedByServer(t, bad)
	assertGuardLogged(t, b, bad, ErrMalformedPacket)

	// The broker still serves a full subscribe/publish round trip.
	received := make(chan *paho.Publish, 1)
	c := paho.NewClient(paho.ClientConfig{
		Conn: dial(t, b.addr),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			received <- pr.Packet
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "good", CleanStart: true}); err != nil {
		t.Fatalf("connect after malformed packet: %v", err)
	}
	defer func() { _ = c.Disconnect(&paho.Disconnect{}) }()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "guard/test", QoS: 1}}}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "guard/test", QoS: 1, Payload: []byte("still alive")}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case pk := <-received:
		if string(pk.Payload) != "still alive" {
			t.Fatalf("got payload %q", pk.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no message received after the malformed packet")
	}
}

func TestGuard_SilentSocketClosedAfterConnectTimeout(t *testing.T) {
	const connectTimeout = 200 * time.Millisecond
	b := startBroker(t, nil, GuardConfig{ConnectTimeout: connectTimeout})

	silent := dial(t, b.addr)
	connected := dial(t, b.addr)
	mqttConnect(t, connected, 4, "punctual") // keepalive 0: only the guard could time it out

	assertClosedByServer(t, silent)
	assertGuardLogged(t, b, silent, ErrConnectTimeout)

	time.Sleep(2*connectTimeout + 100*time.Millisecond)
	if _, err := connected.Write([]byte{packets.Pingreq << 4, 0}); err != nil {
		t.Fatalf("connected client was closed: %v", err)
	}
	_ = connected.SetReadDeadline(time.Now().Add(ioTimeout))
	hb, _, err := readPacket(connected)
	if err != nil || hb>>4 != packets.Pingresp {
		t.Fatalf("connected client was closed by the connect timeout: header %#x, err %v", hb, err)
	}
}

func TestGuard_OversizedPacketClosed(t *testing.T) {
	const limit = 1024
	b := startBroker(t, nil, GuardConfig{MaxPacketSize: limit})
	publish := func(payload int) []byte {
		return encode(t, 4, packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish},
			TopicName:   "big",
			Payload:     make([]byte, payload),
		})
	}
	atLimit := publish(limit - 1 - 2 - 2 - 3) // minus header byte, 2-byte varint, topic length, "big"
	if len(atLimit) != limit {
		t.Fatalf("test packet is %d bytes, want %d", len(atLimit), limit)
	}

	c := dial(t, b.addr)
	mqttConnect(t, c, 4, "limit")
	if _, err := c.Write(append(atLimit, packets.Pingreq<<4, 0)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	if hb, _, err := readPacket(c); err != nil || hb>>4 != packets.Pingresp {
		t.Fatalf("a packet of exactly MaxPacketSize must pass: header %#x, err %v", hb, err)
	}

	for name, stream := range map[string][]byte{
		"one byte over the limit": publish(limit - 1 - 2 - 2 - 3 + 1),
		"announced, never sent":   {packets.Publish << 4, 0xff, 0xff, 0xff, 0x7f},
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, b.addr)
			mqttConnect(t, c, 5, "oversized")
			if _, err := c.Write(stream); err != nil {
				t.Fatal(err)
			}
			assertClosedByServer(t, c)
			assertGuardLogged(t, b, c, ErrPacketTooLarge)
		})
	}
}

func TestGuard_FirstPacketMustBeConnect(t *testing.T) {
	b := startBroker(t, nil, GuardConfig{})
	for _, tc := range []struct {
		name    string
		connect bool // send a valid CONNECT first
		stream  []byte
		reason  error
	}{
		{"pingreq first", false, []byte{packets.Pingreq << 4, 0}, ErrConnectRequired},
		{"subscribe first", false, issue501, ErrConnectRequired},
		{"garbage first", false, []byte("GET / HTTP/1.1\r\n\r\n"), ErrConnectRequired},
		{"second connect", true, connectPacket(t, 4, "again"), ErrSecondConnect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, b.addr)
			if tc.connect {
				mqttConnect(t, c, 4, "first")
			}
			if _, err := c.Write(tc.stream); err != nil {
				t.Fatal(err)
			}
			assertClosedByServer(t, c)
			assertGuardLogged(t, b, c, tc.reason)
		})
	}
}

// testPacket is one valid client packet.
type testPacket struct {
	name    string
	version byte
	raw     []byte
}

// validPackets returns valid packets of every type a client may send, for MQTT 3.1.1 and 5.
func validPackets(tb testing.TB) []testPacket {
	user := []packets.UserProperty{{Key: "k", Val: "v"}}
	var out []testPacket
	for _, v := range []byte{4, 5} {
		props := packets.Properties{}
		if v == 5 {
			props = packets.Properties{User: user, ReasonString: "why"}
		}
		add := func(name string, pk packets.Packet) {
			out = append(out, testPacket{name: fmt.Sprintf("v%d %s", v, name), version: v, raw: encode(tb, v, pk)})
		}
		fh := func(t, qos byte) packets.FixedHeader { return packets.FixedHeader{Type: t, Qos: qos} }

		add("connect", packets.Packet{FixedHeader: fh(packets.Connect, 0), Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "c1",
		}})
		connectFull := packets.Packet{FixedHeader: fh(packets.Connect, 0), Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Keepalive: 60, ClientIdentifier: "c2",
			WillFlag: true, WillQos: 1, WillRetain: true, WillTopic: "will/t", WillPayload: []byte("bye"),
			UsernameFlag: true, Username: []byte("user"), PasswordFlag: true, Password: []byte("pass"),
		}}
		if v == 5 {
			connectFull.Properties = packets.Properties{SessionExpiryInterval: 30, SessionExpiryIntervalFlag: true, ReceiveMaximum: 10, User: user}
			connectFull.Connect.WillProperties = packets.Properties{WillDelayInterval: 5, ContentType: "text/plain"}
		}
		add("connect will+credentials", connectFull)

		publishProps := packets.Properties{}
		if v == 5 {
			publishProps = packets.Properties{ContentType: "text/plain", MessageExpiryInterval: 60, User: user, PayloadFormat: 1, PayloadFormatFlag: true}
		}
		add("publish qos0", packets.Packet{FixedHeader: fh(packets.Publish, 0), TopicName: "a/b", Payload: []byte("hello")})
		add("publish qos1 retain", packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
			TopicName: "a/b", PacketID: 7, Payload: []byte("kept"), Properties: publishProps})
		add("publish qos2 dup empty", packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2, Dup: true},
			TopicName: "a/c", PacketID: 8, Properties: publishProps})

		ack := func(t byte, qos byte) packets.Packet {
			pk := packets.Packet{FixedHeader: fh(t, qos), PacketID: 9, Properties: props}
			if v == 5 {
				pk.ReasonCode = packets.ErrPacketIdentifierNotFound.Code
			}
			return pk
		}
		add("puback", ack(packets.Puback, 0))
		add("pubrec", ack(packets.Pubrec, 0))
		add("pubrel", ack(packets.Pubrel, 1))
		add("pubcomp", ack(packets.Pubcomp, 0))

		subscribe := packets.Packet{FixedHeader: fh(packets.Subscribe, 1), PacketID: 10, Filters: packets.Subscriptions{
			{Filter: "a/#", Qos: 1},
			{Filter: "b/+/c", Qos: 2},
		}}
		if v == 5 {
			subscribe.Properties = packets.Properties{SubscriptionIdentifier: []int{3}, User: user}
			subscribe.Filters[1].NoLocal, subscribe.Filters[1].RetainAsPublished, subscribe.Filters[1].RetainHandling = true, true, 2
		}
		add("subscribe", subscribe)
		add("unsubscribe", packets.Packet{FixedHeader: fh(packets.Unsubscribe, 1), PacketID: 11, Properties: packets.Properties{User: props.User},
			Filters: packets.Subscriptions{{Filter: "a/#"}, {Filter: "b/+/c"}}})
		add("pingreq", packets.Packet{FixedHeader: fh(packets.Pingreq, 0)})
		if v == 5 {
			add("disconnect with reason", packets.Packet{FixedHeader: fh(packets.Disconnect, 0), ReasonCode: packets.CodeDisconnectWillMessage.Code, Properties: props})
			add("auth", packets.Packet{FixedHeader: fh(packets.Auth, 0), ReasonCode: packets.CodeContinueAuthentication.Code,
				Properties: packets.Properties{AuthenticationMethod: "SCRAM", AuthenticationData: []byte{1, 2, 3}}})
		}
		add("disconnect", packets.Packet{FixedHeader: fh(packets.Disconnect, 0)})
	}
	return out
}

// streamFor returns the bytes a client sends to deliver p: a CONNECT first unless p is one.
func streamFor(tb testing.TB, p testPacket) []byte {
	if p.raw[0]>>4 == packets.Connect {
		return p.raw
	}
	return append(connectPacket(tb, p.version, "table"), p.raw...)
}

func TestGuard_ValidPacketsPassUnchanged(t *testing.T) {
	// A guarded listener whose connections are read the way mochi reads them
	// (bufio on top), reporting exactly the bytes the guard let through.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewGuardedListener("capture", "tcp", ln, GuardConfig{Logger: slog.New(slog.DiscardHandler)})
	type result struct {
		data []byte
		err  error
	}
	got := make(chan result, 1)
	go l.Serve(func(_ string, c net.Conn) error {
		data, err := io.ReadAll(bufio.NewReaderSize(c, 16))
		got <- result{data, err}
		return c.Close()
	})
	t.Cleanup(func() { l.Close(func(string) {}) })

	b := startBroker(t, nil, GuardConfig{})

	for _, p := range validPackets(t) {
		want := streamFor(t, p)
		for _, mode := range []string{"whole", "byte by byte"} {
			t.Run(p.name+"/"+mode, func(t *testing.T) {
				c := dial(t, l.Address())
				if mode == "whole" {
					_, err = c.Write(want)
				} else {
					for i := 0; i < len(want) && err == nil; i++ {
						_, err = c.Write(want[i : i+1])
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				_ = c.CloseWrite()
				select {
				case r := <-got:
					if r.err != nil || !bytes.Equal(r.data, want) {
						t.Fatalf("guard changed the stream: err %v\n got %x\nwant %x", r.err, r.data, want)
					}
				case <-time.After(ioTimeout):
					t.Fatal("guard delivered nothing")
				}
			})
		}
		t.Run(p.name+"/live broker", func(t *testing.T) {
			c := dial(t, b.addr)
			if _, err := c.Write(want); err != nil {
				t.Fatal(err)
			}
			_ = c.CloseWrite()
			assertClosedByServer(t, c) // mochi ends the session at our EOF
			if logs := b.logs.String(); logs != "" {
				t.Fatalf("guard rejected a valid packet:\n%s", logs)
			}
		})
	}
}

// memConn is an in-memory connection serving head once, then body over and over.
type memConn struct {
	net.Conn // nil: only the methods below are used
	head     []byte
	body     []byte
	off      int
}

func (m *memConn) Read(p []byte) (int, error) {
	if len(m.head) > 0 {
		n := copy(p, m.head)
		m.head = m.head[n:]
		return n, nil
	}
	n := copy(p, m.body[m.off:])
	m.off = (m.off + n) % len(m.body)
	return n, nil
}

func (m *memConn) SetReadDeadline(time.Time) error { return nil }

// BenchmarkGuardRead measures mochi's read path (fixed header, length, body,
// PublishDecode) for small QoS 0 PUBLISH packets, unguarded and through the guard.
func BenchmarkGuardRead(b *testing.B) {
	for _, v := range []byte{4, 5} {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "sensors/t1", Payload: []byte("21.5")}
		if v == 5 {
			pk.Properties = packets.Properties{ContentType: "text/plain"}
		}
		publish := encode(b, v, pk)
		body := bytes.Repeat(publish, 64)
		connect := connectPacket(b, v, "bench")

		for _, guarded := range []bool{false, true} {
			name := fmt.Sprintf("v%d/unguarded", v)
			if guarded {
				name = fmt.Sprintf("v%d/guarded", v)
			}
			b.Run(name, func(b *testing.B) {
				var conn net.Conn = &memConn{head: connect, body: body}
				if guarded {
					conn = newGuardConn(conn, GuardConfig{Logger: slog.New(slog.DiscardHandler)}.withDefaults())
				}
				br := bufio.NewReaderSize(conn, 2048)
				readOne := func() {
					hb, err := br.ReadByte()
					if err != nil {
						b.Fatal(err)
					}
					fh := packets.FixedHeader{}
					if err := fh.Decode(hb); err != nil {
						b.Fatal(err)
					}
					if fh.Remaining, _, err = packets.DecodeLength(br); err != nil {
						b.Fatal(err)
					}
					p := make([]byte, fh.Remaining)
					if _, err := io.ReadFull(br, p); err != nil {
						b.Fatal(err)
					}
					out := packets.Packet{FixedHeader: fh, ProtocolVersion: v}
					if fh.Type == packets.Publish {
						if err := out.PublishDecode(append([]byte{}, p...)); err != nil {
							b.Fatal(err)
						}
					}
				}
				readOne() // CONNECT
				b.SetBytes(int64(len(publish)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					readOne()
				}
			})
		}
	}
}

// chunkConn serves data in reads of pseudo-random sizes, then io.EOF.
type chunkConn struct {
	net.Conn // nil: only the methods below are used
	data     []byte
	rnd      uint32
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.rnd = c.rnd*1664525 + 1013904223
	n := min(len(p), len(c.data), 1+int(c.rnd>>16)%3000)
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func (c *chunkConn) SetReadDeadline(time.Time) error { return nil }

// The guard reads the socket into one buffer: small for a connection that
// sends little, larger while reads keep filling it, and released after a large
// packet. Whatever the sizes of packets and reads, the stream passes unchanged.
func TestGuard_ReadBufferFollowsTheTraffic(t *testing.T) {
	publish := func(n int) []byte {
		return encode(t, 4, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "a/b",
			Payload: bytes.Repeat([]byte{'x'}, n)})
	}
	connect := connectPacket(t, 4, "sizes")
	cfg := GuardConfig{Logger: slog.New(slog.DiscardHandler)}.withDefaults()

	idle := newGuardConn(&chunkConn{data: connect}, cfg)
	if _, err := io.ReadFull(idle, make([]byte, len(connect))); err != nil {
		t.Fatal(err)
	}
	if c := cap(idle.buf); c != minReadBuffer {
		t.Errorf("after CONNECT alone the buffer holds %d bytes, want %d", c, minReadBuffer)
	}

	var stream bytes.Buffer
	stream.Write(connect)
	for i := range 3000 {
		switch i {
		case 1000:
			stream.Write(publish(10 << 10))
		case 2000:
			stream.Write(publish(300 << 10))
		default:
			stream.Write(publish(i % 100))
		}
	}
	want := stream.Bytes()
	for seed := range uint32(20) {
		g := newGuardConn(&chunkConn{data: want, rnd: seed}, cfg)
		got, err := io.ReadAll(bufio.NewReaderSize(g, 16))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("seed %d: stream changed: err %v, %d of %d bytes", seed, err, len(got), len(want))
		}
		if c := cap(g.buf); c > maxReadAhead {
			t.Errorf("seed %d: after the traffic the buffer holds %d bytes, want at most %d", seed, c, maxReadAhead)
		}
	}
}

// stampConn serves one chunk per read and records the limiter's clock at each.
type stampConn struct {
	net.Conn // nil: only the methods below are used
	chunks   [][]byte
	at       []int64
}

func (c *stampConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	c.at = append(c.at, hooks.Clock())
	n := copy(p, c.chunks[0])
	c.chunks = c.chunks[1:]
	return n, nil
}

func (c *stampConn) SetReadDeadline(time.Time) error { return nil }

// The publish-rate limiter judges a packet first by when it arrived: the
// guard stamps each read from the network, and a packet it hands out carries
// the stamp of the read that completed it.
func TestGuard_PacketCarriesTheTimeOfItsRead(t *testing.T) {
	connect := connectPacket(t, 4, "stamps")
	publish := encode(t, 4, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "a/b", Payload: []byte("1")})
	c := &stampConn{chunks: [][]byte{connect, publish[:3], publish[3:]}}
	g := newGuardConn(c, GuardConfig{Logger: slog.New(slog.DiscardHandler)}.withDefaults())
	if _, err := io.ReadFull(g, make([]byte, len(connect))); err != nil {
		t.Fatal(err)
	}
	if g.Arrived() < c.at[0] {
		t.Fatalf("CONNECT stamped %d, before the read that brought it (%d)", g.Arrived(), c.at[0])
	}
	if _, err := io.ReadFull(g, make([]byte, len(publish))); err != nil {
		t.Fatal(err)
	}
	if len(c.at) != 3 || g.Arrived() < c.at[2] {
		t.Fatalf("PUBLISH stamped %d, before the read that completed it (reads at %v)", g.Arrived(), c.at)
	}
}
