package storage_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	"github.com/go-oauth2/oauth2/v4/models"

	"github.com/wotkit/wotkit/storage"
)

const testRedirect = "https://a.example/cb"

var testLife = storage.Lifetimes{Access: time.Hour, Refresh: 24 * time.Hour}

// grantWorld is a store where alice has granted app (read and write).
type grantWorld struct {
	s     *storage.Store
	app   string
	other string // another application, which alice has not granted
}

func newGrantWorld(t *testing.T) *grantWorld {
	t.Helper()
	s := open(t, filepath.Join(t.TempDir(), "wotkit.db"))
	t.Cleanup(func() { closeStore(t, s) })
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	w := &grantWorld{s: s}
	for _, id := range []*string{&w.app, &w.other} {
		app, _, err := s.CreateApp("alice", storage.NewApp{Name: "a", RedirectURIs: []string{testRedirect}})
		if err != nil {
			t.Fatal(err)
		}
		*id = app.ClientID
	}
	if _, err := s.SaveGrant("alice", w.app, storage.ScopeAll); err != nil {
		t.Fatal(err)
	}
	return w
}

// code stores an authorization code of alice's for w.app, issued age ago,
// as go-oauth2's manager does, with an S256 challenge for verifier (none if
// verifier is empty).
func (w *grantWorld) code(t *testing.T, age time.Duration, verifier string) string {
	t.Helper()
	code := storage.NewSecret(storage.PrefixAuthCode)
	ti := &models.Token{ClientID: w.app, UserID: "alice", Scope: "read write", RedirectURI: testRedirect,
		Code: code, CodeCreateAt: time.Now().Add(-age), CodeExpiresIn: 10 * time.Minute}
	if verifier != "" {
		ti.CodeChallenge, ti.CodeChallengeMethod = s256(verifier), string(oauth2.CodeChallengeS256)
	}
	if err := w.s.OAuthTokens().Create(context.Background(), ti); err != nil {
		t.Fatal(err)
	}
	return code
}

// redeem redeems code as w.app would, with verifier.
func (w *grantWorld) redeem(code, verifier string) (storage.IssuedTokens, error) {
	return w.s.RedeemCode(storage.CodeRedemption{ClientID: w.app, Code: code, RedirectURI: testRedirect, CodeVerifier: verifier, Lifetimes: testLife})
}

// rotate refreshes as w.app would, asking for scope (zero: the same).
func (w *grantWorld) rotate(refresh string, scope storage.Scope) (storage.IssuedTokens, error) {
	return w.s.RotateRefresh(storage.RefreshRotation{ClientID: w.app, Refresh: refresh, Scope: scope, Lifetimes: testLife})
}

// s256 is the S256 code challenge of verifier (RFC 7636 section 4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (w *grantWorld) wantWorks(t *testing.T, what, access string) {
	t.Helper()
	at, err := w.s.AuthenticateToken(access)
	if err != nil || at.User != "alice" || at.ClientID != w.app {
		t.Errorf("%s: %+v %v, want alice's token for the app", what, at, err)
	}
}

func (w *grantWorld) wantDead(t *testing.T, what, access string) {
	t.Helper()
	if _, err := w.s.AuthenticateToken(access); !errors.Is(err, storage.ErrBadCredentials) {
		t.Errorf("%s: %v, want ErrBadCredentials", what, err)
	}
}

// RFC 6749 section 4.1.3 and RFC 7636 section 4.6: every check comes before
// the code is consumed. A refused redemption changes nothing and is no
// replay; the rightful one then succeeds.
func TestRedeemCode_RefusalsConsumeNothing(t *testing.T) {
	w := newGrantWorld(t)
	verifier := strings.Repeat("v", 43)
	code := w.code(t, time.Minute, verifier)
	for _, tc := range []struct {
		name string
		req  storage.CodeRedemption
	}{
		{"unknown code", storage.CodeRedemption{ClientID: w.app, Code: storage.NewSecret(storage.PrefixAuthCode), RedirectURI: testRedirect, CodeVerifier: verifier}},
		{"another client", storage.CodeRedemption{ClientID: w.other, Code: code, RedirectURI: testRedirect, CodeVerifier: verifier}},
		{"another redirect URI", storage.CodeRedemption{ClientID: w.app, Code: code, RedirectURI: testRedirect + "/", CodeVerifier: verifier}},
		{"no redirect URI", storage.CodeRedemption{ClientID: w.app, Code: code, CodeVerifier: verifier}},
		{"wrong verifier", storage.CodeRedemption{ClientID: w.app, Code: code, RedirectURI: testRedirect, CodeVerifier: verifier + "x"}},
		{"no verifier", storage.CodeRedemption{ClientID: w.app, Code: code, RedirectURI: testRedirect}},
		{"the challenge as verifier", storage.CodeRedemption{ClientID: w.app, Code: code, RedirectURI: testRedirect, CodeVerifier: s256(verifier)}},
	} {
		tc.req.Lifetimes = testLife
		if _, err := w.s.RedeemCode(tc.req); !errors.Is(err, storage.ErrInvalidGrant) || errors.Is(err, storage.ErrReplayed) {
			t.Errorf("%s: %v, want ErrInvalidGrant", tc.name, err)
		}
	}
	tok, err := w.redeem(code, verifier)
	if err != nil {
		t.Fatalf("the rightful redemption after the refusals: %v", err)
	}
	if !strings.HasPrefix(tok.Access, storage.PrefixAccessToken) || len(tok.Access) != len(storage.PrefixAccessToken)+43 ||
		!strings.HasPrefix(tok.Refresh, storage.PrefixRefreshToken) || len(tok.Refresh) != len(storage.PrefixRefreshToken)+43 {
		t.Errorf("tokens %q %q: want prefixed 256-bit secrets", tok.Access, tok.Refresh)
	}
	if tok.Scope != storage.ScopeAll || tok.AccessExpiresIn != testLife.Access {
		t.Errorf("issued %+v", tok)
	}
	w.wantWorks(t, "the issued access token", tok.Access)
	// Used now: a refused presentation is still refused, and revokes nothing.
	if _, err := w.s.RedeemCode(storage.CodeRedemption{ClientID: w.other, Code: code, RedirectURI: testRedirect, CodeVerifier: verifier}); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("the used code from another client: %v, want ErrInvalidGrant", err)
	}
	w.wantWorks(t, "after the used code was refused", tok.Access)
}

// A code issued without a challenge takes no verifier: one sent anyway is a
// downgrade, refused.
func TestRedeemCode_VerifierWithoutChallengeRefused(t *testing.T) {
	w := newGrantWorld(t)
	code := w.code(t, time.Minute, "")
	if _, err := w.redeem(code, strings.Repeat("v", 43)); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("a verifier for a code without a challenge: %v, want ErrInvalidGrant", err)
	}
	if _, err := w.redeem(code, ""); err != nil {
		t.Errorf("without a verifier: %v", err)
	}
}

// RFC 6749 section 4.1.2: a code lives at most ten minutes.
func TestRedeemCode_ExpiredCodeRefused(t *testing.T) {
	w := newGrantWorld(t)
	if _, err := w.redeem(w.code(t, 10*time.Minute+time.Second, ""), ""); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("a code older than ten minutes: %v, want ErrInvalidGrant", err)
	}
	if _, err := w.redeem(w.code(t, 9*time.Minute, ""), ""); err != nil {
		t.Errorf("a code nine minutes old: %v", err)
	}
}

// Withdrawing a grant withdraws the codes issued under it: a code is refused
// once the grant is gone, and stays refused if the user grants again.
func TestRedeemCode_GrantWithdrawnRefusesItsCodes(t *testing.T) {
	w := newGrantWorld(t)
	code := w.code(t, time.Minute, "")
	if err := w.s.RevokeGrant("alice", w.app); err != nil {
		t.Fatal(err)
	}
	if _, err := w.redeem(code, ""); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("after the grant was revoked: %v, want ErrInvalidGrant", err)
	}
	if _, err := w.s.SaveGrant("alice", w.app, storage.ScopeAll); err != nil {
		t.Fatal(err)
	}
	if _, err := w.redeem(code, ""); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("a code from before the revocation, after a new grant: %v, want ErrInvalidGrant", err)
	}
}

// Deleting an application deletes its codes with its grants and tokens.
func TestDeleteApp_DeletesItsCodes(t *testing.T) {
	w := newGrantWorld(t)
	w.code(t, time.Minute, "")
	if err := w.s.DeleteApp(w.app); err != nil {
		t.Fatal(err)
	}
	if n, err := w.s.Sweep(time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("after the app was deleted, a sweep found %d records (%v), want none", n, err)
	}
}

// The grant is checked in the transaction that issues: a code or refresh
// token whose grant is gone buys nothing, whatever else still exists.
func TestRedeem_RefusedWithoutAGrant(t *testing.T) {
	w := newGrantWorld(t)
	ctx := context.Background()
	code := storage.NewSecret(storage.PrefixAuthCode)
	access, refresh := storage.NewSecret(storage.PrefixAccessToken), storage.NewSecret(storage.PrefixRefreshToken)
	for _, ti := range []*models.Token{
		{ClientID: w.other, UserID: "alice", Scope: "read", Code: code, CodeCreateAt: time.Now(), CodeExpiresIn: 10 * time.Minute},
		{ClientID: w.other, UserID: "alice", Scope: "read", Access: access, AccessCreateAt: time.Now(), AccessExpiresIn: time.Hour,
			Refresh: refresh, RefreshCreateAt: time.Now(), RefreshExpiresIn: time.Hour},
	} {
		if err := w.s.OAuthTokens().Create(ctx, ti); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.s.RedeemCode(storage.CodeRedemption{ClientID: w.other, Code: code, Lifetimes: testLife}); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("a code without a grant: %v, want ErrInvalidGrant", err)
	}
	if _, err := w.s.RotateRefresh(storage.RefreshRotation{ClientID: w.other, Refresh: refresh, Lifetimes: testLife}); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("a refresh token without a grant: %v, want ErrInvalidGrant", err)
	}
	if info, _ := w.s.IntrospectToken(refresh); !info.Active {
		t.Error("the refused refresh token was consumed")
	}
}

// RFC 6749 section 6: a refresh is bound to its client and may narrow the
// scope, never widen it; refusals consume nothing.
func TestRotateRefresh_BoundToClientAndScope(t *testing.T) {
	w := newGrantWorld(t)
	if err := w.s.RevokeGrant("alice", w.app); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.SaveGrant("alice", w.app, storage.ScopeRead); err != nil {
		t.Fatal(err)
	}
	code := storage.NewSecret(storage.PrefixAuthCode)
	if err := w.s.OAuthTokens().Create(context.Background(), &models.Token{ClientID: w.app, UserID: "alice", Scope: "read",
		Code: code, CodeCreateAt: time.Now(), CodeExpiresIn: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	first, err := w.s.RedeemCode(storage.CodeRedemption{ClientID: w.app, Code: code, Lifetimes: testLife})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.RotateRefresh(storage.RefreshRotation{ClientID: w.other, Refresh: first.Refresh, Lifetimes: testLife}); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("another client: %v, want ErrInvalidGrant", err)
	}
	if _, err := w.rotate(first.Refresh, storage.ScopeAll); !errors.Is(err, storage.ErrInvalidScope) {
		t.Errorf("a wider scope: %v, want ErrInvalidScope", err)
	}
	if _, err := w.rotate(storage.NewSecret(storage.PrefixRefreshToken), 0); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("an unknown refresh token: %v, want ErrInvalidGrant", err)
	}
	next, err := w.rotate(first.Refresh, storage.ScopeRead)
	if err != nil || next.Scope != storage.ScopeRead || next.Access == first.Access || next.Refresh == first.Refresh {
		t.Fatalf("the rightful refresh after the refusals: %+v %v", next, err)
	}
	w.wantWorks(t, "the refreshed access token", next.Access)
	w.wantWorks(t, "the access token refreshed from, until it expires", first.Access)
}

// A refresh token past its lifetime is refused.
func TestRotateRefresh_ExpiredRefused(t *testing.T) {
	w := newGrantWorld(t)
	refresh := storage.NewSecret(storage.PrefixRefreshToken)
	if err := w.s.OAuthTokens().Create(context.Background(), &models.Token{ClientID: w.app, UserID: "alice", Scope: "read",
		Access: storage.NewSecret(storage.PrefixAccessToken), AccessCreateAt: time.Now().Add(-48 * time.Hour), AccessExpiresIn: time.Hour,
		Refresh: refresh, RefreshCreateAt: time.Now().Add(-48 * time.Hour), RefreshExpiresIn: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.rotate(refresh, 0); !errors.Is(err, storage.ErrInvalidGrant) {
		t.Errorf("an expired refresh token: %v, want ErrInvalidGrant", err)
	}
}

// RFC 6749 section 4.1.2 and 10.4: a used code or refresh token presented
// again revokes its whole family, and the TokensRevoked event comes after
// the revocation has committed.
func TestRedeem_ReplayRevokesTheFamilyAfterCommit(t *testing.T) {
	for _, replay := range []string{"code", "refresh token"} {
		t.Run(replay, func(t *testing.T) {
			w := newGrantWorld(t)
			code := w.code(t, time.Minute, "")
			first, err := w.redeem(code, "")
			if err != nil {
				t.Fatal(err)
			}
			second, err := w.rotate(first.Refresh, 0)
			if err != nil {
				t.Fatal(err)
			}
			var revoked []string
			cancel := w.s.Watch(func(e storage.Event) {
				if e.Kind != storage.TokensRevoked {
					return
				}
				if _, err := w.s.AuthenticateToken(second.Access); err == nil {
					t.Error("event before commit: the family still works")
				}
				revoked = append(revoked, e.TokenIDs...)
			})
			defer cancel()
			if replay == "code" {
				_, err = w.redeem(code, "")
			} else {
				_, err = w.rotate(first.Refresh, 0)
			}
			if !errors.Is(err, storage.ErrReplayed) {
				t.Fatalf("replayed %s: %v, want ErrReplayed", replay, err)
			}
			w.wantDead(t, "the first access token", first.Access)
			w.wantDead(t, "the refreshed access token", second.Access)
			if _, err := w.rotate(second.Refresh, 0); !errors.Is(err, storage.ErrInvalidGrant) {
				t.Errorf("the family's live refresh token: %v, want ErrInvalidGrant", err)
			}
			if len(revoked) != 2 {
				t.Errorf("TokensRevoked named %d tokens, want the family's 2", len(revoked))
			}
		})
	}
}

// Of concurrent redemptions of one code, or rotations of one refresh token,
// one wins and the others are replays that revoke what it got.
func TestRedeem_ConcurrentUsesHaveOneWinnerThenRevokeIt(t *testing.T) {
	w := newGrantWorld(t)
	code := w.code(t, time.Minute, "")
	first := raceUses(t, 8, func() (storage.IssuedTokens, error) { return w.redeem(code, "") })
	w.wantDead(t, "the code's winner", first.Access)

	code = w.code(t, time.Minute, "")
	tok, err := w.redeem(code, "")
	if err != nil {
		t.Fatal(err)
	}
	next := raceUses(t, 8, func() (storage.IssuedTokens, error) { return w.rotate(tok.Refresh, 0) })
	w.wantDead(t, "the refresh's winner", next.Access)
}

// raceUses runs use n times at once and checks that one succeeded and the
// first after it was a replay (those after the revocation may find nothing);
// it returns what the winner got.
func raceUses(t *testing.T, n int, use func() (storage.IssuedTokens, error)) storage.IssuedTokens {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []storage.IssuedTokens
	replays := 0
	for range n {
		wg.Go(func() {
			tok, err := use()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, tok)
			case errors.Is(err, storage.ErrReplayed):
				replays++
			case !errors.Is(err, storage.ErrInvalidGrant):
				t.Errorf("a losing use: %v, want ErrReplayed or ErrInvalidGrant", err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || replays == 0 {
		t.Fatalf("%d of %d concurrent uses succeeded and %d were replays, want 1 and at least 1", len(won), n, replays)
	}
	return won[0]
}

// A rotation running alongside the revocation of its grant ends before it
// (its tokens go with the grant) or is refused: nothing outlives the grant.
func TestRotateRefresh_AlongsideRevokeGrantLeavesNothingLive(t *testing.T) {
	w := newGrantWorld(t)
	const n = 16
	refreshes := make([]string, n)
	for i := range refreshes {
		tok, err := w.redeem(w.code(t, time.Minute, ""), "")
		if err != nil {
			t.Fatal(err)
		}
		refreshes[i] = tok.Refresh
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var issued []string
	for i, r := range refreshes {
		wg.Go(func() {
			tok, err := w.rotate(r, 0)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				issued = append(issued, tok.Access)
			} else if !errors.Is(err, storage.ErrInvalidGrant) {
				t.Errorf("a refused rotation: %v, want ErrInvalidGrant", err)
			}
		})
		if i == n/2 {
			wg.Go(func() {
				if err := w.s.RevokeGrant("alice", w.app); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	t.Logf("%d of %d rotations ended before the revocation", len(issued), n)
	for _, access := range issued {
		w.wantDead(t, "a token rotated alongside the revocation", access)
	}
}

// go-oauth2's token store serves only Create: a grant made through its
// manager, in two steps, would fail rather than run.
func TestOAuthTokens_RedemptionNotServedThroughGoOAuth2(t *testing.T) {
	w := newGrantWorld(t)
	code := w.code(t, time.Minute, "")
	ctx := context.Background()
	if ti, err := w.s.OAuthTokens().GetByCode(ctx, code); err == nil || ti != nil {
		t.Errorf("GetByCode: %v %v, want an error", ti, err)
	}
	if ti, err := w.s.OAuthTokens().GetByRefresh(ctx, "wkr_x"); err == nil || ti != nil {
		t.Errorf("GetByRefresh: %v %v, want an error", ti, err)
	}
	if _, err := w.redeem(code, ""); err != nil {
		t.Errorf("the code after GetByCode: %v", err)
	}
}
