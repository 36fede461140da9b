package storage

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkRecordJSON measures the MQTT hot path: many publishers queue
// readings at once. "to-disk" has the batch writer take them to disk (ErrBusy
// is the disk falling behind; the publisher tries again, as a client would);
// "queue-only" drains the queue without writing, so it measures what a
// publisher pays to queue a reading.
func BenchmarkRecordJSON(b *testing.B) {
	payload := []byte(`{"value":21.5}`)
	record := func(b *testing.B, s *Store, id uint64) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				for {
					err := s.RecordJSON(id, time.Now(), payload)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrBusy) {
						b.Fatal(err)
					}
				}
			}
		})
	}
	b.Run("to-disk", func(b *testing.B) {
		s, err := Open(filepath.Join(b.TempDir(), "wotkit.db"), Options{BcryptCost: bcrypt.MinCost, Retention: &Retention{}})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, err := s.CreateUser(NewUser{Name: "alice", Password: "correct horse"}); err != nil {
			b.Fatal(err)
		}
		sn, err := s.CreateSensor(Sensor{Owner: "alice", Name: "weather"})
		if err != nil {
			b.Fatal(err)
		}
		record(b, s, sn.ID)
	})
	b.Run("queue-only", func(b *testing.B) {
		s := &Store{readings: make(chan pendingReading, queueSize)}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for range s.readings {
			}
		}()
		record(b, s, 1)
		close(s.readings)
		<-drained
	})
}
