package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// browserContext starts a headless chromium (the one make test installs,
// found in PATH) with a fresh profile. Without chromium the test is skipped,
// except in CI (CI set, as .ci/run does), where it must run.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	chromiumPath, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the browser tests need chromium in CI (make test installs it): %v", err)
		}
		t.Skipf("no chromium in PATH: install Debian's chromium to run the browser tests")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		chromedp.WindowSize(1100, 760),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Do starts the browser; it must not run under a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// browserWorld starts a whole wotkit on loopback ports and a headless
// browser, makes users (password NAME-password), and returns the browser,
// the instance, the web base URL, the MQTT address and the folder for
// screenshots ($WOTKIT_SCREENSHOTS to keep them, else the test's own).
func browserWorld(t *testing.T, users ...string) (ctx context.Context, inst *instance, web, mqttAddr, shots string) {
	t.Helper()
	ctx = browserContext(t)
	inst = startInstance(t, t.TempDir())
	for _, u := range users {
		if _, err := inst.store.CreateUser(storage.NewUser{Name: u, Password: u + "-password"}); err != nil {
			t.Fatal(err)
		}
	}
	shots = os.Getenv("WOTKIT_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	return ctx, inst, "http://" + inst.webAddr.String(), inst.broker.Addr("tcp").String(), shots
}

// step runs browser actions with a timeout, failing the test on error.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, wotkittest.Timeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// read runs one browser action that returns a value.
func read[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, wotkittest.Timeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot saves the page as a PNG in dir and logs where.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := read(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestPortal_BrowserKeyPublishesAndDeletingItDisconnects: a user who has never
// seen a terminal signs up, logs in and makes a key in the browser; a device
// connects with it and publishes; deleting the key in the browser drops the
// device at once and it cannot come back.
func TestPortal_BrowserKeyPublishesAndDeletingItDisconnects(t *testing.T) {
	ctx, _, web, mqttAddr, shots := browserWorld(t)

	step(t, ctx, "sign up",
		chromedp.Navigate(web+"/signup"),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "alice-password"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`main a[href="/keys/new"]`)),
		chromedp.Click(chromedp.CSS("header button.link")), // log out
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)),
	)
	step(t, ctx, "log in",
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "alice-password"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`main a[href="/keys/new"]`)),
	)
	screenshot(t, ctx, shots, "keys-empty")
	step(t, ctx, "open New Key", chromedp.Navigate(web+"/keys/new"), chromedp.WaitVisible(chromedp.ID("name")))
	screenshot(t, ctx, shots, "key-new")
	step(t, ctx, "create a key",
		chromedp.SendKeys(chromedp.ID("name"), "weather station"),
		chromedp.SendKeys(chromedp.ID("description"), "on the roof"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("key-password")),
		chromedp.WaitVisible(chromedp.CSS(`button[data-copy="key-password"]`)), // copy.js ran under the CSP
	)
	keyID := strings.TrimSpace(read(t, ctx, "key id", chromedp.Text(chromedp.ID("key-id"))))
	keyPW := strings.TrimSpace(read(t, ctx, "key password", chromedp.Text(chromedp.ID("key-password"))))
	command := read(t, ctx, "command", chromedp.Text(chromedp.ID("command")))
	if !strings.HasPrefix(keyID, "K") || !strings.HasPrefix(keyPW, "wkp_") {
		t.Fatalf("key id %q, password %q", keyID, keyPW)
	}
	if _, port, _ := strings.Cut(mqttAddr, ":"); !strings.Contains(command, "-p "+port+" -u "+keyID+" -P "+keyPW+" -t alice/sensor/data") {
		t.Errorf("mosquitto_pub line %q", command)
	}
	screenshot(t, ctx, shots, "key-created")

	// A device and a dashboard connect with the key; the dashboard receives.
	device, err := wotkittest.Dial3(t, mqttAddr, "weather-device", keyID, keyPW)
	if err != nil {
		t.Fatalf("device connect with the key from the page: %v", err)
	}
	dashboard, err := wotkittest.Dial3(t, mqttAddr, "weather-dashboard", keyID, keyPW)
	if err != nil {
		t.Fatalf("dashboard connect: %v", err)
	}
	got := make(chan string, 1)
	if tok := dashboard.Subscribe("alice/weather/data", 1, func(_ paho3.Client, m paho3.Message) {
		got <- string(m.Payload())
	}); !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := device.Publish("alice/weather/data", 1, false, `{"value": 21.5}`); !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case m := <-got:
		if m != `{"value": 21.5}` {
			t.Fatalf("received %q", m)
		}
	case <-time.After(wotkittest.Timeout):
		t.Fatal("the subscriber received nothing")
	}

	step(t, ctx, "list the keys", chromedp.Navigate(web+"/keys"), chromedp.WaitVisible(chromedp.CSS("table.list")))
	screenshot(t, ctx, shots, "keys")
	step(t, ctx, "view the key",
		chromedp.Navigate(web+"/keys/"+keyID),
		chromedp.WaitVisible(chromedp.ID("live-sessions")),
	)
	if live := read(t, ctx, "live sessions", chromedp.Text(chromedp.ID("live-sessions"))); live != "2 MQTT sessions" {
		t.Errorf("live sessions %q, want 2", live)
	}
	if html := read(t, ctx, "key page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, keyPW) {
		t.Error("the key page shows the key password again")
	}
	screenshot(t, ctx, shots, "key-view")

	step(t, ctx, "delete the key",
		chromedp.Click(chromedp.CSS(`a.danger`)),
		chromedp.WaitVisible(chromedp.ID("confirm-delete")),
	)
	clicked := time.Now()
	step(t, ctx, "confirm", chromedp.Click(chromedp.ID("confirm-delete")), chromedp.WaitVisible(chromedp.CSS("p.notice")))
	for name, c := range map[string]*wotkittest.Conn3{"device": device, "dashboard": dashboard} {
		select {
		case <-c.Lost:
			t.Logf("%s disconnected %v after the click", name, time.Since(clicked).Round(time.Millisecond))
		case <-time.After(wotkittest.Timeout):
			t.Fatalf("%s still connected after the key was deleted", name)
		}
	}
	if _, err := wotkittest.Dial3(t, mqttAddr, "weather-device", keyID, keyPW); err == nil {
		t.Fatal("a deleted key connected again")
	} else {
		t.Logf("reconnect refused: %v", err)
	}
	screenshot(t, ctx, shots, "keys-after-delete")
}
