package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wotkit/wotkit/internal/wotkittest"
)

// TestSoak runs only under `make soak` (WOTKIT_SOAK=duration): a wotkit serve
// process takes 10,000 authenticated connections and sustained publishing
// for the duration; after the clients leave, its goroutines and heap must
// come back to where they started.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("WOTKIT_SOAK"))
	if err != nil {
		t.Skip("set WOTKIT_SOAK to a duration (make soak) to run the soak")
	}
	bin := buildWotkit(t)
	dir := t.TempDir()
	_, web, mqttAddr := serveProcess(t, bin, dir, "--max-sessions-per-key", "0", "--max-publish-rate", "0")
	add := exec.Command(bin, "user", "add", "alice", "--password-stdin", "--data", dir)
	add.Stdin = strings.NewReader("correct horse battery\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v %s", err, out)
	}
	out, err := exec.Command(bin, "key", "create", "alice", "--name", "soak", "--json", "--data", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	id, pw := jsonField(string(out), "key_id"), jsonField(string(out), "key_password")

	start := scrape(t, web)
	t.Logf("start: %d goroutines, %.1f MB heap", int(start["go_goroutines"]), start["go_memstats_heap_alloc_bytes"]/1e6)
	// Two rounds: after the first, the heap keeps what the runtime keeps at
	// its peak (goroutine descriptors, maps that do not shrink); a leak would
	// grow it again in the second.
	var after [2]float64
	for round := range after {
		soakRound(t, web, mqttAddr, id, pw, d, round, start)
		after[round] = settle(t, web, start["go_goroutines"])
	}
	if after[1] > after[0]*1.1+2e6 {
		t.Fatalf("heap after round 2: %.1f MB, after round 1: %.1f MB: it grows", after[1]/1e6, after[0]/1e6)
	}
}

// soakRound opens conns connections, publishes for d, and closes them all. It
// logs the heap per connection against the round's start, and the resident
// memory against start, the server's before any round: the runtime keeps the
// pages an earlier round freed, so a later round reuses them rather than
// adding to the resident memory (as the bench's "reconnected" figure, README:
// Performance).
func soakRound(t *testing.T, web, mqttAddr, id, pw string, d time.Duration, round int, start map[string]float64) {
	const conns, publishers = 10000, 20
	before := scrape(t, web)
	clients := make([]net.Conn, conns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			nc, code, err := wotkittest.RawConnect(mqttAddr, fmt.Sprintf("soak-%d-%d", round, i), id, pw)
			if err != nil || code != 0 {
				t.Errorf("connection %d: code %d %v", i, code, err)
				return
			}
			clients[i] = nc
		})
	}
	wg.Wait()
	defer func() {
		for _, nc := range clients {
			if nc != nil {
				_ = nc.Close()
			}
		}
	}()
	if t.Failed() {
		t.FailNow()
	}
	for i := range publishers { // the first ones listen, the next ones talk
		if code, err := wotkittest.RawSubscribe(clients[i], "alice/soak/data"); err != nil || code != 0 {
			t.Fatalf("subscribe: %d %v", code, err)
		}
		go func(nc net.Conn) { _, _ = io.Copy(io.Discard, nc) }(clients[i])
	}
	loaded := scrape(t, web)
	perConn := func(metric string, base map[string]float64) float64 {
		return (loaded[metric] - base[metric]) / conns / 1e3
	}
	t.Logf("round %d, %d connections: %d goroutines, %.1f MB heap, %.1f MB resident; per connection %.1f KB heap (since the round began), %.1f KB resident (since the server started)",
		round+1, conns, int(loaded["go_goroutines"]), loaded["go_memstats_heap_alloc_bytes"]/1e6,
		loaded["process_resident_memory_bytes"]/1e6, perConn("go_memstats_heap_alloc_bytes", before),
		perConn("process_resident_memory_bytes", start))
	var sent atomic.Int64
	stop := time.Now().Add(d)
	msg := wotkittest.PublishBytes("alice/soak/data", []byte(`{"value": 1}`))
	for i := publishers; i < 2*publishers; i++ {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := clients[i].Write(msg); err != nil {
					t.Errorf("publisher %d: %v", i, err)
					return
				}
				sent.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	t.Logf("round %d: published %d messages in %v", round+1, sent.Load(), d)
}

// settle waits until the server's goroutines are back to the start and a
// garbage collection has run since the clients left (the runtime collects at
// least every two minutes), and returns the heap then.
func settle(t *testing.T, web string, goroutines float64) float64 {
	t.Helper()
	gcs := scrape(t, web)["go_gc_duration_seconds_count"]
	deadline := time.Now().Add(3 * time.Minute)
	for {
		now := scrape(t, web)
		if now["go_goroutines"] <= goroutines+5 && now["go_gc_duration_seconds_count"] > gcs {
			t.Logf("after: %d goroutines (start %d), %.1f MB heap", int(now["go_goroutines"]), int(goroutines),
				now["go_memstats_heap_alloc_bytes"]/1e6)
			return now["go_memstats_heap_alloc_bytes"]
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the clients left: %d goroutines (start %d)", int(now["go_goroutines"]), int(goroutines))
		}
		time.Sleep(5 * time.Second)
	}
}

var listening = regexp.MustCompile(`msg="(web|mqtt) listening" (?:listener=tcp )?addr=(\S+)`)

// serveProcess starts `wotkit serve` as its own process on loopback ports
// and returns it with the web and MQTT TCP addresses it reports.
func serveProcess(t *testing.T, bin, dir string, flags ...string) (cmd *exec.Cmd, web, mqtt string) {
	t.Helper()
	cmd = exec.Command(bin, append([]string{"serve", "--data", dir, "--mqtt", "127.0.0.1:0", "--mqtt-ws", "", "--http", "127.0.0.1:0"}, flags...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan [2]string, 4)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- [2]string{m[1], m[2]}
			}
		}
	}()
	for web == "" || mqtt == "" {
		select {
		case f := <-found:
			if f[0] == "web" {
				web = f[1]
			} else {
				mqtt = f[1]
			}
		case <-time.After(wotkittest.Timeout):
			t.Fatal("the server never said where it listens")
		}
	}
	return cmd, web, mqtt
}

// scrape reads the server's metrics (loopback may).
func scrape(t *testing.T, web string) map[string]float64 {
	t.Helper()
	res, err := http.Get("http://" + web + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && !strings.HasPrefix(name, "#") {
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				out[name] = v
			}
		}
	}
	return out
}

func jsonField(doc, field string) string {
	m := regexp.MustCompile(`"` + field + `":"([^"]+)"`).FindStringSubmatch(doc)
	if m == nil {
		return ""
	}
	return m[1]
}
