package storage

import (
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// maxCachedCredentials bounds the keys and tokens authCache holds; past it,
// authentication reads the database as if there were no cache.
const maxCachedCredentials = 100_000

// authCache holds the decoded records that authentication reads, so that a
// CONNECT with a known key or token costs a map lookup and a hash comparison
// instead of a read transaction and a JSON decode. The secret is checked on
// every use; only the decoding is saved.
//
// Every write through Store.update empties it (invalidate), and an entry is
// added only if no such write happened since the read it comes from began: a
// cached record is never older than the database as it was at the last
// invalidation. Writes through Store.updateApart (web sessions, sensors,
// readings, last-used times) leave it be: authentication reads none of them.
type authCache struct {
	gen    atomic.Uint64 // counts invalidations
	mu     sync.Mutex    // serialises put against invalidate
	size   int           // entries in keys and tokens; under mu
	keys   sync.Map      // key id -> *cachedKey
	tokens sync.Map      // HashSecret(access token) -> *tokenRecord
}

// cachedKey is a key record with its owner, as AuthenticateKey reads them.
type cachedKey struct {
	rec   keyRecord
	owner User
}

// cachedRead returns the value under k in m, else reads it in a read
// transaction of s and keeps it if no change committed since the read began.
// read must capture nothing, so that a lookup the cache answers allocates
// nothing for it.
func cachedRead[K comparable, V any](s *Store, m *sync.Map, k K, read func(*bolt.Tx, K) (V, error)) (V, error) {
	if v, ok := m.Load(k); ok {
		return v.(V), nil
	}
	gen := s.auth.gen.Load()
	var v V
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		v, err = read(tx, k)
		return err
	})
	if err != nil {
		var zero V
		return zero, err
	}
	s.auth.put(m, gen, k, v)
	return v, nil
}

// put stores v under k in m if no invalidation happened since gen.
func (c *authCache) put(m *sync.Map, gen uint64, k, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen || c.size >= maxCachedCredentials {
		return
	}
	if _, loaded := m.LoadOrStore(k, v); !loaded {
		c.size++
	}
}

// invalidate empties the cache; call it after a write commits.
func (c *authCache) invalidate() {
	c.gen.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys.Clear()
	c.tokens.Clear()
	c.size = 0
}
