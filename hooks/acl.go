package hooks

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ACL confines every client to its grant: mochi asks it on every publish
// (write), every subscription filter and every delivery to a subscriber
// (read). No grant, no access. Beyond the user's own topics, the data topic
// of a PUBLIC sensor is open to read and its message topic to write. It also resolves inbound topic aliases before
// mochi's ACL check sees the topic.
type ACL struct {
	mqtt.HookBase
	sessions *Sessions
	sensors  *Sensors
}

var _ mqtt.Hook = (*ACL)(nil)

// NewACL returns the ACL hook; sensors opens the topics of PUBLIC sensors.
func NewACL(sessions *Sessions, sensors *Sensors) *ACL {
	return &ACL{sessions: sessions, sensors: sensors}
}

// ID identifies the hook to mochi.
func (a *ACL) ID() string { return "wotkit-acl" }

// Provides tells mochi which events the hook handles.
func (a *ACL) Provides(b byte) bool {
	return b == mqtt.OnACLCheck || b == mqtt.OnPacketRead || b == mqtt.OnSubscribed
}

// OnACLCheck decides one publish, subscription or delivery from the grant
// made at CONNECT: no lock, no allocation, no database read.
func (a *ACL) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	g := a.sessions.grant(cl)
	if g == nil {
		return false
	}
	if write {
		if g.CanPublish(topic) || (g.Write && !g.Revoked() && a.sensors.publicWrite(topic)) {
			return true
		}
		a.sessions.metrics.PublishDenied()
		return false
	}
	if g.CanRead(topic) || (g.Read && !g.Revoked() && a.sensors.publicRead(topic)) {
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

// OnPacketRead resolves an inbound topic alias (a PUBLISH with an empty topic
// and an alias set earlier) to its topic, so that mochi's ACL check judges the
// real topic. An unknown alias leaves the topic empty, which the ACL refuses.
// [MQTT-3.3.2-12]
func (a *ACL) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish && pk.TopicName == "" && pk.Properties.TopicAliasFlag && pk.Properties.TopicAlias > 0 {
		pk.TopicName = cl.State.TopicAliases.Inbound.Set(pk.Properties.TopicAlias, "")
	}
	return pk, nil
}
