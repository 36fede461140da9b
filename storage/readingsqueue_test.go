package storage

import (
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// When the disk falls behind, a reading waits for room in the queue rather
// than being lost, and gets ErrBusy once it has waited recordWait; every
// reading that was accepted reaches the disk once it catches up.
func TestRecord_DiskBehindRefusesLosesNothing(t *testing.T) {
	s := openWebSessionStore(t)
	sn, err := s.CreateSensor(Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	// A stalled disk: the store's one write transaction is held, so the
	// writer stops at its next flush.
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- s.db.Update(func(*bolt.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	base := time.Now().Truncate(time.Millisecond)
	accepted := 0
	for {
		err = s.RecordJSON(sn.ID, base.Add(time.Duration(accepted)*time.Millisecond), fmt.Appendf(nil, `{"value":%d}`, accepted))
		if err != nil {
			break
		}
		accepted++
		if accepted > queueSize+batchSize {
			close(release)
			t.Fatalf("%d readings accepted with the disk stalled; the queue holds %d and a batch %d", accepted, queueSize, batchSize)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
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
