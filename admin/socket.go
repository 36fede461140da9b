package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wotkit/wotkit/storage"
)

// SocketName is the admin socket's file name in the data directory.
const SocketName = "wotkit.sock"

// maxSocketPath is the longest unix socket path every platform takes
// (sun_path holds 108 bytes on Linux, 104 on the BSDs, its NUL included).
const maxSocketPath = 103

// maxRequest bounds a request read from the socket.
const maxRequest = 1 << 16

// SocketPath returns the admin socket's path for a data directory.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// Listen opens the admin socket in dataDir, readable and writable by its
// owner only. The caller must hold the database (so any old socket file is
// stale and is replaced). The socket is made in a private directory and
// moved into place once restricted: made in dataDir, it would be open to
// anyone the umask lets in until the chmod. Closing the listener removes it.
func Listen(dataDir string) (net.Listener, error) {
	path := SocketPath(dataDir)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale admin socket: %w", err)
	}
	private, err := os.MkdirTemp(dataDir, ".s") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("listen admin socket: %w", err)
	}
	defer os.RemoveAll(private)
	bound := filepath.Join(private, SocketName)
	ln, err := net.Listen("unix", bound)
	if err != nil && len(bound) > maxSocketPath {
		return nil, fmt.Errorf("listen admin socket: a unix socket's path may have %d bytes, and the data directory's has %d: use a shorter data directory, of at most %d bytes: %w",
			maxSocketPath, len(dataDir), maxSocketPath-(len(bound)-len(dataDir)), err)
	}
	if err != nil {
		return nil, fmt.Errorf("listen admin socket: %w", err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // it will not be at bound
	if err := os.Chmod(bound, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("restrict admin socket: %w", err)
	}
	if err := os.Rename(bound, path); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("move admin socket into place: %w", err)
	}
	return &socketListener{UnixListener: ul, path: path}, nil
}

// socketListener is the admin socket's listener; Close removes its file.
type socketListener struct {
	*net.UnixListener
	path string
}

// Close stops listening and removes the socket file.
func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = fmt.Errorf("remove admin socket: %w", rerr)
	}
	return err
}

// wire is the JSON answer on the socket.
type wire struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
}

type wireError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// kinds maps the storage errors a caller may want to tell apart to wire names.
var kinds = []struct {
	name string
	err  error
}{
	{"not_found", storage.ErrNotFound},
	{"exists", storage.ErrExists},
	{"invalid", storage.ErrInvalid},
	{"limit", storage.ErrLimit},
	{"unknown_op", ErrUnknownOp},
}

// Handler serves operations on store to the admin socket.
func Handler(store *storage.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.URL.Path, "/op/")
		var req Request
		var ans wire
		err := json.NewDecoder(io.LimitReader(r.Body, maxRequest)).Decode(&req)
		var res any
		if err == nil {
			res, err = run(store, op, req)
		} else {
			err = fmt.Errorf("%w: decode request: %w", storage.ErrInvalid, err)
		}
		if err == nil {
			ans.Result, err = json.Marshal(res)
		}
		if err != nil {
			ans.Error = &wireError{Kind: "internal", Message: err.Error()}
			for _, k := range kinds {
				if errors.Is(err, k.err) {
					ans.Error.Kind = k.name
				}
			}
		}
		log.Info("admin operation", "op", op, "ok", err == nil)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans) // the CLI went away: nothing to tell
	})
}

// Client runs operations on a server through its admin socket.
type Client struct {
	http *http.Client
}

// Dial connects to the admin socket of a running server in dataDir. It returns
// false when no server answers there.
func Dial(ctx context.Context, dataDir string) (*Client, bool) {
	path := SocketPath(dataDir)
	var d net.Dialer
	probe, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, false
	}
	_ = probe.Close()
	return &Client{http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}},
	}}, true
}

// Call runs op on the server and decodes its result into out (when not nil).
func (c *Client) Call(ctx context.Context, op string, req Request, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://wotkit/op/"+op, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("admin request: %w", err)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	defer resp.Body.Close()
	var ans wire
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return fmt.Errorf("admin socket: decode answer: %w", err)
	}
	if ans.Error != nil {
		return remoteError(ans.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(ans.Result, out); err != nil {
		return fmt.Errorf("admin socket: decode result: %w", err)
	}
	return nil
}

// remoteError rebuilds an error from the socket so errors.Is still works.
func remoteError(e *wireError) error {
	for _, k := range kinds {
		if k.name == e.Kind {
			return &wrapped{msg: e.Message, err: k.err}
		}
	}
	return errors.New(e.Message)
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
