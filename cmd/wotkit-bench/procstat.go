package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// rss returns the resident set size of process pid in bytes, from /proc/PID/status.
func rss(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// cpuTime returns the user+system CPU time process pid has used, from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	f := statFields(b)
	if len(f) <= statStime {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[statUtime], 10, 64)
	st, err2 := strconv.ParseInt(f[statStime], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat times", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// Indexes into statFields: the state is field 3 of /proc/PID/stat, utime 14.
const (
	statState  = 0
	statPPID   = 1
	statUtime  = 11
	statStime  = 12
	statCstime = 14 // cutime is 13
)

// statFields returns the fields of a /proc/PID/stat (or task stat) line that
// follow the command name, from the state on (nil when there is no name).
// The name, in parentheses, may hold spaces: the fields start after the last ')'.
func statFields(b []byte) []string {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// runTime returns how long the threads of process pid have run, from
// /proc/PID/task/*/schedstat: to the nanosecond where cpuTime counts 10 ms
// ticks, but without the time of threads that have exited.
func runTime(pid int) (time.Duration, error) {
	d, _, err := threads(pid, false)
	return d, err
}

// threads returns how long the threads of process pid have run and, when
// state is asked for, whether one of them runs or waits for a CPU (state R) now.
func threads(pid int, state bool) (ran time.Duration, runnable bool, err error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, false, fmt.Errorf("read run time: %w", err)
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false, fmt.Errorf("parse %s/%s/schedstat: empty", dir, t.Name())
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("parse %s/%s/schedstat: %w", dir, t.Name(), err)
		}
		ran += time.Duration(n)
		if !state || runnable {
			continue
		}
		if st, err := os.ReadFile(dir + "/" + t.Name() + "/stat"); err == nil {
			if f := statFields(st); len(f) > statState && f[statState] == "R" {
				runnable = true
			}
		}
	}
	return ran, runnable, nil
}

// A broker counts as idle once none of its threads is runnable and it ran
// less than quietShare of a CPU over quietWindow; awaitQuiet waits at most
// quietMax for that.
const (
	quietWindow = 20 * time.Millisecond
	quietShare  = 0.05
	quietMax    = 2 * time.Second
)

// awaitQuiet waits until process pid is idle: the work a broker goes on with
// after a run (acknowledgements still queued, connections closing) must not
// fall in the next broker's run, which shares its CPU. It returns pid's
// runTime when called and when it went idle (their difference is the CPU time
// it used meanwhile), and gives up waiting after quietMax.
func awaitQuiet(ctx context.Context, pid int) (start, quiet time.Duration, err error) {
	start, err = runTime(pid)
	if err != nil {
		return 0, 0, err
	}
	prev, deadline := start, time.Now().Add(quietMax)
	for time.Now().Before(deadline) {
		if !sleepCtx(ctx, quietWindow) {
			return 0, 0, ctx.Err()
		}
		cur, runnable, err := threads(pid, true)
		if err != nil {
			return 0, 0, err
		}
		if !runnable && float64(cur-prev) < quietShare*float64(quietWindow) {
			return start, cur, nil
		}
		prev = cur
	}
	return start, prev, nil
}

// othersCPU returns the CPU time used by every user process but those in
// ours, their reaped children included: other work on this machine that
// competes with the broker and the load. Kernel threads (interrupt and
// network work done for everyone's packets) are left out.
func othersCPU(ours map[int]bool) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("read /proc: %w", err)
	}
	var ticks int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || ours[pid] {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		f := statFields(b)
		if len(f) <= statCstime || f[statPPID] == "2" || pid == 2 {
			continue
		}
		for _, v := range f[statUtime : statCstime+1] { // utime, stime, cutime, cstime
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * clockTick, nil
}
