package storage_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/wotkit/wotkit/storage"
)

var scanSensor = storage.Sensor{Owner: "alice", Name: "weather", Fields: append(storage.DefaultFields(),
	storage.Field{Name: "temp", Type: storage.FieldNumber, Required: true})}

func TestScanReading(t *testing.T) {
	for payload, want := range map[string]bool{
		`{"temp": 21.5}`: true,
		` { "temp" : -0.25 , "message" : "héllo" } `:          true,
		`{"temp": 1, "value": 2, "lat": 49.2, "lng": -123.1}`: true,
		`{"value": 2}`:                   false, // required temp missing
		`{"temp": "21.5"}`:               false, // a numeric string: ParseReading converts
		`{"temp": 1e3}`:                  false, // exponents take the slow path
		`{"temp": 01}`:                   false,
		`{"temp": 1.}`:                   false,
		`{"temp": 1, "temp": 2}`:         false,
		`{"temp": 1, "other": 2}`:        false,
		`{"temp": 1, "timestamp": 5}`:    false,
		`{"temp": 1, "message": "a\"b"}`: false,
		`{"temp": 1,}`:                   false,
		`{"temp": 1} x`:                  false,
		`{}`:                             false,
		`[1]`:                            false,
		``:                               false,
		`{"temp": 1, "message": "\xff"}`: false,
	} {
		if got := storage.ScanReading(scanSensor, []byte(payload)); got != want {
			t.Errorf("ScanReading(%s) = %v, want %v", payload, got, want)
		}
	}
}

func TestScanReading_AllocatesNothing(t *testing.T) {
	payload := []byte(`{"temp": 21.5, "message": "ok", "value": 3}`)
	if n := testing.AllocsPerRun(100, func() { storage.ScanReading(scanSensor, payload) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// FuzzScanReading checks the fast path against the full one: whatever
// ScanReading accepts, ParseReading accepts with the same values.
func FuzzScanReading(f *testing.F) {
	for _, s := range []string{`{"temp": 21.5}`, `{"temp": -0, "message": "x"}`, `{"temp":1,"value":2}`, `{"temp": 1e5}`,
		`{"temp": 12345678901234567890123}`, `{"message": "ok", "temp": 0.5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if !storage.ScanReading(scanSensor, payload) {
			return
		}
		var raw map[string]any
		if err := json.Unmarshal(payload, &raw); err != nil {
			t.Fatalf("fast path accepted %q, which is not JSON: %v", payload, err)
		}
		want := make(map[string]any, len(raw))
		for k, v := range raw {
			want[k] = v
		}
		r, err := storage.ParseReading(scanSensor, raw, time.Now())
		if err != nil {
			t.Fatalf("fast path accepted %q, ParseReading refuses: %v", payload, err)
		}
		if !reflect.DeepEqual(r.Values, want) {
			t.Fatalf("%q: stored as is, but ParseReading gives %v", payload, r.Values)
		}
	})
}
