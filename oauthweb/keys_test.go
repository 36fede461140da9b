package oauthweb

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"testing"

	"github.com/wotkit/wotkit/storage"
)

var (
	keyIDInPage       = regexp.MustCompile(`id="key-id">(K[A-Z2-7]+)<`)
	keyPasswordInPage = regexp.MustCompile(`id="key-password">(wkp_[A-Za-z0-9_-]+)<`)
)

// TestKeyPassword_ShownOnce: the page after creation shows the key id, the
// password and a ready mosquitto_pub line, is not cacheable, and no later page
// shows the password again.
func TestKeyPassword_ShownOnce(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	res, body := b.submit("/keys/new", "/keys", url.Values{"name": {"weather"}, "description": {"roof"}, "permissions": {"read-write"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create: %d", res.StatusCode)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	id, pw := keyIDInPage.FindStringSubmatch(body), keyPasswordInPage.FindStringSubmatch(body)
	if id == nil || pw == nil {
		t.Fatalf("no key id or password in the page")
	}
	want := "mosquitto_pub -h wotkit.example -p 1883 -u " + id[1] + " -P " + pw[1] + " -t alice/sensor/data -m &#39;"
	if !contains(body, want) {
		t.Errorf("no ready mosquitto_pub line %q", want)
	}
	if _, _, err := env.store.AuthenticateKey(id[1], pw[1]); err != nil {
		t.Fatalf("the password shown does not work: %v", err)
	}
	for _, path := range []string{"/keys", "/keys/" + id[1], "/keys/" + id[1] + "/reset-password", "/keys/" + id[1] + "/delete"} {
		res, body := b.get(path)
		if res.StatusCode != 200 || contains(body, pw[1]) {
			t.Errorf("%s: %d, shows the password: %v", path, res.StatusCode, contains(body, pw[1]))
		}
	}
}

func TestKeyNew_ReadOnlyGetsSubscribeLine(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	_, body := b.submit("/keys/new", "/keys", url.Values{"name": {"display"}, "permissions": {"read-only"}})
	if !contains(body, "mosquitto_sub -h wotkit.example") || contains(body, "mosquitto_pub") {
		t.Fatal("a read-only key should get a mosquitto_sub line")
	}
	keys, _ := env.store.KeysOf("alice")
	if len(keys) != 1 || keys[0].Permissions != storage.ReadOnly {
		t.Fatalf("keys %+v", keys)
	}
}

func TestKeyNew_BadInput(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	for name, form := range map[string]url.Values{
		"no name":         {"name": {"  "}},
		"bad permissions": {"name": {"x"}, "permissions": {"admin"}},
	} {
		res, body := b.submit("/keys/new", "/keys", form)
		if res.StatusCode != http.StatusBadRequest || !contains(body, `class="alert"`) {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
}

// TestKeyView_ShowsEverythingButThePassword: id, name, description,
// permissions, created, last use with address, live sessions.
func TestKeyView_ShowsEverythingButThePassword(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.LiveSessions = func(string) int { return 3 } })
	env.user("alice", "alice-password")
	id, _ := env.key("alice", "weather")
	env.store.TouchKey(id, "192.0.2.7:50000")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	_, body := b.get("/keys/" + id)
	for _, want := range []string{id, "weather", "read-write", "192.0.2.7:50000", "3 MQTT sessions", "UTC"} {
		if !contains(body, want) {
			t.Errorf("view lacks %q", want)
		}
	}
}

// TestKeyReset_NewPasswordOnceOldOneDead: the reset is a POST behind a
// confirmation; its answer shows the new password, uncached; the old one fails;
// storage announces the revocation for the broker.
func TestKeyReset_NewPasswordOnceOldOneDead(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	id, old := env.key("alice", "weather")
	revoked := watchRevocations(t, env.store)
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	if res, body := b.get("/keys/" + id + "/reset-password"); res.StatusCode != 200 || !contains(body, "Reset the password") {
		t.Fatalf("confirmation: %d", res.StatusCode)
	}
	if _, _, err := env.store.AuthenticateKey(id, old); err != nil {
		t.Fatal("the confirmation page reset the password")
	}
	res, body := b.submit("/keys/"+id+"/reset-password", "/keys/"+id+"/reset-password", url.Values{})
	pw := keyPasswordInPage.FindStringSubmatch(body)
	if res.StatusCode != 200 || pw == nil || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reset: %d, password shown %v, Cache-Control %q", res.StatusCode, pw != nil, res.Header.Get("Cache-Control"))
	}
	if _, _, err := env.store.AuthenticateKey(id, old); !errors.Is(err, storage.ErrBadCredentials) {
		t.Errorf("old password: %v", err)
	}
	if _, _, err := env.store.AuthenticateKey(id, pw[1]); err != nil {
		t.Errorf("new password: %v", err)
	}
	if got := revoked(); len(got) != 1 || got[0] != id {
		t.Errorf("revocation events %v, want [%s]", got, id)
	}
}

// TestKeyDelete_ConfirmThenGone: GET shows a confirmation and deletes nothing;
// the POST deletes, and storage announces the revocation.
func TestKeyDelete_ConfirmThenGone(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	id, _ := env.key("alice", "weather")
	revoked := watchRevocations(t, env.store)
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	res, body := b.get("/keys/" + id + "/delete")
	if res.StatusCode != 200 || !contains(body, "Delete the key") {
		t.Fatalf("confirmation: %d", res.StatusCode)
	}
	if _, err := env.store.Key(id); err != nil {
		t.Fatal("the confirmation page deleted the key")
	}
	res, _ = b.submit("/keys/"+id+"/delete", "/keys/"+id+"/delete", url.Values{})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/keys?deleted=1" {
		t.Fatalf("delete: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, err := env.store.Key(id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("key after delete: %v", err)
	}
	if got := revoked(); len(got) != 1 || got[0] != id {
		t.Errorf("revocation events %v, want [%s]", got, id)
	}
	if res, _ := b.get("/keys/" + id); res.StatusCode != 404 {
		t.Errorf("view of a deleted key: %d", res.StatusCode)
	}
}

// TestKeyPages_AnotherUsersKeyIsNotFound: bob can neither see nor change
// alice's key, and learns nothing beyond "not found".
func TestKeyPages_AnotherUsersKeyIsNotFound(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	id, pw := env.key("alice", "weather")
	bob := env.browser("127.0.0.1")
	bob.login("bobby", "bobby-password")
	for _, path := range []string{"/keys/" + id, "/keys/" + id + "/delete", "/keys/" + id + "/reset-password"} {
		if res, body := bob.get(path); res.StatusCode != 404 || contains(body, "weather") {
			t.Errorf("GET %s: %d", path, res.StatusCode)
		}
	}
	token := bob.csrf("/keys")
	for _, path := range []string{"/keys/" + id + "/delete", "/keys/" + id + "/reset-password"} {
		if res, _ := bob.post(path, url.Values{csrfField: {token}}); res.StatusCode != 404 {
			t.Errorf("POST %s: %d", path, res.StatusCode)
		}
	}
	if _, _, err := env.store.AuthenticateKey(id, pw); err != nil {
		t.Fatalf("alice's key was changed: %v", err)
	}
}

// watchRevocations records the key ids of KeyRevoked events.
func watchRevocations(t *testing.T, s *storage.Store) func() []string {
	events := watchEvents(t, s, storage.KeyRevoked)
	return func() []string {
		var ids []string
		for _, e := range events() {
			ids = append(ids, e.KeyID)
		}
		return ids
	}
}

// watchEvents records the store's events of one kind.
func watchEvents(t *testing.T, s *storage.Store, kind storage.EventKind) func() []storage.Event {
	var mu sync.Mutex
	var events []storage.Event
	cancel := s.Watch(func(e storage.Event) {
		if e.Kind == kind {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	})
	t.Cleanup(cancel)
	return func() []storage.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]storage.Event(nil), events...)
	}
}
