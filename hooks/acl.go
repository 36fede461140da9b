package hooks

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ACL confines every client to its grant: mochi asks it on every publish
// (write), every subscription filter and every delivery to a subscriber
// (read). No grant, no access. Beyond the user's own topics, the data topic
// of a PUBLIC sensor is open to read and its message topic to write. A
// PUBLISH by topic alias reaches mochi's check with no topic (mochi resolves
// aliases after it): the publish hook judges it once resolved (allowPublish).
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
	return b == mqtt.OnACLCheck || b == mqtt.OnSubscribed
}

// OnACLCheck decides one publish, subscription or delivery from the grant
// made at CONNECT: no lock, no allocation, no database read.
func (a *ACL) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	g := a.sessions.grant(cl)
	if g == nil {
		return false
	}
	if write {
		return topic == "" || a.canPublish(g, topic)
	}
	if g.CanRead(topic) || (g.Read && !g.Revoked() && a.sensors.public(stripShare(topic), "data")) {
		return true
	}
	a.sessions.metrics.ReadDenied()
	return false
}

// OnSubscribed counts the filters the ACL refused, so that deliveries
// refused can be told from subscriptions refused.
func (a *ACL) OnSubscribed(_ *mqtt.Client, _ packets.Packet, reasonCodes []byte) {
	n := 0
	for _, c := range reasonCodes {
		if c == packets.ErrNotAuthorized.Code {
			n++
		}
	}
	if n > 0 {
		a.sessions.metrics.SubscribeDenied(n)
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
