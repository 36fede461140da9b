package storage

// EventKind says what changed.
type EventKind int

const (
	// KeyRevoked: a key was deleted or its password reset; sessions that used it must end.
	KeyRevoked EventKind = iota + 1
	// GrantRevoked: a user revoked an application's grant; its tokens for that user are gone.
	GrantRevoked
	// AppDeleted: an application was deleted with all its grants and tokens.
	AppDeleted
	// TokensRevoked: access tokens were revoked (RFC 7009, or a replayed code or refresh token).
	TokensRevoked
	// SensorChanged: a sensor was created or changed.
	SensorChanged
	// SensorDeleted: a sensor and its data were deleted.
	SensorDeleted
)

// Event is a committed change that live sessions must act on.
type Event struct {
	Kind     EventKind
	User     string   // the user the change belongs to
	KeyID    string   // for KeyRevoked
	ClientID string   // for GrantRevoked and AppDeleted
	TokenIDs []string // for TokensRevoked
	Sensor   string   // the sensor's name, for SensorChanged and SensorDeleted (User is its owner)
}

// Watch registers fn to be called, in the writer's goroutine, with every event
// after the transaction that made it has committed. fn must not block for long.
// The returned function removes the registration.
func (s *Store) Watch(fn func(Event)) (cancel func()) {
	s.watchMu.Lock()
	id := s.nextW
	s.nextW++
	s.watchers[id] = fn
	s.watchMu.Unlock()
	return func() {
		s.watchMu.Lock()
		delete(s.watchers, id)
		s.watchMu.Unlock()
	}
}

func (s *Store) emit(events []Event) {
	if len(events) == 0 {
		return
	}
	s.watchMu.RLock()
	defer s.watchMu.RUnlock()
	for _, e := range events {
		for _, fn := range s.watchers {
			fn(e)
		}
	}
}
