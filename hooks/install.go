package hooks

import (
	"fmt"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/wotkit/wotkit/metrics"
	"github.com/wotkit/wotkit/storage"
)

// Store is the part of storage the hooks need.
type Store interface {
	Credentials
	SensorStore
	Watch(fn func(storage.Event)) (cancel func())
}

// Install adds the authentication, ACL, limits and publish hooks to server
// and subscribes the revoker and the sensor view to store's events; m
// (which may be nil) counts what they see. It returns the session registry (for counts) and
// a function that stops the subscription.
func Install(server *mqtt.Server, store Store, limits Limits, m *metrics.Metrics, log *slog.Logger) (*Sessions, func(), error) {
	sessions := newSessions(server, limits, m)
	revoker := NewRevoker(sessions, log)
	sensors, err := NewSensors(store, sessions)
	if err != nil {
		return nil, nil, err
	}
	limiter := NewLimiter(sessions, limits)
	for _, h := range []mqtt.Hook{NewAuthn(store, sessions, revoker, log), NewACL(sessions, sensors), limiter,
		NewPublish(limiter, NewRecorder(sensors))} {
		if err := server.AddHook(h, nil); err != nil {
			return nil, nil, fmt.Errorf("add hook %s: %w", h.ID(), err)
		}
	}
	cancelRevoker := store.Watch(revoker.HandleEvent)
	cancelSensors := store.Watch(sensors.HandleEvent)
	return sessions, func() { cancelRevoker(); cancelSensors() }, nil
}
