package oauthweb

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/metrics"
	"github.com/wotkit/wotkit/storage"
	"github.com/wotkit/wotkit/throttle"
)

// DefaultPublicURL is the base URL used when Config.PublicURL is empty.
const DefaultPublicURL = "http://localhost:8080"

// Config configures the web portal and HTTP API.
type Config struct {
	Store        *storage.Store
	PublicURL    string                 // e.g. "http://localhost:8080"; used for links and the mosquitto_pub line's host
	MQTTAddr     string                 // host:port shown in the ready mosquitto_pub line (default port 1883)
	Signup       bool                   // open sign-up (default on in the CLI)
	SecureCookie bool                   // true under TLS; New also sets it when PublicURL is https (TLS ended by a proxy)
	LiveSessions func(keyID string) int // live MQTT sessions of a key, for the key view; nil shows nothing
	TokenTTL     time.Duration          // access token lifetime (default DefaultTokenTTL, 43200 s)
	// Metrics counts throttled logins and OAuth2 outcomes, and is served at
	// /metrics to admins and loopback clients (nil: no /metrics).
	Metrics *metrics.Metrics
	// Publish sends a message into the MQTT broker as the server (sensor data
	// posted over HTTP goes to owner/name/data); nil: data is only stored.
	Publish func(topic string, payload []byte) error
	Logger  *slog.Logger // default slog.Default()
}

// Validate reports what is wrong with the configuration, defaults applied.
func (c Config) Validate() error {
	if c.Store == nil {
		return errors.New("oauthweb: Config.Store is nil")
	}
	if err := ValidatePublicURL(c.PublicURL); err != nil {
		return fmt.Errorf("oauthweb: %w", err)
	}
	if c.MQTTAddr != "" {
		if _, _, err := net.SplitHostPort(c.MQTTAddr); err != nil {
			return fmt.Errorf("oauthweb: MQTT address %q: %w", c.MQTTAddr, err)
		}
	}
	return nil
}

// ValidatePublicURL reports what is wrong with a public base URL (Config.PublicURL).
func ValidatePublicURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("public URL %q must be an absolute http or https URL", s)
	}
	return nil
}

// Portal is the web portal and HTTP API; it implements http.Handler.
type Portal struct {
	cfg      Config
	store    *storage.Store
	log      *slog.Logger
	e        *echo.Echo
	pages    map[string]*template.Template
	throttle *throttle.Throttle
	purge    purgeClock
	oauth    *oauthServer
	// mqttHost and mqttPort are shown in the mosquitto_pub line.
	mqttHost, mqttPort string
}

var _ http.Handler = (*Portal)(nil)

// New returns the portal as an http.Handler (an echo instance inside).
func New(cfg Config) (*Portal, error) {
	if cfg.PublicURL == "" {
		cfg.PublicURL = DefaultPublicURL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if u, _ := url.Parse(cfg.PublicURL); u.Scheme == "https" { // Validate parsed it
		cfg.SecureCookie = true
	}
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("oauthweb: %w", err)
	}
	p := &Portal{
		cfg:      cfg,
		store:    cfg.Store,
		log:      cfg.Logger,
		pages:    pages,
		throttle: throttle.New(throttle.Default),
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	p.oauth = newOAuthServer(cfg.Store, strings.TrimSuffix(cfg.PublicURL, "/"), cfg.TokenTTL, cfg.Logger.With("component", "oauth"))
	p.mqttHost, p.mqttPort = mqttEndpoint(cfg.PublicURL, cfg.MQTTAddr)
	p.e = p.routes()
	return p, nil
}

// ServeHTTP serves the portal and the API.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.e.ServeHTTP(w, r) }

func (p *Portal) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = p.handleError
	e.Pre(securityHeaders, limitBody)

	// Routes take their middleware one by one: an echo group with middleware
	// would also claim every unknown path below it, and a 404 must stay a 404.
	e.GET("/static/*", serveStatic)
	anon := []echo.MiddlewareFunc{p.loadSession}
	in := []echo.MiddlewareFunc{p.loadSession, p.requireLogin}
	e.GET("/", p.home, anon...)
	e.GET("/signup", p.signupPage, anon...)
	e.POST("/signup", p.signup, anon...)
	e.GET("/login", p.loginPage, p.loadSession, p.oauthFormAction)
	e.POST("/login", p.login, p.loadSession, p.oauthFormAction)
	e.GET("/logout", p.logoutPage, anon...)
	e.POST("/logout", p.logout, in...)
	e.GET("/account/password", p.passwordPage, in...)
	e.POST("/account/password", p.changePassword, in...)
	e.GET("/sensors", p.sensorsPage, in...)
	e.GET("/sensors/new", p.newSensorPage, in...)
	e.POST("/sensors", p.createSensor, in...)
	e.GET("/sensors/:ref", p.sensorPage, in...)
	e.GET("/sensors/:ref/edit", p.editSensorPage, in...)
	e.POST("/sensors/:ref/edit", p.editSensor, in...)
	e.GET("/sensors/:ref/delete", p.deleteSensorPage, in...)
	e.POST("/sensors/:ref/delete", p.deleteSensor, in...)
	e.GET("/keys", p.keysPage, in...)
	e.GET("/keys/new", p.newKeyPage, in...)
	e.POST("/keys", p.createKey, in...)
	e.GET("/keys/:id", p.keyPage, in...)
	e.GET("/keys/:id/reset-password", p.resetKeyPage, in...)
	e.POST("/keys/:id/reset-password", p.resetKey, in...)
	e.GET("/keys/:id/delete", p.deleteKeyPage, in...)
	e.POST("/keys/:id/delete", p.deleteKey, in...)
	e.GET("/apps", p.appsPage, in...)
	e.GET("/apps/new", p.newAppPage, in...)
	e.POST("/apps", p.createApp, in...)
	e.GET("/apps/:client_id", p.appPage, in...)
	e.GET("/apps/:client_id/reset-secret", p.resetAppSecretPage, in...)
	e.POST("/apps/:client_id/reset-secret", p.resetAppSecret, in...)
	e.GET("/apps/:client_id/delete", p.deleteAppPage, in...)
	e.POST("/apps/:client_id/delete", p.deleteApp, in...)
	e.GET("/authorized", p.authorizedPage, in...)
	e.POST("/authorized/:client_id/revoke", p.revokeGrant, in...)

	api := []echo.MiddlewareFunc{p.authenticateAPI}
	own := []echo.MiddlewareFunc{p.authenticateAPI, requireOwnPassword}
	e.GET("/api/v1/me", p.apiMe, api...)
	e.GET("/api/v1/keys", p.apiListKeys, own...)
	e.POST("/api/v1/keys", p.apiCreateKey, own...)
	e.GET("/api/v1/keys/:id", p.apiGetKey, own...)
	e.DELETE("/api/v1/keys/:id", p.apiDeleteKey, own...)
	// Any credential may read the application registry, as in WoTKit and as
	// every signed-in user sees it in the portal; changing it needs the
	// user's own password, and so do the user's grants.
	e.GET("/api/v1/apps", p.apiListApps, api...)
	e.POST("/api/v1/apps", p.apiCreateApp, own...)
	e.GET("/api/v1/apps/:client_id", p.apiGetApp, api...)
	e.DELETE("/api/v1/apps/:client_id", p.apiDeleteApp, own...)
	e.GET("/api/v1/grants", p.apiListGrants, own...)
	e.DELETE("/api/v1/grants/:client_id", p.apiRevokeGrant, own...)
	// Sensors are WoTKit's, managed with any credential within its rights.
	read := []echo.MiddlewareFunc{p.authenticateAPI, requireRights(storage.ScopeRead)}
	write := []echo.MiddlewareFunc{p.authenticateAPI, requireRights(storage.ScopeWrite)}
	e.GET("/api/v1/sensors", p.apiListSensors, read...)
	e.POST("/api/v1/sensors", p.apiCreateSensor, write...)
	e.GET("/api/v1/sensors/:ref", p.apiGetSensor, read...)
	e.PUT("/api/v1/sensors/:ref", p.apiUpdateSensor, write...)
	e.DELETE("/api/v1/sensors/:ref", p.apiDeleteSensor, write...)
	e.GET("/api/v1/sensors/:ref/fields", p.apiListFields, read...)
	e.GET("/api/v1/sensors/:ref/fields/:field", p.apiGetField, read...)
	e.PUT("/api/v1/sensors/:ref/fields/:field", p.apiPutField, write...)
	e.DELETE("/api/v1/sensors/:ref/fields/:field", p.apiDeleteField, write...)
	e.GET("/api/v1/sensors/:ref/data", p.apiGetData, read...)
	e.POST("/api/v1/sensors/:ref/data", p.apiPostData, write...)
	p.oauthRoutes(e)
	e.GET("/healthz", healthz)
	if p.cfg.Metrics != nil {
		e.GET("/metrics", p.metrics, p.loadSession)
	}
	return e
}

// mqttEndpoint picks the host (from the public URL) and port (from the MQTT
// listener) that devices should connect to.
func mqttEndpoint(publicURL, mqttAddr string) (host, port string) {
	host, port = "localhost", "1883"
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	if _, p, err := net.SplitHostPort(mqttAddr); err == nil && p != "" {
		port = p
	}
	return host, port
}
