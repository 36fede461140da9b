package broker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"
)

// GuardConfig configures the per-connection packet guard.
type GuardConfig struct {
	ConnectTimeout time.Duration // a connection that has not sent a complete CONNECT within this is closed; 0 means 10s
	MaxPacketSize  uint32        // a packet (fixed header+body) larger than this closes the connection; 0 means the MQTT maximum
	Logger         *slog.Logger  // nil: slog.Default(); log each closed connection once at Info/Warn with remote address and reason, never payload bytes
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
	defaultConnectTimeout = 10 * time.Second
	maxRemainingLength    = 268435455                  // largest value of the 4-byte remaining-length varint
	maxMQTTPacketSize     = 1 + 4 + maxRemainingLength // fixed header byte, varint, body
	guardReadBufferSize   = 4096                       // bufio size on the underlying connection
	bodyReadChunk         = 64 << 10                   // the body buffer grows at most this far ahead of received bytes
	maxIdlePacketBuffer   = 64 << 10                   // a larger packet buffer is released once its packet is consumed
)

// withDefaults returns cfg with zero values replaced by their defaults.
func (cfg GuardConfig) withDefaults() GuardConfig {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
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
type guardConn struct {
	net.Conn
	br      *bufio.Reader
	maxSize uint32
	log     *slog.Logger

	pkt       []byte // the current validated packet: fixed header, remaining length, body
	off       int    // how much of pkt Read has handed out
	connected bool   // a valid CONNECT has been read
	version   byte   // protocol version announced by the CONNECT
	err       error  // sticky error returned once pkt is drained
}

// newGuardConn wraps c and arms the connect timeout; cfg must have its defaults applied.
func newGuardConn(c net.Conn, cfg GuardConfig) *guardConn {
	g := &guardConn{
		Conn:    c,
		br:      bufio.NewReaderSize(c, guardReadBufferSize),
		maxSize: cfg.MaxPacketSize,
		log:     cfg.Logger,
	}
	if err := c.SetReadDeadline(time.Now().Add(cfg.ConnectTimeout)); err != nil {
		g.err = g.reject(fmt.Errorf("packet guard: arm connect timeout: %w", err))
	}
	return g
}

// Read hands out the bytes of validated packets; it reads and validates the next
// packet only when the current one has been consumed.
func (g *guardConn) Read(p []byte) (int, error) {
	if g.off == len(g.pkt) {
		if g.err != nil {
			return 0, g.err
		}
		if err := g.next(); err != nil {
			g.pkt, g.off, g.err = g.pkt[:0], 0, err
			return 0, err
		}
	}
	n := copy(p, g.pkt[g.off:])
	g.off += n
	return n, nil
}

// next reads one whole packet into g.pkt and validates it. Errors from
// protocol violations have already closed the connection and been logged.
func (g *guardConn) next() error {
	if cap(g.pkt) > maxIdlePacketBuffer {
		g.pkt = nil
	}
	g.pkt, g.off = g.pkt[:0], 0

	hb, err := g.br.ReadByte()
	if err != nil {
		return g.ioErr(err, true)
	}
	g.pkt = append(g.pkt, hb)

	var fh packets.FixedHeader
	if err := g.checkType(hb >> 4); err != nil {
		return g.reject(err)
	}
	if err := fh.Decode(hb); err != nil {
		return g.reject(fmt.Errorf("%w: fixed header: %w", ErrMalformedPacket, err))
	}

	remaining, err := g.readRemainingLength()
	if err != nil {
		return err
	}
	if size := uint64(len(g.pkt)) + uint64(remaining); size > uint64(g.maxSize) {
		return g.reject(fmt.Errorf("%w: %d bytes, limit %d", ErrPacketTooLarge, size, g.maxSize))
	}
	fh.Remaining = remaining
	if err := g.readBody(remaining); err != nil {
		return err
	}

	body := g.pkt[len(g.pkt)-remaining:]
	version, err := validatePacket(fh, g.version, body)
	if err != nil {
		return g.reject(err)
	}
	if fh.Type == packets.Connect {
		g.connected, g.version = true, version
		if err := g.Conn.SetReadDeadline(time.Time{}); err != nil {
			return g.reject(fmt.Errorf("packet guard: clear connect timeout: %w", err))
		}
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

// readRemainingLength reads the remaining-length varint (at most 4 bytes) into g.pkt.
func (g *guardConn) readRemainingLength() (int, error) {
	var n int
	for i := range 4 {
		b, err := g.br.ReadByte()
		if err != nil {
			return 0, g.ioErr(err, false)
		}
		g.pkt = append(g.pkt, b)
		n |= int(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return n, nil
		}
	}
	return 0, g.reject(fmt.Errorf("%w: remaining length longer than 4 bytes", ErrMalformedPacket))
}

// readBody appends n body bytes to g.pkt, growing the buffer only as bytes arrive
// so that a large announced length costs memory only once it is actually sent.
func (g *guardConn) readBody(n int) error {
	for n > 0 {
		chunk := min(n, bodyReadChunk)
		start := len(g.pkt)
		g.pkt = slices.Grow(g.pkt, chunk)[:start+chunk]
		if _, err := io.ReadFull(g.br, g.pkt[start:]); err != nil {
			return g.ioErr(err, false)
		}
		n -= chunk
	}
	return nil
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
