package oauthweb

import (
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// recentReadings is how many of a sensor's latest readings its page charts.
const recentReadings = 200

// sensorForm is what the New Sensor and Edit Sensor pages show, as typed.
type sensorForm struct {
	Ref                                           string // owner.name of the sensor edited; empty for a new one
	Name, LongName, Description, Visibility, Tags string
	Latitude, Longitude                           string
	Error                                         string
}

// sensorDetail is what a sensor's page and its delete confirmation show.
type sensorDetail struct {
	Sensor       storage.Sensor
	Mine         bool
	Fields       []fieldRow
	LastReading  time.Time
	Charts       []fieldChart
	DataTopic    string
	MessageTopic string
	DataURL      string
	MQTT         string // host:port
	Created      bool   // notices after a change
	Updated      bool
}

// fieldRow is a field with its latest value, if any reading has one.
type fieldRow struct {
	storage.Field
	Value any
	At    time.Time
}

// fieldChart is the chart of one numeric field's recent values.
type fieldChart struct {
	Field storage.Field
	SVG   template.HTML
}

func (p *Portal) sensorsPage(c echo.Context) error {
	user := sessionOf(c).user.Name
	visible, err := p.sensorsFor(user, sensorQuery{})
	if err != nil {
		return err
	}
	var mine, others []storage.Sensor
	for _, sn := range visible {
		if sn.Owner == user {
			mine = append(mine, sn)
		} else {
			others = append(others, sn)
		}
	}
	return p.render(c, http.StatusOK, "sensors", struct {
		Mine, Others []storage.Sensor
		Deleted      bool
	}{mine, others, c.QueryParam("deleted") != ""})
}

func (p *Portal) newSensorPage(c echo.Context) error {
	return p.render(c, http.StatusOK, "sensor_form", sensorForm{Visibility: storage.Private})
}

func (p *Portal) createSensor(c echo.Context) error {
	user := sessionOf(c).user.Name
	form := readSensorForm(c)
	sn := storage.Sensor{Owner: user, Name: form.Name}
	err := form.apply(&sn)
	if err == nil {
		sn, err = p.store.CreateSensor(sn) // with WoTKit's default fields
	}
	switch status := refusal(err); {
	case status != 0:
		form.Error = formError(err)
		return p.render(c, status, "sensor_form", form)
	case errors.Is(err, storage.ErrExists):
		form.Error = "You already have a sensor called " + form.Name + "."
		return p.render(c, http.StatusConflict, "sensor_form", form)
	case err != nil:
		return internalError(err)
	}
	p.log.Info("sensor created", "user", user, "sensor", sn.GlobalName(), "via", "portal")
	return c.Redirect(http.StatusSeeOther, "/sensors/"+sn.GlobalName()+"?created=1")
}

// sensorPage shows a sensor the user may see: attributes, fields with their
// latest values, charts of recent numeric readings, and where to send data.
func (p *Portal) sensorPage(c echo.Context) error {
	user := sessionOf(c).user.Name
	sn, err := p.visibleSensor(user, c.Param("ref"))
	if err != nil {
		return err
	}
	recent, err := p.store.SensorData(sn.ID, storage.DataQuery{Before: recentReadings})
	if err != nil {
		return internalError(err)
	}
	d := sensorDetail{Sensor: sn, Mine: sn.Owner == user, Fields: latestValues(sn, recent),
		DataTopic: dataTopic(sn), MessageTopic: messageTopic(sn),
		DataURL: p.oauth.issuer + "/api/v1/sensors/" + sn.GlobalName() + "/data", MQTT: p.mqttHost + ":" + p.mqttPort,
		Created: c.QueryParam("created") != "", Updated: c.QueryParam("updated") != ""}
	if len(recent) > 0 {
		d.LastReading = recent[len(recent)-1].Timestamp
	}
	if d.Charts, err = sensorCharts(sn, recent); err != nil {
		return internalError(err)
	}
	return p.render(c, http.StatusOK, "sensor_view", d)
}

// latestValues pairs each field with its value in the latest reading that
// has it; recent is oldest first.
func latestValues(sn storage.Sensor, recent []storage.Reading) []fieldRow {
	rows := make([]fieldRow, len(sn.Fields))
	for i, f := range sn.Fields {
		rows[i].Field = f
		for _, r := range slices.Backward(recent) {
			if v, ok := r.Values[f.Name]; ok {
				rows[i].Value, rows[i].At = v, r.Timestamp
				break
			}
		}
	}
	return rows
}

// sensorCharts draws each numeric field that has recent values, but lat and
// lng, which are a place rather than a measurement.
func sensorCharts(sn storage.Sensor, recent []storage.Reading) ([]fieldChart, error) {
	var charts []fieldChart
	for _, f := range sn.Fields {
		if f.Type != storage.FieldNumber || f.Name == "lat" || f.Name == "lng" {
			continue
		}
		var points []chartPoint
		for _, r := range recent {
			if v, ok := r.Values[f.Name].(float64); ok {
				points = append(points, chartPoint{T: r.Timestamp, V: v})
			}
		}
		if len(points) == 0 {
			continue
		}
		label := fmt.Sprintf("%s: the last %d values", cmp.Or(f.LongName, f.Name), len(points))
		svg, err := chartSVG(label, points)
		if err != nil {
			return nil, err
		}
		charts = append(charts, fieldChart{Field: f, SVG: svg})
	}
	return charts, nil
}

func (p *Portal) editSensorPage(c echo.Context) error {
	sn, err := p.ownSensor(sessionOf(c).user.Name, c.Param("ref"))
	if err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "sensor_form", formOf(sn))
}

func (p *Portal) editSensor(c echo.Context) error {
	user := sessionOf(c).user.Name
	sn, err := p.ownSensor(user, c.Param("ref"))
	if err != nil {
		return err
	}
	form := readSensorForm(c)
	form.Ref, form.Name = sn.GlobalName(), sn.Name
	_, err = p.store.UpdateSensor(sn.Owner, sn.Name, form.apply)
	if errors.Is(err, storage.ErrInvalid) {
		form.Error = formError(err)
		return p.render(c, http.StatusBadRequest, "sensor_form", form)
	}
	if err != nil {
		return sensorChangeError(err)
	}
	p.log.Info("sensor updated", "user", user, "sensor", sn.GlobalName(), "via", "portal")
	return c.Redirect(http.StatusSeeOther, "/sensors/"+sn.GlobalName()+"?updated=1")
}

func (p *Portal) deleteSensorPage(c echo.Context) error {
	sn, err := p.ownSensor(sessionOf(c).user.Name, c.Param("ref"))
	if err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "sensor_delete", sensorDetail{Sensor: sn})
}

// deleteSensor removes the sensor, from the portal.
func (p *Portal) deleteSensor(c echo.Context) error {
	if err := p.deleteOwnSensor(c, sessionOf(c).user.Name, "portal"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/sensors?deleted=1")
}

// deleteOwnSensor deletes the sensor in the path and its data if it belongs to
// user, for the portal and the API (via); storage tells the broker, which
// stops delivering it to other users.
func (p *Portal) deleteOwnSensor(c echo.Context, user, via string) error {
	sn, err := p.ownSensor(user, c.Param("ref"))
	if err != nil {
		return err
	}
	if err := p.store.DeleteSensor(sn.Owner, sn.Name); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return internalError(err)
	}
	p.log.Info("sensor deleted", "user", user, "sensor", sn.GlobalName(), "via", via)
	return nil
}

// readSensorForm reads the New Sensor and Edit Sensor forms, whose fields are
// named as the API's JSON.
func readSensorForm(c echo.Context) sensorForm {
	return sensorForm{
		Name:        strings.TrimSpace(c.FormValue("name")),
		LongName:    strings.TrimSpace(c.FormValue("longName")),
		Description: strings.TrimSpace(c.FormValue("description")),
		Visibility:  c.FormValue("visibility"),
		Tags:        c.FormValue("tags"),
		Latitude:    strings.TrimSpace(c.FormValue("latitude")),
		Longitude:   strings.TrimSpace(c.FormValue("longitude")),
	}
}

// formOf is the Edit Sensor form filled with sn.
func formOf(sn storage.Sensor) sensorForm {
	return sensorForm{Ref: sn.GlobalName(), Name: sn.Name, LongName: sn.LongName, Description: sn.Description,
		Visibility: sn.Visibility, Tags: strings.Join(sn.Tags, ", "),
		Latitude: formatCoordinate(sn.Latitude), Longitude: formatCoordinate(sn.Longitude)}
}

func formatCoordinate(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}

// apply sets sn's attributes, but its name, from the form; storage checks them.
func (f sensorForm) apply(sn *storage.Sensor) error {
	lat, err := formCoordinate("latitude", f.Latitude)
	if err != nil {
		return err
	}
	lng, err := formCoordinate("longitude", f.Longitude)
	if err != nil {
		return err
	}
	sn.LongName, sn.Description, sn.Visibility = f.LongName, f.Description, f.Visibility
	sn.Latitude, sn.Longitude = lat, lng
	sn.Tags = nil
	for t := range strings.SplitSeq(f.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(sn.Tags, t) {
			sn.Tags = append(sn.Tags, t)
		}
	}
	return nil
}

// formCoordinate reads an optional number: nil when blank.
func formCoordinate(name, s string) (*float64, error) {
	if s == "" {
		return nil, nil
	}
	f, ok := storage.ParseDecimal(s)
	if !ok {
		return nil, fmt.Errorf("%w: %s must be a number, such as 49.26", storage.ErrInvalid, name)
	}
	return &f, nil
}
