package wotkittest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// ConnectBytes is an MQTT 3.1.1 CONNECT (clean session, keepalive 0) with
// the given client id and credentials (none when empty).
func ConnectBytes(clientID, user, pass string) ([]byte, error) {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 4,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, ClientIdentifier: clientID,
			UsernameFlag: user != "", Username: []byte(user), PasswordFlag: pass != "", Password: []byte(pass),
		},
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		return nil, fmt.Errorf("encode connect: %w", err)
	}
	return buf.Bytes(), nil
}

// RawConnect opens a TCP connection, sends an MQTT 3.1.1 CONNECT (clean
// session, keepalive 0) and returns the connection with the CONNACK return
// code. It is the cheapest client there is: for many sessions at once.
func RawConnect(addr, clientID, user, pass string) (net.Conn, byte, error) {
	return RawConnectFrom("", addr, clientID, user, pass)
}

// RawConnectFrom is RawConnect from a given local loopback address (any of
// 127.0.0.0/8 is this machine), or the default one when from is empty.
func RawConnectFrom(from, addr, clientID, user, pass string) (net.Conn, byte, error) {
	d := net.Dialer{Timeout: Timeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, 0, fmt.Errorf("dial: %w", err)
	}
	connect, err := ConnectBytes(clientID, user, pass)
	if err != nil {
		_ = nc.Close()
		return nil, 0, err
	}
	_ = nc.SetDeadline(time.Now().Add(Timeout))
	if _, err := nc.Write(connect); err != nil {
		_ = nc.Close()
		return nil, 0, fmt.Errorf("write connect: %w", err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(nc, ack[:]); err != nil {
		_ = nc.Close()
		return nil, 0, fmt.Errorf("read connack: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	if ack[0] != 0x20 || ack[1] != 2 {
		_ = nc.Close()
		return nil, 0, fmt.Errorf("not a 3.1.1 CONNACK: % x", ack)
	}
	return nc, ack[3], nil
}

// WaitClosed blocks until the server closes nc (EOF or reset) or the timeout passes.
func WaitClosed(nc net.Conn, timeout time.Duration) error {
	_, err := ReadUntilClosed(nc, timeout)
	return err
}

// ReadUntilClosed returns what the server sends on nc until it closes it
// (EOF or reset), or an error once the timeout passes.
func ReadUntilClosed(nc net.Conn, timeout time.Duration) ([]byte, error) {
	_ = nc.SetReadDeadline(time.Now().Add(timeout))
	var got []byte
	var b [256]byte
	for {
		n, err := nc.Read(b[:])
		got = append(got, b[:n]...)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return got, fmt.Errorf("connection still open after %v", timeout)
			}
			return got, nil
		}
	}
}

// RawSubscribe subscribes a raw 3.1.1 connection to filter at QoS 0 and
// waits for the SUBACK, returning its return code.
func RawSubscribe(nc net.Conn, filter string) (byte, error) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4,
		Filters: packets.Subscriptions{{Filter: filter}}}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		return 0, fmt.Errorf("encode subscribe: %w", err)
	}
	if _, err := nc.Write(buf.Bytes()); err != nil {
		return 0, fmt.Errorf("write subscribe: %w", err)
	}
	var ack [5]byte
	_ = nc.SetReadDeadline(time.Now().Add(Timeout))
	defer nc.SetReadDeadline(time.Time{})
	if _, err := io.ReadFull(nc, ack[:]); err != nil {
		return 0, fmt.Errorf("read suback: %w", err)
	}
	return ack[4], nil
}

// PublishBytes encodes a 3.1.1 QoS 0 PUBLISH.
func PublishBytes(topic string, payload []byte) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: payload, ProtocolVersion: 4}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		panic(err) // a topic and payload of ours
	}
	return buf.Bytes()
}

// CountPublishes reads packets from nc until n PUBLISH packets have arrived
// or the timeout passes, and returns how many did; got, when not nil, follows
// the count as it goes.
func CountPublishes(nc net.Conn, n int, timeout time.Duration, got *atomic.Int64) int {
	_ = nc.SetReadDeadline(time.Now().Add(timeout))
	defer nc.SetReadDeadline(time.Time{})
	r := bufio.NewReaderSize(nc, 64<<10)
	count := 0
	for count < n {
		h, err := r.ReadByte()
		if err != nil {
			return count
		}
		length, mult := 0, 1
		for {
			b, err := r.ReadByte()
			if err != nil {
				return count
			}
			length += int(b&0x7f) * mult
			if b&0x80 == 0 {
				break
			}
			mult *= 128
		}
		if _, err := r.Discard(length); err != nil {
			return count
		}
		if h>>4 == packets.Publish {
			count++
			if got != nil {
				got.Store(int64(count))
			}
		}
	}
	return count
}
