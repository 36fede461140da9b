package storage

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Permission says what a key may do.
type Permission uint8

const (
	// ReadWrite keys may subscribe, receive and publish.
	ReadWrite Permission = iota
	// ReadOnly keys may subscribe and receive only.
	ReadOnly
)

// String returns the API spelling: "read-write" or "read-only".
func (p Permission) String() string {
	if p == ReadOnly {
		return "read-only"
	}
	return "read-write"
}

// ParsePermission reads the API spelling; empty means read-write.
func ParsePermission(s string) (Permission, error) {
	switch s {
	case "", "read-write":
		return ReadWrite, nil
	case "read-only":
		return ReadOnly, nil
	}
	return 0, fmt.Errorf("%w: permissions must be \"read-write\" or \"read-only\"", ErrInvalid)
}

// MarshalText implements encoding.TextMarshaler.
func (p Permission) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Permission) UnmarshalText(b []byte) error {
	v, err := ParsePermission(string(b))
	*p = v
	return err
}

// Key is a credential a user makes for a device or script. Its password is
// never kept, only its hash.
type Key struct {
	ID          string     `json:"key_id"`
	Owner       string     `json:"owner"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Permissions Permission `json:"permissions"`
	Created     time.Time  `json:"created"`
	LastUsed    time.Time  `json:"last_used"`
	LastAddr    string     `json:"last_addr"`
}

// keyRecord is a Key as stored, with the hash of its password.
type keyRecord struct {
	Key
	SecretHash [32]byte `json:"secret_hash"`
}

// Limits on the text of keys and applications, in characters.
const (
	maxName        = 64
	maxDescription = 1024
)

// validateLabel checks the name and description of a key or an application
// (what): a name is required and is one line of text, both are UTF-8 of
// bounded length. The name is judged as it is kept: trimmed.
func validateLabel(what, name, description string) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return fmt.Errorf("%w: %s needs a name", ErrInvalid, what)
	case !utf8.ValidString(name) || !utf8.ValidString(description):
		return fmt.Errorf("%w: %s name and description must be UTF-8", ErrInvalid, what)
	case strings.ContainsFunc(name, isControl):
		return fmt.Errorf("%w: %s name must not contain control characters such as line breaks or text-direction marks", ErrInvalid, what)
	case utf8.RuneCountInString(name) > maxName:
		return fmt.Errorf("%w: %s name is longer than %d characters", ErrInvalid, what, maxName)
	case utf8.RuneCountInString(description) > maxDescription:
		return fmt.Errorf("%w: %s description is longer than %d characters", ErrInvalid, what, maxDescription)
	}
	return nil
}

// isControl reports whether r is a control character, or one that turns the
// direction of the text after it (U+202E shows "gateway\u202egnp.exe" as
// "gatewayexe.png"): a name shown to others, on a consent page above all,
// must read as what it is.
func isControl(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

// NewKey describes a key to create.
type NewKey struct {
	Name        string
	Description string
	Permissions Permission
}

func (nk NewKey) validate() error {
	if err := validateLabel("a key", nk.Name, nk.Description); err != nil {
		return err
	}
	if nk.Permissions > ReadOnly {
		return fmt.Errorf("%w: unknown permissions", ErrInvalid)
	}
	return nil
}

// CreateKey makes a key for owner and returns it with its password. The
// password is on disk, as a hash, before CreateKey returns.
func (s *Store) CreateKey(owner string, nk NewKey) (Key, string, error) {
	if err := nk.validate(); err != nil {
		return Key{}, "", fmt.Errorf("create key: %w", err)
	}
	secret := NewSecret(PrefixKeyPassword)
	rec := keyRecord{
		Key: Key{
			ID: newID('K'), Owner: owner, Name: strings.TrimSpace(nk.Name), Description: nk.Description,
			Permissions: nk.Permissions, Created: time.Now().UTC(),
		},
		SecretHash: HashSecret(secret),
	}
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		if tx.Bucket(bucketUsers).Get([]byte(owner)) == nil {
			return nil, fmt.Errorf("user %q: %w", owner, ErrNotFound)
		}
		if err := s.checkRoom(owner, "keys", func() (int, error) { return countOwned(tx.Bucket(bucketKeysByOwner), owner), nil }); err != nil {
			return nil, err
		}
		if err := putJSON(tx.Bucket(bucketKeys), rec.ID, rec); err != nil {
			return nil, err
		}
		return nil, tx.Bucket(bucketKeysByOwner).Put(ownerIndex(owner, rec.ID), nil)
	})
	if err != nil {
		return Key{}, "", fmt.Errorf("create key: %w", err)
	}
	return rec.Key, secret, nil
}

// Key returns the key with the given id, with its last use as known now.
func (s *Store) Key(id string) (Key, error) {
	var rec keyRecord
	if err := s.view(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketKeys), id, &rec) }); err != nil {
		return Key{}, fmt.Errorf("key %q: %w", id, err)
	}
	return s.withTouch(rec.Key), nil
}

// KeysOf returns the keys of owner, ordered by id.
func (s *Store) KeysOf(owner string) ([]Key, error) {
	var keys []Key
	err := s.view(func(tx *bolt.Tx) error {
		prefix := ownerIndex(owner, "")
		c := tx.Bucket(bucketKeysByOwner).Cursor()
		kb := tx.Bucket(bucketKeys)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var rec keyRecord
			if err := getJSON(kb, string(k[len(prefix):]), &rec); err != nil {
				return fmt.Errorf("key index %q: %w", k, err)
			}
			keys = append(keys, s.withTouch(rec.Key))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list keys of %q: %w", owner, err)
	}
	return keys, nil
}

// DeleteKey removes a key; every session that used it must end (a KeyRevoked event).
func (s *Store) DeleteKey(id string) error {
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		kb := tx.Bucket(bucketKeys)
		var rec keyRecord
		if err := getJSON(kb, id, &rec); err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		if err := kb.Delete([]byte(id)); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketKeysByOwner).Delete(ownerIndex(rec.Owner, id)); err != nil {
			return nil, err
		}
		return []Event{{Kind: KeyRevoked, User: rec.Owner, KeyID: id}}, nil
	})
	if err != nil {
		return fmt.Errorf("delete key: %w", err)
	}
	return nil
}

// ResetKeyPassword gives a key a new password, returned once; sessions that
// used the old one must end (a KeyRevoked event).
func (s *Store) ResetKeyPassword(id string) (Key, string, error) {
	secret := NewSecret(PrefixKeyPassword)
	var rec keyRecord
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		kb := tx.Bucket(bucketKeys)
		if err := getJSON(kb, id, &rec); err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		rec.SecretHash = HashSecret(secret)
		return []Event{{Kind: KeyRevoked, User: rec.Owner, KeyID: id}}, putJSON(kb, id, rec)
	})
	if err != nil {
		return Key{}, "", fmt.Errorf("reset key password: %w", err)
	}
	return s.withTouch(rec.Key), secret, nil
}

// fakeKeyHash is compared against for unknown key ids, so that timing says
// nothing about which ids exist.
var fakeKeyHash = HashSecret("no such key")

// AuthenticateKey returns the key and its owner if password is the key's
// password, else ErrBadCredentials (for an unknown id too). It compares in
// constant time and reads no more than it must. The key comes from the
// authentication cache: its LastUsed and LastAddr may lag (Key has them).
func (s *Store) AuthenticateKey(id, password string) (Key, User, error) {
	ck, err := s.keyForAuth(id)
	if errors.Is(err, ErrNotFound) {
		secretMatches(fakeKeyHash, password)
		return Key{}, User{}, ErrBadCredentials
	}
	if err != nil {
		return Key{}, User{}, fmt.Errorf("authenticate key: %w", err)
	}
	if !secretMatches(ck.rec.SecretHash, password) {
		return Key{}, User{}, ErrBadCredentials
	}
	return ck.rec.Key, ck.owner, nil
}

// keyForAuth returns a key record and its owner, from the cache when it can.
func (s *Store) keyForAuth(id string) (*cachedKey, error) {
	return cachedRead(s, &s.auth.keys, id, func(tx *bolt.Tx, id string) (*cachedKey, error) {
		ck := new(cachedKey)
		if err := getJSON(tx.Bucket(bucketKeys), id, &ck.rec); err != nil {
			return nil, err
		}
		return ck, getJSON(tx.Bucket(bucketUsers), ck.rec.Owner, &ck.owner)
	})
}

func ownerIndex(owner, id string) []byte {
	return []byte(owner + "\x00" + id)
}
