package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/hooks"
)

// GuardConfig configures the per-connection packet guard.
type GuardConfig struct {
	ConnectTimeout time.Duration // a connection that has not sent a complete CONNECT within this is closed; 0 means 10s
	MaxPacketSize  uint32        // a packet (fixed header+body) larger than this closes the connection; 0 means the MQTT maximum
	Logger         *slog.Logger  // nil: slog.Default(); log each closed connection once at Info/Warn with remote address and reason, never payload bytes
	// Ended, if set, is called with each guarded connection once mochi is
	// done with it (its establish has returned).
	Ended func(net.Conn)
}

// Reasons for which the packet guard closes a connection; the error returned by a guarded Read wraps one of them.
var (
	// ErrMalformedPacket means a packet could not be decoded, or is of a type a client must not send.
	ErrMalformedPacket = errors.New("malformed packet")
	// ErrPacketTooLarge means a packet exceeds GuardConfig.MaxPacketSize.
	ErrPacketTooLarge = errors.New("packet too large")
	// ErrConnectRequired means the first packet of a connection is not CONNECT.
	ErrConnectRequired = errors.New("first packet is not CONNECT")
	// ErrSecondConnect means a client sent CONNECT on an established connection.
	ErrSecondConnect = errors.New("second CONNECT")
	// ErrConnectTimeout means no complete CONNECT arrived within GuardConfig.ConnectTimeout.
	ErrConnectTimeout = errors.New("no CONNECT within connect timeout")
)

const (
	maxRemainingLength = 268435455                  // largest value of the 4-byte remaining-length varint
	maxMQTTPacketSize  = 1 + 4 + maxRemainingLength // fixed header byte, varint, body
	minReadBuffer      = 512                        // the read buffer of a connection that sends little
	maxReadAhead       = 4096                       // the read buffer grows to this while reads keep filling it
	bodyReadChunk      = 64 << 10                   // the buffer grows at most this far ahead of received bytes
)

// withDefaults returns cfg with zero values replaced by their defaults.
func (cfg GuardConfig) withDefaults() GuardConfig {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = maxMQTTPacketSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// guardConn is a net.Conn whose Read yields only whole, validated MQTT packets
// read from the underlying connection. Everything but Read passes through.
//
// One buffer holds what was read from the connection: the current validated
// packet, of which Read hands out buf[off:end], and after it what was read
// ahead (while the next packet is read, it starts at off). It starts at minReadBuffer, so that an idle connection holds little,
// and doubles up to maxReadAhead while reads keep filling it, so that a busy
// one takes many packets per system call; a larger packet enlarges it only
// until the packet is consumed.
type guardConn struct {
	net.Conn
	maxSize uint32
	log     *slog.Logger

	buf       []byte
	off, end  int
	size      int   // the buffer's capacity between large packets: minReadBuffer up to maxReadAhead
	grow      bool  // the last read filled the buffer: enlarge it at the next packet
	readErr   error // the underlying connection's error, returned once the bytes before it are used
	connected bool  // a valid CONNECT has been read
	version   byte  // protocol version announced by the CONNECT
	err       error // sticky error returned once the current packet is drained

	grant   atomic.Pointer[hooks.Grant] // the session's grant, for the ACL (hooks.GrantSlot)
	arrived atomic.Int64                // hooks.Clock when the last bytes were read (hooks.GrantSlot)
	revoked atomic.Bool                 // the session was revoked (hooks.GrantSlot)
}

// newGuardConn wraps c and arms the connect timeout; cfg must have its defaults applied.
func newGuardConn(c net.Conn, cfg GuardConfig) *guardConn {
	g := &guardConn{
		Conn:    c,
		buf:     make([]byte, 0, minReadBuffer),
		size:    minReadBuffer,
		maxSize: cfg.MaxPacketSize,
		log:     cfg.Logger,
	}
	if err := c.SetReadDeadline(time.Now().Add(cfg.ConnectTimeout)); err != nil {
		g.err = g.reject(fmt.Errorf("packet guard: arm connect timeout: %w", err))
	}
	return g
}

var _ hooks.GrantSlot = (*guardConn)(nil)

// GrantSlot holds the grant of the connection's session.
func (g *guardConn) GrantSlot() *atomic.Pointer[hooks.Grant] { return &g.grant }

// Revoke marks the connection's session revoked (hooks.GrantSlot).
func (g *guardConn) Revoke() { g.revoked.Store(true) }

// Revoked reports whether Revoke was called (hooks.GrantSlot).
func (g *guardConn) Revoked() bool { return g.revoked.Load() }

// Arrived returns when the bytes of the packet being handled were read: the
// guard hands mochi one packet at a time, from the last read that completed it.
func (g *guardConn) Arrived() int64 { return g.arrived.Load() }

// Read hands out the bytes of validated packets; it reads and validates the next
// packet only when the current one has been consumed.
func (g *guardConn) Read(p []byte) (int, error) {
	if g.off == g.end {
		if g.err != nil {
			return 0, g.err
		}
		if err := g.next(); err != nil {
			g.off, g.end, g.err = 0, 0, err
			return 0, err
		}
	}
	n := copy(p, g.buf[g.off:g.end])
	g.off += n
	return n, nil
}

// next reads the packet that follows the consumed one (it starts at g.off,
// possibly already read ahead) into g.buf and validates it. Errors from
// protocol violations have already closed the connection and been logged.
func (g *guardConn) next() error {
	g.resize()
	if err := g.fill(1, true); err != nil {
		return err
	}
	hb := g.buf[g.off]
	var fh packets.FixedHeader
	if err := g.checkType(hb >> 4); err != nil {
		return g.reject(err)
	}
	if err := fh.Decode(hb); err != nil {
		return g.reject(fmt.Errorf("%w: fixed header: %w", ErrMalformedPacket, err))
	}

	remaining, header, err := g.readRemainingLength()
	if err != nil {
		return err
	}
	size := header + remaining
	if uint64(size) > uint64(g.maxSize) {
		return g.reject(fmt.Errorf("%w: %d bytes, limit %d", ErrPacketTooLarge, size, g.maxSize))
	}
	fh.Remaining = remaining
	if err := g.fill(size, false); err != nil {
		return err
	}

	version, err := validatePacket(fh, g.version, g.buf[g.off+header:g.off+size])
	if err != nil {
		return g.reject(err)
	}
	if fh.Type == packets.Connect {
		g.connected, g.version = true, version
		if err := g.Conn.SetReadDeadline(time.Time{}); err != nil {
			return g.reject(fmt.Errorf("packet guard: clear connect timeout: %w", err))
		}
	}
	g.end = g.off + size
	return nil
}

// resize starts the buffer over once the consumed packet is gone: at its
// front when nothing was read ahead, and in a new buffer of g.size when it
// should grow or was enlarged for a large packet.
func (g *guardConn) resize() {
	ahead := g.buf[g.end:]
	if g.grow && g.size < maxReadAhead {
		g.size *= 2
	}
	g.grow = false
	switch {
	case cap(g.buf) != g.size && len(ahead) <= g.size:
		g.buf = append(make([]byte, 0, g.size), ahead...)
	case len(ahead) == 0:
		g.buf = g.buf[:0]
	default:
		return
	}
	g.off, g.end = 0, 0
}

// fill reads from the connection until g.buf holds at least n bytes from
// g.off, the start of the packet being read. When the buffer is full it
// first moves the packet to the front, then grows, only as bytes arrive, so
// that a large announced length costs memory only once it is actually sent.
// atBoundary says no byte of the packet has been read.
func (g *guardConn) fill(n int, atBoundary bool) error {
	for len(g.buf)-g.off < n {
		if g.readErr != nil {
			return g.ioErr(g.readErr, atBoundary && len(g.buf) == g.off)
		}
		if len(g.buf) == cap(g.buf) {
			if g.off > 0 {
				g.buf = g.buf[:copy(g.buf, g.buf[g.off:])]
				g.off, g.end = 0, 0
			} else {
				g.buf = slices.Grow(g.buf, min(n-len(g.buf), bodyReadChunk))
			}
		}
		free := g.buf[len(g.buf):cap(g.buf)]
		m, err := g.Conn.Read(free)
		if m > 0 {
			g.arrived.Store(hooks.Clock())
		}
		g.buf = g.buf[:len(g.buf)+m]
		g.grow = g.grow || m == len(free)
		g.readErr = err
	}
	return nil
}

// checkType rejects packet types the connection's state does not allow.
func (g *guardConn) checkType(t byte) error {
	if !g.connected {
		if t != packets.Connect {
			return fmt.Errorf("%w: got %s", ErrConnectRequired, packets.PacketNames[t])
		}
		return nil
	}
	switch t {
	case packets.Connect:
		return ErrSecondConnect
	case packets.Publish, packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp,
		packets.Subscribe, packets.Unsubscribe, packets.Pingreq, packets.Disconnect:
		return nil
	case packets.Auth:
		if g.version == 5 {
			return nil
		}
	}
	return fmt.Errorf("%w: unexpected %s packet from client", ErrMalformedPacket, packets.PacketNames[t])
}

// readRemainingLength decodes the remaining-length varint (at most 4 bytes)
// that follows the fixed header byte; header is the fixed header's length.
func (g *guardConn) readRemainingLength() (remaining, header int, err error) {
	for i := range 4 {
		if err := g.fill(i+2, false); err != nil {
			return 0, 0, err
		}
		b := g.buf[g.off+i+1]
		remaining |= int(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return remaining, i + 2, nil
		}
	}
	return 0, 0, g.reject(fmt.Errorf("%w: remaining length longer than 4 bytes", ErrMalformedPacket))
}

// ioErr maps an error of the underlying connection. A clean EOF between packets
// stays io.EOF so callers see an ordinary end of stream.
func (g *guardConn) ioErr(err error, atBoundary bool) error {
	var ne net.Error
	switch {
	case !g.connected && errors.As(err, &ne) && ne.Timeout():
		return g.reject(fmt.Errorf("%w: %w", ErrConnectTimeout, err))
	case atBoundary && errors.Is(err, io.EOF):
		return io.EOF
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("packet guard: connection ended inside a packet: %w", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("packet guard: read: %w", err)
}

// reject closes the underlying connection because of err, logs that once, and returns err.
func (g *guardConn) reject(err error) error {
	level := slog.LevelWarn
	if errors.Is(err, ErrConnectTimeout) {
		level = slog.LevelInfo
	}
	g.log.Log(context.Background(), level, "packet guard closed connection",
		"remote", g.Conn.RemoteAddr().String(), "reason", err.Error())
	_ = g.Conn.Close()
	return err
}

// validatePacket reports why a packet must not reach mochi. PUBLISH, the hot
// path, goes to validatePublish; every other type is decoded by mochi's own
// decoder, as mochi would with the connection's protocol version, and rejected
// if that returns an error or panics. Decoders only read body, so no copy is
// needed. For CONNECT it returns the protocol version the packet announces.
func validatePacket(fh packets.FixedHeader, version byte, body []byte) (connectVersion byte, err error) {
	if fh.Type == packets.Publish {
		return 0, validatePublish(fh.Qos, version, body)
	}

	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: decoder panic: %v", ErrMalformedPacket, packets.PacketNames[fh.Type], r)
		}
	}()
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: version}
	switch fh.Type {
	case packets.Connect:
		err = pk.ConnectDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Subscribe:
		err = pk.SubscribeDecode(body)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(body)
	case packets.Auth:
		err = pk.AuthDecode(body)
	case packets.Disconnect:
		if version == 5 {
			err = pk.DisconnectDecode(body)
		} else if len(body) != 0 {
			err = errors.New("body must be empty")
		}
	case packets.Pingreq:
		if len(body) != 0 {
			err = errors.New("body must be empty")
		}
	default:
		err = packets.ErrNoValidPacketAvailable
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrMalformedPacket, packets.PacketNames[fh.Type], err)
	}
	return pk.ProtocolVersion, nil
}

// errMalformedPublish is returned for every PUBLISH that validatePublish rejects.
var errMalformedPublish = fmt.Errorf("%w: Publish: does not decode", ErrMalformedPacket)

// validatePublish accepts exactly the PUBLISH bodies that mochi's
// PublishDecode decodes without error or panic, without allocating: it mirrors
// that decoder step by step, quirks included. FuzzGuardLiveBroker checks the
// equivalence against mochi's decoder.
func validatePublish(qos, version byte, body []byte) error {
	off, ok := skipString(body, 0) // topic name
	if ok && qos > 0 {
		off, ok = skipN(body, off, 2) // packet identifier
	}
	if ok && version == 5 {
		ok = publishPropertiesOK(body[off:])
	}
	if !ok {
		return errMalformedPublish
	}
	return nil
}

// publishPropertiesOK mirrors mochi's Properties.Decode for a PUBLISH: like
// mochi, it parses properties while the offset is below the announced length,
// even past it into the payload. (The payload mochi then slices off after the
// announced length is therefore always in range.)
func publishPropertiesOK(b []byte) bool {
	n, bu, ok := mochiVarint(b)
	if !ok {
		return false
	}
	props := b[bu:]
	for off := 0; ok && off < n; {
		if off >= len(props) {
			return false
		}
		key := props[off]
		off++
		switch key {
		case packets.PropPayloadFormat:
			off, ok = skipN(props, off, 1)
		case packets.PropMessageExpiryInterval:
			off, ok = skipN(props, off, 4)
		case packets.PropTopicAlias:
			off, ok = skipN(props, off, 2)
		case packets.PropContentType, packets.PropResponseTopic:
			off, ok = skipString(props, off)
		case packets.PropCorrelationData:
			off, ok = skipBinary(props, off)
		case packets.PropUser:
			if off, ok = skipString(props, off); ok {
				off, ok = skipString(props, off)
			}
		case packets.PropSubscriptionIdentifier:
			var l int
			_, l, ok = mochiVarint(props[off:])
			off += l
		default: // not a PUBLISH property
			ok = false
		}
	}
	return ok
}

// mochiVarint mirrors mochi's packets.DecodeLength, which accepts any number of
// continuation bytes and computes in uint32 (bits shifted out are lost); it
// returns the value and the number of bytes read.
func mochiVarint(b []byte) (value, size int, ok bool) {
	var v, shift uint32
	for i, eb := range b {
		v |= uint32(eb&127) << shift
		if v > maxRemainingLength {
			return 0, 0, false
		}
		if eb&128 == 0 {
			return int(v), i + 1, true
		}
		shift += 7
	}
	return 0, 0, false
}

// skipN returns off+n if b holds n bytes at off.
func skipN(b []byte, off, n int) (int, bool) {
	return off + n, len(b) >= off+n
}

// skipBinary skips a length-prefixed byte string at off.
func skipBinary(b []byte, off int) (int, bool) {
	if len(b) < off+2 {
		return 0, false
	}
	end := off + 2 + int(binary.BigEndian.Uint16(b[off:]))
	return end, end <= len(b)
}

// skipString skips a length-prefixed string at off that mochi accepts: valid UTF-8 without U+0000.
func skipString(b []byte, off int) (int, bool) {
	end, ok := skipBinary(b, off)
	if !ok {
		return 0, false
	}
	s := b[off+2 : end]
	return end, utf8.Valid(s) && bytes.IndexByte(s, 0) < 0
}
