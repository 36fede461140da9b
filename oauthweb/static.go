package oauthweb

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed static
var staticFiles embed.FS

// staticVersion maps a static file's name to a short hash of its content,
// added to its URL so that it can be cached for long and still change.
var staticVersion = func() map[string]string {
	v := map[string]string{}
	_ = fs.WalkDir(staticFiles, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFiles.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		v[path.Base(name)] = hex.EncodeToString(sum[:6])
		return nil
	})
	return v
}()

// staticURL is the versioned URL of a static file.
func staticURL(name string) string {
	return "/static/" + name + "?v=" + staticVersion[name]
}

// serveStatic serves the embedded CSS and JavaScript.
func serveStatic(c echo.Context) error {
	name := c.Param("*")
	if _, ok := staticVersion[name]; !ok {
		return echo.ErrNotFound
	}
	data, err := staticFiles.ReadFile("static/" + name)
	if err != nil {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(data))
	return nil
}
