package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A minimal MQTT 3.1.1 codec: only the packets a load generator sends and
// reads. Encoders append to a caller's buffer, so a steady publisher
// allocates nothing per message.

// Packet types (MQTT 3.1.1 section 2.2.1).
const (
	typeConnect    = 1
	typeConnack    = 2
	typePublish    = 3
	typePuback     = 4
	typeSubscribe  = 8
	typeSuback     = 9
	typeDisconnect = 14
)

// errMalformed marks a packet from the broker this codec cannot read.
var errMalformed = errors.New("malformed packet")

// appendVarint appends the remaining-length encoding of n (section 2.2.3).
func appendVarint(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// appendString appends a length-prefixed UTF-8 string (section 1.5.3).
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendConnect appends a clean-session CONNECT (section 3.1).
func appendConnect(b []byte, clientID, user, pass string, keepalive uint16) []byte {
	flags := byte(0x02) // clean session
	n := 10 + 2 + len(clientID)
	if user != "" {
		flags |= 0x80
		n += 2 + len(user)
	}
	if pass != "" {
		flags |= 0x40
		n += 2 + len(pass)
	}
	b = append(b, typeConnect<<4)
	b = appendVarint(b, n)
	b = appendString(b, "MQTT")
	b = append(b, 4, flags)
	b = binary.BigEndian.AppendUint16(b, keepalive)
	b = appendString(b, clientID)
	if user != "" {
		b = appendString(b, user)
	}
	if pass != "" {
		b = appendString(b, pass)
	}
	return b
}

// appendSubscribe appends a SUBSCRIBE of one filter (section 3.8).
func appendSubscribe(b []byte, id uint16, filter string, qos byte) []byte {
	b = append(b, typeSubscribe<<4|0x02)
	b = appendVarint(b, 2+2+len(filter)+1)
	b = binary.BigEndian.AppendUint16(b, id)
	b = appendString(b, filter)
	return append(b, qos)
}

// appendPublish appends a PUBLISH; id is used only when qos > 0 (section 3.3).
func appendPublish(b []byte, topic string, qos byte, id uint16, payload []byte) []byte {
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	b = append(b, typePublish<<4|qos<<1)
	b = appendVarint(b, n)
	b = appendString(b, topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return append(b, payload...)
}

// appendPuback appends a PUBACK (section 3.4).
func appendPuback(b []byte, id uint16) []byte {
	b = append(b, typePuback<<4, 2)
	return binary.BigEndian.AppendUint16(b, id)
}

// appendDisconnect appends a DISCONNECT (section 3.14).
func appendDisconnect(b []byte) []byte { return append(b, typeDisconnect<<4, 0) }

// packet is one packet read from the broker; body aliases the reader's buffer
// and is valid until the next read.
type packet struct {
	header byte // the first byte: type and flags
	body   []byte
}

// kind returns the packet type.
func (p packet) kind() byte { return p.header >> 4 }

// maxReadPacket bounds what the reader accepts; the bench never sends more.
const maxReadPacket = 1 << 20

// readPacket reads one packet into buf (grown when needed) and returns it.
func readPacket(r *bufio.Reader, buf *[]byte) (packet, error) {
	h, err := r.ReadByte()
	if err != nil {
		return packet{}, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return packet{}, fmt.Errorf("read remaining length: %w", err)
		}
		n |= int(d&0x7f) << shift
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return packet{}, fmt.Errorf("%w: remaining length over 4 bytes", errMalformed)
		}
		shift += 7
	}
	if n > maxReadPacket {
		return packet{}, fmt.Errorf("%w: %d bytes", errMalformed, n)
	}
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	body := (*buf)[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return packet{}, fmt.Errorf("read body: %w", err)
	}
	return packet{header: h, body: body}, nil
}

// publish is a decoded PUBLISH; payload aliases the packet body.
type publish struct {
	qos     byte
	id      uint16
	payload []byte
}

// decodePublish decodes the variable header and payload of a PUBLISH.
func decodePublish(p packet) (publish, error) {
	pub := publish{qos: (p.header >> 1) & 3}
	b := p.body
	if len(b) < 2 {
		return pub, fmt.Errorf("%w: short publish", errMalformed)
	}
	tl := int(binary.BigEndian.Uint16(b))
	off := 2 + tl
	if len(b) < off {
		return pub, fmt.Errorf("%w: short topic", errMalformed)
	}
	if pub.qos > 0 {
		if len(b) < off+2 {
			return pub, fmt.Errorf("%w: no packet id", errMalformed)
		}
		pub.id = binary.BigEndian.Uint16(b[off:])
		off += 2
	}
	pub.payload = b[off:]
	return pub, nil
}
