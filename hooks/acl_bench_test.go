package hooks

import (
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
	grant atomic.Pointer[Grant]
}

func (c *slotConn) GrantSlot() *atomic.Pointer[Grant] { return &c.grant }

// aclClients returns an ACL and two admitted clients of alice: one on a
// connection that carries its grant (every network client), one without (its
// grant is found in a map).
func aclClients(tb testing.TB) (acl *ACL, onSlot, noSlot *mqtt.Client) {
	server := mqtt.New(&mqtt.Options{})
	sessions := newSessions(server, Limits{}, nil)
	acl = NewACL(sessions, sensorsOf(storage.Sensor{Owner: "bob1", Name: "weather", Visibility: storage.Public}))
	pipe, _ := net.Pipe() // never read or written
	onSlot = server.NewClient(&slotConn{Conn: pipe}, "bench", "sensor-1", false)
	noSlot = server.NewClient(nil, "bench", "sensor-2", false)
	for _, cl := range []*mqtt.Client{onSlot, noSlot} {
		if sessions.admit(cl, &Grant{User: "alice", Read: true, Write: true, creds: []string{keyCredential("K1")}}) != admitted {
			tb.Fatal("admit")
		}
	}
	if sessions.grant(onSlot) == nil || sessions.grant(noSlot) == nil {
		tb.Fatal("grant not found")
	}
	return acl, onSlot, noSlot
}

// BenchmarkACL measures one ACL decision as mochi makes it (through the hook,
// from the client object), against mochi's allow-all hook as the floor.
func BenchmarkACL(b *testing.B) {
	acl, cl, noSlot := aclClients(b)
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
	b.Run("deliver-grant-in-map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !acl.OnACLCheck(noSlot, "alice/weather/data", false) {
				b.Fatal("wrong decision")
			}
		}
	})
}

// TestACLDecisionAllocatesNothing holds the hot path to zero allocations.
func TestACLDecisionAllocatesNothing(t *testing.T) {
	acl, onSlot, noSlot := aclClients(t)
	for _, cl := range []*mqtt.Client{onSlot, noSlot} {
		allocs := testing.AllocsPerRun(1000, func() {
			acl.OnACLCheck(cl, "alice/weather/data", true)
			acl.OnACLCheck(cl, "$share/g/alice/#", false)
			acl.OnACLCheck(cl, "bob1/x", false)
			acl.OnACLCheck(cl, "bob1/weather/data", false)
		})
		if allocs != 0 {
			t.Fatalf("ACL decision for %s allocates %.1f times", cl.ID, allocs)
		}
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
	authn := NewAuthn(store, sessions, NewRevoker(sessions, log), log)
	pk := packets.Packet{Connect: packets.ConnectParams{
		ClientIdentifier: "sensor-1", UsernameFlag: true, Username: []byte(k.ID), PasswordFlag: true, Password: []byte(pw),
	}}
	cl := server.NewClient(nil, "bench", "sensor-1", false)
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
