package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// stalledDisk returns a store with a sensor whose disk has stalled: the
// store's one write transaction is held, so the readings writer stops at its
// next flush, until resume (at the latest when the test ends).
func stalledDisk(t *testing.T) (s *Store, sn Sensor, resume func()) {
	t.Helper()
	s = openWebSessionStore(t)
	sn, err := s.CreateSensor(Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- s.db.Update(func(*bolt.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	var once sync.Once
	resume = func() {
		once.Do(func() {
			close(release)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(resume) // before the store closes, should the test end early
	return s, sn, resume
}

// When the disk falls behind, a reading waits for room in the queue rather
// than being lost, and gets ErrBusy once it has waited recordWait; every
// reading that was accepted reaches the disk once it catches up.
func TestRecord_DiskBehindRefusesLosesNothing(t *testing.T) {
	s, sn, resume := stalledDisk(t)
	base := time.Now().Truncate(time.Millisecond)
	accepted := 0
	var err error
	for {
		err = s.RecordJSON(sn.ID, base.Add(time.Duration(accepted)*time.Millisecond), fmt.Appendf(nil, `{"value":%d}`, accepted))
		if err != nil {
			break
		}
		accepted++
		if accepted > queueSize+batchSize {
			resume()
			t.Fatalf("%d readings accepted with the disk stalled; the queue holds %d and a batch %d", accepted, queueSize, batchSize)
		}
	}
	resume()
	if !errors.Is(err, ErrBusy) || accepted < queueSize {
		t.Fatalf("with the disk stalled: %v after %d readings, want ErrBusy once the queue (%d) is full", err, accepted, queueSize)
	}
	// Every accepted reading is written, in order, and the refused one is not.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []Reading
		q := DataQuery{}
		for {
			page, err := s.SensorData(sn.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if len(page) < MaxDataLimit {
				break
			}
			q.After = page[len(page)-1].Timestamp
		}
		if len(got) == accepted {
			for i, r := range got {
				if r.Values["value"] != float64(i) {
					t.Fatalf("reading %d on disk is %v", i, r.Values)
				}
			}
			return
		}
		if len(got) > accepted || time.Now().After(deadline) {
			t.Fatalf("%d readings on disk, want the %d accepted", len(got), accepted)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A reading RecordSync has queued is written whatever happens to its
// context, so RecordSync reports the write, not the context: a caller told
// "try again" while its reading was stored anyway would store it twice.
func TestRecordSync_QueuedReadingReportsItsWrite(t *testing.T) {
	s, sn, resume := stalledDisk(t)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		res <- s.RecordSync(ctx, sn.ID, Reading{Timestamp: time.Now(), Values: map[string]any{"value": 1.0}})
	}()
	time.Sleep(100 * time.Millisecond) // the queue has room: the reading is queued at once
	cancel()                           // the client goes away
	time.Sleep(50 * time.Millisecond)
	resume()
	if err := <-res; err != nil {
		t.Fatalf("RecordSync of a queued reading whose context ended: %v, want the write's outcome (nil)", err)
	}
	if rs, err := s.SensorData(sn.ID, DataQuery{}); err != nil || len(rs) != 1 {
		t.Fatalf("stored: %d readings, %v; want 1", len(rs), err)
	}
}
