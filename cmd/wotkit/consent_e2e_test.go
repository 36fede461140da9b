package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// TestOAuth_BrowserConsentErrorsArePages: what goes wrong on the consent
// page (a request that expired or was already answered, a form sent without
// a decision) is shown to alice in the browser as a portal page, never as
// raw JSON, although the consent form posts to a path under /api/.
func TestOAuth_BrowserConsentErrorsArePages(t *testing.T) {
	ctx, inst, web, _, shots := browserWorld(t, "alice", "bob1")
	redirect, _ := callback(t)
	_, conf := dashboard(t, inst, web, redirect)
	authURL := conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	step(t, ctx, "log in from the authorization request",
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "alice-password"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("allow")),
	)
	cases := []struct {
		name, says string
		answer     chromedp.Action[chromedp.Void]
	}{
		{"expired", "expired or was already answered", chromedp.Steps(
			// As if the page had waited past its ten minutes.
			chromedp.SetValue(chromedp.CSS(`input[name="request"]`), "expired"),
			chromedp.Click(chromedp.ID("allow")),
		)},
		{"no-decision", "Choose Allow or Deny", chromedp.Submit(chromedp.ID("allow"))},
	}
	for _, tc := range cases {
		step(t, ctx, "open the consent page", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("allow")))
		// The error page, and only it, links back to the start page.
		step(t, ctx, "answer: "+tc.name, tc.answer, chromedp.WaitVisible(chromedp.CSS(`main a[href="/"]`)))
		if text := read(t, ctx, "the page", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, tc.says) {
			t.Errorf("%s: the page says %q, want %q", tc.name, text, tc.says)
		}
		screenshot(t, ctx, shots, "consent-error-"+tc.name)
	}
}
