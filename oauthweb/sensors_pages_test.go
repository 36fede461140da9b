package oauthweb

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wotkit/wotkit/storage"
)

// TestSensorPages_CreateViewEditDelete: the whole life of a sensor in the
// portal, each change behind a CSRF-protected POST and a redirect.
func TestSensorPages_CreateViewEditDelete(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	b := env.browser("127.0.0.1")
	b.login(alice, "alice-password")
	if res, body := b.get("/sensors"); res.StatusCode != 200 || !strings.Contains(body, "You have no sensors yet.") || !strings.Contains(body, `href="/sensors"`) {
		t.Fatalf("empty list: %d", res.StatusCode)
	}
	res, body := b.submit("/sensors/new", "/sensors", url.Values{"name": {"weather"}, "longName": {"Weather station"},
		"description": {"on the roof"}, "visibility": {"PUBLIC"}, "tags": {" outdoor, roof,,outdoor "},
		"latitude": {"49.26"}, "longitude": {""}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sensors/alice.weather?created=1" {
		t.Fatalf("create: %d to %q %s", res.StatusCode, res.Header.Get("Location"), body)
	}
	sn, err := env.store.Sensor(alice, "weather")
	if err != nil || sn.LongName != "Weather station" || sn.Visibility != storage.Public || strings.Join(sn.Tags, "|") != "outdoor|roof" ||
		sn.Latitude == nil || *sn.Latitude != 49.26 || sn.Longitude != nil || len(sn.Fields) != 4 {
		t.Fatalf("created %+v %v", sn, err)
	}

	env.record(sn, time.Now().Add(-2*time.Minute), map[string]any{"value": 19.25, "message": "cloudy"})
	env.record(sn, time.Now().Add(-time.Minute), map[string]any{"value": 21.5})
	res, body = b.get("/sensors/alice.weather?created=1")
	if res.StatusCode != 200 {
		t.Fatalf("view: %d", res.StatusCode)
	}
	for _, want := range []string{"The sensor was created", "Weather station", "alice.weather", "on the roof", "outdoor", "49.26",
		`<svg class="chart"`, "<polyline", "Data: the last 2 values", // the chart of field value
		`<td class="value">21.5</td>`, `<td class="value">cloudy</td>`, // latest values: the newest of each field
		"alice/weather/data", "alice/weather/message", "wotkit.example:1883", "http://wotkit.example:8080/api/v1/sensors/alice.weather/data",
		"/sensors/alice.weather/edit", "/sensors/alice.weather/delete"} {
		if !strings.Contains(body, want) {
			t.Errorf("view lacks %q", want)
		}
	}
	if strings.Contains(body, `<td class="value">19.25</td>`) {
		t.Error("view shows an older value as the latest")
	}
	if _, body := b.get("/sensors"); !strings.Contains(body, `href="/sensors/alice.weather"`) || !strings.Contains(body, "Weather station") {
		t.Error("list lacks the sensor")
	}

	if res, body := b.get("/sensors/alice.weather/edit"); res.StatusCode != 200 || !strings.Contains(body, `value="outdoor, roof"`) || !strings.Contains(body, `value="49.26"`) {
		t.Fatalf("edit form: %d", res.StatusCode)
	}
	res, _ = b.submit("/sensors/alice.weather/edit", "/sensors/alice.weather/edit", url.Values{"name": {"renamed"}, "longName": {"Roof"},
		"visibility": {"PRIVATE"}, "tags": {"a"}, "latitude": {""}, "longitude": {"-123.25"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sensors/alice.weather?updated=1" {
		t.Fatalf("edit: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if sn, _ = env.store.Sensor(alice, "weather"); sn.LongName != "Roof" || sn.Visibility != storage.Private || sn.Description != "" ||
		sn.Latitude != nil || sn.Longitude == nil || *sn.Longitude != -123.25 || strings.Join(sn.Tags, "|") != "a" {
		t.Fatalf("edited %+v", sn)
	}

	if res, body := b.get("/sensors/alice.weather/delete"); res.StatusCode != 200 || !strings.Contains(body, "Delete the sensor") {
		t.Fatalf("confirmation: %d", res.StatusCode)
	}
	if _, err := env.store.Sensor(alice, "weather"); err != nil {
		t.Fatal("the confirmation page deleted the sensor")
	}
	res, _ = b.submit("/sensors/alice.weather/delete", "/sensors/alice.weather/delete", url.Values{})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sensors?deleted=1" {
		t.Fatalf("delete: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, err := env.store.Sensor(alice, "weather"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("sensor after delete: %v", err)
	}
	if _, body := b.get("/sensors?deleted=1"); !strings.Contains(body, "The sensor and its data were deleted") {
		t.Error("no notice after delete")
	}
}

// TestSensorPages_ViewWithoutReadings: a new sensor's page says there is
// nothing to chart, and lists its fields with no values.
func TestSensorPages_ViewWithoutReadings(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	env.sensor(alice, "weather", storage.Private)
	b := env.browser("127.0.0.1")
	b.login(alice, "alice-password")
	res, body := b.get("/sensors/alice.weather")
	if res.StatusCode != 200 || strings.Contains(body, "<svg") || !strings.Contains(body, "No numeric readings yet.") ||
		strings.Count(body, "none yet") != 4 {
		t.Fatalf("view: %d", res.StatusCode)
	}
}

// TestSensorPages_BadInputSaysWhy: the form comes back with the reason and
// what was typed; nothing is made or changed.
func TestSensorPages_BadInputSaysWhy(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	env.sensor(alice, "weather", storage.Private)
	b := env.browser("127.0.0.1")
	b.login(alice, "alice-password")
	cases := []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"short name", url.Values{"name": {"abc"}, "visibility": {"PRIVATE"}}, 400, "4 to 64 characters"},
		{"upper case", url.Values{"name": {"Weather2"}, "visibility": {"PRIVATE"}}, 400, "4 to 64 characters"},
		{"bad latitude", url.Values{"name": {"garden"}, "visibility": {"PRIVATE"}, "latitude": {"north"}}, 400, "Latitude must be a number"},
		{"hexadecimal longitude", url.Values{"name": {"garden"}, "visibility": {"PRIVATE"}, "longitude": {"0x1p4"}}, 400, "Longitude must be a number"},
		{"latitude out of range", url.Values{"name": {"garden"}, "visibility": {"PRIVATE"}, "latitude": {"100"}}, 400, "between -90 and 90"},
		{"name taken", url.Values{"name": {"weather"}, "visibility": {"PRIVATE"}}, 409, "You already have a sensor called weather."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := b.submit("/sensors/new", "/sensors", tc.form)
			if res.StatusCode != tc.status || !strings.Contains(body, `class="alert"`) || !strings.Contains(body, tc.says) ||
				!strings.Contains(body, `value="`+tc.form.Get("name")+`"`) {
				t.Fatalf("%d, want %d saying %q with the name kept", res.StatusCode, tc.status, tc.says)
			}
		})
	}
	res, body := b.submit("/sensors/alice.weather/edit", "/sensors/alice.weather/edit", url.Values{"visibility": {"SECRET"}})
	if res.StatusCode != 400 || !strings.Contains(body, "PUBLIC or PRIVATE") {
		t.Errorf("bad edit: %d", res.StatusCode)
	}
	if all, _ := env.store.Sensors(); len(all) != 1 || all[0].Visibility != storage.Private {
		t.Errorf("bad forms changed the sensors: %+v", all)
	}
}

// TestSensorPages_OtherUsersSeePublicOnly: bob sees alice's PUBLIC sensor in
// his list and its page, without a way to change it; her PRIVATE one is not
// found; her edit and delete pages refuse him.
func TestSensorPages_OtherUsersSeePublicOnly(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	env.user("bobby", "bobby-password")
	pub := env.sensor(alice, "weather", storage.Public)
	env.sensor(alice, "diary", storage.Private)
	env.record(pub, time.Now(), map[string]any{"value": 3.0})
	bob := env.browser("127.0.0.1")
	bob.login("bobby", "bobby-password")
	_, body := bob.get("/sensors")
	if !strings.Contains(body, `href="/sensors/alice.weather"`) || strings.Contains(body, "diary") || !strings.Contains(body, "You have no sensors yet.") {
		t.Error("bob's list should hold alice's public sensor only, among others' sensors")
	}
	res, body := bob.get("/sensors/alice.weather")
	if res.StatusCode != 200 || !strings.Contains(body, "<svg") || strings.Contains(body, "/edit") || strings.Contains(body, "/delete") ||
		!strings.Contains(body, "subscribe to receive the readings") {
		t.Errorf("bob's view of a public sensor: %d", res.StatusCode)
	}
	for _, path := range []string{"/sensors/alice.diary", "/sensors/alice.diary/edit", "/sensors/alice.diary/delete", "/sensors/diary", "/sensors/alice.nothing"} {
		if res, body := bob.get(path); res.StatusCode != 404 || strings.Contains(body, "diary") {
			t.Errorf("GET %s: %d", path, res.StatusCode)
		}
	}
	for _, path := range []string{"/sensors/alice.weather/edit", "/sensors/alice.weather/delete"} {
		if res, _ := bob.get(path); res.StatusCode != 403 {
			t.Errorf("GET %s: %d, want 403", path, res.StatusCode)
		}
	}
	token := bob.csrf("/sensors")
	for _, path := range []string{"/sensors/alice.weather/edit", "/sensors/alice.weather/delete"} {
		if res, _ := bob.post(path, url.Values{csrfField: {token}, "visibility": {"PRIVATE"}}); res.StatusCode != 403 {
			t.Errorf("POST %s: %d, want 403", path, res.StatusCode)
		}
	}
	if sn, err := env.store.Sensor(alice, "weather"); err != nil || sn.Visibility != storage.Public {
		t.Fatalf("bob changed alice's sensor: %+v %v", sn, err)
	}
}

// TestSensorPages_CSRFRequired: a POST without the session's token, or with
// another session's, changes nothing and is refused with 403.
func TestSensorPages_CSRFRequired(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	env.user("bobby", "bobby-password")
	env.sensor(alice, "weather", storage.Private)
	b := env.browser("127.0.0.1")
	b.login(alice, "alice-password")
	other := env.browser("127.0.0.2")
	other.login("bobby", "bobby-password")
	foreign := other.csrf("/sensors")
	for _, path := range []string{"/sensors", "/sensors/alice.weather/edit", "/sensors/alice.weather/delete"} {
		for name, form := range map[string]url.Values{
			"no token":            {"name": {"garden"}, "visibility": {"PUBLIC"}},
			"another's token":     {"name": {"garden"}, "visibility": {"PUBLIC"}, csrfField: {foreign}},
			"a token of no value": {"name": {"garden"}, "visibility": {"PUBLIC"}, csrfField: {""}},
		} {
			if res, _ := b.post(path, form); res.StatusCode != http.StatusForbidden {
				t.Errorf("%s with %s: %d, want 403", path, name, res.StatusCode)
			}
		}
	}
	if all, _ := env.store.Sensors(); len(all) != 1 || all[0].Visibility != storage.Private {
		t.Fatalf("refused forms changed the sensors: %+v", all)
	}
}

// TestSensorPages_CSPSafe: the sensor pages, chart included, use no inline
// style or script, which the Content-Security-Policy would block.
func TestSensorPages_CSPSafe(t *testing.T) {
	env := newTestEnv(t)
	env.user(alice, "alice-password")
	sn := env.sensor(alice, "weather", storage.Public)
	for i := range 5 {
		env.record(sn, time.Now().Add(time.Duration(i-5)*time.Minute), map[string]any{"value": float64(i * i)})
	}
	b := env.browser("127.0.0.1")
	b.login(alice, "alice-password")
	for _, path := range []string{"/sensors", "/sensors/new", "/sensors/alice.weather", "/sensors/alice.weather/edit", "/sensors/alice.weather/delete"} {
		res, body := b.get(path)
		if res.StatusCode != 200 {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
		for _, bad := range []string{"<script>", "style=", "<style", "onclick", "javascript:"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
	}
}
