package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wotkit/wotkit/storage"
)

// A backup is renamed into place: onto the live file, the store would go on
// writing the unlinked old file and lose everything after. That is refused
// (ErrInvalid) however the path is spelled, and the store is unharmed.
func TestBackup_OntoLiveFileRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wotkit.db")
	s := open(t, path)
	linked := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(dir, linked); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for name, target := range map[string]string{
		"the same path":               path,
		"with a dot":                  filepath.Join(dir, ".") + "/./wotkit.db",
		"through a symlink directory": filepath.Join(linked, "wotkit.db"),
		"relative":                    "wotkit.db",
	} {
		err := s.Backup(target)
		if !errors.Is(err, storage.ErrInvalid) || !strings.Contains(err.Error(), "live database file") {
			t.Errorf("backup %s (%s): %v, want ErrInvalid naming the live file", name, target, err)
		}
	}
	// Another file is still a good target, and the store still writes its own.
	elsewhere := filepath.Join(t.TempDir(), "wotkit.db")
	if err := s.Backup(elsewhere); err != nil {
		t.Fatalf("backup elsewhere: %v", err)
	}
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	s = open(t, path)
	defer closeStore(t, s)
	if _, err := s.User("alice"); err != nil {
		t.Fatalf("user made after the refused backups: %v", err)
	}
}
