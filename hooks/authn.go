package hooks

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/storage"
	"github.com/wotkit/wotkit/throttle"
)

// Credentials is the part of storage that authentication needs.
type Credentials interface {
	AuthenticateKey(id, password string) (storage.Key, storage.User, error)
	AuthenticateToken(token string) (storage.AccessToken, error)
	TouchKey(id, addr string)
	TouchGrant(user, clientID string)
}

// Authn authenticates every CONNECT and admits it only when the credential is
// good, its Will topic is allowed, and its client id is not another user's.
// It answers refusals itself, with the CONNACK code each protocol defines.
type Authn struct {
	creds    Credentials
	sessions *Sessions
	revoker  *Revoker
	throttle *throttle.Throttle
	log      *slog.Logger
}

// NewAuthn returns the authentication of CONNECTs; revoker ends sessions whose token
// expires; failed CONNECTs are slowed down as sessions.limits.Throttle says.
func NewAuthn(creds Credentials, sessions *Sessions, revoker *Revoker, log *slog.Logger) *Authn {
	return &Authn{creds: creds, sessions: sessions, revoker: revoker, throttle: throttle.New(sessions.limits.Throttle), log: log}
}

// Provides tells which of mochi's events it handles.
func (a *Authn) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished,
		mqtt.OnDisconnect, mqtt.OnClientExpired:
		return true
	}
	return false
}

// refusal is a CONNECT refused: the MQTT 5 reason code, the 3.1.1 return code,
// and a reason string for MQTT 5 clients and the log.
type refusal struct {
	v5     packets.Code
	v3     byte
	reason string
	label  string // the reason as a metric label
}

func (r *refusal) Error() string { return "connect refused: " + r.reason }

var (
	refuseCredentials = &refusal{packets.ErrBadUsernameOrPassword, 4, "bad user name or password", "bad_credentials"}
	refuseExpired     = &refusal{packets.ErrBadUsernameOrPassword, 4, "token expired", "token_expired"}
	refuseToken       = &refusal{packets.ErrBadUsernameOrPassword, 4, "token invalid or revoked", "token_invalid"}
	refuseWill        = &refusal{packets.ErrNotAuthorized, 5, "will topic not allowed", "will_not_allowed"}
	refuseClientID    = &refusal{packets.ErrClientIdentifierNotValid, 2, "client identifier in use by another user", "client_id_taken"}
	refuseTooMany     = &refusal{packets.ErrQuotaExceeded, 3, "too many live sessions for this credential", "too_many_sessions"}
	refuseConnection  = &refusal{packets.ErrServerUnavailable, 3, "this connection cannot carry a session", "unsupported_connection"}
)

// admissionRefusal answers each refused admission.
var admissionRefusal = map[admission]*refusal{idTaken: refuseClientID, tooMany: refuseTooMany, noSlot: refuseConnection}

// banAfter is the wait from which a throttled CONNECT is told it is banned.
const banAfter = time.Minute

// refuseThrottled answers a CONNECT from a key id or address that failed too
// often: MQTT 5 0x9F (0x8A "banned" for waits of a minute or more) with the
// time to wait; 3.1.1 "not authorized".
func refuseThrottled(wait time.Duration) *refusal {
	code := packets.ErrConnectionRateExceeded
	if wait >= banAfter {
		code = packets.ErrBanned
	}
	return &refusal{code, 5, fmt.Sprintf("too many failed attempts: try again in %v", wait.Round(time.Second)), "throttled"}
}

// OnConnect authenticates the client and records its grant. On refusal it
// sends the CONNACK itself and returns an error, so that mochi closes the
// connection without an answer of its own.
func (a *Authn) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	r := a.admit(cl, pk)
	if r == nil {
		return nil
	}
	a.sessions.metrics.ConnectRefused(r.label)
	a.log.Info("mqtt connect refused", "reason", r.reason, "user_name", loggable(cl.Properties.Username),
		"client", cl.ID, "remote", cl.Net.Remote)
	code := packets.Code{Code: r.v3}
	props := packets.Properties{}
	if cl.Properties.ProtocolVersion == 5 {
		code = r.v5
		props.ReasonString = r.reason
	}
	if err := cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connack},
		ReasonCode:  code.Code,
		Properties:  props,
	}); err != nil {
		return fmt.Errorf("%w: send connack: %w", r, err)
	}
	return r
}

// admit decides a CONNECT and, when it passes, records the session's grant.
func (a *Authn) admit(cl *mqtt.Client, pk packets.Packet) *refusal {
	gen := a.sessions.revocations.Load()
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	authenticate := a.key
	subject := throttleSubject(user, cl.Net.Remote)
	if strings.HasPrefix(pass, storage.PrefixAccessToken) {
		authenticate, subject = a.token, ""
	}
	if wait := a.throttle.Wait(subject, cl.Net.Remote); wait > 0 {
		a.sessions.metrics.Throttled("mqtt")
		return refuseThrottled(wait)
	}
	g, r := authenticate(user, pass)
	if r != nil {
		if r != refuseExpired {
			a.throttle.Fail(subject, cl.Net.Remote)
		}
		return r
	}
	a.throttle.Succeed(subject)
	// A Will is published as the client: its topic must be one the client
	// could PUBLISH to, which mochi checks for a PUBLISH (a topic name without
	// wildcards, not in $SYS) but not for a Will [MQTT-3.3.2-2].
	if pk.Connect.WillFlag && (!mqtt.IsValidFilter(pk.Connect.WillTopic, true) || !g.CanPublish(pk.Connect.WillTopic)) {
		return refuseWill
	}
	// A delayed Will would outlive a revocation in mochi's delay queue, which
	// no hook can reach: wotkit sends Wills when the connection ends (README).
	cl.Properties.Will.WillDelayInterval = 0
	// A topic alias lives as long as its connection [MQTT-3.3.2-7], but mochi
	// keeps a message sent or queued under one, without its topic, in a
	// persistent session and resends it so on the next connection, where the
	// alias means nothing: a session that may outlive its connection gets no
	// aliases from the server, which need not send any.
	if !cleanSession(cl) {
		cl.Properties.Props.TopicAliasMaximum = 0
	}
	// The inline client's id is the server's own; no network client may take it.
	if cl.ID == mqtt.InlineClientId {
		return refuseClientID
	}
	// The expiry timer is set while the grant is still private: once admit
	// records it, a revocation may forget the session (and stop the timer).
	// A timer firing before admit counts as a revocation, checked below.
	if g.Kind == ByToken && !g.Expires.IsZero() {
		g.expiry = time.AfterFunc(time.Until(g.Expires), func() { a.revoker.Revoke(tokenCredential(g.ID)) })
	}
	if r := admissionRefusal[a.sessions.admit(cl, g)]; r != nil {
		if g.expiry != nil {
			g.expiry.Stop()
		}
		return r
	}
	// A revocation that committed after the check above but before admit
	// could not see this session: check again whenever one happened meanwhile.
	if a.sessions.revocations.Load() != gen {
		if _, r := authenticate(user, pass); r != nil {
			a.sessions.forget(cl)
			return r
		}
	}
	if g.Kind == ByToken {
		a.creds.TouchGrant(g.User, g.ClientID)
	} else {
		a.creds.TouchKey(g.ID, cl.Net.Remote)
	}
	return nil
}

// throttleSubject is what failed CONNECTs are counted against, beside the
// address: a user name shaped like a key id, from that address. Counted per
// key alone, guesses from anywhere would lock the key's own device out, and
// a key id is no secret; its password (256 bits) cannot be guessed anyway.
// Counted per key and address, a device that keeps trying a stale password
// is refused unchecked after a few tries, which then no longer count against
// an address it may share with other devices behind a NAT. Any other name is
// counted only against the address, so that junk names cannot fill the table.
func throttleSubject(user, addr string) string {
	if len(user) == 25 && user[0] == 'K' && strings.Trim(user[1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == "" {
		return user + " " + throttle.AddrKey(addr)
	}
	return ""
}

// key authenticates a key id and key password.
func (a *Authn) key(user, pass string) (*Grant, *refusal) {
	if user == "" || pass == "" {
		return nil, refuseCredentials
	}
	key, owner, err := a.creds.AuthenticateKey(user, pass)
	if err != nil {
		if !errors.Is(err, storage.ErrBadCredentials) {
			a.log.Error("authenticate key", "key", user, "error", err)
		}
		return nil, refuseCredentials
	}
	return &Grant{
		User: key.Owner, Admin: owner.Admin, Kind: ByKey, ID: key.ID,
		Read: true, Write: key.Permissions == storage.ReadWrite,
		creds: []string{keyCredential(key.ID)},
	}, nil
}

// token authenticates an OAuth2 access token; the user name, when given, must
// be the client id of the application the token was issued to.
func (a *Authn) token(user, pass string) (*Grant, *refusal) {
	at, err := a.creds.AuthenticateToken(pass)
	switch {
	case errors.Is(err, storage.ErrTokenExpired):
		return nil, refuseExpired
	case errors.Is(err, storage.ErrBadCredentials):
		return nil, refuseToken
	case err != nil:
		a.log.Error("authenticate token", "error", err)
		return nil, refuseCredentials
	case user != "" && user != at.ClientID:
		return nil, refuseCredentials
	}
	return &Grant{
		User: at.User, Kind: ByToken, ID: at.ID, ClientID: at.ClientID, Expires: at.Expires,
		Read: at.Scope.Has(storage.ScopeRead), Write: at.Scope.Has(storage.ScopeWrite),
		creds: []string{tokenCredential(at.ID), grantCredential(at.User, at.ClientID), appCredential(at.ClientID)},
	}, nil
}

// OnConnectAuthenticate admits only clients that OnConnect admitted and that
// have not been revoked since.
func (a *Authn) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	g := a.sessions.grant(cl)
	return g != nil && !g.Revoked()
}

// endingSessionWait bounds how long a CONNECT waits for the end of a session
// of the same client id (see OnSessionEstablish).
const endingSessionWait = 2 * time.Second

// OnSessionEstablish lets a session of the same client id that ends with its
// connection end first, then forgets the session this client takes over, if
// any.
//
// mochi v2.7.9 ends such a session after its connection has gone by client
// id, not by client: it removes the subscriptions filed under the id, then
// the id's entry in its client table. A new connection with the id (a device
// reconnecting at once) whose session was established in between lost its
// subscriptions or its table entry, and with them every message, without a
// word. mochi looks for the old session right after this hook, and the new
// client subscribes only after its CONNACK, so the new session waits here
// until the old one has gone (a live one is disconnected first, as mochi's
// takeover would). A session that does not end with its connection is
// inherited as before: mochi's end of it removes nothing.
func (a *Authn) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	server := a.sessions.server
	deadline := time.Now().Add(endingSessionWait)
	for {
		old, ok := server.Clients.Get(cl.ID)
		if !ok || old == cl {
			return
		}
		if !cleanSession(old) || !time.Now().Before(deadline) {
			a.sessions.forget(old)
			return
		}
		Disconnect(server, old, packets.ErrSessionTakenOver, disconnectWriteTimeout)
		time.Sleep(time.Millisecond)
	}
}

// OnSessionEstablished counts the live connection.
func (a *Authn) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if g := a.sessions.grant(cl); g != nil {
		a.sessions.countLive(g)
	}
}

// OnDisconnect holds the session's expiry to the server's maximum, uncounts
// the connection (unless a takeover or a revocation, which forget it, did
// already) and forgets a session that ends with it. An MQTT 5 DISCONNECT may
// set a new session expiry, and mochi takes it as sent: the maximum that
// CONNACK announced would not hold a session kept for 136 years.
func (a *Authn) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if max := a.sessions.server.Options.Capabilities.MaximumSessionExpiryInterval; cl.Properties.Props.SessionExpiryInterval > max {
		cl.Properties.Props.SessionExpiryInterval = max
	}
	if g := a.sessions.grant(cl); g != nil {
		a.sessions.uncount(g)
	}
	if expire {
		a.sessions.forget(cl)
	}
}

// OnClientExpired forgets a persistent session that expired.
func (a *Authn) OnClientExpired(cl *mqtt.Client) { a.sessions.forget(cl) }

// loggable returns a user name fit for a log line: bounded, and never a token
// (tokens carry a secret prefix and are cut to it).
func loggable(b []byte) string {
	s := string(b)
	if strings.HasPrefix(s, "wk") && strings.Contains(s, "_") {
		return s[:strings.IndexByte(s, '_')+1] + "…"
	}
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
