package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Grant is a user's consent that an application may act for them within a scope.
type Grant struct {
	User     string    `json:"user"`
	ClientID string    `json:"client_id"`
	Scope    Scope     `json:"scope"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
}

func grantKey(user, clientID string) string { return user + "\x00" + clientID }

// SaveGrant records that user allows the application scope, adding to what
// was allowed before.
func (s *Store) SaveGrant(user, clientID string, scope Scope) (Grant, error) {
	var g Grant
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		if tx.Bucket(bucketApps).Get([]byte(clientID)) == nil {
			return nil, fmt.Errorf("app %q: %w", clientID, ErrNotFound)
		}
		b := tx.Bucket(bucketGrants)
		key := grantKey(user, clientID)
		if err := getJSON(b, key, &g); err == ErrNotFound {
			g = Grant{User: user, ClientID: clientID, Created: time.Now().UTC()}
		} else if err != nil {
			return nil, err
		}
		g.Scope |= scope
		return nil, putJSON(b, key, g)
	})
	if err != nil {
		return Grant{}, fmt.Errorf("save grant: %w", err)
	}
	return g, nil
}

// GrantOf returns what user has allowed the application.
func (s *Store) GrantOf(user, clientID string) (Grant, error) {
	var g Grant
	err := s.view(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketGrants), grantKey(user, clientID), &g) })
	if err != nil {
		return Grant{}, fmt.Errorf("grant of %q to %q: %w", user, clientID, err)
	}
	return s.grantWithTouch(g), nil
}

// GrantsOf returns every grant a user has made, ordered by client id.
func (s *Store) GrantsOf(user string) ([]Grant, error) {
	var grants []Grant
	err := s.view(func(tx *bolt.Tx) error {
		prefix := []byte(grantKey(user, ""))
		c := tx.Bucket(bucketGrants).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var g Grant
			if err := json.Unmarshal(v, &g); err != nil {
				return fmt.Errorf("decode grant: %w", err)
			}
			grants = append(grants, s.grantWithTouch(g))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list grants of %q: %w", user, err)
	}
	return grants, nil
}

// RevokeGrant withdraws a user's consent: the grant, every token issued under
// it and every authorization code not yet redeemed are deleted, and its live
// sessions must end (a GrantRevoked event).
func (s *Store) RevokeGrant(user, clientID string) error {
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketGrants)
		key := []byte(grantKey(user, clientID))
		if b.Get(key) == nil {
			return nil, fmt.Errorf("grant of %q to %q: %w", user, clientID, ErrNotFound)
		}
		if err := b.Delete(key); err != nil {
			return nil, err
		}
		if err := deleteTokens(tx, func(r *tokenRecord) bool { return r.UserID == user && r.ClientID == clientID }); err != nil {
			return nil, err
		}
		if _, err := deleteCodes(tx, func(c *codeRecord) bool { return c.UserID == user && c.ClientID == clientID }); err != nil {
			return nil, err
		}
		return []Event{{Kind: GrantRevoked, User: user, ClientID: clientID}}, nil
	})
	if err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	return nil
}

// deleteGrants deletes the grants for which match is true.
func deleteGrants(tx *bolt.Tx, match func(*Grant) bool) error {
	_, err := deleteWhere(tx.Bucket(bucketGrants), "grant", match)
	return err
}
