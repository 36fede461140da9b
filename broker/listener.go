package broker

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

const maxAcceptBackoff = time.Second

// guardedListener is a mochi listener that wraps every accepted connection in the packet guard.
type guardedListener struct {
	id       string
	protocol string
	ln       net.Listener
	cfg      GuardConfig

	closeLn sync.Once // stopAccepting

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // connections whose establish has not returned
	live   sync.WaitGroup        // their goroutines: added under mu, only while open
}

// NewGuardedListener returns a mochi listener that accepts from ln and wraps every connection in the packet guard.
func NewGuardedListener(id, protocol string, ln net.Listener, cfg GuardConfig) listeners.Listener {
	return newGuardedListener(id, protocol, ln, cfg)
}

func newGuardedListener(id, protocol string, ln net.Listener, cfg GuardConfig) *guardedListener {
	return &guardedListener{id: id, protocol: protocol, ln: ln, cfg: cfg.withDefaults(), conns: map[net.Conn]struct{}{}}
}

// ID returns the listener id.
func (l *guardedListener) ID() string { return l.id }

// Address returns the address ln is bound to.
func (l *guardedListener) Address() string { return l.ln.Addr().String() }

// Protocol returns the protocol name given to NewGuardedListener.
func (l *guardedListener) Protocol() string { return l.protocol }

// Init does nothing: ln is already bound, and the guard logs to GuardConfig.Logger.
func (l *guardedListener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until the listener is closed and hands each one,
// guarded, to establish in its own goroutine.
func (l *guardedListener) Serve(establish listeners.EstablishFn) {
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Like net/http: a failing Accept (e.g. out of file descriptors) must not end the listener for good.
			backoff = min(max(2*backoff, 5*time.Millisecond), maxAcceptBackoff)
			l.cfg.Logger.Warn("mqtt listener accept failed", "listener", l.id, "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !l.track(conn) {
			_ = conn.Close()
			return
		}
		go func() {
			defer l.untrack(conn)
			gc := newGuardConn(conn, l.cfg)
			if err := establish(l.id, gc); err != nil {
				l.cfg.Logger.Debug("mqtt connection ended", "listener", l.id, "remote", conn.RemoteAddr().String(), "error", err)
			}
			if l.cfg.Ended != nil {
				l.cfg.Ended(gc)
			}
		}()
	}
}

// Close stops accepting, closes ln and every connection (its client ends as
// it would when its peer went away), and returns once every connection's
// goroutine has: mochi waits for its client goroutines next, and one that
// only then joined that wait (a connection accepted just before Close) was a
// race on mochi's WaitGroup. It does not call mochi's closeClients, whose
// Clients.GetByListener read-locks the client map twice (through Len): a
// client removing itself in between (one told of the shutdown a moment
// before, Broker.Shutdown) waits for the write lock, and blocks both for good.
func (l *guardedListener) Close(listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()

	l.stopAccepting()
	l.mu.Lock()
	for c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.live.Wait()
}

// stopAccepting closes ln, once: no connection is accepted after it, and
// those accepted stay until Close.
func (l *guardedListener) stopAccepting() {
	l.closeLn.Do(func() {
		if err := l.ln.Close(); err != nil {
			l.cfg.Logger.Warn("close mqtt listener", "listener", l.id, "error", err)
		}
	})
}

// isClosed reports whether Close has been called.
func (l *guardedListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// track registers c as live, or reports false once the listener is closed.
func (l *guardedListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	l.live.Add(1)
	return true
}

// untrack forgets c once mochi is done with it.
func (l *guardedListener) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	l.live.Done()
}
