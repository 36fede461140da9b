package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Web session lifetimes.
const (
	// WebSessionIdle is how long a web session lives unused.
	WebSessionIdle = 7 * 24 * time.Hour
	// WebSessionMaxAge bounds a web session's life however often it is used.
	WebSessionMaxAge = 30 * 24 * time.Hour
	// webSessionRefresh is how stale an expiry may grow before a lookup pushes it
	// forward, so that browsing is not one disk write per page.
	webSessionRefresh = time.Hour
)

// WebSession is a signed-in browser. Its token is never kept, only its hash.
type WebSession struct {
	User    string    `json:"user"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Records of the web_sessions bucket: 's' + hash -> WebSession, and the index
// 'u' + user + 0x00 + hash -> nil, to find a user's sessions.
func webSessionKey(hash []byte) []byte { return append([]byte{'s'}, hash...) }

func webSessionIndex(user string, hash []byte) []byte {
	k := append([]byte{'u'}, user...)
	k = append(k, 0)
	return append(k, hash...)
}

// CreateWebSession signs user in and returns the session's token, shown only
// to the browser (as a cookie).
func (s *Store) CreateWebSession(user string) (string, WebSession, error) {
	token := NewSecret(PrefixWebSession)
	hash := HashSecret(token)
	now := time.Now().UTC()
	ws := WebSession{User: user, Created: now, Expires: now.Add(WebSessionIdle)}
	err := s.updateApart(func(tx *bolt.Tx) ([]Event, error) {
		if tx.Bucket(bucketUsers).Get([]byte(user)) == nil {
			return nil, fmt.Errorf("user %q: %w", user, ErrNotFound)
		}
		b := tx.Bucket(bucketWebSessions)
		if err := putJSON(b, string(webSessionKey(hash[:])), ws); err != nil {
			return nil, err
		}
		return nil, b.Put(webSessionIndex(user, hash[:]), nil)
	})
	if err != nil {
		return "", WebSession{}, fmt.Errorf("create web session: %w", err)
	}
	return token, ws, nil
}

// WebSession returns the live session with the given token, else ErrNotFound
// (an expired session is removed). A lookup extends the idle expiry, at most
// once per webSessionRefresh and never past WebSessionMaxAge.
func (s *Store) WebSession(token string) (WebSession, error) {
	hash := HashSecret(token)
	var ws WebSession
	err := s.view(func(tx *bolt.Tx) error {
		return getWebSession(tx.Bucket(bucketWebSessions), hash, &ws)
	})
	if err != nil {
		return WebSession{}, fmt.Errorf("web session: %w", err)
	}
	now := time.Now().UTC()
	if !now.Before(ws.Expires) {
		if err := s.deleteWebSession(hash); err != nil {
			return WebSession{}, fmt.Errorf("web session: remove expired: %w", err)
		}
		return WebSession{}, fmt.Errorf("web session expired: %w", ErrNotFound)
	}
	next := now.Add(WebSessionIdle)
	if limit := ws.Created.Add(WebSessionMaxAge); next.After(limit) {
		next = limit
	}
	if next.Sub(ws.Expires) < webSessionRefresh {
		return ws, nil
	}
	err = s.updateApart(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketWebSessions)
		var cur WebSession
		if err := getWebSession(b, hash, &cur); err != nil {
			return nil, err // ended meanwhile
		}
		cur.Expires = next
		ws = cur
		return nil, putJSON(b, string(webSessionKey(hash[:])), cur)
	})
	if err != nil {
		return WebSession{}, fmt.Errorf("web session: extend: %w", err)
	}
	return ws, nil
}

// DeleteWebSession signs the session with the given token out. Deleting a
// session that does not exist is not an error.
func (s *Store) DeleteWebSession(token string) error {
	if err := s.deleteWebSession(HashSecret(token)); err != nil {
		return fmt.Errorf("delete web session: %w", err)
	}
	return nil
}

func (s *Store) deleteWebSession(hash [32]byte) error {
	return s.updateApart(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketWebSessions)
		var ws WebSession
		err := getWebSession(b, hash, &ws)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return nil, deleteWebSessionRecords(b, ws.User, hash[:])
	})
}

// deleteWebSessionRecords removes the session of user with hash: its record
// and its index entry.
func deleteWebSessionRecords(b *bolt.Bucket, user string, hash []byte) error {
	if err := b.Delete(webSessionKey(hash)); err != nil {
		return err
	}
	return b.Delete(webSessionIndex(user, hash))
}

// deleteWebSessionsOf signs user out everywhere except in the session whose
// token is keep (empty keeps none), in tx, and returns how many sessions ended.
func deleteWebSessionsOf(tx *bolt.Tx, user, keep string) (int, error) {
	keepHash := HashSecret(keep)
	b := tx.Bucket(bucketWebSessions)
	prefix := webSessionIndex(user, nil)
	var ended [][]byte // hashes
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		hash := k[len(prefix):]
		if keep != "" && bytes.Equal(hash, keepHash[:]) {
			continue
		}
		ended = append(ended, bytes.Clone(hash))
	}
	for _, hash := range ended {
		if err := deleteWebSessionRecords(b, user, hash); err != nil {
			return 0, err
		}
	}
	return len(ended), nil
}

// PurgeWebSessions removes every expired web session and returns how many.
func (s *Store) PurgeWebSessions() (int, error) {
	now := time.Now().UTC()
	n := 0
	err := s.updateApart(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketWebSessions)
		type session struct {
			user string
			hash []byte
		}
		var expired []session
		c := b.Cursor()
		for k, v := c.Seek([]byte{'s'}); k != nil && k[0] == 's'; k, v = c.Next() {
			var ws WebSession
			if err := json.Unmarshal(v, &ws); err != nil {
				return nil, fmt.Errorf("decode web session: %w", err)
			}
			if !now.Before(ws.Expires) {
				expired = append(expired, session{ws.User, bytes.Clone(k[1:])})
			}
		}
		for _, e := range expired {
			if err := deleteWebSessionRecords(b, e.user, e.hash); err != nil {
				return nil, err
			}
		}
		n = len(expired)
		return nil, nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge web sessions: %w", err)
	}
	return n, nil
}

func getWebSession(b *bolt.Bucket, hash [32]byte, ws *WebSession) error {
	return getJSON(b, string(webSessionKey(hash[:])), ws)
}
