package hooks

import (
	"fmt"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/metrics"
	"github.com/wotkit/wotkit/storage"
)

// Store is the part of storage the hooks need.
type Store interface {
	Credentials
	SensorStore
	Watch(fn func(storage.Event)) (cancel func())
}

// Install adds authentication, the ACL, limits, the publish checks and the
// record of retained messages to server, as one mochi hook, and subscribes
// the revoker and the sensor view to store's events; m (which may be nil)
// counts what they see. It returns the session registry (for counts) and a
// function that stops the subscription.
func Install(server *mqtt.Server, store Store, limits Limits, m *metrics.Metrics, log *slog.Logger) (*Sessions, func(), error) {
	sessions := newSessions(server, limits, m)
	retained := NewRetained(sessions)
	revoker := NewRevoker(sessions, retained, log)
	sensors, err := NewSensors(store, sessions)
	if err != nil {
		return nil, nil, err
	}
	acl := NewACL(sessions, sensors)
	limiter := NewLimiter(sessions, limits)
	h := newHook(NewAuthn(store, sessions, revoker, log), acl, limiter, NewPublish(acl, limiter, NewRecorder(sensors)), retained, revoker)
	if err := server.AddHook(h, nil); err != nil {
		return nil, nil, fmt.Errorf("add hook %s: %w", h.ID(), err)
	}
	cancelRevoker := store.Watch(revoker.HandleEvent)
	cancelSensors := store.Watch(sensors.HandleEvent)
	return sessions, func() { cancelRevoker(); cancelSensors() }, nil
}

// hook is the one hook Install adds to mochi. For every event of every packet
// (a dozen a message), mochi asks each of its hooks whether it provides the
// event; one hook that hands each event to the part that handles it answers
// once, from a table.
type hook struct {
	mqtt.HookBase
	authn    *Authn
	acl      *ACL
	limiter  *Limiter
	publish  *Publish
	retained *Retained
	revoker  *Revoker
	provides [256]bool
}

var _ mqtt.Hook = (*hook)(nil)

func newHook(authn *Authn, acl *ACL, limiter *Limiter, publish *Publish, retained *Retained, revoker *Revoker) *hook {
	h := &hook{authn: authn, acl: acl, limiter: limiter, publish: publish, retained: retained, revoker: revoker}
	for i := range h.provides {
		b := byte(i)
		h.provides[i] = authn.Provides(b) || acl.Provides(b) || limiter.Provides(b) || publish.Provides(b) ||
			retained.Provides(b) || revoker.Provides(b)
	}
	return h
}

// ID identifies the hook to mochi.
func (h *hook) ID() string { return "wotkit" }

// Provides tells mochi which events the hook handles.
func (h *hook) Provides(b byte) bool { return h.provides[b] }

// OnConnect authenticates a CONNECT (Authn).
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error { return h.authn.OnConnect(cl, pk) }

// OnConnectAuthenticate admits what OnConnect admitted (Authn).
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return h.authn.OnConnectAuthenticate(cl, pk)
}

// OnSessionEstablish forgets a session taken over (Authn), then drops the
// messages it queued that the new session may not read (ACL): in this order,
// so that the ACL passes nothing more to it while they are judged.
func (h *hook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	h.authn.OnSessionEstablish(cl, pk)
	h.acl.OnSessionEstablish(cl, pk)
}

// OnSessionEstablished counts the connection (Authn).
func (h *hook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	h.authn.OnSessionEstablished(cl, pk)
}

// OnDisconnect uncounts the connection (Authn).
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.authn.OnDisconnect(cl, err, expire)
}

// OnClientExpired forgets an expired session (Authn).
func (h *hook) OnClientExpired(cl *mqtt.Client) { h.authn.OnClientExpired(cl) }

// OnACLCheck decides a publish, subscription or delivery (ACL).
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return h.acl.OnACLCheck(cl, topic, write)
}

// OnSubscribe applies the subscription limit (Limiter).
func (h *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	return h.limiter.OnSubscribe(cl, pk)
}

// OnSubscribed counts refused filters (ACL).
func (h *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	h.acl.OnSubscribed(cl, pk, reasonCodes)
}

// OnPublish judges, limits and records a publish (Publish).
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	err := h.publish.OnPublish(cl, &pk)
	return pk, err
}

// OnRetainMessage records who set a retained message (Retained).
func (h *hook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	h.retained.OnRetainMessage(cl, pk, r)
}

// OnRetainedExpired forgets an expired retained message (Retained).
func (h *hook) OnRetainedExpired(topic string) { h.retained.OnRetainedExpired(topic) }

// OnWill drops the Will of a revoked session (Revoker).
func (h *hook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	return h.revoker.OnWill(cl, will)
}
