package wotkittest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// RawConnect opens a TCP connection, sends an MQTT 3.1.1 CONNECT (clean
// session, keepalive 0) and returns the connection with the CONNACK return
// code. It is the cheapest client there is: for many sessions at once.
func RawConnect(addr, clientID, user, pass string) (net.Conn, byte, error) {
	nc, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		return nil, 0, fmt.Errorf("dial: %w", err)
	}
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
		_ = nc.Close()
		return nil, 0, fmt.Errorf("encode connect: %w", err)
	}
	_ = nc.SetDeadline(time.Now().Add(Timeout))
	if _, err := nc.Write(buf.Bytes()); err != nil {
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
	_ = nc.SetReadDeadline(time.Now().Add(timeout))
	var b [256]byte
	for {
		if _, err := nc.Read(b[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return fmt.Errorf("connection still open after %v", timeout)
			}
			return nil
		}
	}
}
