package oauthweb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/storage"
)

// testEnv is a portal over a real store in t.TempDir(), served on 127.0.0.1:0.
type testEnv struct {
	t      testing.TB
	store  *storage.Store
	portal *Portal
	srv    *httptest.Server
	closed bool
}

// stopThrottleClock stops the login throttle's clock, so that a slow machine
// cannot outwait a refusal the test expects (the first lasts one second).
func (e *testEnv) stopThrottleClock() {
	now := time.Now()
	e.portal.throttle.SetClock(func() time.Time { return now })
}

func newTestEnv(t testing.TB, configure ...func(*Config)) *testEnv {
	t.Helper()
	return newTestEnvWith(t, storage.Options{}, configure...)
}

// newTestEnvWith is newTestEnv over a store opened with opts (and cheap
// password hashing).
func newTestEnvWith(t testing.TB, opts storage.Options, configure ...func(*Config)) *testEnv {
	t.Helper()
	opts.BcryptCost = bcrypt.MinCost
	store, err := storage.Open(filepath.Join(t.TempDir(), "wotkit.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, store: store}
	t.Cleanup(func() { env.closeStore() })
	cfg := Config{
		Store: store, PublicURL: "http://wotkit.example:8080", MQTTAddr: "127.0.0.1:1883", Signup: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range configure {
		f(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	env.portal, env.srv = p, srv
	return env
}

// closeStore closes the store once (Store.Close may not be called twice).
func (env *testEnv) closeStore() {
	if env.closed {
		return
	}
	env.closed = true
	if err := env.store.Close(); err != nil {
		env.t.Error(err)
	}
}

// user creates an account directly in the store.
func (env *testEnv) user(name, password string) {
	env.t.Helper()
	if _, err := env.store.CreateUser(storage.NewUser{Name: name, Password: password}); err != nil {
		env.t.Fatal(err)
	}
}

// key creates a key directly in the store and returns its id and password.
func (env *testEnv) key(owner, name string) (string, string) {
	env.t.Helper()
	k, pw, err := env.store.CreateKey(owner, storage.NewKey{Name: name})
	if err != nil {
		env.t.Fatal(err)
	}
	return k.ID, pw
}

// browser is an HTTP client with a cookie jar that does not follow redirects,
// connecting from a given loopback address (127.0.0.x are all this machine).
type browser struct {
	t   testing.TB
	env *testEnv
	c   *http.Client
}

func (env *testEnv) browser(fromIP string) *browser {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fromIP)}}
	return &browser{t: env.t, env: env, c: &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{DialContext: dialer.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return res, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, b.env.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form as a browser would, without adding any token itself.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, b.env.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the CSRF token of the form on the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	res, body := b.get(path)
	m := csrfInput.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, no CSRF token in the page", path, res.StatusCode)
	}
	return m[1]
}

// submit fills the form on page and posts it to action, with the page's token.
func (b *browser) submit(page, action string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	form.Set(csrfField, b.csrf(page))
	return b.post(action, form)
}

// login logs in and fails the test unless it worked.
func (b *browser) login(name, password string) {
	b.t.Helper()
	res, body := b.submit("/login", "/login", url.Values{"username": {name}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login %s: %d %s", name, res.StatusCode, body)
	}
}

// apiCall makes one API request with HTTP Basic credentials (none if user is empty).
func (env *testEnv) apiCall(method, path, user, password, body string) (*http.Response, string) {
	env.t.Helper()
	authorization := ""
	if user != "" {
		authorization = basicAuth(user, password)
	}
	return env.apiWith(method, path, authorization, body)
}

// basicAuth is the Authorization header for HTTP Basic credentials.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// apiWith makes one API request with the given Authorization header (none if
// empty) and a JSON body (none if empty).
func (env *testEnv) apiWith(method, path, authorization, body string) (*http.Response, string) {
	env.t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	return env.apiSend(method, path, authorization, contentType, body)
}

// apiSend makes one API request with the given Authorization header and body
// of the given type (none if empty).
func (env *testEnv) apiSend(method, path, authorization, contentType, body string) (*http.Response, string) {
	env.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, env.srv.URL+path, r)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		env.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, string(data)
}

// decode unmarshals a JSON body or fails the test.
func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}

// cookie returns the value of this browser's cookie called name ("" if none).
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.env.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func replaceAll(s, old, new string) string { return strings.ReplaceAll(s, old, new) }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
