package storage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reading is one set of values of a sensor at one time.
type Reading struct {
	Timestamp time.Time
	Values    map[string]any // field name -> float64 (NUMBER) or string (STRING)
}

// MarshalJSON writes the reading as WoTKit does: the values, flat, with
// timestamp in milliseconds and timestamp_iso.
func (r Reading) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(r.Values)+2)
	for k, v := range r.Values {
		m[k] = v
	}
	m["timestamp"] = r.Timestamp.UnixMilli()
	m["timestamp_iso"] = r.Timestamp.UTC().Format(time.RFC3339Nano)
	return json.Marshal(m)
}

// ErrBusy is returned when readings arrive faster than they can be written.
var ErrBusy = errors.New("too many readings waiting to be written")

// ParseReading checks raw values against the sensor's fields and returns
// the reading: every required field present, NUMBER fields numbers (a numeric
// string is accepted), STRING fields strings, no unknown fields. A timestamp,
// in milliseconds or RFC 3339, is taken when given; otherwise now. The
// reading takes raw over as its Values (converted in place).
func ParseReading(sn Sensor, raw map[string]any, now time.Time) (Reading, error) {
	r := Reading{Timestamp: now.UTC(), Values: raw}
	if v, ok := raw["timestamp"]; ok {
		ts, err := parseTimestamp(v)
		if err != nil {
			return Reading{}, err
		}
		r.Timestamp = ts
		delete(raw, "timestamp")
	}
	for k, v := range raw {
		f, ok := sn.Field(k)
		if !ok {
			return Reading{}, fmt.Errorf("%w: sensor %s has no field %q", ErrInvalid, sn.GlobalName(), truncate(k, 64))
		}
		switch f.Type {
		case FieldNumber:
			n, ok := number(v)
			if !ok {
				return Reading{}, fmt.Errorf("%w: field %q must be a number", ErrInvalid, k)
			}
			if _, isFloat := v.(float64); !isFloat {
				raw[k] = n
			}
		case FieldString:
			if _, ok := v.(string); !ok {
				return Reading{}, fmt.Errorf("%w: field %q must be a string", ErrInvalid, k)
			}
		}
	}
	for _, f := range sn.Fields {
		if _, ok := raw[f.Name]; f.Required && !ok {
			return Reading{}, fmt.Errorf("%w: field %q is required", ErrInvalid, f.Name)
		}
	}
	if len(raw) == 0 {
		return Reading{}, fmt.Errorf("%w: a reading needs at least one field of %s", ErrInvalid, sn.GlobalName())
	}
	return r, nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		return ParseDecimal(n)
	}
	return 0, false
}

// ParseDecimal reads a finite decimal number written as text, such as -12.5
// or 3e2. Go's other syntax (0x1p4, 1_000, NaN, Inf) is not a number here.
func ParseDecimal(s string) (float64, bool) {
	if s == "" || strings.ContainsFunc(s, notDecimal) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil // out of range is an error: no infinities
}

// notDecimal reports whether r cannot appear in a decimal number.
func notDecimal(r rune) bool { return !strings.ContainsRune("0123456789+-.eE", r) }

// Readings are kept by their time in nanoseconds since 1970 (an int64), so
// only the times between these can be kept.
var (
	minReadingTime = time.Unix(0, 0).UTC()
	maxReadingTime = time.Unix(0, math.MaxInt64).UTC()
)

// checkTimestamp refuses a time a reading cannot be kept at.
func checkTimestamp(t time.Time) error {
	if t.Before(minReadingTime) || t.After(maxReadingTime) {
		return fmt.Errorf("%w: timestamp %s is outside the times a reading can have (%s to %s)", ErrInvalid,
			t.UTC().Format(time.RFC3339Nano), minReadingTime.Format(time.DateOnly), maxReadingTime.Format(time.DateOnly))
	}
	return nil
}

// parseTimestamp reads a reading's timestamp, in milliseconds or RFC 3339,
// and refuses one outside the times a reading can have.
func parseTimestamp(v any) (time.Time, error) {
	t, ok := timestampOf(v)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: timestamp must be milliseconds since 1970 or an RFC 3339 time", ErrInvalid)
	}
	return t, checkTimestamp(t)
}

func timestampOf(v any) (time.Time, bool) {
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), true
		}
	}
	ms, ok := number(v)
	if !ok {
		return time.Time{}, false
	}
	// Converting a float beyond int64 is undefined: clamp first, to a time
	// still far outside what checkTimestamp accepts.
	const far = 1 << 62
	return time.UnixMilli(int64(min(max(ms, -far), far))).UTC(), true
}

// Retention bounds each sensor's history.
type Retention struct {
	MaxReadings int           // 0: no bound by count
	MaxAge      time.Duration // 0: no bound by age
}

// DefaultRetention keeps the last 100,000 readings of each sensor, up to a year old.
var DefaultRetention = Retention{MaxReadings: 100_000, MaxAge: 365 * 24 * time.Hour}

// Batching of readings: at most this many per transaction, and a reading
// waits at most flushInterval before it is written. The queue holds what
// arrives during a few transactions; it is allocated whole and scanned by
// every garbage collection, so it is not larger.
const (
	batchSize     = 1000
	flushInterval = 50 * time.Millisecond
	queueSize     = 4 * batchSize
)

type pendingReading struct {
	sensor  uint64
	r       Reading
	encoded []byte     // r.Values as a JSON object, when already encoded
	done    chan error // nil: nobody waits
}

// recordWait bounds how long Record waits for room in a full queue: readings
// that arrive faster than the disk takes them slow their publisher down
// rather than being lost, up to this.
const recordWait = time.Second

// Record queues a reading to be written with the next batch; it never waits
// for the disk, only, when the queue is full, for room in it (ErrBusy after
// recordWait).
func (s *Store) Record(sensorID uint64, r Reading) error {
	return s.enqueue(pendingReading{sensor: sensorID, r: r})
}

// RecordJSON queues a reading given as the JSON object of its values, which
// ScanReading accepted: it is stored as it is, timestamped at.
func (s *Store) RecordJSON(sensorID uint64, at time.Time, values []byte) error {
	return s.enqueue(pendingReading{sensor: sensorID, r: Reading{Timestamp: at}, encoded: values})
}

// admit refuses a reading that cannot be kept: one whose time is outside
// minReadingTime..maxReadingTime, or one the retention would delete at once.
func (s *Store) admit(r Reading) error {
	if err := checkTimestamp(r.Timestamp); err != nil {
		return err
	}
	if s.retention.MaxAge > 0 && r.Timestamp.Before(time.Now().Add(-s.retention.MaxAge)) {
		return fmt.Errorf("%w: the timestamp is older than the history kept (%v)", ErrInvalid, s.retention.MaxAge)
	}
	return nil
}

func (s *Store) enqueue(p pendingReading) error {
	if err := s.admit(p.r); err != nil {
		return err
	}
	return s.whileQueueOpen(func() error {
		select {
		case s.readings <- p:
			return nil
		default:
		}
		t := time.NewTimer(recordWait)
		defer t.Stop()
		select {
		case s.readings <- p:
			return nil
		case <-t.C:
			return ErrBusy
		}
	})
}

// RecordSync writes a reading with the next batch and returns once it is on
// disk. ctx bounds the wait for room in the queue; once queued, the reading
// is written (or its batch fails), whatever ctx does, and RecordSync returns
// that outcome: a caller told to try again must not have it stored already.
func (s *Store) RecordSync(ctx context.Context, sensorID uint64, r Reading) error {
	if err := s.admit(r); err != nil {
		return err
	}
	done := make(chan error, 1)
	err := s.whileQueueOpen(func() error {
		select {
		case s.readings <- pendingReading{sensor: sensorID, r: r, done: done}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		return err
	}
	return <-done
}

// whileQueueOpen runs send, which puts a reading on s.readings, unless Close
// has begun (ErrClosed). Close closes the queue only once no send is under
// way, so every reading put is one the writer drains and Close waits for.
func (s *Store) whileQueueOpen(send func() error) error {
	s.queueMu.RLock()
	defer s.queueMu.RUnlock()
	if s.queueClosed {
		return ErrClosed
	}
	return send()
}

// writeReadings writes queued readings in batches until the queue closes: a
// batch is written once full or flushInterval after its first reading, so a
// store that receives no readings never wakes up.
func (s *Store) writeReadings() {
	defer close(s.readingsDone)
	batch := make([]pendingReading, 0, batchSize)
	due := time.NewTimer(flushInterval)
	due.Stop()
	defer due.Stop()
	flush := func() error {
		due.Stop()
		if len(batch) == 0 {
			return nil
		}
		err := s.updateApart(func(tx *bolt.Tx) ([]Event, error) { return nil, s.writeBatch(tx, batch) })
		if err != nil {
			err = fmt.Errorf("write readings: %w", err)
			s.logLost(batch, err)
		}
		for _, p := range batch {
			if p.done != nil {
				p.done <- err
			}
		}
		batch = batch[:0]
		return err
	}
	for {
		select {
		case p, ok := <-s.readings:
			if !ok {
				s.lastBatchErr = flush() // for Close, after readingsDone
				return
			}
			if len(batch) == 0 {
				due.Reset(flushInterval)
			}
			batch = append(batch, p)
			if len(batch) == batchSize {
				_ = flush() // logged, and told to RecordSync callers
			}
		case <-due.C:
			_ = flush()
		}
	}
}

// logLost logs the readings of a batch that failed to be written and that
// nobody waits for: their publishers were told they were taken. It names the
// sensors, never the values.
func (s *Store) logLost(batch []pendingReading, err error) {
	lost := 0
	var sensors []uint64
	for _, p := range batch {
		if p.done != nil {
			continue // RecordSync returns err to its caller
		}
		lost++
		if !slices.Contains(sensors, p.sensor) {
			sensors = append(sensors, p.sensor)
		}
	}
	if lost > 0 {
		s.log.Error("readings lost", "readings", lost, "sensors", sensors, "error", err)
	}
}

// writeBatch stores readings of sensors that still exist and trims each
// touched sensor's history to the retention.
func (s *Store) writeBatch(tx *bolt.Tx, batch []pendingReading) error {
	root, counts := tx.Bucket(bucketSensorData), tx.Bucket(bucketSensorCounts)
	ids := tx.Bucket(bucketSensorIDs)
	type history struct {
		b     *bolt.Bucket
		added uint64
	}
	touched := map[uint64]*history{}
	for _, p := range batch {
		h, ok := touched[p.sensor]
		if !ok {
			if ids.Get(idKey(p.sensor)) == nil {
				continue // deleted meanwhile
			}
			b, err := root.CreateBucketIfNotExists(idKey(p.sensor))
			if err != nil {
				return err
			}
			h = &history{b: b}
			touched[p.sensor] = h
		}
		seq, err := h.b.NextSequence()
		if err != nil {
			return err
		}
		data := p.encoded
		if data == nil {
			if data, err = json.Marshal(p.r.Values); err != nil {
				return fmt.Errorf("encode reading: %w", err)
			}
		}
		if err := h.b.Put(dataKey(p.r.Timestamp, seq), data); err != nil {
			return err
		}
		h.added++
	}
	for id, h := range touched {
		if err := counts.Put(idKey(id), countBytes(readCount(counts, id)+h.added)); err != nil {
			return err
		}
		if err := s.trim(counts, id, h.b); err != nil {
			return err
		}
	}
	return nil
}

// trim deletes the oldest readings beyond the retention.
func (s *Store) trim(counts *bolt.Bucket, id uint64, b *bolt.Bucket) error {
	n := readCount(counts, id)
	cutoff := int64(math.MinInt64)
	if s.retention.MaxAge > 0 {
		cutoff = time.Now().Add(-s.retention.MaxAge).UnixNano()
	}
	c := b.Cursor()
	deleted := uint64(0)
	// After a cursor Delete, Next would skip a key: start again from the oldest.
	for k, _ := c.First(); k != nil; k, _ = c.First() {
		over := s.retention.MaxReadings > 0 && n-deleted > uint64(s.retention.MaxReadings)
		old := int64(binary.BigEndian.Uint64(k[:8])) < cutoff
		if !over && !old {
			break
		}
		if err := c.Delete(); err != nil {
			return err
		}
		deleted++
	}
	if deleted == 0 {
		return nil
	}
	return counts.Put(idKey(id), countBytes(n-deleted))
}

func readCount(counts *bolt.Bucket, id uint64) uint64 {
	if v := counts.Get(idKey(id)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func countBytes(n uint64) []byte { return idKey(n) }

// dataKey orders readings by time, then by arrival.
func dataKey(t time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k[:8], uint64(max(t.UnixNano(), 0)))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// DataQuery selects readings, as WoTKit's data query does.
type DataQuery struct {
	Start, End time.Time // Start inclusive, End exclusive; zero: unbounded
	After      time.Time // strictly after; zero: unbounded
	Before     int       // only the last Before readings of the range (0: all)
	Reverse    bool      // newest first
	Limit      int       // at most this many (0: MaxDataLimit)
}

// lowerBound brings a query's lower bound within the times a reading can
// have, whose nanoseconds since 1970 fit an int64: before them, no bound;
// after them, the last.
func lowerBound(t time.Time) time.Time {
	switch {
	case t.Before(minReadingTime):
		return time.Time{}
	case t.After(maxReadingTime):
		return maxReadingTime
	}
	return t
}

// upperBound does the same for an upper bound: past the times a reading
// can have, no bound; before them, the first.
func upperBound(t time.Time) time.Time {
	switch {
	case t.IsZero(), t.After(maxReadingTime):
		return time.Time{}
	case t.Before(minReadingTime):
		return minReadingTime
	}
	return t
}

// MaxDataLimit bounds one answer.
const MaxDataLimit = 1000

// SensorData returns the sensor's readings that the query selects, oldest
// first unless Reverse.
func (s *Store) SensorData(sensorID uint64, q DataQuery) ([]Reading, error) {
	if q.Limit <= 0 || q.Limit > MaxDataLimit {
		q.Limit = MaxDataLimit
	}
	q.Start, q.After, q.End = lowerBound(q.Start), lowerBound(q.After), upperBound(q.End)
	lo := q.Start
	if !q.After.IsZero() && (lo.IsZero() || !q.After.Before(lo)) {
		lo = q.After.Add(time.Nanosecond)
	}
	if lo.After(maxReadingTime) {
		return nil, nil // nothing can be after the last time a reading can have
	}
	var out []Reading
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSensorData).Bucket(idKey(sensorID))
		if b == nil {
			return nil
		}
		inRange := func(k []byte) bool {
			ts := int64(binary.BigEndian.Uint64(k[:8]))
			return (lo.IsZero() || ts >= lo.UnixNano()) && (q.End.IsZero() || ts < q.End.UnixNano())
		}
		newestFirst := q.Reverse || q.Before > 0
		want := q.Limit
		if q.Before > 0 && q.Before < want {
			want = q.Before
		}
		c := b.Cursor()
		var k, v []byte
		switch {
		case newestFirst && q.End.IsZero():
			k, v = c.Last()
		case newestFirst:
			// The newest reading before End: the one before the first at or after it.
			if k, _ = c.Seek(dataKey(q.End, 0)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		case lo.IsZero():
			k, v = c.First()
		default:
			k, v = c.Seek(dataKey(lo, 0))
		}
		for ; k != nil && len(out) < want; k, v = step(c, newestFirst) {
			if !inRange(k) {
				if newestFirst && !lo.IsZero() && int64(binary.BigEndian.Uint64(k[:8])) < lo.UnixNano() {
					break
				}
				if !newestFirst && !q.End.IsZero() && int64(binary.BigEndian.Uint64(k[:8])) >= q.End.UnixNano() {
					break
				}
				continue
			}
			r := Reading{Timestamp: time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()}
			if err := json.Unmarshal(v, &r.Values); err != nil {
				return fmt.Errorf("decode reading: %w", err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sensor data: %w", err)
	}
	if q.Before > 0 && !q.Reverse {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

func step(c *bolt.Cursor, back bool) ([]byte, []byte) {
	if back {
		return c.Prev()
	}
	return c.Next()
}
