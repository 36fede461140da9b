package hooks

import (
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// CredentialKind says how a session authenticated.
type CredentialKind uint8

const (
	// ByKey sessions authenticated with a key id and key password.
	ByKey CredentialKind = iota + 1
	// ByToken sessions authenticated with an OAuth2 access token.
	ByToken
)

// String names the kind for logs and metrics: "key" or "token".
func (k CredentialKind) String() string {
	if k == ByToken {
		return "token"
	}
	return "key"
}

// Credential names under which sessions are found for revocation.
func keyCredential(keyID string) string          { return "key:" + keyID }
func tokenCredential(tokenID string) string      { return "token:" + tokenID }
func appCredential(clientID string) string       { return "app:" + clientID }
func grantCredential(user, client string) string { return "grant:" + user + "\x00" + client }

// Grant is what one MQTT session may do, decided at CONNECT.
type Grant struct {
	User     string         // the user the session acts for; the first level of their topics
	Admin    bool           // admin users' credentials reach every topic, $SYS included
	Read     bool           // may subscribe and receive
	Write    bool           // may publish
	Kind     CredentialKind // how the session authenticated
	ID       string         // the key id or token id the session used
	ClientID string         // the application a token was issued to
	Expires  time.Time      // when the token expires; zero for keys

	// creds are the credential names that revoke this session.
	creds []string
	// client is the session's client object, once admitted.
	client *mqtt.Client
	// expiry ends the session when its token expires; nil for keys.
	expiry *time.Timer
	// rate is the publish rate the credential's sessions share; nil: no limit.
	rate *rate

	revoked atomic.Bool
	// gauge is the session's place in the connections gauge (gaugeNew,
	// gaugeCounted, gaugeEnded): Sessions.countLive and Sessions.uncount.
	gauge atomic.Uint32
}

// The states of Grant.gauge. A connection goes from new to counted when its
// session is established, and to ended by whichever comes first of its
// disconnection, its takeover and its revocation: it is uncounted once, and
// never counted after it ended.
const (
	gaugeNew uint32 = iota
	gaugeCounted
	gaugeEnded
)

// Revoked reports whether the credential behind the grant has been revoked.
func (g *Grant) Revoked() bool { return g.revoked.Load() }

// CanPublish reports whether the session may publish to topic (a topic name, no wildcards).
func (g *Grant) CanPublish(topic string) bool {
	return g.Write && !g.revoked.Load() && (g.Admin || g.owns(topic))
}

// CanRead reports whether the session may subscribe to filter or receive a
// message on a topic name. A shared subscription $share/GROUP/FILTER is judged
// by FILTER; topics and filters that start with '$' are for admins only.
func (g *Grant) CanRead(filter string) bool {
	if !g.Read || g.revoked.Load() {
		return false
	}
	if g.Admin {
		return true
	}
	return g.owns(stripShare(filter))
}

// owns reports whether the first level of topic is exactly the grant's user.
// A filter whose first level is a wildcard, or another name, is not owned.
func (g *Grant) owns(topic string) bool {
	n := len(g.User)
	return len(topic) >= n && topic[:n] == g.User && (len(topic) == n || topic[n] == '/')
}

const sharePrefix = "$share/"

// stripShare returns FILTER for $share/GROUP/FILTER, and filter unchanged
// otherwise. A $share filter without a FILTER part returns "" (never owned).
func stripShare(filter string) string {
	if len(filter) < len(sharePrefix) || filter[0] != '$' || !strings.EqualFold(filter[:len(sharePrefix)], sharePrefix) {
		return filter
	}
	rest := filter[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return ""
	}
	return rest[i+1:]
}
