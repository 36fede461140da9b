package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// wsHTTPTimeout bounds how long a client may take to send its HTTP upgrade request, and idle before it.
const wsHTTPTimeout = 10 * time.Second

// errNotBinary is returned by a WebSocket connection's Read when the peer sends a non-binary message.
var errNotBinary = errors.New("websocket: MQTT requires binary messages")

// ListenWebSocket listens on addr (TLS when tlsConfig != nil) for MQTT over WebSocket (subprotocol "mqtt", binary frames)
// and returns a net.Listener whose Accept yields the upgraded connections as byte streams.
// What its HTTP server has to say (a failed TLS handshake, say) goes to log.
func ListenWebSocket(addr string, tlsConfig *tls.Config, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("websocket listen on %s: %w", addr, err)
	}
	if tlsConfig != nil {
		cfg := tlsConfig.Clone()
		cfg.NextProtos = []string{"http/1.1"} // the upgrade needs HTTP/1.1, never h2
		ln = tls.NewListener(ln, cfg)
	}

	wl := &wsListener{
		ln:    ln,
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			// MQTT authenticates with its own credentials, not cookies, so any page may connect.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	wl.srv = &http.Server{
		Handler:           http.HandlerFunc(wl.upgrade),
		ReadHeaderTimeout: wsHTTPTimeout,
		IdleTimeout:       wsHTTPTimeout, // a connection that never upgrades must not idle forever
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := wl.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			wl.stop(fmt.Errorf("websocket listener %s: serve: %w", ln.Addr(), err))
		}
	}()
	return wl, nil
}

// wsListener serves HTTP on ln, upgrades requests to WebSocket and hands the connections to Accept.
type wsListener struct {
	ln       net.Listener
	srv      *http.Server
	upgrader websocket.Upgrader
	conns    chan net.Conn

	stopOnce sync.Once
	done     chan struct{} // closed by stop
	err      error         // why the listener stopped; written before done is closed
}

// upgrade turns an HTTP request into a WebSocket connection and waits for Accept to take it.
func (l *wsListener) upgrade(w http.ResponseWriter, r *http.Request) {
	ws, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has already answered with an HTTP error
	}
	select {
	case l.conns <- &wsConn{ws: ws}:
	case <-l.done:
		_ = ws.Close()
	}
}

// Accept waits for the next upgraded connection.
func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close shuts the HTTP server down; upgraded connections stay open and belong to their acceptors.
func (l *wsListener) Close() error {
	l.stop(fmt.Errorf("websocket listener %s: %w", l.ln.Addr(), net.ErrClosed))
	if err := l.srv.Close(); err != nil {
		return fmt.Errorf("websocket listener %s: close: %w", l.ln.Addr(), err)
	}
	return nil
}

// Addr returns the address the listener is bound to.
func (l *wsListener) Addr() net.Addr { return l.ln.Addr() }

// stop records why the listener stopped and releases Accept, once.
func (l *wsListener) stop(err error) {
	l.stopOnce.Do(func() {
		l.err = err
		close(l.done)
	})
}

// wsConn presents a WebSocket connection as a byte stream of binary messages.
type wsConn struct {
	ws            *websocket.Conn
	r             io.Reader    // the message being read, nil between messages
	wmu           sync.Mutex   // gorilla allows one writer at a time
	writeDeadline atomic.Int64 // UnixNano, 0 for none; gorilla's own field may only be set by the writer
}

// Read reads from the current binary message, moving on to the next one at its end.
func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			if err != nil {
				return 0, fmt.Errorf("websocket read: %w", err)
			}
			if op != websocket.BinaryMessage {
				return 0, errNotBinary
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue // empty message or end of message: read on from the next one
			}
			err = nil
		}
		if err != nil {
			return n, fmt.Errorf("websocket read: %w", err)
		}
		return n, nil
	}
}

// Write sends p as one binary message.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var deadline time.Time
	if ns := c.writeDeadline.Load(); ns != 0 {
		deadline = time.Unix(0, ns)
	}
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return 0, fmt.Errorf("websocket write: %w", err)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, fmt.Errorf("websocket write: %w", err)
	}
	return len(p), nil
}

// Close closes the underlying network connection.
func (c *wsConn) Close() error { return c.ws.Close() }

// LocalAddr returns the local network address.
func (c *wsConn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr returns the peer's network address.
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

// SetReadDeadline sets the read deadline.
func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline for the next writes and for a write in progress.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.writeDeadline.Store(ns)
	return c.ws.NetConn().SetWriteDeadline(t)
}
