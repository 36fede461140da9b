package hooks

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Publish handles mochi's OnPublish event: the ACL for a PUBLISH sent by
// topic alias, the publish rate of the client's credential, then the
// recording of sensor readings. Messages the server publishes itself pass
// untouched.
type Publish struct {
	acl      *ACL
	limiter  *Limiter
	recorder *Recorder
}

// NewPublish returns the publish checks.
func NewPublish(acl *ACL, limiter *Limiter, recorder *Recorder) *Publish {
	return &Publish{acl: acl, limiter: limiter, recorder: recorder}
}

// Provides tells which of mochi's events it handles.
func (p *Publish) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish judges a publish by alias, checks the rate, then records a
// sensor reading. It takes the packet by pointer: mochi already copies it into
// and out of the hook.
func (p *Publish) OnPublish(cl *mqtt.Client, pk *packets.Packet) error {
	if cl.Net.Inline {
		return nil
	}
	sl, ok := cl.Net.Conn.(GrantSlot)
	if !ok {
		return packets.ErrRejectPacket // only guarded connections are admitted
	}
	g := sl.GrantSlot().Load()
	if pk.Properties.TopicAliasFlag {
		if err := p.acl.allowPublish(cl, g, pk); err != nil {
			return err
		}
	}
	if err := p.limiter.checkRate(cl, g, sl.Arrived()); err != nil {
		return err
	}
	return p.recorder.record(cl, pk)
}

// refuse stops a publish from the publish hook. An MQTT 5 client gets why,
// as mochi's own ACL refusal does it: in a PUBACK at QoS 1, in a PUBREC at
// QoS 2, which ends that exchange. (Left to mochi, a hook's code becomes a
// PUBACK whatever the QoS, and an error line in the server's log for each
// refused message.) Any other publish is acknowledged as usual (3.1.1 has no
// negative acknowledgement, and a client left without one would resend the
// same bad reading forever) and dropped.
func refuse(cl *mqtt.Client, pk *packets.Packet, why packets.Code) error {
	if cl.Properties.ProtocolVersion != 5 || pk.FixedHeader.Qos == 0 {
		return packets.CodeSuccessIgnore
	}
	ack := packets.Puback
	if pk.FixedHeader.Qos == 2 {
		ack = packets.Pubrec
	}
	// An error here means the connection is closing: the publish is dropped
	// all the same, and mochi's reader sees the closed connection.
	_ = cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: ack},
		PacketID:    pk.PacketID,
		ReasonCode:  why.Code,
		Properties:  packets.Properties{ReasonString: why.Reason},
	})
	return packets.ErrRejectPacket
}
