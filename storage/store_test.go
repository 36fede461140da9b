package storage_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-oauth2/oauth2/v4/models"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/storage"
)

func open(t *testing.T, path string) *storage.Store {
	t.Helper()
	s, err := storage.Open(path, storage.Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func closeStore(t *testing.T, s *storage.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := storage.CheckFile(s.Path()); err != nil {
		t.Errorf("consistency: %v", err)
	}
}

// An existing database file that is empty (truncated by accident) is
// refused as damaged: bbolt would make a new database in it, and the server
// would start as if for the first time, with every user and key gone.
func TestOpen_EmptyFileRefusedNotStartedAnew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wotkit.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Open(path, storage.Options{}); !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("open an empty file: %v, want ErrCorrupt saying it is empty", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty file was written: %v %v", fi, err)
	}
}

func TestOpen_FileHeldByAnotherOpenerFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wotkit.db")
	s := open(t, path)
	defer closeStore(t, s)
	start := time.Now()
	_, err := storage.Open(path, storage.Options{LockTimeout: 200 * time.Millisecond})
	if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the file: %v", err)
	}
	t.Logf("refused after %v", time.Since(start))
}

func TestOpen_SchemaVersionWrittenAndNewerRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wotkit.db")
	closeStore(t, open(t, path))

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if v := meta.Get([]byte("schema")); binary.BigEndian.Uint64(v) != storage.SchemaVersion {
			t.Errorf("schema version on disk %v, want %d", v, storage.SchemaVersion)
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], storage.SchemaVersion+1)
		return meta.Put([]byte("schema"), b[:])
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Open(path, storage.Options{}); !errors.Is(err, storage.ErrSchemaTooNew) {
		t.Fatalf("open newer file: %v, want ErrSchemaTooNew", err)
	}
}

func TestKeys_SecretStoredOnlyAsHashAndOnDiskBeforeShown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wotkit.db")
	s := open(t, path)
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	k, pw, err := s.CreateKey("alice", storage.NewKey{Name: "roof"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pw, storage.PrefixKeyPassword) || len(pw) < len(storage.PrefixKeyPassword)+43 {
		t.Fatalf("key password %q: want prefix and 256 bits", pw)
	}
	// Read the file while the store is still open: the secret was committed.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(pw)) || bytes.Contains(data, []byte("correct horse battery")) {
		t.Fatal("a secret is stored in clear")
	}
	if !bytes.Contains(data, []byte(k.ID)) {
		t.Fatal("the key is not on disk when CreateKey returns")
	}
	closeStore(t, s)
}

func TestKeys_Authenticate(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "wotkit.db"))
	defer closeStore(t, s)
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery", AdminIfFirst: true}); err != nil {
		t.Fatal(err)
	}
	k, pw, err := s.CreateKey("alice", storage.NewKey{Name: "roof", Permissions: storage.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	got, owner, err := s.AuthenticateKey(k.ID, pw)
	if err != nil || got.ID != k.ID || got.Permissions != storage.ReadOnly || owner.Name != "alice" || !owner.Admin {
		t.Fatalf("good credentials: %+v %+v %v", got, owner, err)
	}
	for name, c := range map[string][2]string{
		"wrong password": {k.ID, pw + "x"},
		"unknown id":     {"KAAAAAAAAAAAAAAAAAAAAAAAA", pw},
		"empty":          {"", ""},
	} {
		if _, _, err := s.AuthenticateKey(c[0], c[1]); !errors.Is(err, storage.ErrBadCredentials) {
			t.Errorf("%s: %v, want ErrBadCredentials", name, err)
		}
	}
	k2, pw2, err := s.ResetKeyPassword(k.ID)
	if err != nil || k2.ID != k.ID || pw2 == pw {
		t.Fatalf("reset: %+v %v", k2, err)
	}
	if _, _, err := s.AuthenticateKey(k.ID, pw); !errors.Is(err, storage.ErrBadCredentials) {
		t.Error("old password still valid after reset")
	}
	if _, _, err := s.AuthenticateKey(k.ID, pw2); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestKeys_BadInputLosesNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "wotkit.db"))
	defer closeStore(t, s)
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		owner string
		nk    storage.NewKey
		want  error
	}{
		"no name":          {"alice", storage.NewKey{}, storage.ErrInvalid},
		"blank name":       {"alice", storage.NewKey{Name: " \t "}, storage.ErrInvalid},
		"two-line name":    {"alice", storage.NewKey{Name: "roof\ngateway"}, storage.ErrInvalid},
		"long name":        {"alice", storage.NewKey{Name: strings.Repeat("n", 65)}, storage.ErrInvalid},
		"long description": {"alice", storage.NewKey{Name: "n", Description: strings.Repeat("d", 1025)}, storage.ErrInvalid},
		"bad utf-8":        {"alice", storage.NewKey{Name: "\xff"}, storage.ErrInvalid},
		"no such owner":    {"nobody", storage.NewKey{Name: "n"}, storage.ErrNotFound},
	}
	for name, c := range cases {
		if _, _, err := s.CreateKey(c.owner, c.nk); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if keys, err := s.KeysOf("alice"); err != nil || len(keys) != 0 {
		t.Fatalf("after refusals: %d keys, %v", len(keys), err)
	}
	if k, _, err := s.CreateKey("alice", storage.NewKey{Name: " roof gateway "}); err != nil || k.Name != "roof gateway" {
		t.Errorf("name with spaces around it: %q, %v; want it kept trimmed", k.Name, err)
	}
	if _, _, err := s.CreateKey("alice", storage.NewKey{Name: strings.Repeat("n", 64) + "\n"}); err != nil {
		t.Errorf("a name of 64 characters and a line break after them, which is trimmed: %v", err)
	}
	if _, err := storage.ParsePermission("admin"); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("ParsePermission(admin): %v", err)
	}
	if err := s.DeleteKey("KNOPE"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("delete unknown: %v", err)
	}
}

func TestUsers_NamesAndPasswords(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "wotkit.db"))
	defer closeStore(t, s)
	for _, bad := range []string{"al", "Alice", "1alice", "al/ice", "al+ce", "al#ce", "$alice", strings.Repeat("a", 33), ""} {
		if _, err := s.CreateUser(storage.NewUser{Name: bad, Password: "correct horse battery"}); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("user name %q: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "short"}); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("short password: %v", err)
	}
	first, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery", AdminIfFirst: true})
	if err != nil || !first.Admin {
		t.Fatalf("first user with AdminIfFirst: %+v %v", first, err)
	}
	second, err := s.CreateUser(storage.NewUser{Name: "bob_1", Password: "correct horse battery", AdminIfFirst: true})
	if err != nil || second.Admin {
		t.Fatalf("second user with AdminIfFirst: %+v %v", second, err)
	}
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "another password"}); !errors.Is(err, storage.ErrExists) {
		t.Errorf("taken name: %v", err)
	}
	if _, err := s.CheckPassword("alice", "correct horse battery"); err != nil {
		t.Errorf("right password: %v", err)
	}
	for _, c := range [][2]string{{"alice", "wrong password"}, {"nobody", "correct horse battery"}} {
		if _, err := s.CheckPassword(c[0], c[1]); !errors.Is(err, storage.ErrBadCredentials) {
			t.Errorf("CheckPassword(%q): %v, want ErrBadCredentials", c[0], err)
		}
	}
	if _, err := s.SetPassword("alice", "a new password", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword("alice", "correct horse battery"); !errors.Is(err, storage.ErrBadCredentials) {
		t.Error("old password still works")
	}
}

func TestEvents_PublishedAfterCommit(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "wotkit.db"))
	defer closeStore(t, s)
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	k, _, err := s.CreateKey("alice", storage.NewKey{Name: "roof"})
	if err != nil {
		t.Fatal(err)
	}
	k2, _, err := s.CreateKey("alice", storage.NewKey{Name: "cellar"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []storage.Event
	cancel := s.Watch(func(e storage.Event) {
		// The change is visible to a reader when the event arrives.
		if _, err := s.Key(e.KeyID); e.Kind == storage.KeyRevoked && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("event before commit: key still readable (%v)", err)
		}
		seen = append(seen, e)
	})
	if err := s.DeleteKey(k.ID); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.DeleteKey(k2.ID); err != nil { // an event no watcher hears
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Kind != storage.KeyRevoked || seen[0].User != "alice" || seen[0].KeyID != k.ID {
		t.Fatalf("events %+v", seen)
	}
}

func TestKeys_LastUseWrittenAtClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wotkit.db")
	s := open(t, path)
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	k, _, err := s.CreateKey("alice", storage.NewKey{Name: "roof"})
	if err != nil {
		t.Fatal(err)
	}
	s.TouchKey(k.ID, "192.0.2.7:5000")
	closeStore(t, s)
	s = open(t, path)
	defer closeStore(t, s)
	got, err := s.Key(k.ID)
	if err != nil || got.LastUsed.IsZero() || got.LastAddr != "192.0.2.7:5000" {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
}

func TestSweep_RemovesOnlyWhatCanNoLongerBeUsed(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "wotkit.db"))
	defer closeStore(t, s)
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	app, _, err := s.CreateApp("alice", storage.NewApp{Name: "a", RedirectURIs: []string{"https://a.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	mk := func(accessTTL, refreshTTL time.Duration) (string, string) {
		access, refresh := storage.NewSecret(storage.PrefixAccessToken), storage.NewSecret(storage.PrefixRefreshToken)
		err := s.OAuthTokens().Create(ctx, &models.Token{ClientID: app.ClientID, UserID: "alice", Scope: "read",
			Access: access, AccessCreateAt: now.Add(-time.Hour), AccessExpiresIn: accessTTL,
			Refresh: refresh, RefreshCreateAt: now.Add(-time.Hour), RefreshExpiresIn: refreshTTL})
		if err != nil {
			t.Fatal(err)
		}
		return access, refresh
	}
	deadAccess, deadRefresh := mk(time.Minute, time.Minute) // both expired
	oldAccess, liveRefresh := mk(time.Minute, 48*time.Hour) // refresh still usable
	liveAccess, _ := mk(2*time.Hour, 48*time.Hour)          // both live
	code := storage.NewSecret(storage.PrefixAuthCode)
	if err := s.OAuthTokens().Create(ctx, &models.Token{ClientID: app.ClientID, UserID: "alice", Code: code,
		CodeCreateAt: now.Add(-time.Hour), CodeExpiresIn: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(now)
	if err != nil || n != 2 {
		t.Fatalf("swept %d (%v), want the dead token and the expired code", n, err)
	}
	introspect := func(tok string) storage.TokenInfo {
		t.Helper()
		info, err := s.IntrospectToken(tok)
		if err != nil {
			t.Fatalf("introspect: %v", err)
		}
		return info
	}
	for _, tok := range []string{deadAccess, deadRefresh} {
		if info := introspect(tok); info.Kind != "" {
			t.Errorf("dead token still stored: %+v", info)
		}
	}
	if !introspect(liveRefresh).Active {
		t.Error("a usable refresh token was swept")
	}
	if introspect(oldAccess).Kind == "" {
		t.Error("the record of a usable refresh token was swept")
	}
	if _, err := s.AuthenticateToken(liveAccess); err != nil {
		t.Errorf("live token: %v", err)
	}
}
