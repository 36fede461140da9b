package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wotkit/wotkit/storage"
)

// A schema version record no wotkit writes (0, or not 8 bytes) is a damaged
// file: ErrCorrupt, not a panic on migrations[-1].
func TestOpen_DamagedSchemaVersionIsCorrupt(t *testing.T) {
	for name, record := range map[string][]byte{
		"version 0":    make([]byte, 8),
		"short record": {0, 0, 1},
		"empty record": {},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wotkit.db")
			closeStore(t, open(t, path))
			db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), record) })
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			if s, err := storage.Open(path, storage.Options{}); !errors.Is(err, storage.ErrCorrupt) {
				if err == nil {
					s.Close()
				}
				t.Fatalf("open: %v, want ErrCorrupt", err)
			}
		})
	}
}

// Options are checked before anything is written: a bad bcrypt cost leaves
// no directory and no database behind.
func TestOpen_BadBcryptCostWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "wotkit.db")
	for _, cost := range []int{-1, 99} {
		if s, err := storage.Open(path, storage.Options{BcryptCost: cost}); err == nil {
			s.Close()
			t.Fatalf("bcrypt cost %d accepted", cost)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after a refused open: %v, want no directory", err)
	}
}
