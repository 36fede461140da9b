package storage

import (
	"fmt"
	"strings"
)

// Scope is what an application may do for a user: read (subscribe and
// receive), write (publish), or both.
type Scope uint8

const (
	// ScopeRead lets a token subscribe and receive within the user's topics.
	ScopeRead Scope = 1 << iota
	// ScopeWrite lets a token publish within the user's topics.
	ScopeWrite
	// ScopeAll is both, the form WoTKit clients send as "all".
	ScopeAll = ScopeRead | ScopeWrite
)

// ParseScope reads a space-separated OAuth2 scope of "read", "write" and "all".
// An empty scope, or an unknown word, is an ErrInvalid error.
func ParseScope(s string) (Scope, error) {
	var sc Scope
	for _, w := range strings.Fields(s) {
		switch w {
		case "read":
			sc |= ScopeRead
		case "write":
			sc |= ScopeWrite
		case "all":
			sc |= ScopeAll
		default:
			return 0, fmt.Errorf("%w: unknown scope %q (read, write, all)", ErrInvalid, w)
		}
	}
	if sc == 0 {
		return 0, fmt.Errorf("%w: no scope", ErrInvalid)
	}
	return sc, nil
}

// String returns the canonical form: "read", "write" or "read write".
func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeWrite:
		return "write"
	case ScopeAll:
		return "read write"
	}
	return ""
}

// Has reports whether s includes every right of o.
func (s Scope) Has(o Scope) bool { return s&o == o }
