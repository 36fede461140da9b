package hooks

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/storage"
)

// slotConn is a connection that carries its session's grant, as the broker's
// guarded connections do.
type slotConn struct {
	net.Conn
	grant   atomic.Pointer[Grant]
	arrived int64
	revoked atomic.Bool
}

func (c *slotConn) GrantSlot() *atomic.Pointer[Grant] { return &c.grant }

func (c *slotConn) Revoke()       { c.revoked.Store(true) }
func (c *slotConn) Revoked() bool { return c.revoked.Load() }

// Arrived returns when the connection was made: as if every packet handled
// had arrived in its first read (the broker's connections stamp each read).
func (c *slotConn) Arrived() int64 { return c.arrived }

// slotClient returns a client of server on a connection that carries its
// grant, as every network client's does.
func slotClient(server *mqtt.Server, id string) *mqtt.Client {
	pipe, _ := net.Pipe() // never read or written
	return server.NewClient(&slotConn{Conn: pipe, arrived: Clock()}, "bench", id, false)
}

// aclClient returns an ACL and an admitted client of alice.
func aclClient(tb testing.TB) (*ACL, *mqtt.Client) { return aclClientWith(tb, Limits{}) }

// aclClientWith returns an ACL and a client of alice admitted under limits.
func aclClientWith(tb testing.TB, limits Limits) (*ACL, *mqtt.Client) {
	server := mqtt.New(&mqtt.Options{})
	sessions := newSessions(server, limits, nil)
	acl := NewACL(sessions, sensorsOf(storage.Sensor{Owner: "bob1", Name: "weather", Visibility: storage.Public}))
	cl := slotClient(server, "sensor-1")
	if sessions.admit(cl, &Grant{User: "alice", Read: true, Write: true, creds: []string{keyCredential("K1")}}) != admitted {
		tb.Fatal("admit")
	}
	return acl, cl
}

// A client whose connection cannot carry a grant is not admitted, and so
// gets no access at all.
func TestSessions_ConnectionWithoutSlotRefused(t *testing.T) {
	server := mqtt.New(&mqtt.Options{})
	sessions := newSessions(server, Limits{}, nil)
	cl := server.NewClient(nil, "t", "plain", false)
	if got := sessions.admit(cl, &Grant{User: "alice", Read: true, creds: []string{keyCredential("K1")}}); got != noSlot {
		t.Fatalf("admit on a plain connection: %v, want noSlot", got)
	}
	if NewACL(sessions, sensorsOf()).OnACLCheck(cl, "alice/x", false) {
		t.Fatal("a client without a grant was allowed to read")
	}
}

// BenchmarkACL measures one ACL decision as mochi makes it (through the hook,
// from the client object), against mochi's allow-all hook as the floor.
func BenchmarkACL(b *testing.B) {
	acl, cl := aclClient(b)
	allow := new(auth.AllowHook)
	cases := []struct {
		name  string
		topic string
		write bool
		want  bool
	}{
		{"publish", "alice/weather/data", true, true},
		{"deliver", "alice/weather/data", false, true},
		{"subscribe-wildcard", "alice/+/data", false, true},
		{"subscribe-shared", "$share/group/alice/#", false, true},
		{"publish-denied", "bob1/weather/data", true, false},
		{"deliver-public-sensor", "bob1/weather/data", false, true},
		{"deliver-denied", "bob1/private/data", false, false},
	}
	b.Run("baseline-mochi-allow-all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !allow.OnACLCheck(cl, "alice/weather/data", true) {
				b.Fatal("denied")
			}
		}
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if acl.OnACLCheck(cl, c.topic, c.write) != c.want {
					b.Fatal("wrong decision")
				}
			}
		})
	}
}

// emptyPublishHook is mochi's allow-all hook with an OnPublish that does
// nothing: what providing OnPublish at all costs.
type emptyPublishHook struct{ auth.AllowHook }

func (h *emptyPublishHook) Provides(b byte) bool {
	return b == mqtt.OnPublish || h.AllowHook.Provides(b)
}

func (h *emptyPublishHook) OnPublish(_ *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	return pk, nil
}

// BenchmarkPublishHooks measures what the hooks add to one PUBLISH with two
// subscribers, called as mochi calls them (through its hook dispatch, which
// copies the packet into and out of an OnPublish hook): the publish check,
// OnPublish (rate, sensor readings, topic aliases) and two delivery checks,
// against mochi's allow-all hook, which provides no OnPublish, and the same
// with an empty OnPublish.
func BenchmarkPublishHooks(b *testing.B) {
	limits := Limits{PublishRate: 1e9, PublishBurst: 1e9} // checked, never reached
	acl, cl := aclClientWith(b, limits)
	limiter := NewLimiter(acl.sessions, limits)
	retained := NewRetained(acl.sessions)
	wotkit := newHook(nil, acl, limiter, NewPublish(acl, limiter, NewRecorder(acl.sensors)), retained, NewRevoker(acl.sessions, retained, nil))
	if acl.sessions.grant(cl).rate == nil {
		b.Fatal("the client has no publish rate to check")
	}
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName:   "alice/sensor1/data", Payload: make([]byte, 64),
	}
	for _, c := range []struct {
		name string
		hook mqtt.Hook
	}{{"baseline-mochi-allow-all", new(auth.AllowHook)}, {"mochi-allow-all-empty-onpublish", new(emptyPublishHook)}, {"wotkit", wotkit}} {
		hs := new(mqtt.Hooks)
		if err := hs.Add(c.hook, nil); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !hs.OnACLCheck(cl, pk.TopicName, true) {
					b.Fatal("publish denied")
				}
				if _, err := hs.OnPublish(cl, pk); err != nil {
					b.Fatal(err)
				}
				for range 2 { // one delivery to each subscriber
					if !hs.OnACLCheck(cl, pk.TopicName, false) {
						b.Fatal("delivery denied")
					}
				}
			}
		})
	}
}

// TestACLDecisionAllocatesNothing holds the hot path to zero allocations.
func TestACLDecisionAllocatesNothing(t *testing.T) {
	acl, cl := aclClient(t)
	allocs := testing.AllocsPerRun(1000, func() {
		acl.OnACLCheck(cl, "alice/weather/data", true)
		acl.OnACLCheck(cl, "$share/g/alice/#", false)
		acl.OnACLCheck(cl, "bob1/x", false)
		acl.OnACLCheck(cl, "bob1/weather/data", false)
	})
	if allocs != 0 {
		t.Fatalf("ACL decision allocates %.1f times", allocs)
	}
}

// BenchmarkConnectAuth measures the CONNECT decision for a key: the key
// record (from storage's cache after the first), the constant-time hash
// comparison, the Will and client-id checks.
func BenchmarkConnectAuth(b *testing.B) {
	store, err := storage.Open(filepath.Join(b.TempDir(), "wotkit.db"), storage.Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	if _, err := store.CreateUser(storage.NewUser{Name: "alice", Password: "password-alice"}); err != nil {
		b.Fatal(err)
	}
	k, pw, err := store.CreateKey("alice", storage.NewKey{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	server := mqtt.New(&mqtt.Options{})
	sessions := newSessions(server, Limits{}, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	authn := NewAuthn(store, sessions, NewRevoker(sessions, NewRetained(sessions), log), log)
	pk := packets.Packet{Connect: packets.ConnectParams{
		ClientIdentifier: "sensor-1", UsernameFlag: true, Username: []byte(k.ID), PasswordFlag: true, Password: []byte(pw),
	}}
	cl := slotClient(server, "sensor-1")
	b.ReportAllocs()
	for b.Loop() {
		if err := authn.OnConnect(cl, pk); err != nil {
			b.Fatal(err)
		}
		sessions.forget(cl)
	}
}

// sensorsOf is a sensor view holding the given sensors.
func sensorsOf(list ...storage.Sensor) *Sensors {
	m := map[string]*storage.Sensor{}
	for i := range list {
		m[list[i].Owner+"/"+list[i].Name] = &list[i]
	}
	s := &Sensors{}
	s.current.Store(&m)
	return s
}

// BenchmarkAdmit measures admitting one more session of a key that already
// has n live sessions, under the default limit of 1,000 a key: a gateway
// fleet's reconnect storm admits each of its sessions so.
func BenchmarkAdmit(b *testing.B) {
	grant := func() *Grant {
		return &Grant{User: "alice", Read: true, Write: true, creds: []string{keyCredential("K1")}}
	}
	for _, n := range []int{0, 999} {
		b.Run(fmt.Sprintf("live-%d", n), func(b *testing.B) {
			server := mqtt.New(&mqtt.Options{})
			sessions := newSessions(server, Limits{SessionsPerCredential: 1000}, nil)
			for i := range n {
				if sessions.admit(slotClient(server, fmt.Sprintf("live-%d", i)), grant()) != admitted {
					b.Fatal("admit")
				}
			}
			cl := slotClient(server, "new")
			b.ReportAllocs()
			for b.Loop() {
				if got := sessions.admit(cl, grant()); got != admitted {
					b.Fatalf("admit: %v", got)
				}
				sessions.forget(cl)
			}
		})
	}
}
