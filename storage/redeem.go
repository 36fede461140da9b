package storage

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	bolt "go.etcd.io/bbolt"
)

// Lifetimes are the lifetimes of the tokens a grant issues; zero is no limit.
type Lifetimes struct {
	Access  time.Duration
	Refresh time.Duration // counted from issue: every rotation starts it again
}

// CodeRedemption is an authorization_code token request (RFC 6749 section
// 4.1.3) from an authenticated client.
type CodeRedemption struct {
	ClientID     string // the client that authenticated
	Code         string
	RedirectURI  string // as the token request gave it
	CodeVerifier string // RFC 7636 section 4.5
	Lifetimes    Lifetimes
}

// RefreshRotation is a refresh_token token request (RFC 6749 section 6) from
// an authenticated client.
type RefreshRotation struct {
	ClientID  string // the client that authenticated
	Refresh   string
	Scope     Scope // what the request asks for; zero: the refresh token's scope
	Lifetimes Lifetimes
}

// IssuedTokens is what a grant issued. The tokens are in plaintext here,
// and nowhere else: only their hashes are stored.
type IssuedTokens struct {
	Access          string
	Refresh         string
	Scope           Scope
	AccessExpiresIn time.Duration // zero: never
}

// RedeemCode runs the authorization_code grant in one transaction, so that
// of concurrent redemptions one wins. It checks, before consuming anything,
// that the code was issued to req.ClientID, with req.RedirectURI if the
// authorization request named one (RFC 6749 section 4.1.3), that
// req.CodeVerifier answers its challenge (RFC 7636 section 4.6), that it has
// not expired, and that the user's grant to the client still stands; a
// failed check is ErrInvalidGrant and changes nothing. A code presented again
// after it was redeemed revokes every token issued from it (section 4.1.2),
// and is ErrReplayed. Otherwise the code is consumed and a new access and
// refresh token issued, whose plaintext is returned.
func (s *Store) RedeemCode(req CodeRedemption) (IssuedTokens, error) {
	return s.redeem("redeem code", req.Lifetimes, func(tx *bolt.Tx, now time.Time) (issue, error) {
		b := tx.Bucket(bucketCodes)
		h := HashSecret(req.Code)
		var c codeRecord
		if err := getJSON(b, string(h[:]), &c); errors.Is(err, ErrNotFound) {
			return issue{}, refused("unknown code")
		} else if err != nil {
			return issue{}, err
		}
		switch {
		case c.ClientID != req.ClientID:
			return issue{}, refused("the code was issued to another client")
		case c.RedirectURI != "" && c.RedirectURI != req.RedirectURI:
			return issue{}, refused("redirect_uri differs from the authorization request's")
		}
		if err := verifyPKCE(c.Challenge, c.ChallengeMethod, req.CodeVerifier); err != nil {
			return issue{}, err
		}
		is := issue{user: c.UserID, clientID: c.ClientID, redirectURI: c.RedirectURI, family: c.Family, replay: c.Used}
		if c.Used {
			return is, nil
		}
		if c.expired(now) {
			return issue{}, refused("the code has expired")
		}
		scope, err := ParseScope(c.Scope)
		if err != nil {
			return issue{}, fmt.Errorf("stored scope: %w", err)
		}
		is.scope, is.refreshScope = scope, scope
		c.Used = true // kept, used, while its family is stored (Sweep), so that a replay is recognised
		return is, putJSON(b, string(h[:]), c)
	})
}

// RotateRefresh runs the refresh_token grant in one transaction, so that of
// concurrent refreshes one wins. It checks, before consuming anything, that
// the refresh token was issued to req.ClientID, has not expired, that the
// user's grant to the client still stands (ErrInvalidGrant), and that
// req.Scope, if given, only narrows the token's scope (ErrInvalidScope); a
// failed check changes nothing. A narrower scope is the new access token's:
// the new refresh token keeps the scope of the one presented (RFC 6749
// section 6). A refresh token presented again after it was rotated revokes
// its whole family and is ErrReplayed. Otherwise it is consumed and a new
// access and refresh token issued in its family, whose plaintext is
// returned. The access token issued with the old refresh token lives on
// until it expires, so that a live MQTT session is not cut by its
// application refreshing.
func (s *Store) RotateRefresh(req RefreshRotation) (IssuedTokens, error) {
	return s.redeem("rotate refresh token", req.Lifetimes, func(tx *bolt.Tx, now time.Time) (issue, error) {
		r, err := recordByHash(tx, 'r', HashSecret(req.Refresh))
		if errors.Is(err, ErrNotFound) {
			return issue{}, refused("unknown refresh token")
		} else if err != nil {
			return issue{}, err
		}
		if r.ClientID != req.ClientID {
			return issue{}, refused("the refresh token was issued to another client")
		}
		is := issue{user: r.UserID, clientID: r.ClientID, redirectURI: r.RedirectURI, family: r.Family, replay: r.RefreshUsed}
		if r.RefreshUsed {
			return is, nil
		}
		if !r.refreshLive(now) {
			return issue{}, refused("the refresh token has expired")
		}
		if is.refreshScope, err = ParseScope(r.refreshScope()); err != nil {
			return issue{}, fmt.Errorf("stored scope: %w", err)
		}
		is.scope = is.refreshScope
		if req.Scope != 0 {
			if !is.refreshScope.Has(req.Scope) {
				return issue{}, fmt.Errorf("%w: a refresh may not widen the scope granted (%s)", ErrInvalidScope, is.refreshScope)
			}
			is.scope = req.Scope
		}
		r.RefreshUsed = true // kept, used, until it expires, so that a replay is recognised
		return is, putToken(tx, r)
	})
}

// issue is what a consumed code or refresh token lets a grant issue, or,
// with replay, the family that a replay of it revokes. The new refresh
// token's scope is the one presented (RFC 6749 section 6), which a refresh
// may narrow for the access token only.
type issue struct {
	user, clientID, redirectURI, family string
	scope, refreshScope                 Scope // of the access and the refresh token
	replay                              bool
}

// redeem runs a grant in one write transaction. consume checks the code or
// refresh token and marks it used, or reports a replay; then the user's
// grant to the client must still stand, and the new tokens are stored. A
// refusal rolls everything back; a replay commits the revocation of the
// family (its events are published after the commit) and is ErrReplayed.
func (s *Store) redeem(what string, life Lifetimes, consume func(tx *bolt.Tx, now time.Time) (issue, error)) (IssuedTokens, error) {
	var out IssuedTokens
	replayed := false
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		now := time.Now()
		is, err := consume(tx, now)
		if err != nil {
			return nil, err
		}
		if is.replay {
			replayed = true
			return revokeFamily(tx, is.family)
		}
		if tx.Bucket(bucketGrants).Get([]byte(grantKey(is.user, is.clientID))) == nil {
			return nil, refused("the user has withdrawn the application's grant")
		}
		access, refresh := NewSecret(PrefixAccessToken), NewSecret(PrefixRefreshToken)
		out = IssuedTokens{Access: access, Refresh: refresh, Scope: is.scope, AccessExpiresIn: life.Access}
		return nil, insertToken(tx, &tokenRecord{
			ID: newID('T'), ClientID: is.clientID, UserID: is.user, Scope: is.scope.String(),
			RefreshScope: is.refreshScope.String(), RedirectURI: is.redirectURI, Family: is.family,
			AccessHash: HashSecret(access), AccessCreateAt: now, AccessExpiresIn: life.Access,
			HasRefresh: true, RefreshHash: HashSecret(refresh), RefreshCreateAt: now, RefreshExpiresIn: life.Refresh,
		})
	})
	switch {
	case err != nil:
		return IssuedTokens{}, fmt.Errorf("%s: %w", what, err)
	case replayed:
		return IssuedTokens{}, fmt.Errorf("%s: %w", what, ErrReplayed)
	}
	return out, nil
}

// verifyPKCE checks a code_verifier against the challenge of the
// authorization request (RFC 7636 section 4.6) with go-oauth2's method. A
// verifier for a code issued without a challenge is refused too, so that a
// request cannot downgrade PKCE away.
func verifyPKCE(challenge, method, verifier string) error {
	switch {
	case challenge == "" && verifier == "":
		return nil
	case challenge == "":
		return refused("code_verifier sent, but the authorization request had no code_challenge")
	case verifier == "":
		return refused("code_verifier is required: the authorization request sent a code_challenge")
	case !oauth2.CodeChallengeMethod(method).Validate(challenge, verifier):
		return refused("code_verifier does not match the code_challenge")
	}
	return nil
}

// refused is an ErrInvalidGrant with its reason.
func refused(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidGrant, reason) }
