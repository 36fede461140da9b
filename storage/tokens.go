package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Errors of the token records.
var (
	// ErrTokenExpired is returned for a token or code past its lifetime.
	ErrTokenExpired = errors.New("token expired")
	// ErrReplayed is returned for an authorization code or refresh token used
	// a second time; everything issued from it has been revoked.
	ErrReplayed = errors.New("already used")
	// ErrInvalidGrant is returned, wrapped with the reason, for an
	// authorization code or refresh token that cannot be redeemed: unknown,
	// expired or revoked, issued to another client or redirect URI, a
	// code_verifier that does not match, or a grant the user has withdrawn
	// (RFC 6749 section 5.2, invalid_grant). Nothing was consumed.
	ErrInvalidGrant = errors.New("invalid grant")
	// ErrInvalidScope is returned, wrapped with the reason, for a refresh that
	// asks for more than the refresh token's scope (RFC 6749 section 6).
	// Nothing was consumed.
	ErrInvalidScope = errors.New("invalid scope")
)

// tokenRecord is an access token and its refresh token, stored by hashes.
// A family is everything issued from one authorization code, through every
// refresh: a replayed code or refresh token revokes the whole family.
type tokenRecord struct {
	ID               string        `json:"id"`
	ClientID         string        `json:"client_id"`
	UserID           string        `json:"user_id"`
	Scope            string        `json:"scope"` // the access token's
	RedirectURI      string        `json:"redirect_uri"`
	Family           string        `json:"family"`
	AccessHash       [32]byte      `json:"access_hash"`
	AccessCreateAt   time.Time     `json:"access_create_at"`
	AccessExpiresIn  time.Duration `json:"access_expires_in"`
	AccessRevoked    bool          `json:"access_revoked"`
	RefreshHash      [32]byte      `json:"refresh_hash"`
	HasRefresh       bool          `json:"has_refresh"`
	RefreshCreateAt  time.Time     `json:"refresh_create_at"`
	RefreshExpiresIn time.Duration `json:"refresh_expires_in"`
	RefreshUsed      bool          `json:"refresh_used"`
	// RefreshScope is the refresh token's scope, wider than the access
	// token's when a refresh narrowed that (RFC 6749 section 6); empty: Scope.
	RefreshScope string `json:"refresh_scope,omitempty"`
}

// refreshScope returns the refresh token's scope.
func (r *tokenRecord) refreshScope() string {
	if r.RefreshScope != "" {
		return r.RefreshScope
	}
	return r.Scope
}

func (r *tokenRecord) accessExpiry() time.Time { return r.AccessCreateAt.Add(r.AccessExpiresIn) }

func (r *tokenRecord) refreshExpiry() time.Time {
	if r.RefreshExpiresIn == 0 {
		return time.Time{} // never
	}
	return r.RefreshCreateAt.Add(r.RefreshExpiresIn)
}

// accessLive reports whether the access token still works at now.
func (r *tokenRecord) accessLive(now time.Time) bool {
	return !r.AccessRevoked && (r.AccessExpiresIn == 0 || now.Before(r.accessExpiry()))
}

// refreshLive reports whether the refresh token can still be used at now.
func (r *tokenRecord) refreshLive(now time.Time) bool {
	exp := r.refreshExpiry()
	return r.HasRefresh && !r.RefreshUsed && (exp.IsZero() || now.Before(exp))
}

// codeRecord is an authorization code, stored by hash, kept after use while
// anything issued from it is stored, so that a replay is recognised.
type codeRecord struct {
	ClientID        string        `json:"client_id"`
	UserID          string        `json:"user_id"`
	Scope           string        `json:"scope"`
	RedirectURI     string        `json:"redirect_uri"`
	Challenge       string        `json:"challenge"`
	ChallengeMethod string        `json:"challenge_method"`
	Family          string        `json:"family"`
	CreateAt        time.Time     `json:"create_at"`
	ExpiresIn       time.Duration `json:"expires_in"`
	Used            bool          `json:"used"`
}

// indexKey is the token index's key of an access ('a') or refresh ('r')
// token with hash h (HashSecret of the token).
func indexKey(kind byte, h [32]byte) []byte {
	return append([]byte{kind}, h[:]...)
}

// recordByHash finds the record of an access ('a') or refresh ('r') token by
// its hash.
func recordByHash(tx *bolt.Tx, kind byte, h [32]byte) (*tokenRecord, error) {
	id := tx.Bucket(bucketTokenIndex).Get(indexKey(kind, h))
	if id == nil {
		return nil, ErrNotFound
	}
	var r tokenRecord
	if err := getJSON(tx.Bucket(bucketTokens), string(id), &r); err != nil {
		return nil, fmt.Errorf("token record: %w", err)
	}
	return &r, nil
}

func putToken(tx *bolt.Tx, r *tokenRecord) error {
	return putJSON(tx.Bucket(bucketTokens), r.ID, r)
}

// insertToken stores a new token record with the index entries of its
// access token and, if it has one, its refresh token.
func insertToken(tx *bolt.Tx, r *tokenRecord) error {
	idx := tx.Bucket(bucketTokenIndex)
	if err := idx.Put(indexKey('a', r.AccessHash), []byte(r.ID)); err != nil {
		return err
	}
	if r.HasRefresh {
		if err := idx.Put(indexKey('r', r.RefreshHash), []byte(r.ID)); err != nil {
			return err
		}
	}
	return putToken(tx, r)
}

// expired reports whether an authorization code can no longer be redeemed at now.
func (c *codeRecord) expired(now time.Time) bool { return !now.Before(c.CreateAt.Add(c.ExpiresIn)) }

// deleteCodes deletes the authorization codes for which match is true and
// returns how many it deleted.
func deleteCodes(tx *bolt.Tx, match func(*codeRecord) bool) (int, error) {
	return deleteWhere(tx.Bucket(bucketCodes), "code", match)
}

// deleteWhere deletes the JSON records of type T in b for which match is
// true (what names T in errors) and returns how many it deleted.
func deleteWhere[T any](b *bolt.Bucket, what string, match func(*T) bool) (int, error) {
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var rec T
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", what, err)
		}
		if match(&rec) {
			doomed = append(doomed, k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}

// deleteTokens deletes the token records for which match is true, with
// their index entries, and returns their ids.
func deleteTokens(tx *bolt.Tx, match func(*tokenRecord) bool) error {
	_, err := deleteTokenIDs(tx, match)
	return err
}

func deleteTokenIDs(tx *bolt.Tx, match func(*tokenRecord) bool) ([]string, error) {
	b, idx := tx.Bucket(bucketTokens), tx.Bucket(bucketTokenIndex)
	var doomed []*tokenRecord
	err := b.ForEach(func(_, v []byte) error {
		var r tokenRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode token record: %w", err)
		}
		if match(&r) {
			doomed = append(doomed, &r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(doomed))
	for _, r := range doomed {
		if err := b.Delete([]byte(r.ID)); err != nil {
			return nil, err
		}
		if err := idx.Delete(indexKey('a', r.AccessHash)); err != nil {
			return nil, err
		}
		if r.HasRefresh {
			if err := idx.Delete(indexKey('r', r.RefreshHash)); err != nil {
				return nil, err
			}
		}
		ids = append(ids, r.ID)
	}
	return ids, nil
}

// revokeFamily deletes every token issued from one authorization code.
func revokeFamily(tx *bolt.Tx, family string) ([]Event, error) {
	ids, err := deleteTokenIDs(tx, func(r *tokenRecord) bool { return r.Family == family })
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return []Event{{Kind: TokensRevoked, TokenIDs: ids}}, nil
}

// AccessToken is what a valid access token lets its bearer do.
type AccessToken struct {
	ID       string    // public id of the token, for sessions and logs
	User     string    // the user who granted it
	ClientID string    // the application it was issued to
	Scope    Scope     // what it may do
	Expires  time.Time // zero: never
}

// AuthenticateToken returns what an access token grants, ErrTokenExpired
// for an expired one, or ErrBadCredentials for one that does not exist.
func (s *Store) AuthenticateToken(token string) (AccessToken, error) {
	r, err := s.accessTokenForAuth(token)
	if errors.Is(err, ErrNotFound) {
		return AccessToken{}, ErrBadCredentials
	}
	if err != nil {
		return AccessToken{}, fmt.Errorf("authenticate token: %w", err)
	}
	if r.AccessRevoked {
		return AccessToken{}, ErrBadCredentials
	}
	if !r.accessLive(time.Now()) {
		return AccessToken{}, ErrTokenExpired
	}
	scope, err := ParseScope(r.Scope)
	if err != nil {
		return AccessToken{}, fmt.Errorf("authenticate token: stored scope: %w", err)
	}
	at := AccessToken{ID: r.ID, User: r.UserID, ClientID: r.ClientID, Scope: scope}
	if r.AccessExpiresIn != 0 {
		at.Expires = r.accessExpiry()
	}
	return at, nil
}

// accessTokenForAuth returns the record of an access token, from the cache
// when it can. The record is shared: callers must not change it.
func (s *Store) accessTokenForAuth(token string) (*tokenRecord, error) {
	return cachedRead(s, &s.auth.tokens, HashSecret(token), func(tx *bolt.Tx, h [32]byte) (*tokenRecord, error) {
		return recordByHash(tx, 'a', h)
	})
}

// TokenInfo describes a token for introspection (RFC 7662).
type TokenInfo struct {
	Active    bool
	Kind      string // "access_token" or "refresh_token"
	ID        string
	ClientID  string
	User      string
	Scope     string
	IssuedAt  time.Time
	ExpiresAt time.Time // zero: never
}

// IntrospectToken describes an access or refresh token; an unknown, expired
// or revoked one is inactive.
func (s *Store) IntrospectToken(token string) (TokenInfo, error) {
	var info TokenInfo
	now, h := time.Now(), HashSecret(token)
	err := s.view(func(tx *bolt.Tx) error {
		if r, err := recordByHash(tx, 'a', h); err == nil {
			info = TokenInfo{Active: r.accessLive(now), Kind: "access_token", ID: r.ID, ClientID: r.ClientID,
				User: r.UserID, Scope: r.Scope, IssuedAt: r.AccessCreateAt}
			if r.AccessExpiresIn != 0 {
				info.ExpiresAt = r.accessExpiry()
			}
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if r, err := recordByHash(tx, 'r', h); err == nil {
			info = TokenInfo{Active: r.refreshLive(now), Kind: "refresh_token", ID: r.ID, ClientID: r.ClientID,
				User: r.UserID, Scope: r.refreshScope(), IssuedAt: r.RefreshCreateAt, ExpiresAt: r.refreshExpiry()}
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return TokenInfo{}, fmt.Errorf("introspect token: %w", err)
	}
	return info, nil
}

// RevokeToken revokes an access or refresh token issued to clientID (RFC
// 7009). Revoking a refresh token revokes its whole family. An unknown token,
// or one of another client, is not an error and changes nothing (RFC 7009
// section 2.2).
func (s *Store) RevokeToken(clientID, token string) error {
	h := HashSecret(token)
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		if r, err := recordByHash(tx, 'a', h); err == nil {
			if r.ClientID != clientID || r.AccessRevoked {
				return nil, nil
			}
			r.AccessRevoked = true
			return []Event{{Kind: TokensRevoked, TokenIDs: []string{r.ID}}}, putToken(tx, r)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if r, err := recordByHash(tx, 'r', h); err == nil {
			if r.ClientID != clientID {
				return nil, nil
			}
			return revokeFamily(tx, r.Family)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// Sweep deletes authorization codes and token records that can no longer be
// used at now, and returns how many it deleted. A used code is kept while
// anything issued from it is stored, so that its replay still revokes that
// (RFC 6749 section 4.1.2).
func (s *Store) Sweep(now time.Time) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		live := map[string]bool{} // the families of the records kept
		ids, err := deleteTokenIDs(tx, func(r *tokenRecord) bool {
			refreshDead := !r.HasRefresh || (r.RefreshExpiresIn != 0 && !now.Before(r.refreshExpiry()))
			dead := !r.accessLive(now) && refreshDead
			if !dead {
				live[r.Family] = true
			}
			return dead
		})
		if err != nil {
			return nil, err
		}
		codes, err := deleteCodes(tx, func(c *codeRecord) bool { return c.expired(now) && !(c.Used && live[c.Family]) })
		n = codes + len(ids)
		return nil, err
	})
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	return n, nil
}
