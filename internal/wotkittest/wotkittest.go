// Package wotkittest starts real wotkit parts for tests: a store in a
// temporary directory, a broker on a loopback port, and connected MQTT
// clients of both protocol versions.
package wotkittest

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-oauth2/oauth2/v4/models"
	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/broker"
	"github.com/wotkit/wotkit/storage"
)

// Timeout bounds every wait in a test: long enough for a loaded CI machine.
const Timeout = 10 * time.Second

// Logger returns a logger that writes to the test log (at debug level when -v).
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// NewStore opens a store in t.TempDir() with cheap password hashing, and
// checks the file's consistency when the test ends.
func NewStore(t testing.TB) *storage.Store {
	t.Helper()
	s, err := storage.Open(filepath.Join(t.TempDir(), "wotkit.db"), storage.Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
		if err := storage.CheckFile(s.Path()); err != nil {
			t.Errorf("store consistency: %v", err)
		}
	})
	return s
}

// StartBroker runs a broker on 127.0.0.1:0 over store and returns it with its TCP address.
func StartBroker(t testing.TB, store *storage.Store, tweak ...func(*broker.Config)) (*broker.Broker, string) {
	t.Helper()
	cfg := broker.Config{TCPAddr: "127.0.0.1:0", Logger: Logger(t).With("side", "broker")}
	for _, f := range tweak {
		f(&cfg)
	}
	b, err := broker.New(cfg, store)
	if err != nil {
		t.Fatalf("new broker: %v", err)
	}
	if err := b.Serve(); err != nil {
		t.Fatalf("serve broker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown broker: %v", err)
		}
	})
	return b, b.Addr("tcp").String()
}

// User creates a user (admin or not) with one read-write key and returns the key id and password.
func User(t testing.TB, store *storage.Store, name string, admin bool) (keyID, keyPassword string) {
	t.Helper()
	if _, err := store.CreateUser(storage.NewUser{Name: name, Password: "password-" + name, Admin: admin}); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return Key(t, store, name, storage.ReadWrite)
}

// Key creates a key for user.
func Key(t testing.TB, store *storage.Store, user string, perm storage.Permission) (keyID, keyPassword string) {
	t.Helper()
	k, pw, err := store.CreateKey(user, storage.NewKey{Name: "test key", Permissions: perm})
	if err != nil {
		t.Fatalf("create key for %s: %v", user, err)
	}
	return k.ID, pw
}

// Conn3 is a connected MQTT 3.1.1 client.
type Conn3 struct {
	paho3.Client
	Lost           chan error // receives once when the connection is lost
	SessionPresent bool       // the CONNACK's session present flag
}

// Dial3 connects an MQTT 3.1.1 client (clean session unless persistent) and
// returns it, or the CONNECT error.
func Dial3(t testing.TB, addr, clientID, user, pass string, tweak ...func(*paho3.ClientOptions)) (*Conn3, error) {
	t.Helper()
	c := &Conn3{Lost: make(chan error, 1)}
	opts := paho3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4).SetConnectTimeout(Timeout).SetCleanSession(true).
		SetConnectionLostHandler(func(_ paho3.Client, err error) {
			select {
			case c.Lost <- err:
			default:
			}
		})
	for _, f := range tweak {
		f(opts)
	}
	c.Client = paho3.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(Timeout) {
		t.Fatalf("connect %s: timed out", clientID)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	c.SessionPresent = tok.(*paho3.ConnectToken).SessionPresent()
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// Messages collects received messages as topic -> payloads on a channel.
type Message struct {
	Topic   string
	Payload string
}

// Conn5 is a connected MQTT 5 client whose received messages arrive on Msgs.
type Conn5 struct {
	*paho.Client
	Msgs         chan Message
	Disconnected chan *paho.Disconnect // a server DISCONNECT
}

// Dial5 connects an MQTT 5 client and returns it with the CONNACK, or the
// CONNACK (when the server answered) and the error.
func Dial5(t testing.TB, addr string, cp *paho.Connect) (*Conn5, *paho.Connack, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &Conn5{Msgs: make(chan Message, 1024), Disconnected: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.Msgs <- Message{Topic: pr.Packet.Topic, Payload: string(pr.Packet.Payload)}
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.Disconnected <- d:
			default:
			}
		},
		OnClientError: func(error) {},
	})
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	cp.UsernameFlag = cp.Username != ""
	cp.PasswordFlag = len(cp.Password) > 0
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		_ = nc.Close()
		return nil, ca, err
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, ca, nil
}

// Expect waits for a message on msgs and returns it, failing the test on timeout.
func Expect(t testing.TB, msgs <-chan Message) Message {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(Timeout):
		t.Fatal("no message arrived")
		return Message{}
	}
}

// ExpectNone asserts that nothing arrives on msgs within wait. Use it after a
// later message has arrived on the same path, so that the wait is an ordering
// guarantee rather than a guess at timing.
func ExpectNone(t testing.TB, msgs <-chan Message, wait time.Duration) {
	t.Helper()
	select {
	case m := <-msgs:
		t.Fatalf("unexpected message on %s: %q", m.Topic, m.Payload)
	case <-time.After(wait):
	}
}

// App registers a confidential application owned by owner and returns its client id.
func App(t testing.TB, store *storage.Store, owner string, redirectURIs ...string) string {
	t.Helper()
	if len(redirectURIs) == 0 {
		redirectURIs = []string{"http://127.0.0.1/callback"}
	}
	app, _, err := store.CreateApp(owner, storage.NewApp{Name: "test app", RedirectURIs: redirectURIs})
	if err != nil {
		t.Fatalf("create app: %v", err)
	}
	return app.ClientID
}

// Token grants clientID scope for user and stores an access token with the
// given lifetime, through the same go-oauth2 TokenStore the token endpoint uses.
func Token(t testing.TB, store *storage.Store, user, clientID string, scope storage.Scope, lifetime time.Duration) string {
	t.Helper()
	if _, err := store.SaveGrant(user, clientID, scope); err != nil {
		t.Fatalf("save grant: %v", err)
	}
	access := storage.NewSecret(storage.PrefixAccessToken)
	err := store.OAuthTokens().Create(context.Background(), &models.Token{
		ClientID: clientID, UserID: user, Scope: scope.String(),
		Access: access, AccessCreateAt: time.Now(), AccessExpiresIn: lifetime,
	})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return access
}
