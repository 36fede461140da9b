package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// TestSensors_BrowserFlow: alice makes a PUBLIC sensor in the portal; her
// device publishes readings with a key; the sensor's page shows the latest
// value and a chart; bob's client reads the public data over MQTT until alice
// turns the sensor PRIVATE in the browser.
func TestSensors_BrowserFlow(t *testing.T) {
	ctx, inst, web, mqttAddr, shots := browserWorld(t, "alice", "bob1")
	keyID, keyPW := wotkittest.Key(t, inst.store, "alice", storage.ReadWrite)
	bobID, bobPW := wotkittest.Key(t, inst.store, "bob1", storage.ReadWrite)

	step(t, ctx, "log in",
		chromedp.Navigate(web+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "alice-password"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`main a[href="/keys/new"]`)),
	)
	step(t, ctx, "create a public sensor",
		chromedp.Navigate(web+"/sensors/new"),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "weather"),
		chromedp.SendKeys(chromedp.ID("longName"), "Rooftop weather"),
		chromedp.Click(chromedp.CSS(`input[name=visibility][value=PUBLIC]`)),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("data-topic")),
	)
	if topic := read(t, ctx, "data topic", chromedp.Text(chromedp.ID("data-topic"))); topic != "alice/weather/data" {
		t.Fatalf("data topic on the page: %q", topic)
	}

	bob, err := wotkittest.Dial3(t, mqttAddr, "bob-reader", bobID, bobPW)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	tok := bob.Subscribe("alice/weather/data", 0, func(_ paho3.Client, m paho3.Message) { got <- string(m.Payload()) })
	if !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil || tok.(*paho3.SubscribeToken).Result()["alice/weather/data"] != 0 {
		t.Fatalf("bob subscribing to a public sensor: %v %v", tok.Error(), tok.(*paho3.SubscribeToken).Result())
	}
	device, err := wotkittest.Dial3(t, mqttAddr, "station", keyID, keyPW)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"18.5", "19", "21.25"} {
		if tok := device.Publish("alice/weather/data", 1, false, `{"value": `+v+`}`); !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		select {
		case <-got:
		case <-time.After(wotkittest.Timeout):
			t.Fatal("bob did not receive the public reading")
		}
	}
	sn, err := inst.store.Sensor("alice", "weather")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wotkittest.Timeout)
	for rs, _ := inst.store.SensorData(sn.ID, storage.DataQuery{}); len(rs) < 3; rs, _ = inst.store.SensorData(sn.ID, storage.DataQuery{}) {
		if time.Now().After(deadline) {
			t.Fatalf("recorded %d readings, want 3", len(rs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	step(t, ctx, "view the sensor", chromedp.Navigate(web+"/sensors/alice.weather"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	fields := read(t, ctx, "fields", chromedp.Text(chromedp.ID("fields")))
	if !strings.Contains(fields, "21.25") {
		t.Errorf("latest value 21.25 not on the page: %q", fields)
	}
	screenshot(t, ctx, shots, "sensor-view")

	step(t, ctx, "make it private",
		chromedp.Navigate(web+"/sensors/alice.weather/edit"),
		chromedp.WaitVisible(chromedp.ID("longName")),
		chromedp.Click(chromedp.CSS(`input[name=visibility][value=PRIVATE]`)),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("data-topic")),
	)
	if tok := device.Publish("alice/weather/data", 1, false, `{"value": 22}`); !tok.WaitTimeout(wotkittest.Timeout) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	// bob's subscription is gone: a second public sensor is the marker.
	if _, err := inst.store.CreateSensor(storage.Sensor{Owner: "alice", Name: "garden", Visibility: storage.Public}); err != nil {
		t.Fatal(err)
	}
	marker := make(chan string, 1)
	bob.Subscribe("alice/garden/data", 0, func(_ paho3.Client, m paho3.Message) { marker <- string(m.Payload()) }).WaitTimeout(wotkittest.Timeout)
	device.Publish("alice/garden/data", 1, false, `{"value": 1}`).WaitTimeout(wotkittest.Timeout)
	select {
	case <-marker:
	case <-time.After(wotkittest.Timeout):
		t.Fatal("marker never arrived")
	}
	select {
	case m := <-got:
		t.Fatalf("bob received %q after the sensor turned PRIVATE", m)
	default:
	}
}
