package hooks

import (
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/storage"
)

// disconnectWriteTimeout bounds the DISCONNECT written to an MQTT 5 client
// that the server ends (revoked, taken over, over its publish rate) and
// that does not read: the server never waits on a stuck socket.
const disconnectWriteTimeout = 50 * time.Millisecond

// Revoker ends every session of a credential that storage reports revoked:
// it marks their grants revoked (the ACL then refuses all traffic at once)
// and their connections (their Wills are dropped), disconnects them, purges
// their persistent sessions (subscriptions and queued messages), and removes
// the retained messages the credential set.
type Revoker struct {
	sessions *Sessions
	retained *Retained
	log      *slog.Logger
}

// NewRevoker returns a Revoker for sessions and the retained messages they set.
func NewRevoker(sessions *Sessions, retained *Retained, log *slog.Logger) *Revoker {
	return &Revoker{sessions: sessions, retained: retained, log: log}
}

// HandleEvent acts on a storage event; register it with storage.Store.Watch.
func (r *Revoker) HandleEvent(e storage.Event) {
	switch e.Kind {
	case storage.KeyRevoked:
		r.Revoke(keyCredential(e.KeyID))
	case storage.GrantRevoked:
		r.Revoke(grantCredential(e.User, e.ClientID))
	case storage.AppDeleted:
		r.Revoke(appCredential(e.ClientID))
	case storage.TokensRevoked:
		for _, id := range e.TokenIDs {
			r.Revoke(tokenCredential(id))
		}
	}
}

// Provides tells which of mochi's events it handles.
func (r *Revoker) Provides(b byte) bool { return b == mqtt.OnWill }

// OnWill drops the Will of a revoked session. mochi publishes a Will whenever
// a connection fails, and the revoker's own disconnection fails it (as does
// a packet the client sent at that moment, whose answer can no longer be
// written); no hook can stop that publish, so the Will is emptied: mochi
// finds no subscriber for a topic that is empty, and retains nothing. This
// runs in the connection's own goroutine: clearing the Will from the
// revoker's would race with mochi clearing it there.
func (r *Revoker) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if sl, ok := cl.Net.Conn.(GrantSlot); ok && sl.Revoked() {
		return mqtt.Will{}, nil
	}
	return will, nil
}

// Revoke ends every session found under a credential name, removes the
// retained messages it set, and returns how many sessions it ended.
func (r *Revoker) Revoke(credential string) int {
	start := time.Now()
	r.sessions.revocations.Add(1)
	clients := r.sessions.take(credential)
	for _, cl := range clients {
		if sl, ok := cl.Net.Conn.(GrantSlot); ok {
			if g := sl.GrantSlot().Load(); g != nil {
				g.revoked.Store(true)
			}
			sl.Revoke()
		}
	}
	DisconnectAll(r.sessions.server, clients, packets.ErrNotAuthorized, disconnectWriteTimeout)
	for _, cl := range clients {
		r.purge(cl)
	}
	r.retained.revoke(credential)
	r.sessions.metrics.Revoked(len(clients), time.Since(start))
	if len(clients) > 0 {
		r.log.Info("mqtt sessions revoked", "credential", credential, "sessions", len(clients),
			"took", time.Since(start))
	}
	return len(clients)
}

// Disconnect ends a live client's connection. An MQTT 5 client is told why
// first (DISCONNECT with code); the write gives up after within, so a client
// that does not read cannot hold the caller. A 3.1.1 client's connection is
// just closed: in 3.1.1 only a client sends DISCONNECT [MQTT-3.14.0], and
// mochi's DisconnectClient would send one.
func Disconnect(server *mqtt.Server, cl *mqtt.Client, code packets.Code, within time.Duration) {
	if cl.Closed() {
		return
	}
	if !toldWhy(cl) {
		cl.Stop(code)
		return
	}
	if cl.Net.Conn != nil {
		_ = cl.Net.Conn.SetWriteDeadline(time.Now().Add(within))
	}
	// The error is the reason code itself, or a write to a socket that is
	// going away: either way the client is stopped.
	_ = server.DisconnectClient(cl, code)
}

// DisconnectAll ends the connections of clients (Disconnect) at once: the
// 3.1.1 ones in turn, as closing a connection never waits, the MQTT 5 ones
// in parallel, so that a client that does not read holds only its own
// DISCONNECT, for at most within.
func DisconnectAll(server *mqtt.Server, clients []*mqtt.Client, code packets.Code, within time.Duration) {
	var wg sync.WaitGroup
	for _, cl := range clients {
		if toldWhy(cl) {
			wg.Go(func() { Disconnect(server, cl, code, within) })
		} else {
			Disconnect(server, cl, code, within)
		}
	}
	wg.Wait()
}

// toldWhy reports whether Disconnect writes cl a DISCONNECT (MQTT 5) before
// it closes the connection, which may wait for the client to read.
func toldWhy(cl *mqtt.Client) bool { return cl.Properties.ProtocolVersion >= 5 }

// purge forgets the session of a disconnected client: its inflight
// messages, subscriptions and place in the client table.
func (r *Revoker) purge(cl *mqtt.Client) {
	server := r.sessions.server
	cl.ClearInflights()
	server.UnsubscribeClient(cl)
	if got, ok := server.Clients.Get(cl.ID); ok && got == cl {
		server.Clients.Delete(cl.ID)
	}
	r.sessions.forget(cl)
}
