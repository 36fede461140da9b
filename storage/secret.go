package storage

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
)

// Prefixes that make a leaked secret recognisable.
const (
	PrefixKeyPassword  = "wkp_"
	PrefixClientSecret = "wks_"
	PrefixAccessToken  = "wka_"
	PrefixRefreshToken = "wkr_"
	PrefixAuthCode     = "wkc_"
	PrefixWebSession   = "wkw_" // the portal's session cookie
)

// secretBytes is the entropy of every secret wotkit makes: 256 bits.
const secretBytes = 32

// NewSecret returns a fresh URL-safe secret of 256 bits from crypto/rand with the given prefix.
func NewSecret(prefix string) string {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a random public identifier: a type letter and 24 upper-case
// base32 characters (120 bits). Upper case keeps ids apart from user names,
// which are lower case, so one Basic credential can never mean both.
func newID(kind byte) string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return string(kind) + idEncoding.EncodeToString(b[:])
}

// HashSecret returns the SHA-256 of a random secret, the form in which it is stored.
func HashSecret(secret string) [32]byte {
	return sha256.Sum256([]byte(secret))
}

// secretMatches reports in constant time whether secret hashes to want.
func secretMatches(want [32]byte, secret string) bool {
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}
