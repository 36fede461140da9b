package admin

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/wotkit/wotkit/storage"
)

// Request carries the arguments of every operation; each uses the fields it needs.
type Request struct {
	User        string   `json:"user,omitempty"`
	Password    string   `json:"password,omitempty"`
	Admin       bool     `json:"admin,omitempty"`
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Permissions string   `json:"permissions,omitempty"`
	KeyID       string   `json:"key_id,omitempty"`
	ClientID    string   `json:"client_id,omitempty"`
	RedirectURI []string `json:"redirect_uris,omitempty"`
	Public      bool     `json:"public,omitempty"`
	Path        string   `json:"path,omitempty"` // an absolute file path, for backup
}

// UserInfo is a user as the command line shows it.
type UserInfo struct {
	Name    string `json:"name"`
	Admin   bool   `json:"admin"`
	Created string `json:"created"`
}

// KeyCreated is the answer to key.create: the only time the password is shown.
type KeyCreated struct {
	KeyID       string `json:"key_id"`
	KeyPassword string `json:"key_password"`
}

// AppCreated is the answer to app.create: the only time the secret is shown.
type AppCreated struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// operation runs one named operation on the store.
type operation func(s *storage.Store, req Request) (any, error)

// operations are the named operations the command line can call.
var operations = map[string]operation{
	"user.add": func(s *storage.Store, r Request) (any, error) {
		u, err := s.CreateUser(storage.NewUser{Name: r.User, Password: r.Password, Admin: r.Admin})
		return userInfo(u), err
	},
	"user.passwd": func(s *storage.Store, r Request) (any, error) {
		// A new password ends every web session signed in with the old one.
		_, err := s.SetPassword(r.User, r.Password, "")
		return nil, err
	},
	"user.list": func(s *storage.Store, _ Request) (any, error) {
		users, err := s.Users()
		out := make([]UserInfo, len(users))
		for i, u := range users {
			out[i] = userInfo(u)
		}
		return out, err
	},
	"key.create": func(s *storage.Store, r Request) (any, error) {
		perm, err := storage.ParsePermission(r.Permissions)
		if err != nil {
			return nil, err
		}
		k, secret, err := s.CreateKey(r.User, storage.NewKey{Name: r.Name, Description: r.Description, Permissions: perm})
		return KeyCreated{KeyID: k.ID, KeyPassword: secret}, err
	},
	"key.list": func(s *storage.Store, r Request) (any, error) {
		if _, err := s.User(r.User); err != nil {
			return nil, err
		}
		return s.KeysOf(r.User)
	},
	"key.delete": func(s *storage.Store, r Request) (any, error) {
		return nil, s.DeleteKey(r.KeyID)
	},
	"app.create": func(s *storage.Store, r Request) (any, error) {
		app, secret, err := s.CreateApp(r.User, storage.NewApp{Name: r.Name, Description: r.Description, RedirectURIs: r.RedirectURI, Public: r.Public})
		return AppCreated{ClientID: app.ClientID, ClientSecret: secret}, err
	},
	"app.list": func(s *storage.Store, _ Request) (any, error) {
		return s.Apps()
	},
	"app.delete": func(s *storage.Store, r Request) (any, error) {
		return nil, s.DeleteApp(r.ClientID)
	},
	"backup": func(s *storage.Store, r Request) (any, error) {
		if !filepath.IsAbs(r.Path) {
			return nil, fmt.Errorf("%w: the backup path must be absolute", storage.ErrInvalid)
		}
		return nil, s.Backup(r.Path)
	},
}

func userInfo(u storage.User) UserInfo {
	return UserInfo{Name: u.Name, Admin: u.Admin, Created: u.Created.Format("2006-01-02T15:04:05Z")}
}

// ErrUnknownOp is returned for an operation name that does not exist.
var ErrUnknownOp = errors.New("unknown operation")

// run executes op on s.
func run(s *storage.Store, op string, req Request) (any, error) {
	fn, ok := operations[op]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownOp, op)
	}
	return fn(s, req)
}
