package storage

import (
	"encoding/json"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"
)

// touchInterval is how often last-used times are written: a CONNECT never
// waits for a disk sync, and many connects share one transaction.
const touchInterval = 2 * time.Second

type touch struct {
	at   time.Time
	addr string
}

// TouchKey records that a key was used now from addr. The record reaches
// disk within touchInterval, or at Close.
func (s *Store) TouchKey(id, addr string) {
	s.touchMu.Lock()
	s.touched[id] = touch{at: time.Now().UTC(), addr: addr}
	s.touchMu.Unlock()
}

// withTouch overlays a last use not yet written.
func (s *Store) withTouch(k Key) Key {
	s.touchMu.Lock()
	t, ok := s.touched[k.ID]
	s.touchMu.Unlock()
	if ok {
		k.LastUsed, k.LastAddr = t.at, t.addr
	}
	return k
}

func (s *Store) touchLoop() {
	defer close(s.done)
	tick := time.NewTicker(touchInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			s.flushTouches()
		case <-s.stop:
			s.flushTouches()
			return
		}
	}
}

// flushTouches writes pending last-used times in one transaction. Keys deleted
// meanwhile are skipped.
func (s *Store) flushTouches() {
	s.touchMu.Lock()
	pending := s.touched
	s.touched = map[string]touch{}
	s.touchMu.Unlock()
	if len(pending) == 0 {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		kb := tx.Bucket(bucketKeys)
		for id, t := range pending {
			data := kb.Get([]byte(id))
			if data == nil {
				continue
			}
			rec, err := decodeKey(data)
			if err != nil {
				return err
			}
			rec.LastUsed, rec.LastAddr = t.at, t.addr
			out, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := kb.Put([]byte(id), out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		slog.Error("write key last-used times", "keys", len(pending), "error", err)
	}
}
