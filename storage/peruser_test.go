package storage_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/storage"
)

// TestPerUser_KeysAppsAndSensorsAreBounded: with sign-up open, anyone may
// make an account; one account must not fill the disk with keys,
// applications or sensors. Past Options.MaxPerUser of one kind the next is
// refused with ErrLimit, saying why and what to do; other users and other
// kinds are not affected, and deleting one makes room again.
func TestPerUser_KeysAppsAndSensorsAreBounded(t *testing.T) {
	s, err := storage.Open(filepath.Join(t.TempDir(), "wotkit.db"), storage.Options{BcryptCost: bcrypt.MinCost, MaxPerUser: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	for _, name := range []string{"alice", "bobby"} {
		if _, err := s.CreateUser(storage.NewUser{Name: name, Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
	}
	kinds := []struct {
		what   string
		create func(owner string, i int) (id string, err error)
		remove func(owner, id string) error
	}{
		{"keys", func(owner string, i int) (string, error) {
			k, _, err := s.CreateKey(owner, storage.NewKey{Name: "gateway", Permissions: storage.ReadWrite})
			return k.ID, err
		}, func(_, id string) error { return s.DeleteKey(id) }},
		{"applications", func(owner string, i int) (string, error) {
			a, _, err := s.CreateApp(owner, storage.NewApp{Name: "dashboard", RedirectURIs: []string{"https://dash.example/cb"}})
			return a.ClientID, err
		}, func(_, id string) error { return s.DeleteApp(id) }},
		{"sensors", func(owner string, i int) (string, error) {
			name := "sensor" + string(rune('a'+i))
			_, err := s.CreateSensor(storage.Sensor{Owner: owner, Name: name})
			return name, err
		}, s.DeleteSensor},
	}
	for _, k := range kinds {
		var ids []string
		for i := range 2 {
			id, err := k.create("alice", i)
			if err != nil {
				t.Fatalf("%s %d of 2: %v", k.what, i+1, err)
			}
			ids = append(ids, id)
		}
		_, err := k.create("alice", 2)
		if !errors.Is(err, storage.ErrLimit) || !strings.Contains(err.Error(), "a user may have at most 2 "+k.what+", and alice has 2") {
			t.Fatalf("a third of alice's %s: %v, want ErrLimit saying why", k.what, err)
		}
		if _, err := k.create("bobby", 0); err != nil {
			t.Fatalf("bobby's first of %s after alice reached her limit: %v", k.what, err)
		}
		if err := k.remove("alice", ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := k.create("alice", 3); err != nil {
			t.Fatalf("one of alice's %s after she deleted one: %v", k.what, err)
		}
	}
}
