package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wotkit/wotkit/storage"
)

// buildWotkit compiles the binary once per test into a temporary directory.
func buildWotkit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wotkit")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Killing the server with SIGKILL while clients create keys loses no key
// whose password was returned, and leaves a file that verifies and serves.
func TestCrash_SIGKILLWhileCreatingKeys(t *testing.T) {
	bin := buildWotkit(t)
	dir := t.TempDir()
	cmd, web, _ := serveProcess(t, bin, dir)
	add := exec.Command(bin, "user", "add", "alice", "--password-stdin", "--data", dir)
	add.Stdin = strings.NewReader("correct horse battery\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v %s", err, out)
	}

	type created struct{ id, pw string }
	var mu sync.Mutex
	var keys []created
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"name": "k-%d-%d"}`, w, i)
				req, _ := http.NewRequest(http.MethodPost, "http://"+web+"/api/v1/keys", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.SetBasicAuth("alice", "correct horse battery")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				var k struct {
					ID string `json:"key_id"`
					PW string `json:"key_password"`
				}
				err = json.NewDecoder(res.Body).Decode(&k)
				res.Body.Close()
				if err == nil && res.StatusCode == http.StatusCreated {
					mu.Lock()
					keys = append(keys, created{k.ID, k.PW})
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond) // keys being created right now
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	close(stop)
	wg.Wait()
	if len(keys) == 0 {
		t.Fatal("no key was created before the kill")
	}

	path := filepath.Join(dir, dbName)
	if err := storage.CheckFile(path); err != nil {
		t.Fatalf("file after SIGKILL: %v", err)
	}
	store, err := storage.Open(path, storage.Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, _, err := store.AuthenticateKey(k.id, k.pw); err != nil {
			t.Errorf("key %s returned before the kill is lost: %v", k.id, err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d keys returned before SIGKILL, all intact", len(keys))
	serveProcess(t, bin, dir) // and the server starts again on it
}
