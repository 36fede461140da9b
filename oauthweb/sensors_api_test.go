package oauthweb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// sensor creates a sensor directly in the store.
func (env *testEnv) sensor(owner, name, visibility string, tags ...string) storage.Sensor {
	env.t.Helper()
	sn, err := env.store.CreateSensor(storage.Sensor{Owner: owner, Name: name, Visibility: visibility, Tags: tags,
		LongName: "Sensor " + name, Description: "on the roof of " + owner})
	if err != nil {
		env.t.Fatal(err)
	}
	return sn
}

// record stores a reading directly, waiting until it is on disk.
func (env *testEnv) record(sn storage.Sensor, at time.Time, values map[string]any) {
	env.t.Helper()
	if err := env.store.RecordSync(context.Background(), sn.ID, storage.Reading{Timestamp: at, Values: values}); err != nil {
		env.t.Fatal(err)
	}
}

// publication is one call of Config.Publish.
type publication struct {
	Topic   string
	Payload string
}

// publications records what the portal publishes into the broker.
type publications struct {
	mu  sync.Mutex
	got []publication
}

func (ps *publications) publish(topic string, payload []byte) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.got = append(ps.got, publication{topic, string(payload)})
	return nil
}

func (ps *publications) all() []publication {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.got)
}

// newPublishingEnv is a test portal whose Publish is recorded.
func newPublishingEnv(t *testing.T) (*testEnv, *publications) {
	ps := &publications{}
	return newTestEnv(t, func(c *Config) { c.Publish = ps.publish }), ps
}

// checkAPIError fails unless body is WoTKit's error document for status,
// with a developer message that contains want.
func checkAPIError(t *testing.T, status int, body, want string) {
	t.Helper()
	e := decode[apiErrorBody](t, body)
	if e.Error.Status != status || e.Error.Message == "" || e.Error.DeveloperMessage == nil ||
		!strings.Contains(strings.Join(append(e.Error.DeveloperMessage, e.Error.Message), "\n"), want) {
		t.Errorf("error body %s, want status %d saying %q", body, status, want)
	}
}

const alice = "alice"

var aliceAuth = basicAuth("alice", "alice-password")

// TestSensorsAPI_CreateAndGetAsWoTKit: POST answers 201, Location and the
// sensor with WoTKit's members and default fields; the sensor is found by its
// bare name, owner.name and id.
func TestSensorsAPI_CreateAndGetAsWoTKit(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	res, body := env.apiWith("POST", "/api/v1/sensors", aliceAuth, `{"name":"weather","longName":"Weather station",
		"description":"roof","visibility":"PUBLIC","tags":["outdoor","roof"],"latitude":49.26,"longitude":-123.25}`)
	if res.StatusCode != http.StatusCreated || res.Header.Get("Location") != "/api/v1/sensors/alice.weather" {
		t.Fatalf("%d %q %s", res.StatusCode, res.Header.Get("Location"), body)
	}
	got := decode[map[string]any](t, body)
	var members []string
	for k := range got {
		members = append(members, k)
	}
	slices.Sort(members)
	if want := "created description fields id lastUpdate latitude longName longitude name owner tags visibility"; strings.Join(members, " ") != want {
		t.Errorf("members %v, want %s", members, want)
	}
	if got["name"] != "weather" || got["owner"] != alice || got["visibility"] != "PUBLIC" || got["latitude"] != 49.26 {
		t.Errorf("created %s", body)
	}
	created := decode[storage.Sensor](t, body)
	var names []string
	for _, f := range created.Fields {
		names = append(names, f.Name+":"+f.Type)
	}
	if strings.Join(names, " ") != "lat:NUMBER lng:NUMBER value:NUMBER message:STRING" {
		t.Errorf("fields %v, want WoTKit's defaults", names)
	}
	for _, ref := range []string{"weather", "alice.weather", fmt.Sprint(created.ID)} {
		res, body := env.apiWith("GET", "/api/v1/sensors/"+ref, aliceAuth, "")
		if res.StatusCode != 200 || decode[storage.Sensor](t, body).ID != created.ID {
			t.Errorf("GET %s: %d %s", ref, res.StatusCode, body)
		}
	}
	// A sensor made with fields of its own gets the default fields too.
	res, body = env.apiWith("POST", "/api/v1/sensors", aliceAuth, `{"name":"thermo","fields":[{"name":"temp","type":"NUMBER","units":"C","required":true}]}`)
	if sn := decode[storage.Sensor](t, body); res.StatusCode != 201 || len(sn.Fields) != 5 || sn.Fields[4].Name != "temp" || !sn.Fields[4].Required ||
		sn.Visibility != "PRIVATE" || sn.Tags == nil {
		t.Errorf("with fields: %d %s", res.StatusCode, body)
	}
}

// TestSensorsAPI_ErrorsAsWoTKit: each refusal has its status and WoTKit's
// error document saying why.
func TestSensorsAPI_ErrorsAsWoTKit(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	env.sensor(alice, "weather", storage.Private)
	cases := []struct {
		name, method, path, body string
		status                   int
		says                     string
	}{
		{"name too short", "POST", "/api/v1/sensors", `{"name":"abc"}`, 400, "4 to 64 characters"},
		{"name with a slash", "POST", "/api/v1/sensors", `{"name":"we/ather"}`, 400, "sensor name"},
		{"bad visibility", "POST", "/api/v1/sensors", `{"name":"other","visibility":"SECRET"}`, 400, "PUBLIC or PRIVATE"},
		{"bad field type", "POST", "/api/v1/sensors", `{"name":"other","fields":[{"name":"x","type":"BOOL"}]}`, 400, "NUMBER or STRING"},
		{"latitude out of range", "POST", "/api/v1/sensors", `{"name":"other","latitude":91}`, 400, "latitude"},
		{"unknown member", "POST", "/api/v1/sensors", `{"name":"other","colour":"red"}`, 400, `unknown field "colour"`},
		{"wrong type", "POST", "/api/v1/sensors", `{"name":"other","tags":"a,b"}`, 400, "tags"},
		{"not JSON", "POST", "/api/v1/sensors", `{"name":`, 400, "ends too early"},
		{"another owner", "POST", "/api/v1/sensors", `{"name":"other","owner":"bobby"}`, 400, "belongs to the user who makes it"},
		{"name taken", "POST", "/api/v1/sensors", `{"name":"weather"}`, 409, "already have a sensor"},
		{"no such sensor", "GET", "/api/v1/sensors/nothing", "", 404, "no sensor nothing"},
		{"no such owner.name", "GET", "/api/v1/sensors/bobby.weather", "", 404, "no such sensor"},
		{"no such id", "GET", "/api/v1/sensors/99", "", 404, "no such sensor"},
		{"rename", "PUT", "/api/v1/sensors/weather", `{"name":"renamed"}`, 400, "cannot change"},
		{"give away", "PUT", "/api/v1/sensors/weather", `{"owner":"bobby"}`, 400, "cannot change"},
		{"invalid update", "PUT", "/api/v1/sensors/weather", `{"visibility":"public"}`, 400, "PUBLIC or PRIVATE"},
		{"update of no sensor", "PUT", "/api/v1/sensors/nothing", `{"description":"x"}`, 404, "no such sensor"},
		{"delete of no sensor", "DELETE", "/api/v1/sensors/nothing", "", 404, "no such sensor"},
		{"no such field", "GET", "/api/v1/sensors/weather/fields/temp", "", 404, "has no field temp"},
		{"delete no such field", "DELETE", "/api/v1/sensors/weather/fields/temp", "", 404, "has no field temp"},
		{"reserved field", "PUT", "/api/v1/sensors/weather/fields/timestamp", `{"type":"NUMBER"}`, 400, "reserved"},
		{"field without type", "PUT", "/api/v1/sensors/weather/fields/temp", `{"units":"C"}`, 400, "NUMBER or STRING"},
		{"field renamed", "PUT", "/api/v1/sensors/weather/fields/value", `{"name":"other"}`, 400, "cannot be renamed"},
		{"field unknown member", "PUT", "/api/v1/sensors/weather/fields/value", `{"unit":"C"}`, 400, `unknown field "unit"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := env.apiWith(tc.method, tc.path, aliceAuth, tc.body)
			if res.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", res.StatusCode, body, tc.status)
			}
			checkAPIError(t, tc.status, body, tc.says)
		})
	}
	if res, body := env.apiWith("GET", "/api/v1/sensors", "", ""); res.StatusCode != 401 {
		t.Errorf("no credentials: %d %s", res.StatusCode, body)
	}
	res, body := env.apiSend("POST", "/api/v1/sensors", aliceAuth, "text/plain", `{"name":"other"}`)
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain sensor: %d", res.StatusCode)
	}
	checkAPIError(t, 415, body, "application/json")
	if all, _ := env.store.Sensors(); len(all) != 1 {
		t.Errorf("refused requests made %d sensors", len(all)-1)
	}
}

// TestSensorsAPI_PutChangesOnlyWhatItSends: 204; members left out keep their
// values, null clears a location, and what GET answered can be sent back.
func TestSensorsAPI_PutChangesOnlyWhatItSends(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	env.apiWith("POST", "/api/v1/sensors", aliceAuth, `{"name":"weather","longName":"Weather","tags":["a"],"latitude":1,"longitude":2}`)
	res, body := env.apiWith("PUT", "/api/v1/sensors/weather", aliceAuth, `{"description":"new","visibility":"PUBLIC"}`)
	if res.StatusCode != http.StatusNoContent || body != "" {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	sn, _ := env.store.Sensor(alice, "weather")
	if sn.Description != "new" || sn.Visibility != "PUBLIC" || sn.LongName != "Weather" || len(sn.Tags) != 1 || sn.Latitude == nil || len(sn.Fields) != 4 {
		t.Fatalf("after PUT: %+v", sn)
	}
	env.apiWith("PUT", "/api/v1/sensors/alice.weather", aliceAuth, `{"latitude":null,"tags":[]}`)
	if sn, _ = env.store.Sensor(alice, "weather"); sn.Latitude != nil || sn.Longitude == nil || len(sn.Tags) != 0 {
		t.Fatalf("after clearing: %+v", sn)
	}
	_, got := env.apiWith("GET", "/api/v1/sensors/weather", aliceAuth, "")
	if res, body := env.apiWith("PUT", "/api/v1/sensors/weather", aliceAuth, got); res.StatusCode != 204 {
		t.Fatalf("round trip: %d %s", res.StatusCode, body)
	}
}

// TestSensorsAPI_Fields: list, add, change one attribute, get, delete; a
// field that readings use may be deleted and the readings keep its values.
func TestSensorsAPI_Fields(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	sn := env.sensor(alice, "weather", storage.Private)
	if res, body := env.apiWith("GET", "/api/v1/sensors/weather/fields", aliceAuth, ""); res.StatusCode != 200 || len(decode[[]storage.Field](t, body)) != 4 {
		t.Fatalf("list: %d %s", res.StatusCode, body)
	}
	if res, body := env.apiWith("PUT", "/api/v1/sensors/weather/fields/temp", aliceAuth,
		`{"name":"temp","longName":"Temperature","type":"NUMBER","units":"C","required":true}`); res.StatusCode != 201 ||
		strings.TrimSpace(body) != `{"name":"temp","longName":"Temperature","type":"NUMBER","required":true,"units":"C"}` {
		t.Fatalf("add: %d %s, want 201 with the field", res.StatusCode, body)
	}
	if res, body := env.apiWith("PUT", "/api/v1/sensors/weather/fields/temp", aliceAuth, `{"units":"K"}`); res.StatusCode != 204 {
		t.Fatalf("change: %d %s, want 204", res.StatusCode, body)
	}
	res, body := env.apiWith("GET", "/api/v1/sensors/alice.weather/fields/temp", aliceAuth, "")
	if want := `{"name":"temp","longName":"Temperature","type":"NUMBER","required":true,"units":"K"}`; res.StatusCode != 200 || strings.TrimSpace(body) != want {
		t.Fatalf("get: %d %s, want %s", res.StatusCode, body, want)
	}
	// The new required field is enforced, then dropped with its readings kept.
	if res, body := env.apiWith("POST", "/api/v1/sensors/weather/data", aliceAuth, `{"value":1}`); res.StatusCode != 400 || !strings.Contains(body, `field \"temp\" is required`) {
		t.Errorf("required field not enforced: %d %s", res.StatusCode, body)
	}
	env.apiWith("POST", "/api/v1/sensors/weather/data", aliceAuth, `{"temp":290.5}`)
	if res, _ := env.apiWith("DELETE", "/api/v1/sensors/weather/fields/temp", aliceAuth, ""); res.StatusCode != 204 {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if got, _ := env.store.Sensor(alice, "weather"); len(got.Fields) != 4 {
		t.Errorf("fields after delete: %+v", got.Fields)
	}
	if data, _ := env.store.SensorData(sn.ID, storage.DataQuery{}); len(data) != 1 || data[0].Values["temp"] != 290.5 {
		t.Errorf("readings after the field's deletion: %+v", data)
	}
}

// TestSensorsAPI_DataPostedRecordedAndPublished: JSON and form readings are
// stored with a server timestamp unless one is sent, answered 201, and
// published as JSON to owner/name/data.
func TestSensorsAPI_DataPostedRecordedAndPublished(t *testing.T) {
	env, pubs := newPublishingEnv(t)
	env.user(alice, "alice-password")
	sn := env.sensor(alice, "weather", storage.Private)
	before := time.Now().UnixMilli()
	res, body := env.apiWith("POST", "/api/v1/sensors/weather/data", aliceAuth, `{"value":21.5,"message":"sunny"}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("JSON: %d %s", res.StatusCode, body)
	}
	first := decode[map[string]any](t, body)
	if ts, ok := first["timestamp"].(float64); !ok || int64(ts) < before || int64(ts) > time.Now().UnixMilli() || first["value"] != 21.5 {
		t.Errorf("answer %s: want the reading with the server's timestamp", body)
	}
	earlier := time.Now().Add(-time.Hour).UnixMilli()
	res, body = env.apiSend("POST", "/api/v1/sensors/alice.weather/data", aliceAuth, "application/x-www-form-urlencoded",
		fmt.Sprintf("value=22&message=cloudy&timestamp=%d", earlier))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("form: %d %s", res.StatusCode, body)
	}
	data, _ := env.store.SensorData(sn.ID, storage.DataQuery{})
	if len(data) != 2 || data[0].Timestamp.UnixMilli() != earlier || data[0].Values["value"] != 22.0 || data[1].Values["message"] != "sunny" {
		t.Fatalf("stored %+v", data)
	}
	got := pubs.all()
	if len(got) != 2 || got[0].Topic != "alice/weather/data" || got[1].Topic != "alice/weather/data" {
		t.Fatalf("published %+v", got)
	}
	want, _ := json.Marshal(data[0])
	if got[1].Payload != string(want) {
		t.Errorf("published %s, want the reading %s", got[1].Payload, want)
	}
	if p := decode[map[string]any](t, got[0].Payload); p["value"] != 21.5 || p["message"] != "sunny" || p["timestamp_iso"] == nil {
		t.Errorf("published %s", got[0].Payload)
	}
}

// TestSensorsAPI_BadReadingsRefused: 400 (or 415) with the reason; nothing is
// stored and nothing published.
func TestSensorsAPI_BadReadingsRefused(t *testing.T) {
	env, pubs := newPublishingEnv(t)
	env.user(alice, "alice-password")
	sn := env.sensor(alice, "weather", storage.Private)
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, contentType, body string
		status                  int
		says                    string
	}{
		{"unknown field", "application/json", `{"value":1,"colour":"red"}`, 400, `no field \"colour\"`},
		{"text for a number", "application/json", `{"value":"warm"}`, 400, `\"value\" must be a number`},
		{"number for text", "application/json", `{"message":5}`, 400, `\"message\" must be a string`},
		{"no values", "application/json", `{}`, 400, "at least one field"},
		{"only a timestamp", "application/json", `{"timestamp":1700000000000}`, 400, "at least one field"},
		{"bad timestamp", "application/json", `{"value":1,"timestamp":"yesterday"}`, 400, "timestamp must be"},
		{"not an object", "application/json", `[1,2]`, 400, "must be a JSON object"},
		{"broken JSON", "application/json", `{"value":`, 400, "ends too early"},
		{"form text for a number", form, "value=warm", 400, "must be a number"},
		{"form hexadecimal number", form, "value=0x1p4", 400, "must be a number"},
		{"form number with underscores", form, "value=1_000", 400, "must be a number"},
		{"form infinity", form, "value=Infinity", 400, "must be a number"},
		{"number in a string with underscores", "application/json", `{"value":"1_000"}`, 400, `\"value\" must be a number`},
		{"form field twice", form, "value=1&value=2", 400, "appears more than once"},
		{"form unknown field", form, "colour=red", 400, "no field"},
		{"plain text", "text/plain", "value=1", 415, "application/json or application/x-www-form-urlencoded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := env.apiSend("POST", "/api/v1/sensors/weather/data", aliceAuth, tc.contentType, tc.body)
			if res.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", res.StatusCode, body, tc.status)
			}
			checkAPIError(t, tc.status, body, strings.ReplaceAll(tc.says, `\"`, `"`))
		})
	}
	if data, _ := env.store.SensorData(sn.ID, storage.DataQuery{}); len(data) != 0 {
		t.Errorf("refused readings were stored: %+v", data)
	}
	if got := pubs.all(); len(got) != 0 {
		t.Errorf("refused readings were published: %+v", got)
	}
}

// TestSensorsAPI_DataQuery: start, end, after, before, reverse and limit
// select as WoTKit's do; each reading carries the sensor's id and name; bad
// values are 400.
func TestSensorsAPI_DataQuery(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	sn := env.sensor(alice, "weather", storage.Private)
	base := time.Now().Add(-time.Hour).Truncate(time.Second) // within the retention
	at := func(i int) int64 { return base.Add(time.Duration(i) * time.Second).UnixMilli() }
	for i := 1; i <= 10; i++ {
		env.record(sn, time.UnixMilli(at(i)), map[string]any{"value": float64(i)})
	}
	cases := []struct {
		query string
		want  string // the values, in order
	}{
		{"", "1 2 3 4 5 6 7 8 9 10"},
		{fmt.Sprintf("start=%d&end=%d", at(3), at(6)), "3 4 5"},
		{fmt.Sprintf("after=%d", at(8)), "9 10"},
		{fmt.Sprintf("start=%d&after=%d&end=%d", at(2), at(3), at(5)), "4"},
		{"before=3", "8 9 10"},
		{"before=3&reverse=true", "10 9 8"},
		{"reverse=true&limit=2", "10 9"},
		{"limit=2", "1 2"},
		{fmt.Sprintf("end=%d&before=5", at(3)), "1 2"},
		{fmt.Sprintf("start=%d", at(11)), ""},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			res, body := env.apiWith("GET", "/api/v1/sensors/weather/data?"+tc.query, aliceAuth, "")
			if res.StatusCode != 200 {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			var got []string
			for _, r := range decode[[]map[string]any](t, body) {
				got = append(got, fmt.Sprint(r["value"]))
				if r["sensor_id"] != float64(sn.ID) || r["sensor_name"] != "alice.weather" || r["timestamp"] != float64(at(int(r["value"].(float64)))) {
					t.Errorf("reading %v", r)
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("values %v, want %s", got, tc.want)
			}
			if tc.want == "" && strings.TrimSpace(body) != "[]" {
				t.Errorf("no readings: %s, want []", body)
			}
		})
	}
	for _, bad := range []string{"start=abc", "start=-5", "end=1.5", "after=99999999999999999", "before=0", "before=-1",
		"limit=0", "limit=1001", "reverse=maybe", fmt.Sprintf("start=%d&end=%d", at(5), at(5))} {
		res, body := env.apiWith("GET", "/api/v1/sensors/weather/data?"+bad, aliceAuth, "")
		if res.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", bad, res.StatusCode)
			continue
		}
		checkAPIError(t, 400, body, "must be")
	}
}

// TestSensorsAPI_PublicToOthersUntilPrivate: another user reads a PUBLIC
// sensor, its fields and data, and may not change it (403); a PRIVATE one does
// not exist for them (404), and a PUBLIC one stops existing the moment it
// turns PRIVATE.
func TestSensorsAPI_PublicToOthersUntilPrivate(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	env.user("bobby", "bobby-password")
	bob := basicAuth("bobby", "bobby-password")
	pub := env.sensor(alice, "weather", storage.Public)
	env.sensor(alice, "diary", storage.Private)
	env.record(pub, time.Now(), map[string]any{"value": 1.0})
	reads := []string{"/api/v1/sensors/alice.weather", "/api/v1/sensors/" + fmt.Sprint(pub.ID),
		"/api/v1/sensors/alice.weather/fields", "/api/v1/sensors/alice.weather/fields/value", "/api/v1/sensors/alice.weather/data"}
	for _, path := range reads {
		if res, body := env.apiWith("GET", path, bob, ""); res.StatusCode != 200 {
			t.Errorf("bob GET %s: %d %s", path, res.StatusCode, body)
		}
	}
	writes := []struct{ method, path, body string }{
		{"PUT", "/api/v1/sensors/alice.weather", `{"description":"mine now"}`},
		{"DELETE", "/api/v1/sensors/alice.weather", ""},
		{"PUT", "/api/v1/sensors/alice.weather/fields/temp", `{"type":"NUMBER"}`},
		{"DELETE", "/api/v1/sensors/alice.weather/fields/value", ""},
		{"POST", "/api/v1/sensors/alice.weather/data", `{"value":666}`},
	}
	for _, w := range writes {
		res, body := env.apiWith(w.method, w.path, bob, w.body)
		if res.StatusCode != 403 {
			t.Errorf("bob %s %s: %d, want 403", w.method, w.path, res.StatusCode)
			continue
		}
		checkAPIError(t, 403, body, "belongs to alice")
	}
	if res, _ := env.apiWith("GET", "/api/v1/sensors/weather", bob, ""); res.StatusCode != 404 {
		t.Errorf("a bare name is the caller's own: %d", res.StatusCode)
	}
	if names := sensorNames(t, env, bob, ""); names != "alice.weather" {
		t.Errorf("bob's list %q, want alice's public sensor only", names)
	}

	if res, _ := env.apiWith("PUT", "/api/v1/sensors/weather", aliceAuth, `{"visibility":"PRIVATE"}`); res.StatusCode != 204 {
		t.Fatal("alice could not make her sensor private")
	}
	for _, path := range append(reads, "/api/v1/sensors/alice.diary", "/api/v1/sensors/alice.diary/data") {
		res, body := env.apiWith("GET", path, bob, "")
		if res.StatusCode != 404 || strings.Contains(body, "roof") {
			t.Errorf("bob GET %s of a private sensor: %d %s", path, res.StatusCode, body)
		}
	}
	for _, w := range writes {
		if res, _ := env.apiWith(w.method, w.path, bob, w.body); res.StatusCode != 404 {
			t.Errorf("bob %s %s of a private sensor: %d, want 404", w.method, w.path, res.StatusCode)
		}
	}
	if names := sensorNames(t, env, bob, ""); names != "" {
		t.Errorf("bob's list %q, want none", names)
	}
	if data, _ := env.store.SensorData(pub.ID, storage.DataQuery{}); len(data) != 1 {
		t.Errorf("bob changed alice's data: %+v", data)
	}
}

// sensorNames lists the global names GET /api/v1/sensors?query answers.
func sensorNames(t *testing.T, env *testEnv, authorization, query string) string {
	t.Helper()
	res, body := env.apiWith("GET", "/api/v1/sensors?"+query, authorization, "")
	if res.StatusCode != 200 {
		t.Fatalf("list %s: %d %s", query, res.StatusCode, body)
	}
	var names []string
	for _, sn := range decode[[]storage.Sensor](t, body) {
		names = append(names, sn.GlobalName())
	}
	return strings.Join(names, " ")
}

// TestSensorsAPI_ListQuery: scope, tags (all of them), text, visibility,
// offset and limit; bad values are 400.
func TestSensorsAPI_ListQuery(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	env.user("bobby", "bobby-password")
	env.sensor(alice, "aa-weather", storage.Public, "outdoor", "Roof")
	env.sensor(alice, "bb-cellar", storage.Private, "indoor")
	env.sensor(alice, "cc-garden", storage.Public, "outdoor")
	env.sensor("bobby", "dd-bobs", storage.Public, "outdoor", "roof")
	env.sensor("bobby", "ee-hidden", storage.Private, "outdoor")
	cases := []struct{ query, want string }{
		{"", "alice.aa-weather alice.bb-cellar alice.cc-garden bobby.dd-bobs"},
		{"scope=all", "alice.aa-weather alice.bb-cellar alice.cc-garden bobby.dd-bobs"},
		{"scope=contributed", "alice.aa-weather alice.bb-cellar alice.cc-garden"},
		{"tags=outdoor", "alice.aa-weather alice.cc-garden bobby.dd-bobs"},
		{"tags=outdoor,roof", "alice.aa-weather bobby.dd-bobs"},
		{"tags=outdoor,indoor", ""},
		{"text=GARDEN", "alice.cc-garden"},
		{"text=roof+of+bobby", "bobby.dd-bobs"},
		{"visibility=PRIVATE", "alice.bb-cellar"},
		{"visibility=public&scope=contributed", "alice.aa-weather alice.cc-garden"},
		{"offset=1&limit=2", "alice.bb-cellar alice.cc-garden"},
		{"offset=10", ""},
	}
	for _, tc := range cases {
		if got := sensorNames(t, env, aliceAuth, tc.query); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
		}
	}
	for _, bad := range []string{"scope=subscribed", "visibility=secret", "limit=0", "limit=1001", "offset=-1", "limit=x"} {
		res, body := env.apiWith("GET", "/api/v1/sensors?"+bad, aliceAuth, "")
		if res.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", bad, res.StatusCode)
			continue
		}
		checkAPIError(t, 400, body, "must be")
	}
}

// TestSensorsAPI_CredentialRights: keys and tokens manage sensors within
// their rights: reading needs read, every change and posting data needs write.
func TestSensorsAPI_CredentialRights(t *testing.T) {
	env, pubs := newPublishingEnv(t)
	env.user(alice, "alice-password")
	sn := env.sensor(alice, "weather", storage.Private)
	token := func(scope storage.Scope) string { // one application per scope: a new grant replaces the last
		app, _ := env.app(alice, "Dashboard "+scope.String(), false)
		return "Bearer " + wotkittest.Token(t, env.store, alice, app.ClientID, scope, time.Hour)
	}
	readOnly, roPassword, err := env.store.CreateKey(alice, storage.NewKey{Name: "display", Permissions: storage.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	rwID, rwPassword := env.key(alice, "station")
	creds := []struct {
		name          string
		authorization string
		read, write   bool
	}{
		{"own password", aliceAuth, true, true},
		{"read-write key", basicAuth(rwID, rwPassword), true, true},
		{"read-only key", basicAuth(readOnly.ID, roPassword), true, false},
		{"read token", token(storage.ScopeRead), true, false},
		{"write token", token(storage.ScopeWrite), false, true},
		{"all token", token(storage.ScopeAll), true, true},
	}
	for i, cr := range creds {
		t.Run(cr.name, func(t *testing.T) {
			status := func(ok bool, success int) int {
				if ok {
					return success
				}
				return 403
			}
			calls := []struct {
				method, path, body string
				want               int
			}{
				{"GET", "/api/v1/sensors", "", status(cr.read, 200)},
				{"GET", "/api/v1/sensors/weather/data", "", status(cr.read, 200)},
				{"POST", "/api/v1/sensors/weather/data", `{"value":1}`, status(cr.write, 201)},
				{"PUT", "/api/v1/sensors/weather", `{"description":"x"}`, status(cr.write, 204)},
				{"PUT", fmt.Sprintf("/api/v1/sensors/weather/fields/f%d", i), `{"type":"NUMBER"}`, status(cr.write, 201)},
				{"DELETE", fmt.Sprintf("/api/v1/sensors/weather/fields/f%d", i), "", status(cr.write, 204)},
				{"POST", "/api/v1/sensors", fmt.Sprintf(`{"name":"made-%d"}`, i), status(cr.write, 201)},
				{"DELETE", fmt.Sprintf("/api/v1/sensors/made-%d", i), "", status(cr.write, 204)},
			}
			for _, call := range calls {
				res, body := env.apiWith(call.method, call.path, cr.authorization, call.body)
				if res.StatusCode != call.want {
					t.Errorf("%s %s: %d %s, want %d", call.method, call.path, res.StatusCode, body, call.want)
				} else if call.want == 403 {
					checkAPIError(t, 403, body, "permission")
				}
			}
		})
	}
	data, _ := env.store.SensorData(sn.ID, storage.DataQuery{})
	if writers := 4; len(data) != writers || len(pubs.all()) != writers {
		t.Errorf("%d readings stored and %d published, want one per writing credential", len(data), len(pubs.all()))
	}
}

// TestSensorsAPI_CrossSiteFormRefused: a browser remembers HTTP Basic
// credentials, so a form on another site must not post readings with them.
func TestSensorsAPI_CrossSiteFormRefused(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	sn := env.sensor(alice, "weather", storage.Private)
	req, _ := http.NewRequestWithContext(context.Background(), "POST", env.srv.URL+"/api/v1/sensors/weather/data", strings.NewReader("value=666"))
	req.Header.Set("Authorization", aliceAuth)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site form: %d, want 403", res.StatusCode)
	}
	if data, _ := env.store.SensorData(sn.ID, storage.DataQuery{}); len(data) != 0 {
		t.Errorf("stored %+v", data)
	}
}
