package storage

import (
	"context"
	"testing"
	"time"
)

// Writes to what authentication never reads (a portal sign-in, a sensor, a
// reading, last-used times) leave the cached credentials in memory; a write
// to credentials empties the cache.
func TestAuthCache_KeptByWritesApart(t *testing.T) {
	s := openWebSessionStore(t)
	k, pw, err := s.CreateKey("alice", NewKey{Name: "roof"})
	if err != nil {
		t.Fatal(err)
	}
	cached := func() int {
		s.auth.mu.Lock()
		defer s.auth.mu.Unlock()
		return s.auth.size
	}
	if _, _, err := s.AuthenticateKey(k.ID, pw); err != nil || cached() != 1 {
		t.Fatalf("authenticate: %v, %d cached, want 1", err, cached())
	}
	if _, _, err := s.CreateWebSession("alice"); err != nil {
		t.Fatal(err)
	}
	sn, err := s.CreateSensor(Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSync(context.Background(), sn.ID, Reading{Timestamp: time.Now(), Values: map[string]any{"value": 1.0}}); err != nil {
		t.Fatal(err)
	}
	s.TouchKey(k.ID, "127.0.0.1:1")
	s.flushTouches()
	if _, err := s.PurgeWebSessions(); err != nil {
		t.Fatal(err)
	}
	if n := cached(); n != 1 {
		t.Fatalf("%d credentials cached after writes apart, want 1", n)
	}
	if _, _, err := s.CreateKey("alice", NewKey{Name: "cellar"}); err != nil {
		t.Fatal(err)
	}
	if n := cached(); n != 0 {
		t.Fatalf("%d credentials cached after a key was created, want 0", n)
	}
}
