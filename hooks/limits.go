package hooks

import (
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/throttle"
)

// Limits bounds what one credential or client may take. Zero values mean no limit.
type Limits struct {
	// SessionsPerCredential bounds the sessions of one key or token: live
	// ones, and persistent ones whose client has gone.
	SessionsPerCredential int
	// Subscriptions bounds the subscriptions of one client.
	Subscriptions int
	// PublishRate bounds the messages per second one key or token may
	// publish, over all its sessions, with PublishBurst allowed at once.
	PublishRate  float64
	PublishBurst int
	// Throttle slows down failed CONNECTs per key id and per address.
	Throttle throttle.Config
}

// DefaultLimits are generous for devices and scripts and stop a runaway one.
// Failed CONNECTs: 5 per key id and address, then 1 s, 2 s, 4 s … up to 15
// minutes; an address gets 100 (devices behind one NAT share it) before the
// same.
var DefaultLimits = Limits{
	SessionsPerCredential: 1000,
	Subscriptions:         1000,
	PublishRate:           1000,
	PublishBurst:          1000,
	Throttle:              mqttThrottle,
}

var mqttThrottle = func() throttle.Config {
	c := throttle.Default
	c.AddrFree = 100
	return c
}()

// rate is a lock-free limiter shared by the sessions of one credential (the
// generic cell rate algorithm: one atomic "theoretical arrival time").
type rate struct {
	interval int64 // nanoseconds between messages at the rate
	slack    int64 // how far ahead of now the arrival time may run: the burst
	tat      atomic.Int64
}

// rateEpoch is the origin of Clock: time.Since reads only the monotonic
// clock (time.Now reads the wall clock too), so a step of the wall clock
// cannot open or close the limit.
var rateEpoch = time.Now()

// Clock reads the monotonic clock the publish-rate limiter judges by, in
// nanoseconds. The broker's connections stamp with it when the bytes of a
// packet arrive (GrantSlot.Arrived).
func Clock() int64 { return int64(time.Since(rateEpoch)) }

func newRate(perSecond float64, burst int) *rate {
	interval := int64(float64(time.Second) / perSecond)
	return &rate{interval: interval, slack: interval * int64(max(burst, 1))}
}

// allow takes one message's worth of the rate, if there is room now. A
// message is first judged by when it arrived (one clock read serves every
// packet of one read from the network): room then means room now, as time
// only adds room. Only when there was none is the clock read, so a message
// is refused only if there is no room at the time it is judged. A message
// charged from its arrival rather than from now lets the credential
// publish at most what arrives while one read's packets are handled (far
// below one message at the default rate) beyond its rate.
func (r *rate) allow(arrived int64) bool {
	now, read := arrived, false
	for {
		old := r.tat.Load()
		tat := max(old, now)
		if tat-now >= r.slack {
			if read {
				return false
			}
			now, read = max(now, Clock()), true
			continue
		}
		if r.tat.CompareAndSwap(old, tat+r.interval) {
			return true
		}
	}
}

// Limiter enforces the per-client limits mochi has no setting for: the
// number of subscriptions (as a hook) and the publish rate (inside the
// Publish hook).
type Limiter struct {
	sessions *Sessions
	limits   Limits
}

// NewLimiter returns the limits.
func NewLimiter(sessions *Sessions, limits Limits) *Limiter {
	return &Limiter{sessions: sessions, limits: limits}
}

// Provides tells which of mochi's events it handles.
func (l *Limiter) Provides(b byte) bool {
	return b == mqtt.OnSubscribe && l.limits.Subscriptions > 0
}

// OnSubscribe refuses the filters of a SUBSCRIBE that would take the client
// past its subscription limit (they are made invalid: SUBACK 0x80 in 3.1.1,
// 0x8F in MQTT 5); replacing an existing subscription is always allowed.
func (l *Limiter) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	have := cl.State.Subscriptions.Len()
	refused := 0
	for i, f := range pk.Filters {
		if _, exists := cl.State.Subscriptions.Get(f.Filter); exists {
			continue
		}
		if have >= l.limits.Subscriptions {
			pk.Filters[i].Filter = ""
			refused++
			continue
		}
		have++
	}
	if refused > 0 {
		cred := ""
		if g := l.sessions.grant(cl); g != nil {
			cred = g.ID
		}
		l.sessions.server.Log.Info("mqtt subscriptions refused", "reason", "subscription limit", "limit", l.limits.Subscriptions,
			"filters", refused, "credential", cred, "client", cl.ID, "remote", cl.Net.Remote)
	}
	return pk
}

// checkRate disconnects a client whose credential (grant g) publishes faster
// than its rate (MQTT 5: DISCONNECT 0x96 "message rate too high") and returns
// the error that drops its message, which arrived at arrived (by Clock); nil
// when it is within its rate or has none.
func (l *Limiter) checkRate(cl *mqtt.Client, g *Grant, arrived int64) error {
	if g == nil || g.rate == nil || g.rate.allow(arrived) {
		return nil
	}
	l.sessions.server.Log.Info("mqtt client disconnected", "reason", "message rate too high", "credential", g.ID,
		"client", cl.ID, "remote", cl.Net.Remote)
	Disconnect(l.sessions.server, cl, packets.ErrMessageRateTooHigh, disconnectWriteTimeout)
	return packets.ErrRejectPacket
}
