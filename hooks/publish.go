package hooks

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Publish is the one OnPublish hook: the publish rate of the client's
// credential, then the recording of sensor readings. One hook, because mochi
// copies the whole packet into and out of every hook that provides OnPublish.
// Messages the server publishes itself pass untouched.
type Publish struct {
	mqtt.HookBase
	limiter  *Limiter
	recorder *Recorder
}

var _ mqtt.Hook = (*Publish)(nil)

// NewPublish returns the publish hook.
func NewPublish(limiter *Limiter, recorder *Recorder) *Publish {
	return &Publish{limiter: limiter, recorder: recorder}
}

// ID identifies the hook to mochi.
func (p *Publish) ID() string { return "wotkit-publish" }

// Provides tells mochi which events the hook handles.
func (p *Publish) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish checks the rate, then records a sensor reading.
func (p *Publish) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if p.limiter.limits.PublishRate > 0 {
		if err := p.limiter.checkRate(cl); err != nil {
			return pk, err
		}
	}
	return pk, p.recorder.record(cl, &pk)
}
