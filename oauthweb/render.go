package oauthweb

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed templates
var templateFiles embed.FS

// view is what every page template gets: the signed-in user (empty when
// anonymous), the CSRF token for its forms, and the page's own data in D.
type view struct {
	User   string
	Admin  bool
	CSRF   string
	Signup bool // sign-up is open
	D      any
}

var templateFuncs = template.FuncMap{
	"static": staticURL,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if page == "layout" {
			continue
		}
		t, err := template.New(page).Funcs(templateFuncs).ParseFS(templateFiles, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", page, err)
		}
		pages[page] = t
	}
	return pages, nil
}

// render writes page with data, whole or not at all.
func (p *Portal) render(c echo.Context, status int, page string, data any) error {
	t, ok := p.pages[page]
	if !ok {
		return internalError(fmt.Errorf("no template %q", page))
	}
	v := view{CSRF: p.formCSRF(c), Signup: p.cfg.Signup, D: data}
	if s := sessionOf(c); s != nil {
		v.User, v.Admin = s.user.Name, s.user.Admin
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return internalError(fmt.Errorf("render %s: %w", page, err))
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	return c.HTMLBlob(status, buf.Bytes())
}
