package oauthweb

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// recordTimeout bounds how long a POST of data waits for its reading to be on disk.
const recordTimeout = 10 * time.Second

// dataTopic is the MQTT topic of a sensor's readings.
func dataTopic(sn storage.Sensor) string { return sn.Owner + "/" + sn.Name + "/data" }

// messageTopic is the MQTT topic of a sensor's control messages.
func messageTopic(sn storage.Sensor) string { return sn.Owner + "/" + sn.Name + "/message" }

// apiPostData records one reading of the caller's sensor, once it is on disk
// answers 201 with it, and publishes it to owner/name/data as JSON, so that
// MQTT subscribers see what HTTP clients send.
func (p *Portal) apiPostData(c echo.Context) error {
	user := principalOf(c).User.Name
	sn, err := p.ownSensor(user, c.Param("ref"))
	if err != nil {
		return err
	}
	raw, err := readingValues(c)
	if err != nil {
		return err
	}
	r, err := storage.ParseReading(sn, raw, time.Now())
	if errors.Is(err, storage.ErrInvalid) {
		return newError(http.StatusBadRequest, "bad reading", reason(err))
	}
	if err != nil {
		return internalError(err)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), recordTimeout)
	defer cancel()
	if err := p.store.RecordSync(ctx, sn.ID, r); err != nil {
		if errors.Is(err, storage.ErrInvalid) {
			return newError(http.StatusBadRequest, "bad reading", reason(err))
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) { // the queue stayed full, or the client left
			return newError(http.StatusServiceUnavailable, "too busy to record the reading", "try again later")
		}
		return internalError(err)
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return internalError(err)
	}
	if p.cfg.Publish != nil {
		// The reading is stored: a failed publish is logged, not reported, so
		// that the client does not post it twice.
		if err := p.cfg.Publish(dataTopic(sn), payload); err != nil {
			p.log.Error("publish reading", "sensor", sn.GlobalName(), "error", err)
		}
	}
	return c.JSONBlob(http.StatusCreated, payload)
}

// readingValues reads a reading's values from the body: a JSON object, or
// form pairs as WoTKit's clients send them (value=21.5&message=hi).
func readingValues(c echo.Context) (map[string]any, error) {
	r := c.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		var values map[string]any
		return values, decodeJSON(c, &values)
	case "application/x-www-form-urlencoded":
		// An API credential sent by HTTP Basic may be remembered by a browser:
		// a form of another site must not post with it.
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			return nil, newError(http.StatusForbidden, "cross-site form refused")
		}
		if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, asHTTPError(err)
			}
			return nil, newError(http.StatusBadRequest, "bad form", "the body is not valid form data")
		}
		values := make(map[string]any, len(r.PostForm))
		for k, vs := range r.PostForm {
			if len(vs) != 1 {
				return nil, newError(http.StatusBadRequest, "bad reading", "field "+strconv.Quote(k)+" appears more than once")
			}
			values[k] = vs[0]
		}
		return values, nil
	}
	return nil, newError(http.StatusUnsupportedMediaType, "the body must be JSON or form data",
		"send Content-Type: application/json or application/x-www-form-urlencoded")
}

// apiGetData answers the readings the query selects, each with the sensor's
// id and global name as WoTKit's are.
func (p *Portal) apiGetData(c echo.Context) error {
	sn, err := p.visibleSensor(principalOf(c).User.Name, c.Param("ref"))
	if err != nil {
		return err
	}
	q, err := parseDataQuery(c)
	if err != nil {
		return err
	}
	readings, err := p.store.SensorData(sn.ID, q)
	if err != nil {
		return internalError(err)
	}
	for i, r := range readings {
		values := make(map[string]any, len(r.Values)+2)
		for k, v := range r.Values {
			values[k] = v
		}
		values["sensor_id"], values["sensor_name"] = sn.ID, sn.GlobalName() // reserved: no field has these names
		readings[i].Values = values
	}
	if readings == nil {
		readings = []storage.Reading{}
	}
	return c.JSON(http.StatusOK, readings)
}

// parseDataQuery reads WoTKit's data query: start, end and after in
// milliseconds since 1970, before (the last N), reverse and limit.
func parseDataQuery(c echo.Context) (storage.DataQuery, error) {
	var q storage.DataQuery
	var err error
	if q.Start, err = queryTime(c, "start"); err != nil {
		return q, err
	}
	if q.End, err = queryTime(c, "end"); err != nil {
		return q, err
	}
	if q.After, err = queryTime(c, "after"); err != nil {
		return q, err
	}
	if q.Before, err = queryInt(c, "before", 0, 1, storage.MaxDataLimit); err != nil {
		return q, err
	}
	if q.Limit, err = queryInt(c, "limit", storage.MaxDataLimit, 1, storage.MaxDataLimit); err != nil {
		return q, err
	}
	if v := c.QueryParam("reverse"); v != "" {
		if q.Reverse, err = strconv.ParseBool(v); err != nil {
			return q, badParam("reverse", "true or false")
		}
	}
	if !q.Start.IsZero() && !q.End.IsZero() && !q.End.After(q.Start) {
		return q, badParam("end", "after start")
	}
	return q, nil
}

// badParam is the 400 for a query parameter that is not what it must be.
func badParam(name, want string) *httpError {
	return newError(http.StatusBadRequest, "bad query parameter "+name, name+" must be "+want)
}

// queryInt reads an integer query parameter from lo to hi; def when absent or empty.
func queryInt(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badParam(name, "an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}

// maxMillis is the latest time a query takes, in milliseconds since 1970:
// the last that readings' nanosecond keys can hold (2262-04-11).
const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// queryTime reads a time in milliseconds since 1970; zero when absent or empty.
func queryTime(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 || ms > maxMillis {
		return time.Time{}, badParam(name, "milliseconds since 1970-01-01 UTC")
	}
	return time.UnixMilli(ms).UTC(), nil
}
