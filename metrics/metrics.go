// Package metrics holds wotkit's Prometheus metrics: MQTT connections,
// refusals, ACL denials, messages and bytes, revocations, throttling and
// OAuth2 outcomes. Every method is safe on a nil *Metrics (it does nothing),
// so that parts built without metrics need no special case. The hot paths
// only add to counters resolved in advance: no allocation, no lock.
package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is one registry of wotkit's metrics.
type Metrics struct {
	// Registry holds every metric; serve it with promhttp.HandlerFor.
	Registry *prometheus.Registry

	connections     *prometheus.GaugeVec
	connectRefusals *prometheus.CounterVec
	publishDenied   atomic.Int64
	subscribeDenied atomic.Int64
	readDenied      atomic.Int64 // subscribe filters and deliveries; deliveries = this - subscribe
	deliveryShown   atomic.Int64 // the largest delivery denial count a scrape has read
	revocations     prometheus.Counter
	revocationTime  prometheus.Histogram
	throttled       *prometheus.CounterVec
	consents        *prometheus.CounterVec
	tokenRequests   *prometheus.CounterVec
}

// deliveryDenials returns the deliveries the ACL refused: read denials less
// subscription filters refused. A refused filter is counted as a read denial
// before its SUBACK counts it as a subscription denial, and a scrape between
// the two would see one delivery too many and then one fewer, which
// Prometheus reads as a counter reset: what a scrape reads never goes down.
func (m *Metrics) deliveryDenials() int64 {
	now := max(m.readDenied.Load()-m.subscribeDenied.Load(), 0)
	for {
		shown := m.deliveryShown.Load()
		if now <= shown {
			return shown
		}
		if m.deliveryShown.CompareAndSwap(shown, now) {
			return now
		}
	}
}

// New returns the metrics, registered with a fresh registry that also holds
// the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wotkit_mqtt_connections", Help: "Live MQTT connections by credential kind.",
	}, []string{"credential"})
	m.connectRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wotkit_mqtt_connect_refusals_total", Help: "MQTT CONNECTs refused, by reason.",
	}, []string{"reason"})
	// The hot path only adds to atomics; the registry reads them at scrape time.
	acl := func(kind string, value func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wotkit_mqtt_acl_denials_total", Help: "ACL denials by kind: publish, subscribe (per filter).",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(value()) })
	}
	deliveries := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "wotkit_mqtt_acl_delivery_denials_total", Help: "Deliveries to subscribers the ACL refused (a revoked session, a sensor turned private).",
	}, func() float64 { return float64(m.deliveryDenials()) })
	m.revocations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wotkit_mqtt_revoked_sessions_total", Help: "MQTT sessions ended because their credential was revoked or expired.",
	})
	m.revocationTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "wotkit_mqtt_revocation_seconds", Help: "Time from a revocation to the last of its sessions closed.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, 1},
	})
	m.throttled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wotkit_throttled_attempts_total", Help: "Attempts refused unchecked after repeated failures, by where: mqtt, web.",
	}, []string{"where"})
	m.consents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wotkit_oauth_consents_total", Help: "OAuth2 consent answers: allow, deny.",
	}, []string{"decision"})
	m.tokenRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wotkit_oauth_token_requests_total", Help: "OAuth2 token requests by grant type and outcome (ok or the RFC 6749 error).",
	}, []string{"grant_type", "outcome"})
	m.Registry.MustRegister(m.connections, m.connectRefusals,
		acl("publish", m.publishDenied.Load), acl("subscribe", m.subscribeDenied.Load), deliveries, m.revocations, m.revocationTime,
		m.throttled, m.consents, m.tokenRequests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Broker is what the MQTT broker counts itself (mochi's server.Info).
type Broker interface {
	MessagesIn() int64
	MessagesOut() int64
	BytesIn() int64
	BytesOut() int64
	MessagesDropped() int64
}

// WatchBroker exports the broker's own message and byte counters, read at scrape time.
func (m *Metrics) WatchBroker(b Broker) {
	if m == nil {
		return
	}
	counter := func(name, help string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	m.Registry.MustRegister(
		counter("wotkit_mqtt_messages_received_total", "PUBLISH packets received from clients.", b.MessagesIn),
		counter("wotkit_mqtt_messages_sent_total", "PUBLISH packets sent to clients.", b.MessagesOut),
		counter("wotkit_mqtt_bytes_received_total", "Bytes received from MQTT clients.", b.BytesIn),
		counter("wotkit_mqtt_bytes_sent_total", "Bytes sent to MQTT clients.", b.BytesOut),
		counter("wotkit_mqtt_messages_dropped_total", "Messages not sent to a client that was too far behind.", b.MessagesDropped),
	)
}

// Connected counts a live connection of a credential kind ("key", "token"); Disconnected undoes it.
func (m *Metrics) Connected(kind string) {
	if m != nil {
		m.connections.WithLabelValues(kind).Inc()
	}
}

// Disconnected counts a connection of a credential kind that ended.
func (m *Metrics) Disconnected(kind string) {
	if m != nil {
		m.connections.WithLabelValues(kind).Dec()
	}
}

// ConnectRefused counts a refused CONNECT.
func (m *Metrics) ConnectRefused(reason string) {
	if m != nil {
		m.connectRefusals.WithLabelValues(reason).Inc()
	}
}

// PublishDenied counts a publish the ACL refused (hot path: one atomic add).
func (m *Metrics) PublishDenied() {
	if m != nil {
		m.publishDenied.Add(1)
	}
}

// ReadDenied counts a subscription filter or a delivery the ACL refused (hot path).
func (m *Metrics) ReadDenied() {
	if m != nil {
		m.readDenied.Add(1)
	}
}

// SubscribeDenied counts n subscription filters refused by the ACL.
func (m *Metrics) SubscribeDenied(n int) {
	if m != nil {
		m.subscribeDenied.Add(int64(n))
	}
}

// Revoked counts sessions ended by a revocation and how long it took.
func (m *Metrics) Revoked(sessions int, took time.Duration) {
	if m != nil && sessions > 0 {
		m.revocations.Add(float64(sessions))
		m.revocationTime.Observe(took.Seconds())
	}
}

// Throttled counts an attempt refused by the throttle ("mqtt" or "web").
func (m *Metrics) Throttled(where string) {
	if m != nil {
		m.throttled.WithLabelValues(where).Inc()
	}
}

// Consent counts a consent answer ("allow" or "deny").
func (m *Metrics) Consent(decision string) {
	if m != nil {
		m.consents.WithLabelValues(decision).Inc()
	}
}

// TokenRequest counts a token request by grant type and outcome.
func (m *Metrics) TokenRequest(grantType, outcome string) {
	if m != nil {
		m.tokenRequests.WithLabelValues(grantType, outcome).Inc()
	}
}
