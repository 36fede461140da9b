package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Visibility of a sensor: PUBLIC sensors' data can be read by every
// authenticated client, PRIVATE ones only by their owner.
const (
	Public  = "PUBLIC"
	Private = "PRIVATE"
)

// Field types.
const (
	FieldNumber = "NUMBER"
	FieldString = "STRING"
)

// Field is one named value of a sensor's readings.
type Field struct {
	Name     string `json:"name"`
	LongName string `json:"longName"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
	Units    string `json:"units"`
}

// Sensor is a source of readings owned by a user: sensor weather of alice is
// alice.weather in the API and alice/weather/... in MQTT.
type Sensor struct {
	ID          uint64    `json:"id"`
	Owner       string    `json:"owner"`
	Name        string    `json:"name"`
	LongName    string    `json:"longName"`
	Description string    `json:"description"`
	Latitude    *float64  `json:"latitude"`
	Longitude   *float64  `json:"longitude"`
	Visibility  string    `json:"visibility"`
	Tags        []string  `json:"tags"`
	Fields      []Field   `json:"fields"`
	Created     time.Time `json:"created"`
	LastUpdate  time.Time `json:"lastUpdate"`
}

// GlobalName is owner.name, the sensor's name for other users.
func (s Sensor) GlobalName() string { return s.Owner + "." + s.Name }

// Field returns the field called name.
func (s Sensor) Field(name string) (Field, bool) {
	i := slices.IndexFunc(s.Fields, func(f Field) bool { return f.Name == name })
	if i < 0 {
		return Field{}, false
	}
	return s.Fields[i], true
}

// DefaultFields are the fields a new sensor gets, as WoTKit's.
func DefaultFields() []Field {
	return []Field{
		{Name: "lat", LongName: "latitude", Type: FieldNumber},
		{Name: "lng", LongName: "longitude", Type: FieldNumber},
		{Name: "value", LongName: "Data", Type: FieldNumber},
		{Name: "message", LongName: "Message", Type: FieldString},
	}
}

var (
	sensorNamePattern = regexp.MustCompile(`^[a-z_][a-z0-9_-]{3,63}$`)
	fieldNamePattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// reservedFields are set by the server on every reading.
var reservedFields = []string{"timestamp", "id", "sensor_id", "sensor_name", "timestamp_iso"}

// Limits on sensor text.
const (
	maxSensorText = 1024
	maxTags       = 32
	maxFields     = 64
)

// ValidateSensor checks a sensor's attributes and returns an ErrInvalid error saying what is wrong.
func ValidateSensor(s Sensor) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	switch {
	case !sensorNamePattern.MatchString(s.Name):
		return bad("sensor name %q must be 4 to 64 characters of a-z, 0-9, '-' and '_', starting with a letter or '_'", truncate(s.Name, 70))
	case s.Visibility != Public && s.Visibility != Private:
		return bad("visibility must be PUBLIC or PRIVATE")
	case utf8.RuneCountInString(s.LongName) > maxSensorText || utf8.RuneCountInString(s.Description) > maxSensorText:
		return bad("longName and description may have at most %d characters", maxSensorText)
	case s.Latitude != nil && (math.IsNaN(*s.Latitude) || *s.Latitude < -90 || *s.Latitude > 90):
		return bad("latitude must be between -90 and 90")
	case s.Longitude != nil && (math.IsNaN(*s.Longitude) || *s.Longitude < -180 || *s.Longitude > 180):
		return bad("longitude must be between -180 and 180")
	case len(s.Tags) > maxTags:
		return bad("at most %d tags", maxTags)
	case len(s.Fields) > maxFields:
		return bad("at most %d fields", maxFields)
	}
	for _, t := range s.Tags {
		if t == "" || utf8.RuneCountInString(t) > 64 {
			return bad("a tag must have 1 to 64 characters")
		}
	}
	seen := map[string]bool{}
	for _, f := range s.Fields {
		if err := ValidateField(f); err != nil {
			return err
		}
		if seen[f.Name] {
			return bad("field %q appears twice", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// ValidateField checks one field definition.
func ValidateField(f Field) error {
	switch {
	case !fieldNamePattern.MatchString(f.Name):
		return fmt.Errorf("%w: field name %q must be letters, digits and '_', starting with a letter or '_'", ErrInvalid, truncate(f.Name, 70))
	case slices.Contains(reservedFields, f.Name):
		return fmt.Errorf("%w: field name %q is reserved", ErrInvalid, f.Name)
	case f.Type != FieldNumber && f.Type != FieldString:
		return fmt.Errorf("%w: field %q: type must be NUMBER or STRING", ErrInvalid, f.Name)
	case utf8.RuneCountInString(f.LongName) > 256 || utf8.RuneCountInString(f.Units) > 64:
		return fmt.Errorf("%w: field %q: longName or units too long", ErrInvalid, f.Name)
	}
	return nil
}

func sensorKey(owner, name string) []byte { return []byte(owner + "\x00" + name) }

func idKey(id uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return b[:]
}

// CreateSensor adds a sensor for its owner; a missing visibility is PRIVATE
// and missing fields are WoTKit's defaults.
func (s *Store) CreateSensor(sn Sensor) (Sensor, error) {
	if sn.Visibility == "" {
		sn.Visibility = Private
	}
	if sn.Fields == nil {
		sn.Fields = DefaultFields()
	}
	if err := ValidateSensor(sn); err != nil {
		return Sensor{}, fmt.Errorf("create sensor: %w", err)
	}
	now := time.Now().UTC()
	sn.Created, sn.LastUpdate = now, now
	err := s.updateApart(func(tx *bolt.Tx) ([]Event, error) {
		if tx.Bucket(bucketUsers).Get([]byte(sn.Owner)) == nil {
			return nil, fmt.Errorf("user %q: %w", sn.Owner, ErrNotFound)
		}
		b := tx.Bucket(bucketSensors)
		key := sensorKey(sn.Owner, sn.Name)
		if b.Get(key) != nil {
			return nil, fmt.Errorf("sensor %s: %w", sn.GlobalName(), ErrExists)
		}
		if err := s.checkRoom(sn.Owner, "sensors", func() (int, error) { return countOwned(b, sn.Owner), nil }); err != nil {
			return nil, err
		}
		id, err := b.NextSequence()
		if err != nil {
			return nil, err
		}
		sn.ID = id
		if err := tx.Bucket(bucketSensorIDs).Put(idKey(id), key); err != nil {
			return nil, err
		}
		return []Event{sensorEvent(sn)}, putJSON(b, string(key), sn)
	})
	if err != nil {
		return Sensor{}, fmt.Errorf("create sensor: %w", err)
	}
	return sn, nil
}

func sensorEvent(sn Sensor) Event {
	return Event{Kind: SensorChanged, User: sn.Owner, Sensor: sn.Name}
}

// Sensor returns the sensor name of owner.
func (s *Store) Sensor(owner, name string) (Sensor, error) {
	var sn Sensor
	err := s.view(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketSensors), string(sensorKey(owner, name)), &sn) })
	if err != nil {
		return Sensor{}, fmt.Errorf("sensor %s.%s: %w", owner, name, err)
	}
	return sn, nil
}

// SensorByRef finds a sensor as the API names it: a bare name of the
// caller's, owner.name, or a numeric id.
func (s *Store) SensorByRef(caller, ref string) (Sensor, error) {
	if owner, name, ok := strings.Cut(ref, "."); ok {
		return s.Sensor(owner, name)
	}
	if id, err := strconv.ParseUint(ref, 10, 64); err == nil {
		var sn Sensor
		err := s.view(func(tx *bolt.Tx) error {
			key := tx.Bucket(bucketSensorIDs).Get(idKey(id))
			if key == nil {
				return ErrNotFound
			}
			return getJSON(tx.Bucket(bucketSensors), string(key), &sn)
		})
		if err != nil {
			return Sensor{}, fmt.Errorf("sensor %d: %w", id, err)
		}
		return sn, nil
	}
	return s.Sensor(caller, ref)
}

// Sensors returns every sensor, ordered by owner and name.
func (s *Store) Sensors() ([]Sensor, error) { return listJSON[Sensor](s, bucketSensors, "sensor") }

// UpdateSensor applies change to the sensor and stores it when it is still
// valid; owner and name cannot change.
func (s *Store) UpdateSensor(owner, name string, change func(*Sensor) error) (Sensor, error) {
	var sn Sensor
	err := s.updateApart(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketSensors)
		key := sensorKey(owner, name)
		if err := getJSON(b, string(key), &sn); err != nil {
			return nil, fmt.Errorf("sensor %s.%s: %w", owner, name, err)
		}
		id, created := sn.ID, sn.Created
		if err := change(&sn); err != nil {
			return nil, err
		}
		sn.ID, sn.Owner, sn.Name, sn.Created, sn.LastUpdate = id, owner, name, created, time.Now().UTC()
		if err := ValidateSensor(sn); err != nil {
			return nil, err
		}
		return []Event{sensorEvent(sn)}, putJSON(b, string(key), sn)
	})
	if err != nil {
		return Sensor{}, fmt.Errorf("update sensor: %w", err)
	}
	return sn, nil
}

// DeleteSensor removes a sensor and its data; other users' subscriptions to
// it end (a SensorDeleted event).
func (s *Store) DeleteSensor(owner, name string) error {
	err := s.updateApart(func(tx *bolt.Tx) ([]Event, error) {
		b := tx.Bucket(bucketSensors)
		key := sensorKey(owner, name)
		var sn Sensor
		if err := getJSON(b, string(key), &sn); err != nil {
			return nil, fmt.Errorf("sensor %s.%s: %w", owner, name, err)
		}
		if err := b.Delete(key); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketSensorIDs).Delete(idKey(sn.ID)); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketSensorData).DeleteBucket(idKey(sn.ID)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return nil, err
		}
		if err := tx.Bucket(bucketSensorCounts).Delete(idKey(sn.ID)); err != nil {
			return nil, err
		}
		return []Event{{Kind: SensorDeleted, User: owner, Sensor: name}}, nil
	})
	if err != nil {
		return fmt.Errorf("delete sensor: %w", err)
	}
	return nil
}
