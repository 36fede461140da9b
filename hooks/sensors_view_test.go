package hooks

import (
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/wotkit/wotkit/storage"
)

// pausingStore lets a test hold the first sensor read after it has been made,
// as a slow event handler would be held between reading and applying.
type pausingStore struct {
	*storage.Store
	read    chan struct{} // closed once the first read is made
	release chan struct{} // the first read returns when this is closed
	first   bool
}

func (p *pausingStore) Sensor(owner, name string) (storage.Sensor, error) {
	sn, err := p.Store.Sensor(owner, name)
	if !p.first {
		p.first = true
		close(p.read)
		<-p.release
	}
	return sn, err
}

// Two quick visibility changes (PUBLIC, then PRIVATE) whose events are handled
// out of step: the handler of the first read PUBLIC, and is held while the
// second commits and is handled. The view must end PRIVATE; before the reads
// were made under the view's lock, the held handler applied its stale PUBLIC
// last and left another user's private data open.
func TestSensors_StaleEventCannotReopen(t *testing.T) {
	store, err := storage.Open(filepath.Join(t.TempDir(), "wotkit.db"), storage.Options{BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if _, err := store.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather", Visibility: storage.Public}); err != nil {
		t.Fatal(err)
	}
	ps := &pausingStore{Store: store, read: make(chan struct{}), release: make(chan struct{})}
	sensors, err := NewSensors(ps, newSessions(mqtt.New(&mqtt.Options{}), Limits{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	changed := storage.Event{Kind: storage.SensorChanged, User: "alice", Sensor: "weather"}

	first := make(chan struct{})
	go func() { defer close(first); sensors.HandleEvent(changed) }() // reads PUBLIC, then is held
	<-ps.read
	if _, err := store.UpdateSensor("alice", "weather", func(sn *storage.Sensor) error {
		sn.Visibility = storage.Private
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	second := make(chan struct{})
	go func() { defer close(second); sensors.HandleEvent(changed) }()
	// Give the second handler the chance to finish first, as it did when it
	// did not wait for the held one; now it waits for the view's lock.
	select {
	case <-second:
	case <-time.After(100 * time.Millisecond):
	}
	close(ps.release)
	<-first
	<-second
	if sensors.public("alice/weather/data", "data") {
		t.Fatal("alice/weather/data is open to every reader after alice made the sensor PRIVATE")
	}
}
