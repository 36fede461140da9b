package oauthweb

import (
	"io"
	"net/http"
	"testing"
)

// benchmarkGet measures requests per second for GET path, with the request
// built by prepare, over real HTTP from parallel clients.
func benchmarkGet(b *testing.B, env *testEnv, path string, prepare func(*http.Request)) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, env.srv.URL+path, nil)
			prepare(req)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkPage_Keys: the Keys page of a signed-in user with 10 keys
// (session lookup, user, key list, template).
func BenchmarkPage_Keys(b *testing.B) {
	env := newTestEnv(b)
	env.user("alice", "alice-password")
	for range 10 {
		env.key("alice", "sensor")
	}
	token, _, err := env.store.CreateWebSession("alice")
	if err != nil {
		b.Fatal(err)
	}
	benchmarkGet(b, env, "/keys", func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
	})
}

// BenchmarkAPI_MeWithKey: GET /api/v1/me with a key's Basic credentials.
func BenchmarkAPI_MeWithKey(b *testing.B) {
	env := newTestEnv(b)
	env.user("alice", "alice-password")
	id, pw := env.key("alice", "sensor")
	benchmarkGet(b, env, "/api/v1/me", func(r *http.Request) { r.SetBasicAuth(id, pw) })
}
