package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// openWebSessionStore opens a fresh store in t.TempDir() with users alice and bob.
func openWebSessionStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "wotkit.db"), Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, name := range []string{"alice", "bobby"} {
		if _, err := s.CreateUser(NewUser{Name: name, Password: "correct horse"}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestWebSession_CreateLookupDelete(t *testing.T) {
	s := openWebSessionStore(t)
	token, ws, err := s.CreateWebSession("alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, PrefixWebSession) || len(token) < 40 {
		t.Fatalf("token %q: want prefix %q and 256 bits", token, PrefixWebSession)
	}
	if ws.User != "alice" || ws.Expires.Sub(ws.Created) != WebSessionIdle {
		t.Fatalf("session %+v", ws)
	}
	got, err := s.WebSession(token)
	if err != nil || got.User != "alice" {
		t.Fatalf("lookup: %+v, %v", got, err)
	}
	if err := s.DeleteWebSession(token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WebSession(token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteWebSession(token); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestWebSession_UnknownUserRefused(t *testing.T) {
	s := openWebSessionStore(t)
	if _, _, err := s.CreateWebSession("nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestWebSession_TokenStoredOnlyAsHash(t *testing.T) {
	s := openWebSessionStore(t)
	token, _, err := s.CreateWebSession("alice")
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketWebSessions).ForEach(func(k, v []byte) error {
			if strings.Contains(string(k)+string(v), token) {
				t.Errorf("token found in plain text in record %q", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setExpiry rewrites a session's expiry, as if time had passed.
func setExpiry(t *testing.T, s *Store, token string, expires time.Time) {
	t.Helper()
	hash := HashSecret(token)
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketWebSessions)
		var ws WebSession
		if err := getWebSession(b, hash, &ws); err != nil {
			return nil, err
		}
		ws.Expires = expires
		return nil, putJSON(b, string(webSessionKey(hash[:])), ws)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWebSession_ExpiredIsGoneAndRemoved(t *testing.T) {
	s := openWebSessionStore(t)
	token, _, _ := s.CreateWebSession("alice")
	setExpiry(t, s, token, time.Now().Add(-time.Second))
	if _, err := s.WebSession(token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session: %v, want ErrNotFound", err)
	}
	if n := indexedSessions(t, s, "alice"); n != 0 {
		t.Fatalf("expired session left %d records behind", n)
	}
}

func TestWebSession_UseExtendsIdleExpiry(t *testing.T) {
	s := openWebSessionStore(t)
	token, _, _ := s.CreateWebSession("alice")
	soon := time.Now().Add(time.Hour).UTC()
	setExpiry(t, s, token, soon)
	ws, err := s.WebSession(token)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(ws.Expires) < WebSessionIdle-time.Minute {
		t.Fatalf("expiry %v not pushed forward by about %v", ws.Expires, WebSessionIdle)
	}
}

// A new password ends the user's other web sessions, in its transaction.
func TestWebSession_NewPasswordEndsAllOfUserButOne(t *testing.T) {
	s := openWebSessionStore(t)
	keep, _, _ := s.CreateWebSession("alice")
	other1, _, _ := s.CreateWebSession("alice")
	other2, _, _ := s.CreateWebSession("alice")
	bobs, _, _ := s.CreateWebSession("bobby")
	n, err := s.SetPassword("alice", "a new password", keep)
	if err != nil || n != 2 {
		t.Fatalf("ended %d, %v; want 2", n, err)
	}
	for _, tok := range []string{other1, other2} {
		if _, err := s.WebSession(tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("other session still valid: %v", err)
		}
	}
	for _, tok := range []string{keep, bobs} {
		if _, err := s.WebSession(tok); err != nil {
			t.Errorf("session that should stay: %v", err)
		}
	}
	if n, err := s.SetPassword("alice", "another password", ""); err != nil || n != 1 {
		t.Fatalf("empty keep ended %d (%v), want 1", n, err)
	}
}

func TestWebSession_PurgeRemovesOnlyExpired(t *testing.T) {
	s := openWebSessionStore(t)
	live, _, _ := s.CreateWebSession("alice")
	old, _, _ := s.CreateWebSession("bobby")
	setExpiry(t, s, old, time.Now().Add(-time.Minute))
	n, err := s.PurgeWebSessions()
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want 1", n, err)
	}
	if _, err := s.WebSession(live); err != nil {
		t.Fatalf("live session purged: %v", err)
	}
	if n := indexedSessions(t, s, "bobby"); n != 0 {
		t.Fatalf("purge left bobby's index behind (%d)", n)
	}
}

// indexedSessions counts the user's web sessions in the index.
func indexedSessions(t *testing.T, s *Store, user string) int {
	t.Helper()
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		prefix := webSessionIndex(user, nil)
		c := tx.Bucket(bucketWebSessions).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
