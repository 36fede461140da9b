package storage

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// DefaultMaxPerUser is the server's bound on the keys, the applications and
// the sensors of one user, each: with sign-up open, one account must not
// fill the disk.
const DefaultMaxPerUser = 1000

// checkRoom refuses a new one of what ("keys") for owner once owner has
// Options.MaxPerUser of them; count says how many owner has.
func (s *Store) checkRoom(owner, what string, count func() (int, error)) error {
	if s.maxPerUser <= 0 {
		return nil
	}
	n, err := count()
	if err != nil {
		return fmt.Errorf("count %s of %s: %w", what, owner, err)
	}
	if n >= s.maxPerUser {
		return fmt.Errorf("%w: a user may have at most %d %s, and %s has %d: delete one first", ErrLimit, s.maxPerUser, what, owner, n)
	}
	return nil
}

// countOwned counts the entries of b, a bucket keyed by owner NUL id or name,
// that belong to owner.
func countOwned(b *bolt.Bucket, owner string) int {
	prefix := []byte(owner + "\x00")
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// countApps counts the applications of owner (the apps bucket has no index by owner).
func countApps(b *bolt.Bucket, owner string) (int, error) {
	n := 0
	err := b.ForEach(func(_, v []byte) error {
		var a struct {
			Owner string `json:"owner"`
		}
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("decode app: %w", err)
		}
		if a.Owner == owner {
			n++
		}
		return nil
	})
	return n, err
}
