package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// PubSubConfig describes a publish run: for each user, Publishers clients
// publish to USER/sensorN/data and Subscribers clients subscribe to
// USER/+/data. Only messages that reach a subscriber count.
//
// Flow control keeps the load from outrunning the broker into its drop
// policy: a publisher writes a message only while it is fewer than Window
// messages ahead of the slowest subscriber of its user (and, at QoS 1, fewer
// than Inflight PUBLISHes are unacknowledged). With Rate set, publishers are
// paced to that many messages per second in all and each message is
// timestamped for latency.
type PubSubConfig struct {
	Addr        string
	Users       []Cred
	Publishers  int // per user
	Subscribers int // per user
	QoS         byte
	PayloadSize int // bytes (at least 16: timestamp, publisher, run tag)
	Window      int // default 256
	Inflight    int // QoS 1; default 500
	Rate        float64

	Warmup   time.Duration // before the measured window
	Duration time.Duration // the measured window; 0: run until Messages
	Messages int           // per publisher; 0: until Warmup+Duration ends
	Drain    time.Duration // how long to wait for messages still in flight; default 2s

	IDPrefix string // client ids are IDPrefix-p-N and IDPrefix-s-N
	Tag      uint32 // written into every payload; messages with another tag are foreign

	// Mark, when set, is called as the measured window starts (false) and ends (true).
	Mark func(end bool)
}

// PubSubResult counts what a publish run sent and what arrived.
type PubSubResult struct {
	Sent     int64 // PUBLISH packets written
	Acked    int64 // PUBACKs received (QoS 1)
	Expected int64 // Sent × subscribers per user
	Received int64 // messages from this run that subscribers received
	Foreign  int64 // messages a subscriber received that its user's publishers did not send in this run
	Lost     int64 // Expected − Received once drained

	Measured int64         // Received within the measured window
	Elapsed  time.Duration // length of the measured window
	Rate     float64       // Measured per second

	Latencies []time.Duration // with Rate: one per message sent in the measured window, sorted
}

// Percentile returns the q-th quantile (0..1) of the sorted latencies, or 0.
func (r PubSubResult) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(r.Latencies)-1))
	return r.Latencies[i]
}

const (
	defaultWindow   = 256
	defaultInflight = 500
	defaultDrain    = 2 * time.Second
	maxPubSubRun    = 2 * time.Minute // bounds a run that has Messages but no Duration
	payloadHeader   = 16
	pubWriteBuffer  = 16 << 10
	subReadBuffer   = 64 << 10
	pollInterval    = 20 * time.Millisecond
	drainPoll       = 200 * time.Microsecond
)

// publisher is one publishing client and its counters.
type publisher struct {
	idx     int
	topic   string
	conn    *mqttConn
	subs    []*subscriber // the subscribers of its user
	sent    atomic.Int64
	acked   atomic.Int64
	waiting atomic.Bool
	wake    chan struct{}
}

// subscriber is one subscribing client: received[i] counts messages from publisher i.
type subscriber struct {
	conn     *mqttConn
	first    int // index of the first publisher of its user
	received []atomic.Int64
	samples  []sample
}

// sample is one latency observation: when it was sent and how long it took, since base.
type sample struct{ sent, took int64 }

// signal wakes the publisher if it waits.
func (p *publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// mayPublish reports whether the publisher is fewer than window messages
// ahead of each of its subscribers and, at QoS 1, has fewer than inflight
// PUBLISHes unacknowledged.
func (p *publisher) mayPublish(window, inflight int64, qos byte) bool {
	sent := p.sent.Load()
	if qos > 0 && sent-p.acked.Load() >= inflight {
		return false
	}
	for _, s := range p.subs {
		if sent-s.received[p.idx].Load() >= window {
			return false
		}
	}
	return true
}

// RunPubSub runs one publish scenario and counts what arrives.
func RunPubSub(ctx context.Context, cfg PubSubConfig) (PubSubResult, error) {
	if err := cfg.defaults(); err != nil {
		return PubSubResult{}, err
	}
	limit := cfg.Warmup + cfg.Duration + cfg.Drain + 30*time.Second
	if cfg.Duration <= 0 {
		limit = maxPubSubRun
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	// A read error (a broker closing a connection) ends the run at once.
	ctx, abort := context.WithCancel(ctx)
	defer abort()
	run := &pubSubRun{cfg: cfg, base: time.Now(), abort: abort}
	defer func() {
		run.closeAll()
		run.readers.Wait()
	}()
	if err := run.connect(ctx); err != nil {
		return PubSubResult{}, err
	}
	return run.execute(ctx)
}

// defaults fills zero fields and checks the rest.
func (cfg *PubSubConfig) defaults() error {
	if len(cfg.Users) == 0 || cfg.Publishers <= 0 || cfg.Subscribers <= 0 {
		return errors.New("pubsub: need users, publishers and subscribers")
	}
	if cfg.Duration <= 0 && cfg.Messages <= 0 {
		return errors.New("pubsub: need a duration or a message count")
	}
	if cfg.QoS > 1 {
		return errors.New("pubsub: QoS 0 or 1")
	}
	cfg.PayloadSize = max(cfg.PayloadSize, payloadHeader)
	if cfg.Window <= 0 {
		cfg.Window = defaultWindow
	}
	if cfg.Inflight <= 0 {
		cfg.Inflight = defaultInflight
	}
	if cfg.Drain <= 0 {
		cfg.Drain = defaultDrain
	}
	if cfg.IDPrefix == "" {
		cfg.IDPrefix = "bench"
	}
	return nil
}

// mark calls Mark, if set.
func (cfg *PubSubConfig) mark(end bool) {
	if cfg.Mark != nil {
		cfg.Mark(end)
	}
}

// pubSubRun is the state of one RunPubSub.
type pubSubRun struct {
	cfg      PubSubConfig
	base     time.Time // timestamps in payloads are nanoseconds since base
	pubs     []*publisher
	subs     []*subscriber
	received atomic.Int64
	foreign  atomic.Int64
	stopping atomic.Bool
	readers  sync.WaitGroup
	// publishers run while the run publishes; with a gate (RunTurns), only
	// while it is open.
	publishers sync.WaitGroup
	gate       *gate
	readErr    error
	errMu      sync.Mutex
	abort      context.CancelFunc
}

// connect opens every subscriber (subscribed) and then every publisher.
func (r *pubSubRun) connect(ctx context.Context) error {
	cfg := r.cfg
	nPubs := len(cfg.Users) * cfg.Publishers
	for u, c := range cfg.Users {
		group := make([]*subscriber, 0, cfg.Subscribers)
		for range cfg.Subscribers {
			id := cfg.IDPrefix + "-s-" + strconv.Itoa(len(r.subs))
			mc, err := dialMQTT(ctx, cfg.Addr, id, c, 60, subReadBuffer, 4096)
			if err != nil {
				return fmt.Errorf("subscriber %s: %w", id, err)
			}
			s := &subscriber{conn: mc, first: u * cfg.Publishers, received: make([]atomic.Int64, nPubs)}
			r.subs = append(r.subs, s)
			if err := mc.subscribe(c.Root+"/+/data", cfg.QoS, func(pk packet) error { return r.handle(s, pk) }); err != nil {
				return fmt.Errorf("subscriber %s: %w", id, err)
			}
			group = append(group, s)
		}
		for range cfg.Publishers {
			idx := len(r.pubs)
			id := cfg.IDPrefix + "-p-" + strconv.Itoa(idx)
			mc, err := dialMQTT(ctx, cfg.Addr, id, c, 60, 4096, pubWriteBuffer)
			if err != nil {
				return fmt.Errorf("publisher %s: %w", id, err)
			}
			r.pubs = append(r.pubs, &publisher{
				idx: idx, topic: c.Root + "/sensor" + strconv.Itoa(idx) + "/data",
				conn: mc, subs: group, wake: make(chan struct{}, 1),
			})
		}
	}
	if cfg.Rate > 0 {
		perSub := int(cfg.Rate*(cfg.Warmup+cfg.Duration).Seconds()/float64(len(cfg.Users))) + 1024
		for _, s := range r.subs {
			s.samples = make([]sample, 0, perSub)
		}
	}
	return nil
}

// execute starts the readers and publishers, measures, stops and drains.
func (r *pubSubRun) execute(ctx context.Context) (PubSubResult, error) {
	cfg := r.cfg
	stop := r.start(ctx)
	defer stop()

	var res PubSubResult
	var from, to time.Duration
	if cfg.Duration > 0 {
		if !sleepCtx(ctx, cfg.Warmup) {
			return res, r.errOr(fmt.Errorf("pubsub warmup: %w", ctx.Err()))
		}
		cfg.mark(false)
		r0, t0 := r.received.Load(), time.Now()
		from = t0.Sub(r.base)
		if !sleepCtx(ctx, cfg.Duration) {
			return res, r.errOr(fmt.Errorf("pubsub: %w", ctx.Err()))
		}
		res.Measured, res.Elapsed = r.received.Load()-r0, time.Since(t0)
		to = time.Since(r.base)
		cfg.mark(true)
	} else {
		t0 := time.Now()
		r.publishers.Wait()
		to = time.Since(r.base)
		res.Elapsed = time.Since(t0)
	}
	if err := stop(); err != nil {
		return res, r.errOr(err)
	}
	if err := r.finish(ctx, &res); err != nil {
		return res, err
	}
	if cfg.Rate > 0 {
		res.Latencies = r.latencies(from, to)
	}
	return res, nil
}

// start starts the readers and the publishers. The returned function stops
// the publishers (once; later calls only repeat the result) and returns the
// first error one of them met.
func (r *pubSubRun) start(ctx context.Context) (stop func() error) {
	for _, s := range r.subs {
		r.readers.Go(func() { r.readSubscriber(s) })
	}
	if r.cfg.QoS > 0 {
		for _, p := range r.pubs {
			r.readers.Go(func() { r.readAcks(p) })
		}
	}
	pubCtx, stopPubs := context.WithCancel(ctx)
	var (
		pubErr  error
		pubErrs sync.Once
	)
	for _, p := range r.pubs {
		r.publishers.Go(func() {
			if err := r.publish(pubCtx, p); err != nil {
				pubErrs.Do(func() { pubErr = err })
			}
		})
	}
	return sync.OnceValue(func() error {
		stopPubs()
		// A publisher blocked in a write to a stuck broker sees ctx only after it.
		for _, p := range r.pubs {
			_ = p.conn.nc.SetWriteDeadline(time.Now().Add(r.cfg.Drain))
		}
		r.publishers.Wait()
		return pubErr
	})
}

// finish waits for what is still in flight once the publishers stopped,
// closes every connection, and fills in res's counts and rate. A run without
// a Duration measures everything that arrived.
func (r *pubSubRun) finish(ctx context.Context, res *PubSubResult) error {
	r.drain(ctx, r.caughtUp)
	if r.cfg.Duration <= 0 {
		res.Measured = r.received.Load()
	}
	r.closeAll()
	r.readers.Wait()
	res.Sent, res.Acked = r.counts()
	res.Expected = res.Sent * int64(r.cfg.Subscribers)
	res.Received = r.received.Load()
	res.Foreign = r.foreign.Load()
	res.Lost = res.Expected - res.Received
	res.Rate = float64(res.Measured) / res.Elapsed.Seconds()
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.readErr
}

// publish sends messages until ctx ends or Messages are sent.
func (r *pubSubRun) publish(ctx context.Context, p *publisher) error {
	cfg := r.cfg
	window, inflight := int64(cfg.Window), int64(cfg.Inflight)
	payload := make([]byte, cfg.PayloadSize)
	binary.BigEndian.PutUint32(payload[8:], uint32(p.idx))
	binary.BigEndian.PutUint32(payload[12:], cfg.Tag)
	poll := time.NewTimer(pollInterval)
	defer poll.Stop()
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(len(r.pubs)) / cfg.Rate)
	}
	next := time.Now()
	var id uint16
	w := p.conn.w
	for n := 0; cfg.Messages == 0 || n < cfg.Messages; n++ {
		if interval > 0 {
			if wait := time.Until(next); wait > 0 {
				if err := w.Flush(); err != nil {
					return fmt.Errorf("publisher %d: %w", p.idx, err)
				}
				poll.Reset(wait)
				select {
				case <-ctx.Done():
					return nil
				case <-poll.C:
				}
			}
			next = next.Add(interval)
		}
		if !p.mayPublish(window, inflight, cfg.QoS) {
			// Blocked: flush, then wait until half the window (and half the
			// in-flight limit) is free again, so that the publisher resumes
			// with a batch rather than one message per wake-up.
			if err := w.Flush(); err != nil {
				return fmt.Errorf("publisher %d: %w", p.idx, err)
			}
			for !p.mayPublish(window/2+1, inflight/2+1, cfg.QoS) {
				p.waiting.Store(true)
				if !p.mayPublish(window/2+1, inflight/2+1, cfg.QoS) {
					poll.Reset(pollInterval)
					select {
					case <-ctx.Done():
						p.waiting.Store(false)
						return w.Flush()
					case <-p.wake:
					case <-poll.C:
					}
				}
				p.waiting.Store(false)
			}
		}
		if r.gate != nil {
			open, err := r.gate.enter(ctx, w)
			if err != nil {
				return fmt.Errorf("publisher %d: %w", p.idx, err)
			}
			if !open {
				break
			}
		}
		if ctx.Err() != nil {
			if r.gate != nil {
				r.gate.leave()
			}
			break
		}
		if interval > 0 {
			binary.BigEndian.PutUint64(payload, uint64(time.Since(r.base)))
		}
		if cfg.QoS > 0 {
			id++
			if id == 0 {
				id = 1
			}
		}
		p.conn.buf = appendPublish(p.conn.buf[:0], p.topic, cfg.QoS, id, payload)
		_, err := w.Write(p.conn.buf)
		if err == nil {
			p.sent.Add(1) // before leaving the gate: a turn waits for what was sent
		}
		if r.gate != nil {
			r.gate.leave()
		}
		if err != nil {
			return fmt.Errorf("publisher %d: %w", p.idx, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("publisher %d: %w", p.idx, err)
	}
	return nil
}

// readSubscriber counts the messages that reach s and acknowledges QoS 1 ones.
func (r *pubSubRun) readSubscriber(s *subscriber) {
	mc := s.conn
	for {
		pk, err := readPacket(mc.r, &mc.in)
		if err != nil {
			r.fail(fmt.Errorf("subscriber read: %w", err))
			return
		}
		if err := r.handle(s, pk); err != nil {
			r.fail(err)
			return
		}
		if mc.r.Buffered() == 0 && mc.w.Buffered() > 0 {
			if err := mc.w.Flush(); err != nil {
				r.fail(fmt.Errorf("subscriber puback: %w", err))
				return
			}
		}
	}
}

// handle counts one packet a subscriber received: a message of its user's
// publishers in this run, or a foreign one. It queues the PUBACK of a QoS 1
// message on the subscriber's writer.
func (r *pubSubRun) handle(s *subscriber, pk packet) error {
	if pk.kind() != typePublish {
		return nil
	}
	pub, err := decodePublish(pk)
	if err != nil {
		return err
	}
	idx := -1
	if len(pub.payload) >= payloadHeader && binary.BigEndian.Uint32(pub.payload[12:]) == r.cfg.Tag {
		idx = int(binary.BigEndian.Uint32(pub.payload[8:]))
	}
	if idx < s.first || idx >= s.first+r.cfg.Publishers || idx >= len(r.pubs) {
		r.foreign.Add(1)
	} else {
		n := s.received[idx].Add(1)
		r.received.Add(1)
		if p := r.pubs[idx]; p.waiting.Load() && p.sent.Load()-n <= int64(r.cfg.Window/2) {
			p.signal()
		}
		if r.cfg.Rate > 0 {
			sent := int64(binary.BigEndian.Uint64(pub.payload))
			s.samples = append(s.samples, sample{sent: sent, took: int64(time.Since(r.base)) - sent})
		}
	}
	if pub.qos > 0 {
		s.conn.buf = appendPuback(s.conn.buf[:0], pub.id)
		if _, err := s.conn.w.Write(s.conn.buf); err != nil {
			return fmt.Errorf("subscriber puback: %w", err)
		}
	}
	return nil
}

// readAcks counts the PUBACKs a QoS 1 publisher receives.
func (r *pubSubRun) readAcks(p *publisher) {
	mc := p.conn
	for {
		pk, err := readPacket(mc.r, &mc.in)
		if err != nil {
			r.fail(fmt.Errorf("publisher read: %w", err))
			return
		}
		if pk.kind() == typePuback {
			n := p.acked.Add(1)
			if p.waiting.Load() && p.sent.Load()-n <= int64(r.cfg.Inflight/2) {
				p.signal()
			}
		}
	}
}

// fail records the first read error that happens before the run stops.
func (r *pubSubRun) fail(err error) {
	if r.stopping.Load() {
		return
	}
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.readErr == nil {
		r.readErr = err
		r.abort()
	}
}

// errOr returns the first read error, or err when there was none.
func (r *pubSubRun) errOr(err error) error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.readErr != nil {
		return r.readErr
	}
	return err
}

// drain waits until done reports true (it returns true), or until Drain
// passed or ctx ended (false).
func (r *pubSubRun) drain(ctx context.Context, done func() bool) bool {
	for deadline := time.Now().Add(r.cfg.Drain); !done(); time.Sleep(drainPoll) {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// counts returns the messages the publishers sent and had acknowledged so far.
func (r *pubSubRun) counts() (sent, acked int64) {
	for _, p := range r.pubs {
		sent += p.sent.Load()
		acked += p.acked.Load()
	}
	return sent, acked
}

// caughtUp reports whether every message sent so far reached every
// subscriber of its user and, at QoS 1, was acknowledged.
func (r *pubSubRun) caughtUp() bool {
	sent, acked := r.counts()
	return r.received.Load() >= sent*int64(r.cfg.Subscribers) && (r.cfg.QoS == 0 || acked >= sent)
}

// latencies returns the sorted latencies of messages sent within [from, to).
func (r *pubSubRun) latencies(from, to time.Duration) []time.Duration {
	var out []time.Duration
	for _, s := range r.subs {
		for _, x := range s.samples {
			if x.sent >= int64(from) && x.sent < int64(to) {
				out = append(out, time.Duration(x.took))
			}
		}
	}
	slices.Sort(out)
	return out
}

// closeAll closes every connection (idempotent).
func (r *pubSubRun) closeAll() {
	r.stopping.Store(true)
	for _, p := range r.pubs {
		p.conn.close()
	}
	for _, s := range r.subs {
		s.conn.close()
	}
}

// sleepCtx sleeps for d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
