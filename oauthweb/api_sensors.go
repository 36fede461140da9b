package oauthweb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// Sensors are managed with any credential, as WoTKit's clients do: the
// user's password, a key, or a token, each within its rights. Reading needs
// the read right, creating, changing, deleting and posting data the write
// right; only the owner changes a sensor, and anyone authenticated reads a
// PUBLIC one.

// requireRights lets through only credentials whose rights include want: a
// read-only key or a read-scope token may not write, a write-scope token may
// not read.
func requireRights(want storage.Scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			pr := principalOf(c)
			if !pr.Rights.Has(want) {
				return newError(http.StatusForbidden, "this credential may not "+want.String(),
					fmt.Sprintf("this needs the %s permission (a key's permissions, a token's scope); the %s used is %s",
						want, pr.Via, permissionsName(pr.Rights)))
			}
			return next(c)
		}
	}
}

// canSee reports whether user may read sn: their own, or anyone's PUBLIC one.
func canSee(user string, sn storage.Sensor) bool {
	return sn.Owner == user || sn.Visibility == storage.Public
}

// visibleSensor returns the sensor ref names for user (a bare name of
// user's, owner.name, or an id) if user may see it. Another user's PRIVATE
// sensor is 404, as if it did not exist.
func (p *Portal) visibleSensor(user, ref string) (storage.Sensor, error) {
	sn, err := p.store.SensorByRef(user, ref)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !canSee(user, sn)) {
		return storage.Sensor{}, newError(http.StatusNotFound, "no such sensor", "no sensor "+ref+" is visible to you")
	}
	if err != nil {
		return storage.Sensor{}, internalError(err)
	}
	return sn, nil
}

// ownSensor is visibleSensor for a change: a PUBLIC sensor of another user is 403.
func (p *Portal) ownSensor(user, ref string) (storage.Sensor, error) {
	sn, err := p.visibleSensor(user, ref)
	if err == nil && sn.Owner != user {
		return storage.Sensor{}, newError(http.StatusForbidden, "Only the owner of this sensor may change it.",
			"sensor "+sn.GlobalName()+" belongs to "+sn.Owner)
	}
	return sn, err
}

// sensorChangeError answers an error of CreateSensor, UpdateSensor or a change
// function: its own answer, 400 for invalid input, 404 for a sensor deleted
// meanwhile, 409 for a name taken.
func sensorChangeError(err error) error {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he
	case refusal(err) != 0:
		return apiRefusal(err, "sensor")
	case errors.Is(err, storage.ErrExists):
		return newError(http.StatusConflict, "sensor name taken", "you already have a sensor with this name")
	case errors.Is(err, storage.ErrNotFound):
		return newError(http.StatusNotFound, "no such sensor", "the sensor was deleted")
	}
	return internalError(err)
}

// sensorJSON is a sensor as the API shows it: storage.Sensor's JSON, with
// empty lists rather than null.
func sensorJSON(sn storage.Sensor) storage.Sensor {
	if sn.Tags == nil {
		sn.Tags = []string{}
	}
	if sn.Fields == nil {
		sn.Fields = []storage.Field{}
	}
	return sn
}

// sent is one member of a JSON patch: Set says whether the body had it, so
// that null (clear) differs from absent (keep). Its value is decoded strictly.
type sent[T any] struct {
	Set bool
	V   T
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *sent[T]) UnmarshalJSON(b []byte) error {
	s.Set = true
	return decodeStrict(b, &s.V)
}

// decodeStrict decodes one JSON value, refusing unknown object members.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// sensorPatch is the body of POST and PUT /api/v1/sensors/...: every member
// of the sensor's JSON, so that a client may send back what it read. id,
// owner and name cannot change; created and lastUpdate are the server's.
type sensorPatch struct {
	ID          sent[uint64]          `json:"id"`
	Owner       sent[string]          `json:"owner"`
	Name        sent[string]          `json:"name"`
	LongName    sent[string]          `json:"longName"`
	Description sent[string]          `json:"description"`
	Latitude    sent[*float64]        `json:"latitude"`
	Longitude   sent[*float64]        `json:"longitude"`
	Visibility  sent[string]          `json:"visibility"`
	Tags        sent[[]string]        `json:"tags"`
	Fields      sent[[]storage.Field] `json:"fields"`
	Created     sent[time.Time]       `json:"created"`
	LastUpdate  sent[time.Time]       `json:"lastUpdate"`
}

// readSensorPatch reads the request body as a sensorPatch.
func readSensorPatch(c echo.Context) (sensorPatch, error) {
	var raw json.RawMessage
	if err := decodeJSON(c, &raw); err != nil {
		return sensorPatch{}, err
	}
	var patch sensorPatch
	if err := decodeStrict(raw, &patch); err != nil {
		return sensorPatch{}, badJSON(err)
	}
	return patch, nil
}

// apply changes sn by what the patch has; it refuses a change of identity.
func (sp sensorPatch) apply(sn *storage.Sensor) error {
	if (sp.ID.Set && sp.ID.V != sn.ID) || (sp.Owner.Set && sp.Owner.V != sn.Owner) || (sp.Name.Set && sp.Name.V != sn.Name) {
		return newError(http.StatusBadRequest, "a sensor cannot be renamed",
			"id, owner and name of sensor "+sn.GlobalName()+" cannot change; make a new sensor instead")
	}
	set(&sn.LongName, sp.LongName)
	set(&sn.Description, sp.Description)
	set(&sn.Latitude, sp.Latitude)
	set(&sn.Longitude, sp.Longitude)
	set(&sn.Visibility, sp.Visibility)
	set(&sn.Tags, sp.Tags)
	set(&sn.Fields, sp.Fields)
	return nil
}

// set stores a patch member's value in dst when the body had it.
func set[T any](dst *T, s sent[T]) {
	if s.Set {
		*dst = s.V
	}
}

// withDefaultFields is fields after WoTKit's default fields that it does not
// itself define: every sensor starts with lat, lng, value and message.
func withDefaultFields(fields []storage.Field) []storage.Field {
	var out []storage.Field
	for _, d := range storage.DefaultFields() {
		if !slices.ContainsFunc(fields, func(f storage.Field) bool { return f.Name == d.Name }) {
			out = append(out, d)
		}
	}
	return append(out, fields...)
}

// sensorQuery is what GET /api/v1/sensors selects.
type sensorQuery struct {
	contributed   bool     // only the caller's own
	tags          []string // every one must be among the sensor's tags
	text          string   // lower case; in the name, long name or description
	visibility    string   // "" for both
	offset, limit int
}

// maxQueryTags bounds the tags of one sensor search: each is matched against
// every sensor.
const maxQueryTags = 32

func parseSensorQuery(c echo.Context) (sensorQuery, error) {
	q := sensorQuery{text: strings.ToLower(c.QueryParam("text"))}
	switch c.QueryParam("scope") {
	case "", "all":
	case "contributed":
		q.contributed = true
	default:
		return q, badParam("scope", "all or contributed")
	}
	for t := range strings.SplitSeq(c.QueryParam("tags"), ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(q.tags, t) {
			if len(q.tags) == maxQueryTags {
				return q, badParam("tags", fmt.Sprintf("at most %d tags", maxQueryTags))
			}
			q.tags = append(q.tags, t)
		}
	}
	switch v := strings.ToUpper(c.QueryParam("visibility")); v {
	case "", storage.Public, storage.Private:
		q.visibility = v
	default:
		return q, badParam("visibility", "PUBLIC or PRIVATE")
	}
	var err error
	if q.offset, err = queryInt(c, "offset", 0, 0, 1<<31-1); err != nil {
		return q, err
	}
	q.limit, err = queryInt(c, "limit", storage.MaxDataLimit, 1, storage.MaxDataLimit)
	return q, err
}

// match reports whether user may see sn and the query selects it. Tags
// match without regard to case, as the text does.
func (q sensorQuery) match(user string, sn storage.Sensor) bool {
	switch {
	case !canSee(user, sn), q.contributed && sn.Owner != user, q.visibility != "" && sn.Visibility != q.visibility:
		return false
	}
	for _, t := range q.tags {
		if !slices.ContainsFunc(sn.Tags, func(s string) bool { return strings.EqualFold(s, t) }) {
			return false
		}
	}
	return q.text == "" || strings.Contains(strings.ToLower(sn.Name+"\n"+sn.LongName+"\n"+sn.Description), q.text)
}

// sensorsFor returns the sensors user may see that q selects, by owner and name.
func (p *Portal) sensorsFor(user string, q sensorQuery) ([]storage.Sensor, error) {
	all, err := p.store.Sensors()
	if err != nil {
		return nil, internalError(err)
	}
	var out []storage.Sensor
	for _, sn := range all {
		if q.match(user, sn) {
			out = append(out, sn)
		}
	}
	return out, nil
}

func (p *Portal) apiListSensors(c echo.Context) error {
	q, err := parseSensorQuery(c)
	if err != nil {
		return err
	}
	found, err := p.sensorsFor(principalOf(c).User.Name, q)
	if err != nil {
		return err
	}
	found = found[min(q.offset, len(found)):]
	found = found[:min(q.limit, len(found))]
	out := make([]storage.Sensor, 0, len(found))
	for _, sn := range found {
		out = append(out, sensorJSON(sn))
	}
	return c.JSON(http.StatusOK, out)
}

func (p *Portal) apiCreateSensor(c echo.Context) error {
	patch, err := readSensorPatch(c)
	if err != nil {
		return err
	}
	user := principalOf(c).User.Name
	if patch.Owner.Set && patch.Owner.V != user {
		return newError(http.StatusBadRequest, "bad owner", "a sensor belongs to the user who makes it: "+user)
	}
	sn := storage.Sensor{Owner: user, Name: patch.Name.V}
	patch.ID.Set, patch.Owner.Set, patch.Name.Set = false, false, false // set by the server, checked above
	if err := patch.apply(&sn); err != nil {
		return err
	}
	if patch.Fields.Set {
		sn.Fields = withDefaultFields(sn.Fields)
	}
	sn, err = p.store.CreateSensor(sn)
	if err != nil {
		return sensorChangeError(err)
	}
	p.log.Info("sensor created", "user", user, "sensor", sn.GlobalName(), "via", "api")
	c.Response().Header().Set("Location", "/api/v1/sensors/"+sn.GlobalName())
	return c.JSON(http.StatusCreated, sensorJSON(sn))
}

func (p *Portal) apiGetSensor(c echo.Context) error {
	sn, err := p.visibleSensor(principalOf(c).User.Name, c.Param("ref"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sensorJSON(sn))
}

// apiUpdateSensor changes what the body sends and keeps the rest.
func (p *Portal) apiUpdateSensor(c echo.Context) error {
	user := principalOf(c).User.Name
	sn, err := p.ownSensor(user, c.Param("ref"))
	if err != nil {
		return err
	}
	patch, err := readSensorPatch(c)
	if err != nil {
		return err
	}
	if _, err := p.store.UpdateSensor(sn.Owner, sn.Name, patch.apply); err != nil {
		return sensorChangeError(err)
	}
	p.log.Info("sensor updated", "user", user, "sensor", sn.GlobalName(), "via", "api")
	return c.NoContent(http.StatusNoContent)
}

func (p *Portal) apiDeleteSensor(c echo.Context) error {
	if err := p.deleteOwnSensor(c, principalOf(c).User.Name, "api"); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (p *Portal) apiListFields(c echo.Context) error {
	sn, err := p.visibleSensor(principalOf(c).User.Name, c.Param("ref"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sensorJSON(sn).Fields)
}

// noSuchField is the 404 for a field the sensor does not have.
func noSuchField(sn storage.Sensor, name string) *httpError {
	return newError(http.StatusNotFound, "no such field", "sensor "+sn.GlobalName()+" has no field "+name)
}

func (p *Portal) apiGetField(c echo.Context) error {
	sn, err := p.visibleSensor(principalOf(c).User.Name, c.Param("ref"))
	if err != nil {
		return err
	}
	f, ok := sn.Field(c.Param("field"))
	if !ok {
		return noSuchField(sn, c.Param("field"))
	}
	return c.JSON(http.StatusOK, f)
}

// apiPutField adds the field in the path (201, with the field), or changes
// what the body sends of an existing one (204); the body's name, if any,
// must be the path's.
func (p *Portal) apiPutField(c echo.Context) error {
	user, name := principalOf(c).User.Name, c.Param("field")
	sn, err := p.ownSensor(user, c.Param("ref"))
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := decodeJSON(c, &raw); err != nil {
		return err
	}
	var added *storage.Field
	_, err = p.store.UpdateSensor(sn.Owner, sn.Name, func(s *storage.Sensor) error {
		i := slices.IndexFunc(s.Fields, func(f storage.Field) bool { return f.Name == name })
		f := storage.Field{Name: name}
		added = nil
		if i >= 0 {
			f = s.Fields[i]
		}
		// Field has no slice or pointer, so decoding over it changes exactly what the body has.
		if err := decodeStrict(raw, &f); err != nil {
			return badJSON(err)
		}
		if f.Name != name {
			return newError(http.StatusBadRequest, "a field cannot be renamed", "the body names field "+f.Name+", the path "+name)
		}
		if i >= 0 {
			s.Fields[i] = f
		} else {
			s.Fields = append(s.Fields, f)
			added = &f
		}
		return nil
	})
	if err != nil {
		return sensorChangeError(err)
	}
	p.log.Info("sensor field set", "user", user, "sensor", sn.GlobalName(), "field", name, "via", "api")
	if added != nil {
		return c.JSON(http.StatusCreated, added)
	}
	return c.NoContent(http.StatusNoContent)
}

// apiDeleteField removes a field; readings that have it keep their values.
func (p *Portal) apiDeleteField(c echo.Context) error {
	user, name := principalOf(c).User.Name, c.Param("field")
	sn, err := p.ownSensor(user, c.Param("ref"))
	if err != nil {
		return err
	}
	_, err = p.store.UpdateSensor(sn.Owner, sn.Name, func(s *storage.Sensor) error {
		i := slices.IndexFunc(s.Fields, func(f storage.Field) bool { return f.Name == name })
		if i < 0 {
			return noSuchField(*s, name)
		}
		s.Fields = slices.Delete(s.Fields, i, i+1)
		return nil
	})
	if err != nil {
		return sensorChangeError(err)
	}
	p.log.Info("sensor field deleted", "user", user, "sensor", sn.GlobalName(), "field", name, "via", "api")
	return c.NoContent(http.StatusNoContent)
}
