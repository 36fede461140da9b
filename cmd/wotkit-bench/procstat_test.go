package main

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// awaitQuiet returns once a process that was busy has gone idle, with the CPU
// time it used meanwhile; the process is then idle indeed.
func TestAwaitQuiet_WaitsForTheWorkToEnd(t *testing.T) {
	// A shell that counts for a while (in its own process: no children),
	// then sleeps.
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec sleep 30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start, before, err := awaitQuiet(ctx, cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if used := before - start; used < 20*time.Millisecond {
		t.Errorf("awaitQuiet returned after %v of CPU: the shell counts for longer than that", used)
	}
	time.Sleep(100 * time.Millisecond)
	after, err := runTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d > 5*time.Millisecond {
		t.Errorf("the process ran %v in the 100 ms after awaitQuiet returned: it was not idle yet", d)
	}
}
