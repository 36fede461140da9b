package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-oauth2/oauth2/v4"
	bolt "go.etcd.io/bbolt"
)

// OAuthClients is the go-oauth2 ClientStore over the registered applications.
type OAuthClients struct{ s *Store }

// OAuthTokens is the go-oauth2 TokenStore, through which go-oauth2's manager
// stores the authorization codes it issues, as hashes. Only Create is
// served: codes and refresh tokens are redeemed by RedeemCode and
// RotateRefresh, each one transaction, and tokens are looked up and revoked by
// AuthenticateToken, IntrospectToken and RevokeToken; the other methods
// refuse.
type OAuthTokens struct{ s *Store }

// errNotServed is returned by the go-oauth2 TokenStore methods that wotkit
// serves otherwise (see OAuthTokens).
var errNotServed = errors.New("not served through go-oauth2's token store")

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

// Create stores a new authorization code, or a new access token with its
// refresh token if it has one; each starts a family of its own.
func (t OAuthTokens) Create(_ context.Context, info oauth2.TokenInfo) error {
	fam := newID('F')
	err := t.s.update(func(tx *bolt.Tx) ([]Event, error) {
		if code := info.GetCode(); code != "" {
			h := HashSecret(code)
			return nil, putJSON(tx.Bucket(bucketCodes), string(h[:]), codeRecord{
				ClientID: info.GetClientID(), UserID: info.GetUserID(), Scope: info.GetScope(),
				RedirectURI: info.GetRedirectURI(), Challenge: info.GetCodeChallenge(),
				ChallengeMethod: string(info.GetCodeChallengeMethod()), Family: fam,
				CreateAt: info.GetCodeCreateAt(), ExpiresIn: info.GetCodeExpiresIn(),
			})
		}
		r := &tokenRecord{
			ID: newID('T'), ClientID: info.GetClientID(), UserID: info.GetUserID(), Scope: info.GetScope(),
			RedirectURI: info.GetRedirectURI(), Family: fam, AccessHash: HashSecret(info.GetAccess()),
			AccessCreateAt: info.GetAccessCreateAt(), AccessExpiresIn: info.GetAccessExpiresIn(),
		}
		if refresh := info.GetRefresh(); refresh != "" {
			r.HasRefresh, r.RefreshHash = true, HashSecret(refresh)
			r.RefreshCreateAt, r.RefreshExpiresIn = info.GetRefreshCreateAt(), info.GetRefreshExpiresIn()
		}
		return nil, insertToken(tx, r)
	})
	if err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	return nil
}

// GetByCode refuses: codes are redeemed by Store.RedeemCode.
func (OAuthTokens) GetByCode(context.Context, string) (oauth2.TokenInfo, error) {
	return nil, fmt.Errorf("get code: %w", errNotServed)
}

// RemoveByCode refuses: codes are redeemed by Store.RedeemCode.
func (OAuthTokens) RemoveByCode(context.Context, string) error {
	return fmt.Errorf("remove code: %w", errNotServed)
}

// GetByAccess refuses: access tokens are checked by Store.AuthenticateToken.
func (OAuthTokens) GetByAccess(context.Context, string) (oauth2.TokenInfo, error) {
	return nil, fmt.Errorf("get access token: %w", errNotServed)
}

// RemoveByAccess refuses: tokens are revoked by Store.RevokeToken.
func (OAuthTokens) RemoveByAccess(context.Context, string) error {
	return fmt.Errorf("remove access token: %w", errNotServed)
}

// GetByRefresh refuses: refresh tokens are rotated by Store.RotateRefresh.
func (OAuthTokens) GetByRefresh(context.Context, string) (oauth2.TokenInfo, error) {
	return nil, fmt.Errorf("get refresh token: %w", errNotServed)
}

// RemoveByRefresh refuses: refresh tokens are rotated by Store.RotateRefresh
// and revoked by Store.RevokeToken.
func (OAuthTokens) RemoveByRefresh(context.Context, string) error {
	return fmt.Errorf("remove refresh token: %w", errNotServed)
}
