package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/oauth2"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// callback is an application's redirect endpoint: it hands each query it
// receives to the test.
func callback(t *testing.T) (string, <-chan url.Values) {
	t.Helper()
	got := make(chan url.Values, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r) // the browser's favicon request
			return
		}
		got <- r.URL.Query()
		_, _ = w.Write([]byte("<!doctype html><title>done</title><p id=done>back in the application</p>"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/callback", got
}

func waitQuery(t *testing.T, got <-chan url.Values) url.Values {
	t.Helper()
	select {
	case q := <-got:
		return q
	case <-time.After(wotkittest.Timeout):
		t.Fatal("the browser never came back to the application")
		return nil
	}
}

// dashboard registers bob1's application "Greenhouse dashboard", which comes
// back to redirect, and returns it with its golang.org/x/oauth2 configuration
// against the portal at web.
func dashboard(t *testing.T, inst *instance, web, redirect string) (storage.App, *oauth2.Config) {
	t.Helper()
	app, secret, err := inst.store.CreateApp("bob1", storage.NewApp{Name: "Greenhouse dashboard", RedirectURIs: []string{redirect}})
	if err != nil {
		t.Fatal(err)
	}
	return app, &oauth2.Config{
		ClientID: app.ClientID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"all"},
		Endpoint: oauth2.Endpoint{AuthURL: web + "/api/oauth/authorize", TokenURL: web + "/api/oauth/token"},
	}
}

// TestOAuth_BrowserConsentThenTokenAsMQTTPassword: an application sends alice
// to wotkit; she logs in and presses Allow in a real browser; the application
// exchanges the code (golang.org/x/oauth2, S256 PKCE) and connects to MQTT
// with the access token, confined to alice's topics and to its scope.
func TestOAuth_BrowserConsentThenTokenAsMQTTPassword(t *testing.T) {
	ctx, inst, web, mqttAddr, shots := browserWorld(t, "alice", "bob1")
	redirect, got := callback(t)
	app, conf := dashboard(t, inst, web, redirect)
	verifier := oauth2.GenerateVerifier()
	step(t, ctx, "log in from the authorization request",
		chromedp.Navigate(conf.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier))),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "alice-password"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("allow")),
	)
	screenshot(t, ctx, shots, "consent")
	step(t, ctx, "press Allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("done")))
	q := waitQuery(t, got)
	if q.Get("state") != "state-123" || q.Get("code") == "" {
		t.Fatalf("callback query %v", q)
	}
	bg := context.Background()
	tok, err := conf.Exchange(bg, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}

	// MQTT 5 with an empty user name; 3.1.1 with the client id.
	c5, _, err := wotkittest.Dial5(t, mqttAddr, &paho.Connect{ClientID: "dash-5", CleanStart: true, Password: []byte(tok.AccessToken)})
	if err != nil {
		t.Fatalf("MQTT 5 with the token: %v", err)
	}
	c3, err := wotkittest.Dial3(t, mqttAddr, "dash-3", app.ClientID, tok.AccessToken)
	if err != nil {
		t.Fatalf("3.1.1 with the token: %v", err)
	}
	sctx, cancel := context.WithTimeout(bg, wotkittest.Timeout)
	defer cancel()
	sa, err := c5.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "alice/#", QoS: 1}, {Topic: "bob1/#", QoS: 1}}})
	if err != nil && sa == nil {
		t.Fatal(err)
	}
	if sa.Reasons[0] != 1 || sa.Reasons[1] != 0x87 {
		t.Fatalf("SUBACK %v: want alice/# granted, bob1/# refused", sa.Reasons)
	}
	c3.Publish("bob1/greenhouse/data", 0, false, "not yours").WaitTimeout(wotkittest.Timeout)
	c3.Publish("alice/greenhouse/data", 1, false, "21.5").WaitTimeout(wotkittest.Timeout)
	if m := wotkittest.Expect(t, c5.Msgs); m.Topic != "alice/greenhouse/data" || m.Payload != "21.5" {
		t.Fatalf("received %+v", m)
	}

	// Consent given: a read-only token for the same app comes without asking again.
	verifier = oauth2.GenerateVerifier()
	step(t, ctx, "authorize read only",
		chromedp.Navigate(conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("scope", "read"))),
		chromedp.WaitVisible(chromedp.ID("done")))
	readTok, err := conf.Exchange(bg, waitQuery(t, got).Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	ro, _, err := wotkittest.Dial5(t, mqttAddr, &paho.Connect{ClientID: "dash-ro", CleanStart: true, Username: app.ClientID, Password: []byte(readTok.AccessToken)})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := ro.Publish(sctx, &paho.Publish{Topic: "alice/greenhouse/data", QoS: 1, Payload: []byte("x")})
	if pr == nil || pr.ReasonCode != 0x87 {
		t.Fatalf("publish with a read token: %+v %v, want 0x87", pr, err)
	}

	// Refresh through a TokenSource; the new token connects too.
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := conf.TokenSource(bg, tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if _, err := wotkittest.Dial3(t, mqttAddr, "dash-fresh", app.ClientID, fresh.AccessToken); err != nil {
		t.Fatalf("refreshed token: %v", err)
	}

	// alice revokes the application: its sessions end at once and the token is dead.
	if err := inst.store.RevokeGrant("alice", app.ClientID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c3.Lost:
	case <-time.After(wotkittest.Timeout):
		t.Fatal("3.1.1 session survived revocation")
	}
	if _, err := wotkittest.Dial3(t, mqttAddr, "dash-3", app.ClientID, fresh.AccessToken); err == nil {
		t.Fatal("a revoked grant's token connected")
	}
}
