package hooks_test

import (
	"errors"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
	paho3packets "github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

func (w *world) dialToken5(t *testing.T, id, clientID, token string) (*wotkittest.Conn5, *paho.Connack, error) {
	t.Helper()
	return wotkittest.Dial5(t, w.addr, &paho.Connect{ClientID: id, CleanStart: true, Username: clientID, Password: []byte(token)})
}

func TestToken_ScopesAreTopicRights(t *testing.T) {
	w := newWorld(t)
	app := wotkittest.App(t, w.store, "bob1")
	sub := w.dial5(t, "alice-sub", w.alice, w.alicePW)
	subscribe5(t, sub, "alice/#")
	cases := []struct {
		scope               storage.Scope
		canRead, canPublish bool
	}{
		{storage.ScopeRead, true, false},
		{storage.ScopeWrite, false, true},
		{storage.ScopeAll, true, true},
	}
	for _, c := range cases {
		t.Run(c.scope.String(), func(t *testing.T) {
			tok := wotkittest.Token(t, w.store, "alice", app, c.scope, time.Hour)
			conn, _, err := w.dialToken5(t, "app-"+c.scope.String(), app, tok)
			if err != nil {
				t.Fatalf("connect with token: %v", err)
			}
			wantSub := byte(0x87)
			if c.canRead {
				wantSub = 1
			}
			if r := subscribe5(t, conn, "alice/weather/data"); r[0] != wantSub {
				t.Errorf("SUBSCRIBE alice/weather/data: %#x, want %#x", r[0], wantSub)
			}
			wantPub := byte(0x87)
			if c.canPublish {
				wantPub = 0
			}
			if rc := publish5(t, conn, "alice/weather/data", "via "+c.scope.String()); rc != wantPub {
				t.Errorf("PUBLISH: %#x, want %#x", rc, wantPub)
			}
			// Never another user's topics, whatever the scope.
			if rc := publish5(t, conn, "bob1/weather/data", "x"); rc != 0x87 {
				t.Errorf("PUBLISH bob1/...: %#x", rc)
			}
			if r := subscribe5(t, conn, "bob1/#"); r[0] != 0x87 {
				t.Errorf("SUBSCRIBE bob1/#: %#x", r[0])
			}
			if c.canPublish {
				if m := wotkittest.Expect(t, sub.Msgs); m.Payload != "via "+c.scope.String() {
					t.Fatalf("alice's subscriber got %+v", m)
				}
			}
		})
	}
}

func TestToken_UserNameMustBeItsClient(t *testing.T) {
	w := newWorld(t)
	app, other := wotkittest.App(t, w.store, "bob1"), wotkittest.App(t, w.store, "bob1")
	tok := wotkittest.Token(t, w.store, "alice", app, storage.ScopeAll, time.Hour)
	if _, _, err := w.dialToken5(t, "empty-user", "", tok); err != nil {
		t.Errorf("MQTT 5 with empty user name: %v", err)
	}
	if _, err := wotkittest.Dial3(t, w.addr, "v3", app, tok); err != nil {
		t.Errorf("3.1.1 with the client id as user name: %v", err)
	}
	if _, ca, err := w.dialToken5(t, "other", other, tok); err == nil || ca.ReasonCode != 0x86 {
		t.Errorf("another client's id as user name: %+v %v, want 0x86", ca, err)
	}
	if _, err := wotkittest.Dial3(t, w.addr, "garbage", app, storage.PrefixAccessToken+"garbage"); !errors.Is(err, paho3packets.ErrorRefusedBadUsernameOrPassword) {
		t.Errorf("unknown token: %v, want return code 4", err)
	}
}

func TestToken_ExpiredRefusedWithReason(t *testing.T) {
	w := newWorld(t)
	app := wotkittest.App(t, w.store, "bob1")
	tok := wotkittest.Token(t, w.store, "alice", app, storage.ScopeAll, time.Nanosecond)
	_, ca, err := w.dialToken5(t, "late", app, tok)
	if err == nil || ca == nil || ca.ReasonCode != 0x86 || ca.Properties == nil || ca.Properties.ReasonString != "token expired" {
		t.Fatalf("expired token: connack %+v err %v, want 0x86 \"token expired\"", ca, err)
	}
}

func TestToken_SessionEndsWhenTokenExpires(t *testing.T) {
	w := newWorld(t)
	app := wotkittest.App(t, w.store, "bob1")
	tok := wotkittest.Token(t, w.store, "alice", app, storage.ScopeAll, 1500*time.Millisecond)
	c, _, err := w.dialToken5(t, "short-lived", app, tok)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-c.Disconnected:
		if d.ReasonCode != 0x87 {
			t.Errorf("DISCONNECT %#x", d.ReasonCode)
		}
	case <-time.After(wotkittest.Timeout):
		t.Fatal("session outlived its token")
	}
}

func TestToken_RevocationEndsSessions(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name   string
		revoke func(t *testing.T, app, token string)
	}{
		{"grant revoked", func(t *testing.T, app, _ string) {
			if err := w.store.RevokeGrant("alice", app); err != nil {
				t.Fatal(err)
			}
		}},
		{"app deleted", func(t *testing.T, app, _ string) {
			if err := w.store.DeleteApp(app); err != nil {
				t.Fatal(err)
			}
		}},
		{"token revoked (RFC 7009)", func(t *testing.T, app, token string) {
			if err := w.store.RevokeToken(app, token); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := wotkittest.App(t, w.store, "bob1")
			tok := wotkittest.Token(t, w.store, "alice", app, storage.ScopeAll, time.Hour)
			v5, _, err := w.dialToken5(t, "v5", app, tok)
			if err != nil {
				t.Fatal(err)
			}
			v3, err := wotkittest.Dial3(t, w.addr, "v3", app, tok, func(o *paho3.ClientOptions) { o.SetCleanSession(false) })
			if err != nil {
				t.Fatal(err)
			}
			c.revoke(t, app, tok)
			select {
			case <-v5.Disconnected:
			case <-time.After(wotkittest.Timeout):
				t.Fatal("MQTT 5 session survived")
			}
			select {
			case <-v3.Lost:
			case <-time.After(wotkittest.Timeout):
				t.Fatal("3.1.1 session survived")
			}
			if _, ca, err := w.dialToken5(t, "again", app, tok); err == nil || ca == nil || ca.ReasonCode != 0x86 {
				t.Fatalf("next CONNECT: %+v %v", ca, err)
			}
		})
	}
}
