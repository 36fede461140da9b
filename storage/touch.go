package storage

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// touchInterval is how often last-used times are written: a CONNECT never
// waits for a disk sync, and many connects share one transaction.
const touchInterval = 2 * time.Second

// sweepInterval is how often expired codes and tokens are deleted.
const sweepInterval = 5 * time.Minute

// Prefixes of the pending last-use records, by what was used.
const (
	touchKey   = "k\x00"
	touchGrant = "g\x00"
)

type touch struct {
	at   time.Time
	addr string
}

// TouchKey records that a key was used now from addr. The record reaches
// disk within touchInterval, or at Close.
func (s *Store) TouchKey(id, addr string) { s.touch(touchKey+id, addr) }

// TouchGrant records that a token of the user's grant to an application was used now.
func (s *Store) TouchGrant(user, clientID string) { s.touch(touchGrant+grantKey(user, clientID), "") }

func (s *Store) touch(what, addr string) {
	s.touchMu.Lock()
	s.touched[what] = touch{at: time.Now().UTC(), addr: addr}
	s.touchMu.Unlock()
}

func (s *Store) pendingTouch(what string) (touch, bool) {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	t, ok := s.touched[what]
	return t, ok
}

// withTouch overlays a key's last use not yet written.
func (s *Store) withTouch(k Key) Key {
	if t, ok := s.pendingTouch(touchKey + k.ID); ok {
		k.LastUsed, k.LastAddr = t.at, t.addr
	}
	return k
}

// grantWithTouch overlays a grant's last use not yet written.
func (s *Store) grantWithTouch(g Grant) Grant {
	if t, ok := s.pendingTouch(touchGrant + grantKey(g.User, g.ClientID)); ok {
		g.LastUsed = t.at
	}
	return g
}

// maintain writes last-used times and sweeps expired records until Close.
func (s *Store) maintain() {
	defer close(s.done)
	touchTick := time.NewTicker(touchInterval)
	defer touchTick.Stop()
	sweepTick := time.NewTicker(sweepInterval)
	defer sweepTick.Stop()
	for {
		select {
		case <-touchTick.C:
			s.flushTouches()
		case <-sweepTick.C:
			if _, err := s.Sweep(time.Now()); err != nil {
				s.log.Error("sweep expired oauth records", "error", err)
			}
		case <-s.stop:
			s.flushTouches()
			return
		}
	}
}

// flushTouches writes pending last-used times in one transaction. Records
// deleted meanwhile are skipped.
func (s *Store) flushTouches() {
	s.touchMu.Lock()
	pending := s.touched
	s.touched = map[string]touch{}
	s.touchMu.Unlock()
	if len(pending) == 0 {
		return
	}
	err := s.updateApart(func(tx *bolt.Tx) ([]Event, error) {
		for what, t := range pending {
			var err error
			switch {
			case strings.HasPrefix(what, touchKey):
				err = updateJSON(tx.Bucket(bucketKeys), what[len(touchKey):], func(r *keyRecord) {
					r.LastUsed, r.LastAddr = t.at, t.addr
				})
			case strings.HasPrefix(what, touchGrant):
				err = updateJSON(tx.Bucket(bucketGrants), what[len(touchGrant):], func(g *Grant) { g.LastUsed = t.at })
			}
			if err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		s.log.Error("write last-used times", "records", len(pending), "error", err)
	}
}

// updateJSON applies fn to the record at key, if it still exists.
func updateJSON[T any](b *bolt.Bucket, key string, fn func(*T)) error {
	data := b.Get([]byte(key))
	if data == nil {
		return nil
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	fn(&v)
	return putJSON(b, key, v)
}
