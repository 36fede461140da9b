package hooks

import (
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/storage"
)

func TestGrant_TopicRules(t *testing.T) {
	alice := &Grant{User: "alice", Read: true, Write: true}
	readOnly := &Grant{User: "alice", Read: true}
	admin := &Grant{User: "root", Admin: true, Read: true, Write: true}
	cases := []struct {
		name  string
		g     *Grant
		topic string
		write bool
		want  bool
	}{
		{"own topic publish", alice, "alice/weather/data", true, true},
		{"own first level alone", alice, "alice", true, true},
		{"own filter multi-level", alice, "alice/#", false, true},
		{"own filter single-level", alice, "alice/+/data", false, true},
		{"other user's topic publish", alice, "bob/weather/data", true, false},
		{"other user's filter", alice, "bob/#", false, false},
		{"name prefix is not ownership", alice, "alicex/data", true, false},
		{"name prefix filter", alice, "alice2/#", false, false},
		{"shorter name", alice, "alic/data", true, false},
		{"everything", alice, "#", false, false},
		{"wildcard first level", alice, "+/weather/data", false, false},
		{"sys for non-admin", alice, "$SYS/#", false, false},
		{"sys topic delivery for non-admin", alice, "$SYS/broker/uptime", false, false},
		{"shared own filter", alice, "$share/g/alice/#", false, true},
		{"shared own filter, upper-case prefix", alice, "$SHARE/g/alice/#", false, true},
		{"shared other filter", alice, "$share/g/bob/#", false, false},
		{"shared wildcard filter", alice, "$share/g/#", false, false},
		{"shared without filter", alice, "$share/alice", false, false},
		{"empty topic", alice, "", true, false},
		{"empty filter", alice, "", false, false},
		{"leading slash", alice, "/alice/data", true, false},
		{"read-only key publishes", readOnly, "alice/weather/data", true, false},
		{"read-only key subscribes", readOnly, "alice/#", false, true},
		{"admin everything", admin, "#", false, true},
		{"admin sys", admin, "$SYS/#", false, true},
		{"admin publishes anywhere", admin, "bob/weather/message", true, true},
		{"no permissions at all", &Grant{User: "alice"}, "alice/x", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.g.CanRead(c.topic)
			if c.write {
				got = c.g.CanPublish(c.topic)
			}
			if got != c.want {
				t.Errorf("user %s write=%v topic %q: got %v, want %v", c.g.User, c.write, c.topic, got, c.want)
			}
		})
	}
}

func TestGrant_RevokedDeniesEverything(t *testing.T) {
	for _, g := range []*Grant{
		{User: "alice", Read: true, Write: true},
		{User: "root", Admin: true, Read: true, Write: true},
	} {
		g.revoked.Store(true)
		if g.CanPublish(g.User+"/x") || g.CanRead(g.User+"/#") || g.CanRead("#") {
			t.Errorf("revoked grant of %s still allows something", g.User)
		}
	}
}

// referenceCanRead is the ACL rule written the slow, obvious way: split into
// levels, drop a $share/GROUP prefix, and compare the first level.
func referenceCanRead(user, filter string) bool {
	levels := strings.Split(filter, "/")
	if strings.EqualFold(levels[0], "$share") {
		if len(levels) < 3 {
			return false
		}
		levels = levels[2:]
	}
	return levels[0] == user
}

// FuzzFilterAllowed checks the fast ACL against the reference for any user
// name the product allows and any filter.
func FuzzFilterAllowed(f *testing.F) {
	for _, s := range []struct{ user, filter string }{
		{"alice", "alice/#"}, {"alice", "alicex/#"}, {"alice", "$share/g/alice/x"}, {"alice", "$share/alice"},
		{"bob_1", "+/bob_1"}, {"alice", "#"}, {"alice", "$SYS/#"}, {"alice", ""}, {"alice", "alice"},
		{"alice", "$share//alice/x"}, {"alice", "$share/g/"},
	} {
		f.Add(s.user, s.filter)
	}
	f.Fuzz(func(t *testing.T, user, filter string) {
		if !storage.ValidUserName(user) {
			return
		}
		g := &Grant{User: user, Read: true, Write: true}
		if got, want := g.CanRead(filter), referenceCanRead(user, filter); got != want {
			t.Fatalf("CanRead(user %q, filter %q) = %v, reference says %v", user, filter, got, want)
		}
		if got, want := g.CanPublish(filter), strings.Split(filter, "/")[0] == user; got != want {
			t.Fatalf("CanPublish(user %q, topic %q) = %v, reference says %v", user, filter, got, want)
		}
	})
}

// mochi publishes a Will whenever a connection fails, and a revocation fails
// the connection (or an answer the client's last packet can no longer have
// written), with no hook to stop the publish: the Will of a revoked
// connection is emptied, and mochi finds no subscriber for an empty topic.
// An unrevoked connection's Will passes as it is.
func TestRevoker_WillOfARevokedConnectionIsEmptied(t *testing.T) {
	acl, cl := aclClient(t)
	r := NewRevoker(acl.sessions, NewRetained(acl.sessions), nil)
	will := mqtt.Will{Flag: 1, TopicName: "alice/door/message", Payload: []byte("open"), Retain: true, Qos: 1}
	if got, err := r.OnWill(cl, will); err != nil || got.TopicName != will.TopicName || string(got.Payload) != "open" || !got.Retain {
		t.Fatalf("unrevoked: %+v %v, want the Will unchanged", got, err)
	}
	cl.Net.Conn.(GrantSlot).Revoke()
	if got, err := r.OnWill(cl, will); err != nil || got.TopicName != "" || got.Payload != nil || got.Retain {
		t.Fatalf("revoked: %+v %v, want an empty Will", got, err)
	}
	topics := acl.sessions.server.Topics
	topics.Subscribe("everything", packets.Subscription{Filter: "#"})
	if len(topics.Subscribers("alice/door/message").Subscriptions) != 1 || len(topics.Subscribers("").Subscriptions) != 0 {
		t.Fatal("mochi delivers a message with an empty topic to a subscription to #")
	}
}
