package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

const defaultBcryptCost = bcrypt.DefaultCost

// userNamePattern is the product's rule for user names: they are the first level
// of the user's topics, so no '/', '+', '#' or '$' can ever appear in one.
var userNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{3,31}$`)

// minPasswordLen is the shortest account password accepted.
const minPasswordLen = 8

// maxPasswordLen is bcrypt's input limit.
const maxPasswordLen = 72

// User is an account.
type User struct {
	Name         string    `json:"name"`
	Admin        bool      `json:"admin"`
	Created      time.Time `json:"created"`
	PasswordHash []byte    `json:"password_hash"`
}

// ValidUserName reports whether name follows the rule for user names.
func ValidUserName(name string) bool { return userNamePattern.MatchString(name) }

// ValidatePassword returns an ErrInvalid error that says what is wrong with password.
func ValidatePassword(password string) error {
	switch {
	case len(password) < minPasswordLen:
		return fmt.Errorf("%w: password must have at least %d characters", ErrInvalid, minPasswordLen)
	case len(password) > maxPasswordLen:
		return fmt.Errorf("%w: password must have at most %d bytes", ErrInvalid, maxPasswordLen)
	}
	return nil
}

// NewUser describes an account to create.
type NewUser struct {
	Name     string
	Password string
	Admin    bool
	// AdminIfFirst makes the user an admin when no user exists yet.
	AdminIfFirst bool
}

// CreateUser adds an account. The name must be free and valid.
func (s *Store) CreateUser(nu NewUser) (User, error) {
	if !ValidUserName(nu.Name) {
		return User{}, fmt.Errorf("create user: %w: user name must match %s", ErrInvalid, userNamePattern)
	}
	if err := ValidatePassword(nu.Password); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(nu.Password), s.bcryptCost)
	if err != nil {
		return User{}, fmt.Errorf("create user: hash password: %w", err)
	}
	u := User{Name: nu.Name, Admin: nu.Admin, Created: time.Now().UTC(), PasswordHash: hash}
	err = s.update(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.Name)) != nil {
			return nil, fmt.Errorf("user %q: %w", u.Name, ErrExists)
		}
		if nu.AdminIfFirst && b.Stats().KeyN == 0 {
			u.Admin = true
		}
		return nil, putJSON(b, u.Name, u)
	})
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// User returns the account called name.
func (s *Store) User(name string) (User, error) {
	var u User
	err := s.view(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketUsers), name, &u)
	})
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

// Users returns every account, ordered by name.
func (s *Store) Users() ([]User, error) { return listJSON[User](s, bucketUsers, "user") }

// SetPassword replaces a user's password and, in the same transaction, ends
// every web session signed in with the old one except the session whose
// token is keep (empty keeps none). It returns how many sessions ended.
func (s *Store) SetPassword(name, password, keep string) (int, error) {
	if err := ValidatePassword(password); err != nil {
		return 0, fmt.Errorf("set password: %w", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		return 0, fmt.Errorf("set password: hash: %w", err)
	}
	ended := 0
	err = s.update(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketUsers)
		var u User
		if err := getJSON(b, name, &u); err != nil {
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
		u.PasswordHash = hash
		if err := putJSON(b, name, u); err != nil {
			return nil, err
		}
		ended, err = deleteWebSessionsOf(tx, name, keep)
		return nil, err
	})
	if err != nil {
		return 0, fmt.Errorf("set password: %w", err)
	}
	return ended, nil
}

// CheckPassword returns the user if password is theirs, else ErrBadCredentials
// (for an unknown user too, after the same work).
func (s *Store) CheckPassword(name, password string) (User, error) {
	u, err := s.User(name)
	if errors.Is(err, ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(s.fakeHash(), []byte(password))
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("check password: %w", err)
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// listJSON decodes every record of a bucket, in key order.
func listJSON[T any](s *Store, bucket []byte, what string) ([]T, error) {
	var out []T
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var rec T
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode %s %q: %w", what, k, err)
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", what, err)
	}
	return out, nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put([]byte(key), data)
}

func getJSON(b *bolt.Bucket, key string, v any) error {
	data := b.Get([]byte(key))
	if data == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}
