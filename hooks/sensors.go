package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wotkit/wotkit/storage"
)

// Sensors is the in-memory view of every sensor that the hot path needs:
// which owner/name topics exist and which are PUBLIC. Readers take no lock:
// the map is replaced whole (copy on write) when storage reports a change.
type Sensors struct {
	store    SensorStore
	sessions *Sessions
	current  atomic.Pointer[map[string]*storage.Sensor] // "owner/name" -> sensor

	mu sync.Mutex // serialises writers
}

// SensorStore is the part of storage the sensor hooks need.
type SensorStore interface {
	Sensors() ([]storage.Sensor, error)
	Sensor(owner, name string) (storage.Sensor, error)
	Record(sensorID uint64, r storage.Reading) error
	RecordJSON(sensorID uint64, at time.Time, values []byte) error
}

// NewSensors loads every sensor from store.
func NewSensors(store SensorStore, sessions *Sessions) (*Sensors, error) {
	all, err := store.Sensors()
	if err != nil {
		return nil, fmt.Errorf("load sensors: %w", err)
	}
	m := make(map[string]*storage.Sensor, len(all))
	for i := range all {
		m[all[i].Owner+"/"+all[i].Name] = &all[i]
	}
	s := &Sensors{store: store, sessions: sessions}
	s.current.Store(&m)
	return s, nil
}

// lookup returns the sensor whose topics start with prefix ("owner/name").
func (s *Sensors) lookup(prefix string) *storage.Sensor {
	return (*s.current.Load())[prefix]
}

// reload puts in the view what storage holds now for one sensor (nothing,
// once it is deleted) and reports whether it is PUBLIC. It reads under the
// writers' lock: events of two quick changes may be handled in either order,
// each after its own commit, so the handler that reloads last reads the
// latest state, and an earlier read can never overwrite it. A sensor that
// cannot be read is left out, as if deleted, and the error returned.
func (s *Sensors) reload(owner, name string) (public bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, err := s.store.Sensor(owner, name)
	m := maps.Clone(*s.current.Load())
	if err != nil {
		delete(m, owner+"/"+name)
	} else {
		m[owner+"/"+name] = &sn
	}
	s.current.Store(&m)
	if errors.Is(err, storage.ErrNotFound) {
		err = nil
	}
	return err == nil && sn.Visibility == storage.Public, err
}

// sensorTopic splits "owner/name/leaf" into "owner/name" and leaf; ok is
// false for any other shape.
func sensorTopic(topic string) (prefix, leaf string, ok bool) {
	i := strings.IndexByte(topic, '/')
	if i <= 0 {
		return "", "", false
	}
	j := strings.IndexByte(topic[i+1:], '/')
	if j <= 0 {
		return "", "", false
	}
	j += i + 1
	leaf = topic[j+1:]
	if strings.IndexByte(leaf, '/') >= 0 {
		return "", "", false
	}
	return topic[:j], leaf, true
}

// public reports whether topic is owner/name/leaf of a PUBLIC sensor. Its
// data topic is open to every authenticated reader (a filter without
// wildcards counts as the topic; a shared subscription $share/GROUP/... is
// never owner/name/leaf), its message topic to every authenticated client
// with write permission.
func (s *Sensors) public(topic, leaf string) bool {
	prefix, l, ok := sensorTopic(topic)
	if !ok || l != leaf {
		return false
	}
	sn := s.lookup(prefix)
	return sn != nil && sn.Visibility == storage.Public
}

// Recorder records JSON readings published to a sensor's data topic and
// refuses those that break the sensor's fields: MQTT 5 PUBACK 0x99 with the
// reason, otherwise dropped; the owner's clients learn why on owner/errors.
// It runs inside the Publish hook.
type Recorder struct {
	sensors *Sensors
}

// NewRecorder returns the recorder of sensor readings.
func NewRecorder(sensors *Sensors) *Recorder { return &Recorder{sensors: sensors} }

// record stores a reading published to a known sensor's data topic and
// returns the refusal for one it cannot store; other topics pass.
func (r *Recorder) record(cl *mqtt.Client, pk *packets.Packet) error {
	prefix, leaf, ok := sensorTopic(pk.TopicName)
	if !ok || leaf != "data" {
		return nil
	}
	sn := r.sensors.lookup(prefix)
	if sn == nil {
		return nil
	}
	var err error
	if storage.ScanReading(*sn, pk.Payload) {
		// The common case: a flat object of the sensor's fields, kept as it
		// is. mochi decodes every packet into fresh bytes, so keeping the
		// payload is safe.
		err = r.sensors.store.RecordJSON(sn.ID, time.Now().UTC(), pk.Payload)
	} else {
		var reading storage.Reading
		if reading, err = decodeReading(*sn, pk.Payload); err == nil {
			err = r.sensors.store.Record(sn.ID, reading)
		}
	}
	if errors.Is(err, storage.ErrBusy) {
		return refuse(cl, pk, packets.Code{Code: packets.ErrQuotaExceeded.Code, Reason: "readings arrive faster than they can be stored; try again"})
	}
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("reading refused for %s: %s", sn.GlobalName(), strings.TrimPrefix(err.Error(), storage.ErrInvalid.Error()+": "))
	server := r.sensors.sessions.server
	if perr := server.Publish(sn.Owner+"/errors", []byte(msg), false, 0); perr != nil {
		server.Log.Warn("publish sensor error", "sensor", sn.GlobalName(), "error", perr)
	}
	return refuse(cl, pk, packets.Code{Code: packets.ErrPayloadFormatInvalid.Code, Reason: msg})
}

// decodeReading reads a JSON object published to a sensor's data topic.
func decodeReading(sn storage.Sensor, payload []byte) (storage.Reading, error) {
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil || raw == nil {
		return storage.Reading{}, fmt.Errorf("%w: the payload must be a JSON object of field values", storage.ErrInvalid)
	}
	return storage.ParseReading(sn, raw, time.Now())
}

// HandleEvent keeps the view current; register it with storage.Store.Watch.
// A sensor that turns PRIVATE or is deleted loses its other readers at once:
// the ACL refuses delivery from the moment the view changes, and their
// subscriptions to it are removed.
func (s *Sensors) HandleEvent(e storage.Event) {
	if e.Kind != storage.SensorChanged && e.Kind != storage.SensorDeleted {
		return
	}
	public, err := s.reload(e.User, e.Sensor)
	if err != nil {
		s.sessions.server.Log.Error("reload sensor: treated as deleted until it changes again", "sensor", e.User+"."+e.Sensor, "error", err)
	}
	if !public {
		s.dropOtherReaders(e.User, e.Sensor)
	}
}

// dropOtherReaders removes the subscriptions of other users' clients to a
// sensor's data topic.
func (s *Sensors) dropOtherReaders(owner, name string) {
	server := s.sessions.server
	topic := owner + "/" + name + "/data"
	for _, cl := range server.Clients.GetAll() {
		g := s.sessions.grant(cl)
		if g == nil || g.User == owner || g.Admin {
			continue
		}
		for filter := range cl.State.Subscriptions.GetAll() {
			if stripShare(filter) != topic {
				continue
			}
			if server.Topics.Unsubscribe(filter, cl.ID) {
				atomic.AddInt64(&server.Info.Subscriptions, -1)
			}
			cl.State.Subscriptions.Delete(filter)
		}
	}
}
