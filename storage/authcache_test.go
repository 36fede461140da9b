package storage_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// Authentication keeps decoded keys and tokens in memory: every change to
// them must reach the next authentication, cached or not.
func TestAuthenticate_ChangesReachCachedCredentials(t *testing.T) {
	s := wotkittest.NewStore(t)
	keyID, keyPW := wotkittest.User(t, s, "alice", false)
	wotkittest.User(t, s, "bobby", false)
	app := wotkittest.App(t, s, "bobby")
	other := wotkittest.App(t, s, "bobby")

	authKey := func() error { _, _, err := s.AuthenticateKey(keyID, keyPW); return err }
	token := func(clientID string) (string, func() error) {
		tok := wotkittest.Token(t, s, "alice", clientID, storage.ScopeAll, time.Hour)
		return tok, func() error { _, err := s.AuthenticateToken(tok); return err }
	}
	revokedToken, byRevocation := token(other)
	_, grantGone := token(app)
	_, appGone := token(other)

	for _, c := range []struct {
		name   string
		auth   func() error
		change func() error
	}{
		{"token revoked (RFC 7009)", byRevocation, func() error { return s.RevokeToken(other, revokedToken) }},
		{"grant revoked", grantGone, func() error { return s.RevokeGrant("alice", app) }},
		{"application deleted", appGone, func() error { return s.DeleteApp(other) }},
		{"key deleted", authKey, func() error { return s.DeleteKey(keyID) }},
	} {
		for range 2 { // the second from the cache
			if err := c.auth(); err != nil {
				t.Fatalf("%s: before the change: %v", c.name, err)
			}
		}
		if err := c.change(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := c.auth(); !errors.Is(err, storage.ErrBadCredentials) {
			t.Errorf("%s: authentication after the change: %v, want ErrBadCredentials", c.name, err)
		}
	}
}

// A key deleted while other goroutines authenticate with it must be refused by
// every authentication that starts after DeleteKey returns: a read racing the
// deletion must not put the old record back into the cache.
func TestAuthenticate_DeletionRacingReadsNeverLeavesKeyUsable(t *testing.T) {
	s := wotkittest.NewStore(t)
	wotkittest.User(t, s, "alice", false)
	for i := range 100 {
		id, pw := wotkittest.Key(t, s, "alice", storage.ReadWrite)
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				for !stop.Load() {
					_, _, _ = s.AuthenticateKey(id, pw)
				}
			})
		}
		if err := s.DeleteKey(id); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.AuthenticateKey(id, pw)
		stop.Store(true)
		wg.Wait()
		if !errors.Is(err, storage.ErrBadCredentials) {
			t.Fatalf("key %d: authenticated after DeleteKey returned: %v", i, err)
		}
		if _, _, err := s.AuthenticateKey(id, pw); !errors.Is(err, storage.ErrBadCredentials) {
			t.Fatalf("key %d: authenticated once the readers stopped: %v", i, err)
		}
	}
}

// BenchmarkAuthenticate measures the storage side of an MQTT CONNECT with a
// key and with an access token (both cached after the first use).
func BenchmarkAuthenticate(b *testing.B) {
	s := wotkittest.NewStore(b)
	keyID, keyPW := wotkittest.User(b, s, "alice", false)
	tok := wotkittest.Token(b, s, "alice", wotkittest.App(b, s, "alice"), storage.ScopeAll, time.Hour)
	b.Run("key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := s.AuthenticateKey(keyID, keyPW); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("token", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.AuthenticateToken(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
