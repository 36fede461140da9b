package hooks

import (
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/wotkit/wotkit/metrics"
)

// Sessions is the in-memory registry of authenticated MQTT sessions: the Grant
// of each client, the clients of each credential, and which user holds each
// client id. The ACL reads grants without a lock; everything else happens at
// CONNECT, disconnect and revocation.
type Sessions struct {
	server  *mqtt.Server
	limits  Limits
	metrics *metrics.Metrics // nil: not counted

	// revocations counts revocations begun, so that a CONNECT racing one can
	// tell and check its credential again.
	revocations atomic.Uint64

	mu     sync.Mutex
	byCred map[string]map[*mqtt.Client]struct{} // credential -> clients
	claims map[string]*claim                    // client id -> holder
	rates  map[string]*rate                     // credential -> its publish rate, while it has sessions
}

// claim records which user holds a client id, and the client objects (live,
// connecting, or persistent sessions) that hold it.
type claim struct {
	user    string
	clients []*mqtt.Client
}

func newSessions(server *mqtt.Server, limits Limits, m *metrics.Metrics) *Sessions {
	return &Sessions{
		server:  server,
		limits:  limits,
		metrics: m,
		byCred:  map[string]map[*mqtt.Client]struct{}{},
		claims:  map[string]*claim{},
		rates:   map[string]*rate{},
	}
}

// GrantSlot is a connection that carries the grant of its session, as the
// broker's guarded connections (TCP, TLS, WebSocket) do: the ACL, which runs
// on every publish and delivery, finds a grant with one atomic load. A client
// on any other connection is refused at CONNECT.
type GrantSlot interface {
	GrantSlot() *atomic.Pointer[Grant]
	// Revoke marks the connection's session revoked, before the connection
	// is closed, and Revoked tells it (the grant, which the ACL reads, is
	// forgotten when the session ends): the Will of a revoked session is
	// dropped (Revoker.OnWill).
	Revoke()
	Revoked() bool
	// Arrived returns when the bytes of the packet being handled arrived
	// from the network, by Clock: the publish-rate limiter judges by it.
	Arrived() int64
}

// slot returns where the client's grant is kept, or nil.
func slot(cl *mqtt.Client) *atomic.Pointer[Grant] {
	if c, ok := cl.Net.Conn.(GrantSlot); ok {
		return c.GrantSlot()
	}
	return nil
}

// grant returns the client's grant, or nil. It takes no lock and allocates nothing.
func (s *Sessions) grant(cl *mqtt.Client) *Grant {
	if sl := slot(cl); sl != nil {
		return sl.Load()
	}
	return nil
}

// KeySessions returns how many live sessions use a key.
func (s *Sessions) KeySessions(keyID string) int { return s.count(keyCredential(keyID)) }

// count returns how many live sessions a credential name has.
func (s *Sessions) count(credential string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for cl := range s.byCred[credential] {
		if !cl.Closed() {
			n++
		}
	}
	return n
}

// admission is the outcome of admit.
type admission int

const (
	admitted admission = iota
	idTaken            // another user's session holds the client id
	tooMany            // the credential has its limit of live sessions
	noSlot             // the connection cannot carry a grant (not a GrantSlot)
)

// admit claims cl.ID for g.User and records the session, unless another
// user's session holds the id (a live one, one still connecting, or a
// persistent one awaiting its owner) or the credential (g.creds[0]) already
// has its limit of sessions: live ones, and persistent ones whose client has
// gone, which mochi keeps with their subscriptions and queued messages. A
// session of the same credential under cl.ID, which cl takes over, is not
// counted. Nothing is recorded on refusal.
func (s *Sessions) admit(cl *mqtt.Client, g *Grant) admission {
	sl := slot(cl)
	if sl == nil {
		return noSlot
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.claims[cl.ID]
	if c != nil {
		c.clients = slices.DeleteFunc(c.clients, func(x *mqtt.Client) bool { return !s.holds(x) })
		if len(c.clients) > 0 && c.user != g.User {
			return idTaken
		}
	}
	if max := s.limits.SessionsPerCredential; max > 0 && s.atLimitLocked(g.creds[0], cl.ID, max) {
		return tooMany
	}
	if c == nil {
		c = &claim{}
		s.claims[cl.ID] = c
	}
	c.user = g.User
	c.clients = append(c.clients, cl)
	for _, cred := range g.creds {
		set := s.byCred[cred]
		if set == nil {
			set = map[*mqtt.Client]struct{}{}
			s.byCred[cred] = set
		}
		set[cl] = struct{}{}
	}
	if s.limits.PublishRate > 0 {
		r := s.rates[g.creds[0]]
		if r == nil {
			r = newRate(s.limits.PublishRate, s.limits.PublishBurst)
			s.rates[g.creds[0]] = r
		}
		g.rate = r
	}
	g.client = cl
	sl.Store(g)
	return admitted
}

// atLimitLocked reports whether a credential has max sessions that count
// against its limit (sessionsLocked). They are counted only once it has max
// client objects on record, of which they are a part: below that, admitting
// a session costs the same whatever number it has. s.mu is held.
func (s *Sessions) atLimitLocked(credential, id string, max int) bool {
	return len(s.byCred[credential]) >= max && s.sessionsLocked(credential, id) >= max
}

// sessionsLocked returns how many sessions count against a credential's
// limit, other than those under client id (which a new session with that id
// takes over): its live ones, and the persistent ones the server keeps for
// their clients. It is worked out afresh, so a client object that lost its
// place in a race of takeovers cannot stay counted. s.mu is held.
func (s *Sessions) sessionsLocked(credential, id string) int {
	n := 0
	for x := range s.byCred[credential] {
		if x.ID != id && s.holds(x) {
			n++
		}
	}
	return n
}

// holds reports whether a client object still holds its client id: it is the
// server's session for the id (live or persistent), or it is still open
// (connecting, or being taken over).
func (s *Sessions) holds(cl *mqtt.Client) bool {
	if !cl.Closed() {
		return true
	}
	got, ok := s.server.Clients.Get(cl.ID)
	return ok && got == cl
}

// countLive counts g's connection in the connections gauge, unless it has
// already ended.
func (s *Sessions) countLive(g *Grant) {
	if g.gauge.CompareAndSwap(gaugeNew, gaugeCounted) {
		s.metrics.Connected(g.Kind.String())
	}
}

// uncount ends g's connection in the connections gauge. Every path that ends
// a connection calls it (its disconnection, its takeover, its revocation),
// in whatever order they race: only the first that finds it counted uncounts it.
func (s *Sessions) uncount(g *Grant) {
	if g.gauge.Swap(gaugeEnded) == gaugeCounted {
		s.metrics.Disconnected(g.Kind.String())
	}
}

// forget removes a client object that will not be used again, and uncounts
// its connection if that is still counted.
func (s *Sessions) forget(cl *mqtt.Client) {
	var g *Grant
	if sl := slot(cl); sl != nil {
		g = sl.Swap(nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g != nil {
		s.uncount(g)
		if g.expiry != nil {
			g.expiry.Stop()
		}
		for _, cred := range g.creds {
			delete(s.byCred[cred], cl)
			if len(s.byCred[cred]) == 0 {
				delete(s.byCred, cred)
				delete(s.rates, cred)
			}
		}
	}
	if c := s.claims[cl.ID]; c != nil {
		c.clients = slices.DeleteFunc(c.clients, func(x *mqtt.Client) bool { return x == cl })
		if len(c.clients) == 0 {
			delete(s.claims, cl.ID)
		}
	}
}

// Ended finishes the session of a guarded connection that mochi is done
// with (its establish has returned). mochi returns early, without
// OnDisconnect, when it cannot write the CONNACK or resend a resumed
// session's messages (the client went away at once: a reset right after
// CONNECT does it), and keeps that client in its table for good. A session
// admitted but never established is ended here as mochi ends a disconnected
// one: a clean one goes, with its subscriptions and queued messages; a
// persistent one stays until it expires, as any other.
func (s *Sessions) Ended(conn net.Conn) {
	sl, ok := conn.(GrantSlot)
	if !ok {
		return
	}
	g := sl.GrantSlot().Load()
	if g == nil || g.client == nil || g.gauge.Load() != gaugeNew {
		return // not admitted, already forgotten, or established (OnDisconnect ends it)
	}
	cl := g.client
	if !cleanSession(cl) {
		return
	}
	cl.ClearInflights()
	s.server.UnsubscribeClient(cl)
	if got, ok := s.server.Clients.Get(cl.ID); ok && got == cl {
		s.server.Clients.Delete(cl.ID)
	}
	s.forget(cl)
}

// cleanSession reports whether cl's session ends with its connection (MQTT
// 5: session expiry 0; 3.1.1: clean session), as mochi decides it.
func cleanSession(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval == 0
	}
	return cl.Properties.Clean
}

// take removes and returns every client of a credential name.
func (s *Sessions) take(credential string) []*mqtt.Client {
	s.mu.Lock()
	set := s.byCred[credential]
	delete(s.byCred, credential)
	s.mu.Unlock()
	return slices.Collect(maps.Keys(set))
}
