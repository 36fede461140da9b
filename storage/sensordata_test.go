package storage_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/storage"
)

// A reading is kept under its time in nanoseconds since 1970, an int64, which
// reaches from 1970 to 2262. A time outside that is refused as ErrInvalid, in
// either form and by every way in, never accepted and then lost (past 2262)
// or filed under 1970 (before it; with no retention age nothing else refuses
// it).
func TestReadings_TimestampOutsideWhatCanBeKeptRefused(t *testing.T) {
	s := sensorStore(t, storage.Retention{})
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	for name, ts := range map[string]any{
		"RFC 3339 past 2262":   "2300-01-01T00:00:00Z",
		"RFC 3339 before 1970": "1969-12-31T23:59:59Z",
		"ms past 2262":         1e16,
		"ms before 1970":       -1.0,
		"ms beyond int64":      1e300,
	} {
		_, err := storage.ParseReading(sn, map[string]any{"value": 1.0, "timestamp": ts}, time.Now())
		if !errors.Is(err, storage.ErrInvalid) || !strings.Contains(err.Error(), "outside the times a reading can have") {
			t.Errorf("%s: %v, want ErrInvalid saying the time is out of range", name, err)
		}
	}
	ctx := context.Background()
	for _, at := range []time.Time{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC)} {
		r := storage.Reading{Timestamp: at, Values: map[string]any{"value": 1.0}}
		for name, err := range map[string]error{
			"Record":     s.Record(sn.ID, r),
			"RecordJSON": s.RecordJSON(sn.ID, at, []byte(`{"value":1}`)),
			"RecordSync": s.RecordSync(ctx, sn.ID, r),
		} {
			if !errors.Is(err, storage.ErrInvalid) {
				t.Errorf("%s at %v: %v, want ErrInvalid", name, at, err)
			}
		}
	}
	// The first and the last time that can be kept are kept, as themselves.
	edges := []time.Time{time.Unix(0, 0).UTC(), time.Unix(0, math.MaxInt64).UTC()}
	for _, at := range edges {
		if err := s.RecordSync(ctx, sn.ID, storage.Reading{Timestamp: at, Values: map[string]any{"value": 1.0}}); err != nil {
			t.Fatalf("reading at %v: %v", at, err)
		}
	}
	got := mustData(t, s, sn.ID, storage.DataQuery{})
	if len(got) != 2 || !got[0].Timestamp.Equal(edges[0]) || !got[1].Timestamp.Equal(edges[1]) {
		t.Fatalf("kept %+v, want the readings at %v", got, edges)
	}
}

// A reading recorded after Close is refused with ErrClosed: no panic on the
// closed queue.
func TestRecord_AfterCloseRefused(t *testing.T) {
	s := sensorStore(t, storage.Retention{})
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	r := storage.Reading{Timestamp: time.Now(), Values: map[string]any{"value": 1.0}}
	for name, err := range map[string]error{
		"Record":     s.Record(sn.ID, r),
		"RecordJSON": s.RecordJSON(sn.ID, r.Timestamp, []byte(`{"value":1}`)),
		"RecordSync": s.RecordSync(context.Background(), sn.ID, r),
	} {
		if !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// Readings recorded while Close runs are each either refused with ErrClosed
// or on disk once Close returns: none is taken and lost.
func TestRecord_DuringCloseWrittenOrRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wotkit.db")
	// No retention: every reading taken stays to be counted.
	s, err := storage.Open(path, storage.Options{BcryptCost: bcrypt.MinCost, Retention: &storage.Retention{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now()
	var accepted, next atomic.Int64
	var wg sync.WaitGroup
	record := []func(r storage.Reading) error{
		func(r storage.Reading) error { return s.Record(sn.ID, r) },
		func(r storage.Reading) error { return s.RecordJSON(sn.ID, r.Timestamp, []byte(`{"value":1}`)) },
		func(r storage.Reading) error { return s.RecordSync(context.Background(), sn.ID, r) },
	}
	for g := range 9 {
		wg.Go(func() {
			for {
				at := base.Add(time.Duration(next.Add(1)) * time.Microsecond)
				err := record[g%len(record)](storage.Reading{Timestamp: at, Values: map[string]any{"value": 1.0}})
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, storage.ErrClosed):
					return
				case !errors.Is(err, storage.ErrBusy):
					t.Error(err)
					return
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	closeStore(t, s)
	wg.Wait()

	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var onDisk int
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("sensor_data")).Bucket(idKey(sn.ID)); b != nil {
			onDisk = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if int64(onDisk) != accepted.Load() || onDisk == 0 {
		t.Fatalf("%d readings on disk, %d accepted", onDisk, accepted.Load())
	}
}

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// syncBuffer is a bytes.Buffer that a logger may write from any goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A batch that cannot be written loses readings whose publishers were told
// they were taken: that is logged at error level, with how many and of which
// sensors, never their values. A RecordSync caller is told instead.
func TestRecord_BatchLostIsLogged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wotkit.db")
	s := open(t, path)
	if _, err := s.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	broken, fine := mustSensor(t, s, "broken"), mustSensor(t, s, "fine")
	closeStore(t, s)
	// The failure: where the broken sensor's bucket of readings belongs, a
	// plain value, so the writer cannot create the bucket.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("sensor_data")).Put(idKey(broken), []byte("x")) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	s, err = storage.Open(path, storage.Options{BcryptCost: bcrypt.MinCost, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := storage.Reading{Timestamp: time.Now(), Values: map[string]any{"value": "s3cret-payload"}}
	if err := s.RecordSync(context.Background(), broken, r); err == nil {
		t.Fatal("RecordSync into the broken sensor succeeded")
	}
	for _, id := range []uint64{fine, broken, fine} {
		if err := s.Record(id, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err == nil || !strings.Contains(err.Error(), "write readings") { // writes the last batch, which fails
		t.Fatalf("Close after the last batch failed: %v, want the write's error", err)
	}

	var lost []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "readings lost" {
			lost = append(lost, rec)
		}
	}
	if len(lost) != 1 {
		t.Fatalf("%d lines about lost readings, want 1; log:\n%s", len(lost), logs.String())
	}
	rec := lost[0]
	if rec["level"] != "ERROR" || rec["readings"] != 3.0 || fmt.Sprint(rec["sensors"]) != fmt.Sprint([]float64{float64(fine), float64(broken)}) {
		t.Errorf("log line %v, want level ERROR, 3 readings, sensors [%d %d]", rec, fine, broken)
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("a reading's values reached the log: %s", logs.String())
	}
}

func mustSensor(t *testing.T, s *storage.Store, name string) uint64 {
	t.Helper()
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return sn.ID
}

// A query bound beyond the times a reading can have (1970 to 2262) asks for
// everything on its side, or nothing: never a wrapped-around time, which
// made a query up to the year 3000 find nothing.
func TestSensorData_BoundsBeyondReadingTimes(t *testing.T) {
	s := sensorStore(t, storage.Retention{})
	sn, err := s.CreateSensor(storage.Sensor{Owner: "alice", Name: "weather"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, at := range []time.Time{now.Add(-time.Hour), now} {
		if err := s.RecordSync(context.Background(), sn.ID, storage.Reading{Timestamp: at, Values: map[string]any{"value": 1.0}}); err != nil {
			t.Fatal(err)
		}
	}
	past, future := time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		q    storage.DataQuery
		want int
	}{
		"end in 3000":               {storage.DataQuery{End: future}, 2},
		"end in 3000, newest first": {storage.DataQuery{End: future, Reverse: true}, 2},
		"start in 1000":             {storage.DataQuery{Start: past}, 2},
		"after 1000":                {storage.DataQuery{After: past}, 2},
		"start in 3000":             {storage.DataQuery{Start: future}, 0},
		"after 3000":                {storage.DataQuery{After: future}, 0},
		"end in 1000":               {storage.DataQuery{End: past}, 0},
	} {
		rs, err := s.SensorData(sn.ID, c.q)
		if err != nil || len(rs) != c.want {
			t.Errorf("%s: %d readings, %v; want %d", name, len(rs), err, c.want)
		}
	}
}
