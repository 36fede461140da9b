package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-oauth2/oauth2/v4"
	"github.com/go-oauth2/oauth2/v4/models"
	bolt "go.etcd.io/bbolt"
)

// FamilyExtension is the token extension that carries the family id: every
// token issued from one authorization code shares it.
const FamilyExtension = "wotkit_family"

// NewFamily returns a fresh family id for an authorization code.
func NewFamily() string { return newID('F') }

// OAuthClients is the go-oauth2 ClientStore over the registered applications.
type OAuthClients struct{ s *Store }

// OAuthTokens is the go-oauth2 TokenStore: codes and tokens kept only as
// hashes. A code or refresh token is consumed atomically by the lookup that
// finds it, so concurrent redemptions have one winner, and a second use
// revokes everything issued from it.
type OAuthTokens struct{ s *Store }

var (
	_ oauth2.ClientStore = OAuthClients{}
	_ oauth2.TokenStore  = OAuthTokens{}
)

// OAuthClients returns the store's go-oauth2 ClientStore.
func (s *Store) OAuthClients() OAuthClients { return OAuthClients{s} }

// OAuthTokens returns the store's go-oauth2 TokenStore.
func (s *Store) OAuthTokens() OAuthTokens { return OAuthTokens{s} }

// GetByID returns the application as go-oauth2 client information.
func (c OAuthClients) GetByID(_ context.Context, id string) (oauth2.ClientInfo, error) {
	rec, err := c.s.appRecord(id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil // go-oauth2: invalid_client
	}
	if err != nil {
		return nil, err
	}
	return &client{rec: rec}, nil
}

// client is an application as go-oauth2 sees it. It never exposes the secret:
// go-oauth2 verifies through VerifyPassword, in constant time against the hash.
type client struct{ rec appRecord }

var _ oauth2.ClientPasswordVerifier = (*client)(nil)

func (c *client) GetID() string     { return c.rec.ClientID }
func (c *client) GetSecret() string { return "" }
func (c *client) IsPublic() bool    { return c.rec.Public }
func (c *client) GetUserID() string { return c.rec.Owner }

// GetDomain returns the registered redirect URIs, one per line, for the
// exact-match check that replaces go-oauth2's host-suffix match.
func (c *client) GetDomain() string { return strings.Join(c.rec.RedirectURIs, "\n") }

// VerifyPassword checks a client secret in constant time; a public client has none.
func (c *client) VerifyPassword(secret string) bool {
	if c.rec.Public {
		return secret == ""
	}
	return secretMatches(c.rec.SecretHash, secret)
}

// RedirectURIs returns the registered redirect URIs of a go-oauth2 client's domain string.
func RedirectURIs(domain string) []string { return strings.Split(domain, "\n") }

func family(info oauth2.TokenInfo) string {
	if e, ok := info.(oauth2.ExtendableTokenInfo); ok {
		if f := e.GetExtension().Get(FamilyExtension); f != "" {
			return f
		}
	}
	return NewFamily()
}

// Create stores a new authorization code, or a new access token with its refresh token.
func (t OAuthTokens) Create(_ context.Context, info oauth2.TokenInfo) error {
	fam := family(info)
	err := t.s.update(func(tx *bolt.Tx) ([]Event, error) {
		if code := info.GetCode(); code != "" {
			h := HashSecret(code)
			return nil, putJSON(tx.Bucket(bucketCodes), string(h[:]), codeRecord{
				ClientID: info.GetClientID(), UserID: info.GetUserID(), Scope: info.GetScope(),
				RedirectURI: info.GetRedirectURI(), Challenge: info.GetCodeChallenge(),
				ChallengeMethod: string(info.GetCodeChallengeMethod()), Family: fam,
				CreateAt: info.GetCodeCreateAt(), ExpiresIn: info.GetCodeExpiresIn(), AccessExpiresIn: info.GetAccessExpiresIn(),
			})
		}
		r := &tokenRecord{
			ID: newID('T'), ClientID: info.GetClientID(), UserID: info.GetUserID(), Scope: info.GetScope(),
			RedirectURI: info.GetRedirectURI(), Family: fam, AccessHash: HashSecret(info.GetAccess()),
			AccessCreateAt: info.GetAccessCreateAt(), AccessExpiresIn: info.GetAccessExpiresIn(),
		}
		idx := tx.Bucket(bucketTokenIndex)
		if err := idx.Put(indexKey('a', r.AccessHash), []byte(r.ID)); err != nil {
			return nil, err
		}
		if refresh := info.GetRefresh(); refresh != "" {
			r.HasRefresh, r.RefreshHash = true, HashSecret(refresh)
			r.RefreshCreateAt, r.RefreshExpiresIn = info.GetRefreshCreateAt(), info.GetRefreshExpiresIn()
			if err := idx.Put(indexKey('r', r.RefreshHash), []byte(r.ID)); err != nil {
				return nil, err
			}
		}
		return nil, putToken(tx, r)
	})
	if err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	return nil
}

// GetByCode consumes an authorization code: the first call gets it, a second
// gets ErrReplayed and revokes every token issued from the code.
func (t OAuthTokens) GetByCode(_ context.Context, code string) (oauth2.TokenInfo, error) {
	var ti oauth2.TokenInfo
	replayed := false
	err := t.s.update(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketCodes)
		h := HashSecret(code)
		var c codeRecord
		if err := getJSON(b, string(h[:]), &c); errors.Is(err, ErrNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		if c.Used {
			replayed = true // commit the revocation, then report the replay
			return revokeFamily(tx, c.Family)
		}
		c.Used = true
		if err := putJSON(b, string(h[:]), c); err != nil {
			return nil, err
		}
		ti = &models.Token{
			ClientID: c.ClientID, UserID: c.UserID, Scope: c.Scope, RedirectURI: c.RedirectURI,
			Code: code, CodeCreateAt: c.CreateAt, CodeExpiresIn: c.ExpiresIn, AccessExpiresIn: c.AccessExpiresIn,
			CodeChallenge: c.Challenge, CodeChallengeMethod: c.ChallengeMethod,
			Extension: url.Values{FamilyExtension: {c.Family}},
		}
		return nil, nil
	})
	return ti, redeemed("redeem code", replayed, err)
}

// redeemed is the outcome of consuming a code or refresh token.
func redeemed(what string, replayed bool, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case replayed:
		return fmt.Errorf("%s: %w", what, ErrReplayed)
	}
	return nil
}

// RemoveByCode does nothing: GetByCode consumed the code, which is kept,
// marked used, until it expires so that a replay is recognised.
func (t OAuthTokens) RemoveByCode(context.Context, string) error { return nil }

// GetByAccess returns a live access token's information, or nil.
func (t OAuthTokens) GetByAccess(_ context.Context, access string) (oauth2.TokenInfo, error) {
	var ti oauth2.TokenInfo
	err := t.s.view(func(tx *bolt.Tx) error {
		r, err := recordByHash(tx, 'a', HashSecret(access))
		if errors.Is(err, ErrNotFound) || (err == nil && r.AccessRevoked) {
			return nil
		}
		if err != nil {
			return err
		}
		ti = r.model(access, "")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load access token: %w", err)
	}
	return ti, nil
}

// GetByRefresh consumes a refresh token (rotation): the first call gets it, a
// second gets ErrReplayed and revokes the whole family.
func (t OAuthTokens) GetByRefresh(_ context.Context, refresh string) (oauth2.TokenInfo, error) {
	var ti oauth2.TokenInfo
	replayed := false
	err := t.s.update(func(tx *bolt.Tx) ([]Event, error) {
		r, err := recordByHash(tx, 'r', HashSecret(refresh))
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if r.RefreshUsed {
			replayed = true // commit the revocation, then report the replay
			return revokeFamily(tx, r.Family)
		}
		r.RefreshUsed = true
		ti = r.model("", refresh)
		return nil, putToken(tx, r)
	})
	return ti, redeemed("redeem refresh token", replayed, err)
}

// RemoveByAccess revokes an access token.
func (t OAuthTokens) RemoveByAccess(_ context.Context, access string) error {
	return t.mark('a', access, func(r *tokenRecord) []Event {
		r.AccessRevoked = true
		return []Event{{Kind: TokensRevoked, TokenIDs: []string{r.ID}}}
	})
}

// RemoveByRefresh marks a refresh token used (go-oauth2 calls it after a
// rotation); the record stays until it expires, so that a replay is recognised.
func (t OAuthTokens) RemoveByRefresh(_ context.Context, refresh string) error {
	return t.mark('r', refresh, func(r *tokenRecord) []Event {
		r.RefreshUsed = true
		return nil
	})
}

// mark changes the record of a token and returns the events the change makes.
func (t OAuthTokens) mark(kind byte, token string, fn func(*tokenRecord) []Event) error {
	err := t.s.update(func(tx *bolt.Tx) ([]Event, error) {
		r, err := recordByHash(tx, kind, HashSecret(token))
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		events := fn(r)
		return events, putToken(tx, r)
	})
	if err != nil {
		return fmt.Errorf("update token: %w", err)
	}
	return nil
}

// model returns the record as go-oauth2 token information, with the
// plaintext token that was presented (the other is not known).
func (r *tokenRecord) model(access, refresh string) *models.Token {
	return &models.Token{
		ClientID: r.ClientID, UserID: r.UserID, Scope: r.Scope, RedirectURI: r.RedirectURI,
		Access: access, AccessCreateAt: r.AccessCreateAt, AccessExpiresIn: r.AccessExpiresIn,
		Refresh: refresh, RefreshCreateAt: r.RefreshCreateAt, RefreshExpiresIn: r.RefreshExpiresIn,
		Extension: url.Values{FamilyExtension: {r.Family}},
	}
}
