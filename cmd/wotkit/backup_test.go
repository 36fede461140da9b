package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// A backup taken while the server runs restores into a working server: the
// user logs in with their password and the key connects.
func TestBackup_WhileServingThenRestore(t *testing.T) {
	dir := t.TempDir()
	inst := startInstance(t, dir)
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", dir)
	id, pw := createKey(t, dir, "alice")
	backup := filepath.Join(t.TempDir(), "wotkit-backup.db")
	wotkit(t, "", "backup", backup, "--data", dir)
	if err := storage.CheckFile(backup); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if err := inst.shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Restore: the backup is the database file of a new data directory.
	restored := t.TempDir()
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, dbName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	again := startInstance(t, restored)
	req, _ := http.NewRequest(http.MethodGet, "http://"+again.webAddr.String()+"/api/v1/me", nil)
	req.SetBasicAuth("alice", "correct horse battery")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("log in on the restored server: %d", res.StatusCode)
	}
	if _, err := wotkittest.Dial3(t, again.broker.Addr("tcp").String(), "gw", id, pw); err != nil {
		t.Fatalf("key on the restored server: %v", err)
	}
}

func TestServe_RefusesADamagedFile(t *testing.T) {
	dir := t.TempDir()
	inst := startInstance(t, dir)
	for _, name := range []string{"alice", "bob1", "carol"} {
		if _, err := inst.store.CreateUser(storage.NewUser{Name: name, Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := inst.shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, dbName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Scribble over the page headers past the two meta pages and the freelist.
	info, _ := f.Stat()
	page := int64(os.Getpagesize())
	for off := 3 * page; off+16 < info.Size(); off += page {
		if _, err := f.WriteAt([]byte("\xde\xad\xbe\xef\xde\xad\xbe\xef\xff\xff\xff\xff"), off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	_, err = start(serveConfig{data: dir, mqttAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", publicURL: "http://localhost:8080",
		logger: wotkittest.Logger(t), bcryptCost: bcrypt.MinCost})
	if err == nil {
		t.Fatal("the server started on a damaged file")
	}
	if !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), "restore a backup") {
		t.Fatalf("error does not say the file is damaged: %v", err)
	}
	t.Logf("refused: %v", err)
}
