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
	g := p.acl.sessions.grant(cl)
	if pk.Properties.TopicAliasFlag {
		if err := p.acl.allowPublish(g, pk); err != nil {
			return err
		}
	}
	if err := p.limiter.checkRate(cl, g); err != nil {
		return err
	}
	return p.recorder.record(cl, pk)
}
