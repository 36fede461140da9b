package hooks

import (
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ACL confines every client to its grant: mochi asks it on every publish
// (write), every subscription filter and every delivery to a subscriber
// (read). No grant, no access. Beyond the user's own topics, the data topic
// of a PUBLIC sensor is open to read by a plain subscription and its message
// topic to write. A PUBLISH by topic alias reaches mochi's check with no
// topic (mochi resolves aliases after it): the publish hook judges it once
// resolved (allowPublish). The messages a session inherits from the one it
// takes over are judged too (OnSessionEstablish), as mochi does not.
type ACL struct {
	sessions *Sessions
	sensors  *Sensors
}

// NewACL returns the ACL; sensors opens the topics of PUBLIC sensors.
func NewACL(sessions *Sessions, sensors *Sensors) *ACL {
	return &ACL{sessions: sessions, sensors: sensors}
}

// Provides tells which of mochi's events it handles.
func (a *ACL) Provides(b byte) bool {
	return b == mqtt.OnACLCheck || b == mqtt.OnSubscribed || b == mqtt.OnSessionEstablish
}

// OnACLCheck decides one publish, subscription or delivery from the grant
// made at CONNECT: no lock, no allocation, no database read. A PUBLIC
// sensor's data topic is open to other users' plain subscriptions only: a
// shared one ($share/GROUP/owner/name/data, which Sensors.public never
// matches) would join the owner's group and take a share of the owner's own
// traffic.
func (a *ACL) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	g := a.sessions.grant(cl)
	if g == nil {
		return false
	}
	if write {
		return topic == "" || a.canPublish(g, topic)
	}
	if g.CanRead(topic) || (g.Read && !g.Revoked() && a.sensors.public(topic, "data")) {
		return true
	}
	a.sessions.metrics.ReadDenied()
	return false
}

// OnSubscribed counts the filters the ACL refused, so that deliveries
// refused can be told from subscriptions refused. MQTT 5 has a code of its
// own for them (0x87); 3.1.1 has one failure code (0x80) [MQTT-3.9.3-2],
// which mochi answers for every refusal, so there a 0x80 is the ACL's only
// for a filter that reached the ACL: a valid one (the limiter empties those
// it refuses) in a SUBSCRIBE whose packet id is not in use.
func (a *ACL) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	refused := packets.ErrNotAuthorized.Code
	if cl.Properties.ProtocolVersion < 5 {
		if _, inUse := cl.State.Inflight.Get(pk.PacketID); inUse {
			return
		}
		refused = packets.ErrUnspecifiedError.Code
	}
	n := 0
	for i, c := range reasonCodes {
		if c == refused && i < len(pk.Filters) && mqtt.IsValidFilter(pk.Filters[i].Filter, false) {
			n++
		}
	}
	if n > 0 {
		a.sessions.metrics.SubscribeDenied(n)
	}
}

// OnSessionEstablish drops, from the session that cl resumes, every queued
// message that the ACL would not deliver to cl. mochi hands a resumed
// session's inflight messages to the new client and resends them with no
// ACL check [MQTT-3.1.2-5], and another credential of the same user may
// resume it: a write-only token, or a user's token taking over the session
// of the same user's admin key. (Every queued message has its topic name: a
// session that may outlive its connection is sent no topic aliases, Authn.)
// Each message dropped counts as a delivery denial. Authn has forgotten the old
// session just before, so the ACL passes nothing more to it (but a delivery
// whose check passed an instant before may still land: the window of one
// check). The inherited subscriptions need nothing: every delivery is judged
// by the new grant.
func (a *ACL) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	old, ok := a.sessions.server.Clients.Get(cl.ID)
	if !ok || old == cl || pk.Connect.Clean { // a clean start inherits nothing [MQTT-3.1.2-4]
		return
	}
	for _, m := range old.State.Inflight.GetAll(false) {
		if m.FixedHeader.Type == packets.Publish && !a.OnACLCheck(cl, m.TopicName, false) && old.State.Inflight.Delete(m.PacketID) {
			atomic.AddInt64(&a.sessions.server.Info.Inflight, -1)
		}
	}
}

// canPublish reports whether g may publish to topic, and counts a refusal.
func (a *ACL) canPublish(g *Grant, topic string) bool {
	if g.CanPublish(topic) || (g.Write && !g.Revoked() && a.sensors.public(topic, "message")) {
		return true
	}
	a.sessions.metrics.PublishDenied()
	return false
}

// allowPublish judges, from the publish hook, a PUBLISH sent by topic alias
// (MQTT 5), whose topic mochi's check saw empty, once mochi has resolved it:
// an alias never set resolves to no topic, which no grant allows. It refuses
// as mochi's check does: a QoS 0 message is dropped, QoS 1 gets PUBACK 0x87
// and QoS 2 PUBREC 0x87. (mochi refuses a PUBLISH with neither topic nor
// alias as it decodes it.) [MQTT-3.3.2-12]
func (a *ACL) allowPublish(cl *mqtt.Client, g *Grant, pk *packets.Packet) error {
	if g != nil && a.canPublish(g, pk.TopicName) {
		return nil
	}
	if pk.FixedHeader.Qos == 0 {
		return packets.ErrRejectPacket
	}
	return refuse(cl, pk, packets.ErrNotAuthorized)
}
