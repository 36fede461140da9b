package storage

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// App is an application registered to act for users through OAuth2.
type App struct {
	ClientID     string    `json:"client_id"`
	Name         string    `json:"name"`
	Description  string    `json:"description"`
	RedirectURIs []string  `json:"redirect_uris"`
	Owner        string    `json:"owner"`
	Public       bool      `json:"public"` // no client secret; PKCE required
	Created      time.Time `json:"created"`
}

type appRecord struct {
	App
	SecretHash [32]byte `json:"secret_hash"`
}

// Limits on redirect URIs.
const (
	maxRedirectURIs   = 10
	maxRedirectURILen = 2000
)

// NewApp describes an application to register.
type NewApp struct {
	Name         string
	Description  string
	RedirectURIs []string
	Public       bool
}

func (na NewApp) validate() error {
	if err := validateLabel("an application", na.Name, na.Description); err != nil {
		return err
	}
	switch {
	case len(na.RedirectURIs) == 0:
		return fmt.Errorf("%w: an application needs at least one redirect URI", ErrInvalid)
	case len(na.RedirectURIs) > maxRedirectURIs:
		return fmt.Errorf("%w: at most %d redirect URIs", ErrInvalid, maxRedirectURIs)
	}
	for _, u := range na.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return err
		}
	}
	return nil
}

// ValidateRedirectURI checks a redirect URI for registration (RFC 6749
// section 3.1.2, RFC 8252): absolute, no fragment, no parameter in its query
// that the server adds to it; https, or http on a loopback host, or a
// private-use scheme with a dot (com.example.app:/cb).
func ValidateRedirectURI(raw string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: redirect URI %q: %s", ErrInvalid, truncate(raw, 100), why)
	}
	if len(raw) > maxRedirectURILen {
		return bad("too long")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return bad("not a URI")
	case !u.IsAbs():
		return bad("must be absolute")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not have a fragment")
	case u.User != nil:
		return bad("must not carry user information")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("its query must be form-encoded (name=value&…)")
	}
	for _, name := range []string{"code", "state", "error", "error_description"} {
		if q.Has(name) {
			return bad("its query must not carry " + name + ", which the server adds")
		}
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return bad("needs a host")
		}
	case "http":
		switch u.Hostname() {
		case "localhost", "127.0.0.1", "::1":
		default:
			return bad("http is allowed only for localhost; use https")
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return bad("use https, http on localhost, or a private-use scheme such as com.example.app")
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// CreateApp registers an application owned by owner and returns it with its
// client secret (empty for a public client), on disk before it is returned.
func (s *Store) CreateApp(owner string, na NewApp) (App, string, error) {
	if err := na.validate(); err != nil {
		return App{}, "", fmt.Errorf("create app: %w", err)
	}
	rec := appRecord{App: App{
		ClientID: newID('C'), Name: strings.TrimSpace(na.Name), Description: na.Description,
		RedirectURIs: append([]string(nil), na.RedirectURIs...), Owner: owner, Public: na.Public, Created: time.Now().UTC(),
	}}
	secret := ""
	if !na.Public {
		secret = NewSecret(PrefixClientSecret)
		rec.SecretHash = HashSecret(secret)
	}
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		if tx.Bucket(bucketUsers).Get([]byte(owner)) == nil {
			return nil, fmt.Errorf("user %q: %w", owner, ErrNotFound)
		}
		if err := s.checkRoom(owner, "applications", func() (int, error) { return countApps(tx.Bucket(bucketApps), owner) }); err != nil {
			return nil, err
		}
		return nil, putJSON(tx.Bucket(bucketApps), rec.ClientID, rec)
	})
	if err != nil {
		return App{}, "", fmt.Errorf("create app: %w", err)
	}
	return rec.App, secret, nil
}

// App returns the application with the given client id.
func (s *Store) App(clientID string) (App, error) {
	rec, err := s.appRecord(clientID)
	return rec.App, err
}

func (s *Store) appRecord(clientID string) (appRecord, error) {
	var rec appRecord
	if err := s.view(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketApps), clientID, &rec) }); err != nil {
		return appRecord{}, fmt.Errorf("app %q: %w", clientID, err)
	}
	return rec, nil
}

// Apps returns every registered application, ordered by client id.
func (s *Store) Apps() ([]App, error) {
	recs, err := listJSON[appRecord](s, bucketApps, "app")
	apps := make([]App, len(recs))
	for i, r := range recs {
		apps[i] = r.App
	}
	return apps, err
}

// ResetAppSecret gives a confidential application a new client secret, returned once.
func (s *Store) ResetAppSecret(clientID string) (App, string, error) {
	secret := NewSecret(PrefixClientSecret)
	var rec appRecord
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketApps)
		if err := getJSON(b, clientID, &rec); err != nil {
			return nil, fmt.Errorf("app %q: %w", clientID, err)
		}
		if rec.Public {
			return nil, fmt.Errorf("%w: a public client has no secret", ErrInvalid)
		}
		rec.SecretHash = HashSecret(secret)
		return nil, putJSON(b, clientID, rec)
	})
	if err != nil {
		return App{}, "", fmt.Errorf("reset app secret: %w", err)
	}
	return rec.App, secret, nil
}

// DeleteApp removes an application with every grant, token and
// authorization code it holds; its live sessions must end (an AppDeleted
// event).
func (s *Store) DeleteApp(clientID string) error {
	err := s.update(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketApps)
		if b.Get([]byte(clientID)) == nil {
			return nil, fmt.Errorf("app %q: %w", clientID, ErrNotFound)
		}
		if err := b.Delete([]byte(clientID)); err != nil {
			return nil, err
		}
		if err := deleteGrants(tx, func(g *Grant) bool { return g.ClientID == clientID }); err != nil {
			return nil, err
		}
		if err := deleteTokens(tx, func(r *tokenRecord) bool { return r.ClientID == clientID }); err != nil {
			return nil, err
		}
		if _, err := deleteCodes(tx, func(c *codeRecord) bool { return c.ClientID == clientID }); err != nil {
			return nil, err
		}
		return []Event{{Kind: AppDeleted, ClientID: clientID}}, nil
	})
	if err != nil {
		return fmt.Errorf("delete app: %w", err)
	}
	return nil
}

// fakeAppHash is compared against for unknown client ids.
var fakeAppHash = HashSecret("no such app")

// AuthenticateClient returns the application if secret is its client secret
// (compared in constant time), or if it is a public client and secret is
// empty; ErrBadCredentials otherwise.
func (s *Store) AuthenticateClient(clientID, secret string) (App, error) {
	rec, err := s.appRecord(clientID)
	if errors.Is(err, ErrNotFound) {
		secretMatches(fakeAppHash, secret)
		return App{}, ErrBadCredentials
	}
	if err != nil {
		return App{}, fmt.Errorf("authenticate client: %w", err)
	}
	if rec.Public {
		if secret != "" {
			return App{}, ErrBadCredentials
		}
		return rec.App, nil
	}
	if !secretMatches(rec.SecretHash, secret) {
		return App{}, ErrBadCredentials
	}
	return rec.App, nil
}
