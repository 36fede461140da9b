package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/wotkit/wotkit/admin"
	"github.com/wotkit/wotkit/storage"
)

// dbName is the database file's name in the data directory.
const dbName = "wotkit.db"

// createsDatabase is the one operation that may make the database file when
// there is none: adding the first user, before the first serve. Any other
// operation on a missing file is a wrong --data.
const createsDatabase = "user.add"

// errNoDatabase is returned by an operation that needs an existing database
// when no server answers and there is no file.
var errNoDatabase = errors.New("no database")

// callAdmin runs the admin operation op with req, decoding its answer into
// out (nil: none), on the running server's admin socket when one answers,
// else on the data file itself.
func callAdmin(ctx context.Context, dataDir, op string, req admin.Request, out any) error {
	if c, ok := admin.Dial(ctx, dataDir); ok {
		return c.Call(ctx, op, req, out)
	}
	path := filepath.Join(dataDir, dbName)
	if _, err := os.Stat(path); op != createsDatabase && errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w at %s (is --data right?)", errNoDatabase, path)
	}
	store, err := storage.Open(path, storage.Options{})
	if errors.Is(err, storage.ErrLocked) {
		return fmt.Errorf("%w; no server answers on %s: is it running as another user?", err, admin.SocketPath(dataDir))
	}
	if err != nil {
		return err
	}
	ferr := admin.Local{Store: store}.Call(ctx, op, req, out)
	if err := store.Close(); err != nil && ferr == nil {
		return err
	}
	return ferr
}

// readPassword reads one line from stdin, without its line ending.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%w: no password on stdin", errUsage)
	}
	return pw, nil
}

func userCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: wotkit user add|passwd|list", errUsage)
	}
	fs := newFlags("user "+args[0], stderr)
	data := dataFlag(fs)
	isAdmin := fs.Bool("admin", false, "make the user an admin (their keys reach every topic)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "add", "passwd":
		if len(pos) != 1 || !*pwStdin {
			return fmt.Errorf("%w: wotkit user %s NAME --password-stdin", errUsage, args[0])
		}
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		op, verb := createsDatabase, "created"
		if args[0] == "passwd" {
			op, verb = "user.passwd", "password changed"
		}
		req := admin.Request{User: pos[0], Password: pw, Admin: *isAdmin}
		if err := callAdmin(ctx, *data, op, req, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s: %s\n", pos[0], verb)
		return nil
	case "list":
		var users []admin.UserInfo
		if err := callAdmin(ctx, *data, "user.list", admin.Request{}, &users); err != nil {
			return err
		}
		return printList(stdout, *asJSON, users, "NAME\tADMIN\tCREATED", func(u admin.UserInfo) string {
			return fmt.Sprintf("%s\t%v\t%s", u.Name, u.Admin, u.Created)
		})
	}
	return fmt.Errorf("%w: unknown user command %q", errUsage, args[0])
}

func keyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: wotkit key create|list|delete", errUsage)
	}
	fs := newFlags("key "+args[0], stderr)
	data := dataFlag(fs)
	name := fs.String("name", "", "the key's name")
	desc := fs.String("description", "", "what the key is for")
	readOnly := fs.Bool("read-only", false, "the key may subscribe but not publish")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: wotkit key %s takes one argument", errUsage, args[0])
	}
	call := func(op string, req admin.Request, out any) error { return callAdmin(ctx, *data, op, req, out) }
	switch args[0] {
	case "create":
		perm := storage.ReadWrite
		if *readOnly {
			perm = storage.ReadOnly
		}
		var kc admin.KeyCreated
		req := admin.Request{User: pos[0], Name: *name, Description: *desc, Permissions: perm.String()}
		if err := call("key.create", req, &kc); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, kc)
		}
		fmt.Fprintf(stdout, "key id:       %s\nkey password: %s\n(the password is shown only now)\n", kc.KeyID, kc.KeyPassword)
		return nil
	case "list":
		var keys []storage.Key
		if err := call("key.list", admin.Request{User: pos[0]}, &keys); err != nil {
			return err
		}
		return printList(stdout, *asJSON, keys, "KEY ID\tNAME\tPERMISSIONS\tLAST USED", func(k storage.Key) string {
			last := "never"
			if !k.LastUsed.IsZero() {
				last = k.LastUsed.Format("2006-01-02 15:04:05Z") + " from " + k.LastAddr
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s", k.ID, k.Name, k.Permissions, last)
		})
	case "delete":
		if err := call("key.delete", admin.Request{KeyID: pos[0]}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %s deleted\n", pos[0])
		return nil
	}
	return fmt.Errorf("%w: unknown key command %q", errUsage, args[0])
}

// stringsFlag collects a repeated flag.
type stringsFlag []string

func (f *stringsFlag) String() string     { return strings.Join(*f, " ") }
func (f *stringsFlag) Set(v string) error { *f = append(*f, v); return nil }

func appCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: wotkit app create|list|delete", errUsage)
	}
	fs := newFlags("app "+args[0], stderr)
	data := dataFlag(fs)
	name := fs.String("name", "", "the application's name")
	desc := fs.String("description", "", "what the application does")
	public := fs.Bool("public", false, "a public client (no secret; PKCE required), such as a browser or mobile app")
	var uris stringsFlag
	fs.Var(&uris, "redirect-uri", "a redirect URI (repeat for several)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	call := func(op string, req admin.Request, out any) error { return callAdmin(ctx, *data, op, req, out) }
	switch args[0] {
	case "create":
		if len(pos) != 1 {
			return fmt.Errorf("%w: wotkit app create USER --name NAME --redirect-uri URI", errUsage)
		}
		var ac admin.AppCreated
		req := admin.Request{User: pos[0], Name: *name, Description: *desc, RedirectURI: uris, Public: *public}
		if err := call("app.create", req, &ac); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, ac)
		}
		fmt.Fprintf(stdout, "client id:     %s\n", ac.ClientID)
		if ac.ClientSecret != "" {
			fmt.Fprintf(stdout, "client secret: %s\n(the secret is shown only now)\n", ac.ClientSecret)
		}
		return nil
	case "list":
		if len(pos) != 0 {
			return fmt.Errorf("%w: wotkit app list takes no argument", errUsage)
		}
		var apps []storage.App
		if err := call("app.list", admin.Request{}, &apps); err != nil {
			return err
		}
		return printList(stdout, *asJSON, apps, "CLIENT ID\tNAME\tOWNER\tREDIRECT URIS", func(a storage.App) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s", a.ClientID, a.Name, a.Owner, strings.Join(a.RedirectURIs, " "))
		})
	case "delete":
		if len(pos) != 1 {
			return fmt.Errorf("%w: wotkit app delete CLIENTID", errUsage)
		}
		if err := call("app.delete", admin.Request{ClientID: pos[0]}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "application %s deleted\n", pos[0])
		return nil
	}
	return fmt.Errorf("%w: unknown app command %q", errUsage, args[0])
}

func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	data := dataFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: wotkit backup FILE", errUsage)
	}
	// The server may write the file: give it a path that means the same there.
	path, err := filepath.Abs(pos[0])
	if err != nil {
		return fmt.Errorf("backup path: %w", err)
	}
	if err := callAdmin(ctx, *data, "backup", admin.Request{Path: path}, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s\n", path)
	return nil
}

// printList prints items as a JSON array, or as a table with a header and
// one tab-separated row per item.
func printList[T any](w io.Writer, asJSON bool, items []T, header string, row func(T) string) error {
	if asJSON {
		if items == nil {
			items = []T{}
		}
		return printJSON(w, items)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, row(it))
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
