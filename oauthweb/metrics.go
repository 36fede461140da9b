package oauthweb

import (
	"errors"
	"net"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz answers liveness probes.
func healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// metrics serves the Prometheus metrics to a client on this machine
// (loopback), to an admin signed in to the portal, or to HTTP Basic with an
// admin's name and password. Basic is checked as the API checks it: without
// credentials, or with wrong ones, the answer is 401 (which asks for Basic);
// while failed attempts are throttled, 429; to anyone else, 403.
func (p *Portal) metrics(c echo.Context) error {
	ok, err := p.mayReadMetrics(c)
	if err != nil {
		if asHTTPError(err).Status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="wotkit metrics"`)
		}
		return err
	}
	if !ok {
		return newError(http.StatusForbidden, "metrics are for admins")
	}
	promhttp.HandlerFor(p.cfg.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}

// mayReadMetrics reports whether c may read the metrics, or the error that
// refuses its credentials.
func (p *Portal) mayReadMetrics(c echo.Context) (bool, error) {
	if host, _, err := net.SplitHostPort(c.Request().RemoteAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return true, nil
		}
	}
	if s := sessionOf(c); s != nil {
		return s.user.Admin, nil
	}
	pr, err := basicScheme{p}.authenticate(c)
	if errors.Is(err, errNoCredential) {
		return false, unauthorized("metrics are for admins: use HTTP Basic with an admin account")
	}
	if err != nil {
		return false, err
	}
	return pr.Via == viaUser && pr.User.Admin, nil
}
