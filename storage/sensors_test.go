package storage_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/storage"
)

func sensorStore(t *testing.T, ret storage.Retention) *storage.Store {
	t.Helper()
	s, err := storage.Open(filepath.Join(t.TempDir(), "wotkit.db"), storage.Options{BcryptCost: bcrypt.MinCost, Retention: &ret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeStore(t, s) })
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSensors_CreateFindUpdateDelete(t *testing.T) {
	s := sensorStore(t, storage.Retention{})
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather", LongName: "Weather station"})
	if err != nil {
		t.Fatal(err)
	}
	if sn.ID == 0 || sn.Visibility != storage.Private || len(sn.Fields) != 4 || sn.Fields[2].Name != "value" {
		t.Fatalf("new sensor %+v: want an id, PRIVATE and WoTKit's default fields", sn)
	}
	if _, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"}); !errors.Is(err, storage.ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	for _, bad := range []storage.Sensor{
		{Owner: "alice", Name: "abc"}, {Owner: "alice", Name: "Weather"}, {Owner: "alice", Name: "1abc"},
		{Owner: "alice", Name: "we/ather"}, {Owner: "alice", Name: "we+ather"}, {Owner: "alice", Name: "ok_name", Visibility: "SECRET"},
		{Owner: "alice", Name: "ok_name", Fields: []storage.Field{{Name: "x", Type: "BOOL"}}},
		{Owner: "alice", Name: "ok_name", Fields: []storage.Field{{Name: "timestamp", Type: "NUMBER"}}},
		{Owner: "alice", Name: "ok_name", Fields: []storage.Field{{Name: "x", Type: "NUMBER"}, {Name: "x", Type: "STRING"}}},
	} {
		if _, err := s.CreateSensor(bad); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.CreateSensor(storage.Sensor{Owner: "nobody", Name: "weather"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown owner: %v", err)
	}
	for _, ref := range []string{"weather", "alice.weather", "1"} {
		got, err := s.SensorByRef("alice", ref)
		if err != nil || got.ID != sn.ID {
			t.Errorf("ref %q: %+v %v", ref, got, err)
		}
	}
	if _, err := s.SensorByRef("bob1", "weather"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("bare name of another user: %v", err)
	}
	up, err := s.UpdateSensor("alice", "weather", func(x *storage.Sensor) error { x.Visibility = storage.Public; return nil })
	if err != nil || up.Visibility != storage.Public || up.ID != sn.ID || !up.LastUpdate.After(sn.Created) && up.LastUpdate != sn.Created {
		t.Fatalf("update: %+v %v", up, err)
	}
	if _, err := s.UpdateSensor("alice", "weather", func(x *storage.Sensor) error { x.Visibility = "x"; return nil }); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("invalid update: %v", err)
	}
	if got, _ := s.Sensor("alice", "weather"); got.Visibility != storage.Public {
		t.Error("a refused update changed the sensor")
	}
	if err := s.DeleteSensor("alice", "weather"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SensorByRef("alice", "1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("deleted sensor by id: %v", err)
	}
}

func TestParseReading(t *testing.T) {
	sn := storage.Sensor{Owner: "alice", Name: "weather", Fields: append(storage.DefaultFields(),
		storage.Field{Name: "temp", Type: storage.FieldNumber, Required: true})}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r, err := storage.ParseReading(sn, map[string]any{"temp": 21.5, "value": "3", "message": "ok"}, now)
	if err != nil || r.Values["temp"] != 21.5 || r.Values["value"] != 3.0 || !r.Timestamp.Equal(now) {
		t.Fatalf("good reading: %+v %v", r, err)
	}
	r, err = storage.ParseReading(sn, map[string]any{"temp": 1.0, "timestamp": 1700000000000.0}, now)
	if err != nil || r.Timestamp.UnixMilli() != 1700000000000 {
		t.Fatalf("timestamp in ms: %+v %v", r, err)
	}
	for name, raw := range map[string]map[string]any{
		"missing required":  {"value": 1.0},
		"string for number": {"temp": "warm"},
		"number for string": {"temp": 1.0, "message": 5.0},
		"unknown field":     {"temp": 1.0, "humidity": 3.0},
		"bad timestamp":     {"temp": 1.0, "timestamp": "yesterday"},
		"empty":             {},
	} {
		if _, err := storage.ParseReading(sn, raw, now); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestSensorData_RecordQueryAndRetention(t *testing.T) {
	s := sensorStore(t, storage.Retention{MaxReadings: 5, MaxAge: time.Hour})
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	ctx := context.Background()
	// A reading older than the retention age is refused, not silently dropped.
	if err := s.RecordSync(ctx, sn.ID, storage.Reading{Timestamp: base.Add(-2 * time.Hour), Values: map[string]any{"value": -1.0}}); !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("reading older than the retention: %v, want ErrInvalid", err)
	}
	for i := range 8 {
		if err := s.Record(sn.ID, storage.Reading{Timestamp: base.Add(time.Duration(i) * time.Minute), Values: map[string]any{"value": float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordSync(ctx, sn.ID, storage.Reading{Timestamp: base.Add(8 * time.Minute), Values: map[string]any{"value": 8.0}}); err != nil {
		t.Fatal(err)
	}
	all, err := s.SensorData(sn.ID, storage.DataQuery{})
	if err != nil {
		t.Fatal(err)
	}
	values := func(rs []storage.Reading) []float64 {
		var out []float64
		for _, r := range rs {
			out = append(out, r.Values["value"].(float64))
		}
		return out
	}
	if got := values(all); len(got) != 5 || got[0] != 4 || got[4] != 8 {
		t.Fatalf("kept %v, want the newest 5 (4..8)", got)
	}
	if got := values(mustData(t, s, sn.ID, storage.DataQuery{Reverse: true, Limit: 2})); len(got) != 2 || got[0] != 8 || got[1] != 7 {
		t.Errorf("reverse limit 2: %v", got)
	}
	if got := values(mustData(t, s, sn.ID, storage.DataQuery{Before: 2})); len(got) != 2 || got[0] != 7 || got[1] != 8 {
		t.Errorf("before 2: %v", got)
	}
	if got := values(mustData(t, s, sn.ID, storage.DataQuery{Start: base.Add(5 * time.Minute), End: base.Add(7 * time.Minute)})); len(got) != 2 || got[0] != 5 || got[1] != 6 {
		t.Errorf("start..end: %v", got)
	}
	if got := values(mustData(t, s, sn.ID, storage.DataQuery{After: base.Add(6 * time.Minute)})); len(got) != 2 || got[0] != 7 {
		t.Errorf("after: %v", got)
	}
	if err := s.DeleteSensor("alice", "weather"); err != nil {
		t.Fatal(err)
	}
	if got := mustData(t, s, sn.ID, storage.DataQuery{}); len(got) != 0 {
		t.Errorf("data outlived its sensor: %v", got)
	}
}

func mustData(t *testing.T, s *storage.Store, id uint64, q storage.DataQuery) []storage.Reading {
	t.Helper()
	rs, err := s.SensorData(id, q)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestSensorData_ReadingsThatAgeOutAreTrimmed(t *testing.T) {
	s := sensorStore(t, storage.Retention{MaxAge: time.Hour})
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	aging := time.Now().Add(-time.Hour + 100*time.Millisecond)
	if err := s.RecordSync(ctx, sn.ID, storage.Reading{Timestamp: aging, Values: map[string]any{"value": 1.0}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the first reading is now past the retention age
	if err := s.RecordSync(ctx, sn.ID, storage.Reading{Timestamp: time.Now(), Values: map[string]any{"value": 2.0}}); err != nil {
		t.Fatal(err)
	}
	if rs := mustData(t, s, sn.ID, storage.DataQuery{}); len(rs) != 1 || rs[0].Values["value"] != 2.0 {
		t.Fatalf("kept %+v, want only the recent reading", rs)
	}
}

// Deleting a sensor deletes all it kept: its readings and their count.
func TestSensors_DeleteLeavesNoReadingsBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wotkit.db")
	s := open(t, path)
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSync(context.Background(), sn.ID, storage.Reading{Timestamp: time.Now(), Values: map[string]any{"value": 1.0}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSensor("alice", "weather"); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"sensor_data", "sensor_data_counts"} {
			if n := tx.Bucket([]byte(name)).Stats().KeyN; n != 0 {
				t.Errorf("%s keeps %d entries of the deleted sensor", name, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A reading that arrives alone is written without more readings behind it,
// before a full batch and after one: the writer sets its flush deadline when
// a batch begins. (That it does not wake while nothing comes is measured, in
// the README, not tested.)
func TestSensorData_LoneReadingsAreWritten(t *testing.T) {
	s := sensorStore(t, storage.Retention{})
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Truncate(time.Millisecond)
	next := 0
	record := func(n int) {
		t.Helper()
		for range n {
			if err := s.Record(sn.ID, storage.Reading{Timestamp: base.Add(time.Duration(next) * time.Millisecond), Values: map[string]any{"value": float64(next)}}); err != nil {
				t.Fatal(err)
			}
			next++
		}
	}
	// awaitWritten waits until the last reading recorded is on disk.
	awaitWritten := func() {
		t.Helper()
		want := float64(next - 1)
		deadline := time.Now().Add(10 * time.Second)
		for {
			rs := mustData(t, s, sn.ID, storage.DataQuery{Reverse: true, Limit: 1})
			if len(rs) == 1 && rs[0].Values["value"] == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("newest reading on disk %v, want value %v", rs, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	record(1)
	awaitWritten()
	time.Sleep(200 * time.Millisecond) // the writer has nothing to do
	record(1)
	awaitWritten()
	record(2500) // two full batches, then a partial one
	awaitWritten()
	record(1)
	awaitWritten()
	if got := mustData(t, s, sn.ID, storage.DataQuery{Start: base.Add(2000 * time.Millisecond)}); len(got) != next-2000 {
		t.Errorf("%d of the newest %d readings on disk", len(got), next-2000)
	}
}
