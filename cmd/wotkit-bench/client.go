package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Cred is one credential the load uses: the MQTT user name and password, and
// the first topic level it may publish and subscribe under.
type Cred struct {
	Root     string `json:"root"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// ErrRefused is returned by dialMQTT when the broker answers CONNACK with a non-zero code.
var ErrRefused = errors.New("connect refused")

// ioTimeout bounds every single handshake step (dial, CONNACK, SUBACK).
const ioTimeout = 10 * time.Second

// mqttConn is a raw MQTT 3.1.1 client connection.
type mqttConn struct {
	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte // scratch for encoding
	in  []byte // scratch for reading
}

// dialMQTT opens a TCP connection to addr, sends CONNECT and waits for the
// CONNACK. readBuf and writeBuf size the connection's buffers (0: small
// buffers for idle connections).
func dialMQTT(ctx context.Context, addr, clientID string, c Cred, keepalive uint16, readBuf, writeBuf int) (*mqttConn, error) {
	d := net.Dialer{Timeout: ioTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if readBuf <= 0 {
		readBuf = 64
	}
	if writeBuf <= 0 {
		writeBuf = 64
	}
	mc := &mqttConn{nc: nc, r: bufio.NewReaderSize(nc, readBuf), w: bufio.NewWriterSize(nc, writeBuf)}
	if err := mc.handshake(clientID, c, keepalive); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return mc, nil
}

// handshake sends CONNECT and reads the CONNACK.
func (mc *mqttConn) handshake(clientID string, c Cred, keepalive uint16) error {
	_ = mc.nc.SetDeadline(time.Now().Add(ioTimeout))
	defer func() { _ = mc.nc.SetDeadline(time.Time{}) }()
	mc.buf = appendConnect(mc.buf[:0], clientID, c.Username, c.Password, keepalive)
	if _, err := mc.nc.Write(mc.buf); err != nil {
		return fmt.Errorf("write connect: %w", err)
	}
	p, err := readPacket(mc.r, &mc.in)
	if err != nil {
		return fmt.Errorf("read connack: %w", err)
	}
	if p.kind() != typeConnack || len(p.body) != 2 {
		return fmt.Errorf("%w: expected CONNACK, got type %d", errMalformed, p.kind())
	}
	if p.body[1] != 0 {
		return fmt.Errorf("%w: code %d", ErrRefused, p.body[1])
	}
	return nil
}

// subscribe subscribes to one filter and waits for a granting SUBACK. A
// broker may deliver messages on the new subscription before its SUBACK:
// each PUBLISH read meanwhile goes to early (nil: an error).
func (mc *mqttConn) subscribe(filter string, qos byte, early func(packet) error) error {
	_ = mc.nc.SetDeadline(time.Now().Add(ioTimeout))
	defer func() { _ = mc.nc.SetDeadline(time.Time{}) }()
	mc.buf = appendSubscribe(mc.buf[:0], 1, filter, qos)
	if _, err := mc.nc.Write(mc.buf); err != nil {
		return fmt.Errorf("write subscribe: %w", err)
	}
	for {
		p, err := readPacket(mc.r, &mc.in)
		if err != nil {
			return fmt.Errorf("read suback: %w", err)
		}
		if p.kind() == typePublish && early != nil {
			if err := early(p); err != nil {
				return err
			}
			continue
		}
		if p.kind() != typeSuback || len(p.body) != 3 {
			return fmt.Errorf("%w: expected SUBACK, got type %d", errMalformed, p.kind())
		}
		if p.body[2] >= 0x80 {
			return fmt.Errorf("subscribe %s: refused (0x%02x)", filter, p.body[2])
		}
		if err := mc.w.Flush(); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		return nil
	}
}

// disconnect sends DISCONNECT and waits (at most a second) for the broker to
// close the connection before closing it too. The broker closes first, so the
// client's port is not held in TIME_WAIT: a connect loop on loopback would
// otherwise run out of ephemeral ports within seconds.
func (mc *mqttConn) disconnect() {
	_ = mc.nc.SetDeadline(time.Now().Add(time.Second))
	if _, err := mc.nc.Write(appendDisconnect(nil)); err == nil {
		var b [64]byte
		for {
			if _, err := mc.nc.Read(b[:]); err != nil {
				break
			}
		}
	}
	_ = mc.nc.Close()
}

// close resets the connection (no DISCONNECT, no TIME_WAIT): for tearing
// down many connections, and connections another goroutine still reads.
func (mc *mqttConn) close() {
	if tc, ok := mc.nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = mc.nc.Close()
}
