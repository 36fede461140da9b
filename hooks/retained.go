package hooks

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Retained remembers which credential set each retained message, so that a
// revocation removes them with the credential's sessions: a retained message
// waits for every later subscriber, and a stolen key's retained command on a
// device's message topic would reach the device at each of its subscriptions
// long after the key was deleted. It takes its lock when a message is
// retained and when a credential is revoked, never in the ACL.
type Retained struct {
	sessions *Sessions

	mu     sync.Mutex
	by     map[string]retainedBy          // topic -> who set its retained message
	topics map[string]map[string]struct{} // credential name -> topics whose retained message it set
}

// retainedBy is who set a retained message: the credential names of its
// session's grant (which revoke it) and its client id (mochi's Origin).
type retainedBy struct {
	creds  []string
	origin string
}

// NewRetained returns the record of retained messages' credentials.
func NewRetained(sessions *Sessions) *Retained {
	return &Retained{sessions: sessions, by: map[string]retainedBy{}, topics: map[string]map[string]struct{}{}}
}

// Provides tells which of mochi's events it handles.
func (r *Retained) Provides(b byte) bool {
	return b == mqtt.OnRetainMessage || b == mqtt.OnRetainedExpired
}

// OnRetainMessage records who set a topic's retained message; a message
// cleared, or set by the server, belongs to no credential. A session revoked
// since its publish passed the ACL sees its message removed at once: the
// revocation marks the grant revoked before it takes this lock to remove
// the credential's messages, so one of the two finds the message.
func (r *Retained) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, _ int64) {
	g := r.sessions.grant(cl)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(pk.TopicName)
	switch {
	case g == nil || len(pk.Payload) == 0:
	case g.Revoked():
		r.clear(pk.TopicName, cl.ID)
	default:
		creds := owners(g)
		r.by[pk.TopicName] = retainedBy{creds: creds, origin: cl.ID}
		for _, cred := range creds {
			set := r.topics[cred]
			if set == nil {
				set = map[string]struct{}{}
				r.topics[cred] = set
			}
			set[pk.TopicName] = struct{}{}
		}
	}
}

// owners returns the credential names whose revocation removes a retained
// message that g's session set: its key, or its token's grant and
// application. Not the token itself: a token expires, and a refresh replaces
// it, every few hours as a matter of course, and what the application
// retained for the user stays while the user's grant does.
func owners(g *Grant) []string {
	return slices.DeleteFunc(slices.Clone(g.creds), func(c string) bool { return strings.HasPrefix(c, tokenCredential("")) })
}

// OnRetainedExpired forgets a retained message that expired.
func (r *Retained) OnRetainedExpired(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(topic)
}

// revoke removes every retained message that a credential name set.
func (r *Retained) revoke(credential string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic := range r.topics[credential] {
		origin := r.by[topic].origin
		r.forgetLocked(topic)
		r.clear(topic, origin)
	}
}

// forgetLocked drops the record of topic's retained message. r.mu is held.
func (r *Retained) forgetLocked(topic string) {
	by, ok := r.by[topic]
	if !ok {
		return
	}
	delete(r.by, topic)
	for _, cred := range by.creds {
		delete(r.topics[cred], topic)
		if len(r.topics[cred]) == 0 {
			delete(r.topics, cred)
		}
	}
}

// clear removes topic's retained message if the client id origin set it: a
// message that replaced it an instant ago, whose record waits for r.mu, stays.
func (r *Retained) clear(topic, origin string) {
	server := r.sessions.server
	if pk, ok := server.Topics.Retained.Get(topic); !ok || pk.Origin != origin {
		return
	}
	server.Topics.RetainMessage(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: topic})
	atomic.StoreInt64(&server.Info.Retained, int64(server.Topics.Retained.Len()))
}
