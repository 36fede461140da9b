package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/internal/wotkittest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wotkit test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

func TestServe_TLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	dir := t.TempDir()
	inst, err := start(serveConfig{
		data: dir, mqttAddr: "", tlsMQTTAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", tlsCert: certFile, tlsKey: keyFile,
		publicURL: "https://localhost:8080", logger: wotkittest.Logger(t), bcryptCost: bcrypt.MinCost,
	})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtCleanup(t, inst)
	if inst.broker.Addr("tcp") != nil {
		t.Fatal("plain MQTT listener on although --mqtt is empty")
	}
	wotkit(t, "correct horse battery\n", "user", "add", "alice", "--password-stdin", "--data", dir)
	id, pw := createKey(t, dir, "alice")

	got := make(chan string, 1)
	opts := paho3.NewClientOptions().AddBroker("ssl://" + inst.broker.Addr("tls").String()).SetClientID("tls").
		SetUsername(id).SetPassword(pw).SetTLSConfig(&tls.Config{RootCAs: pool}).SetAutoReconnect(false)
	c := paho3.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil {
		t.Fatalf("connect over TLS: %v", tok.Error())
	}
	defer c.Disconnect(0)
	c.Subscribe("alice/#", 1, func(_ paho3.Client, m paho3.Message) { got <- string(m.Payload()) }).WaitTimeout(wotkittest.Timeout)
	c.Publish("alice/tls/data", 1, false, "over tls").WaitTimeout(wotkittest.Timeout)
	select {
	case p := <-got:
		if p != "over tls" {
			t.Fatalf("got %q", p)
		}
	case <-time.After(wotkittest.Timeout):
		t.Fatal("no message over TLS")
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + inst.webAddr.String() + "/login")
	if err != nil {
		t.Fatalf("portal over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("portal over HTTPS: %d", resp.StatusCode)
	}
}

// TestServe_BehindTLSProxyCookiesAreSecure: with TLS ended by a proxy
// (--public-url https://..., no --tls-cert), the portal's cookies are still
// Secure, with the __Host- prefix: the browser reaches wotkit over HTTPS.
func TestServe_BehindTLSProxyCookiesAreSecure(t *testing.T) {
	inst, err := start(serveConfig{
		data: t.TempDir(), mqttAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", publicURL: "https://wotkit.example",
		signup: true, logger: wotkittest.Logger(t), bcryptCost: bcrypt.MinCost,
	})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtCleanup(t, inst)
	resp, err := http.Get("http://" + inst.webAddr.String() + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) == 0 {
		t.Fatal("the login page set no cookie")
	}
	for _, c := range cookies {
		if !c.Secure || !strings.HasPrefix(c.Name, "__Host-") {
			t.Errorf("cookie %s: Secure %v, want Secure with the __Host- prefix", c.Name, c.Secure)
		}
	}
}

// The MQTT WebSocket listener's HTTP server logs through the server's logger,
// as every other part does: a failed TLS handshake on the WSS port is a line
// in the server's format, at its --log-level, not one the log package's
// default logger writes in its own format, whatever the level.
func TestServe_WebSocketErrorsInTheServerLog(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "wotkit.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	inst, err := start(serveConfig{
		data: t.TempDir(), mqttAddr: "", wsAddr: "127.0.0.1:0", httpAddr: "127.0.0.1:0", tlsCert: certFile, tlsKey: keyFile,
		publicURL: "https://localhost:8080", logger: slog.New(slog.NewTextHandler(logFile, nil)), bcryptCost: bcrypt.MinCost,
	})
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtCleanup(t, inst)
	c, err := net.Dial("tcp", inst.broker.Addr("ws").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, 16)); err != nil { // not a TLS record
		t.Fatal(err)
	}
	// The server logs the failed handshake, then closes the connection.
	_ = c.SetReadDeadline(time.Now().Add(wotkittest.Timeout))
	_, _ = io.Copy(io.Discard, c)
	logged, err := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "TLS handshake error") {
		t.Fatalf("the failed TLS handshake on the WebSocket port is not in the server's log:\n%s", logged)
	}
}
