package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With no server running, only `user add` (first-run setup) makes the
// database. Any other command on a data directory without one is a wrong
// --data: it says so and creates nothing, rather than answering from an
// empty database ("user not found", an empty backup and exit 0).
func TestCLI_WithoutDatabaseOnlyUserAddCreatesIt(t *testing.T) {
	parent := t.TempDir()
	empty, typo := t.TempDir(), filepath.Join(parent, "wotkit-dta")
	backup := filepath.Join(parent, "backup.db")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"user passwd", []string{"user", "passwd", "alice", "--password-stdin"}},
		{"user list", []string{"user", "list"}},
		{"key create", []string{"key", "create", "alice", "--name", "gateway"}},
		{"key list", []string{"key", "list", "alice"}},
		{"key delete", []string{"key", "delete", "somekey"}},
		{"app create", []string{"app", "create", "alice", "--name", "app", "--redirect-uri", "https://example.com/cb"}},
		{"app list", []string{"app", "list"}},
		{"app delete", []string{"app", "delete", "someclient"}},
		{"backup", []string{"backup", backup}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, data := range []string{empty, typo} {
				_, err := wotkitErr(t, "correct horse battery\n", append(c.args, "--data", data)...)
				want := "no database at " + filepath.Join(data, dbName) + " (is --data right?)"
				if !errors.Is(err, errNoDatabase) || err.Error() != want {
					t.Errorf("--data %s: %v, want %q", data, err, want)
				}
			}
			if _, err := os.Stat(filepath.Join(empty, dbName)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a database was made in the empty directory: %v", err)
			}
			if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the mistyped directory was made: %v", err)
			}
		})
	}
	if _, err := os.Stat(backup); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a backup was written with no database: %v", err)
	}
	// First-run setup still makes the database, and the rest then work.
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", typo)
	if out := wotkit(t, "", "user", "list", "--data", typo); !strings.Contains(out, "alice") {
		t.Fatalf("user list after the first user add: %q", out)
	}
}
