package hooks

import (
	"fmt"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/wotkit/wotkit/storage"
)

// Store is the part of storage the hooks need.
type Store interface {
	Credentials
	Watch(fn func(storage.Event)) (cancel func())
}

// Install adds the authentication and ACL hooks to server and subscribes the
// revoker to store's events. It returns the session registry (for counts) and
// a function that stops the subscription.
func Install(server *mqtt.Server, store Store, log *slog.Logger) (*Sessions, func(), error) {
	sessions := newSessions(server)
	revoker := NewRevoker(sessions, log)
	if err := server.AddHook(NewAuthn(store, sessions, revoker, log), nil); err != nil {
		return nil, nil, fmt.Errorf("add authn hook: %w", err)
	}
	if err := server.AddHook(NewACL(sessions), nil); err != nil {
		return nil, nil, fmt.Errorf("add acl hook: %w", err)
	}
	cancel := store.Watch(revoker.HandleEvent)
	return sessions, cancel, nil
}
