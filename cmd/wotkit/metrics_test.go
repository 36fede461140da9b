package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// The metrics count what happened: a refused CONNECT by its reason, a live
// connection by credential kind, a publish the ACL refused, messages in.
func TestMetrics_CountWhatHappened(t *testing.T) {
	inst := startInstance(t, t.TempDir())
	addr := inst.broker.Addr("tcp").String()
	if _, err := inst.store.CreateUser(storage.NewUser{Name: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	id, pw := wotkittest.Key(t, inst.store, "alice", storage.ReadWrite)
	if _, code, err := wotkittest.RawConnect(addr, "bad", id, "wkp_wrong"); err != nil || code != 4 {
		t.Fatalf("wrong password: %d %v", code, err)
	}
	c, _, err := wotkittest.Dial5(t, addr, &paho.Connect{ClientID: "ok", CleanStart: true, Username: id, Password: []byte(pw)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if pr, _ := c.Publish(ctx, &paho.Publish{Topic: "bob1/x", QoS: 1, Payload: []byte("x")}); pr == nil || pr.ReasonCode != 0x87 {
		t.Fatalf("publish outside: %+v", pr)
	}
	res, err := http.Get("http://" + inst.webAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`wotkit_mqtt_connect_refusals_total{reason="bad_credentials"} 1`,
		`wotkit_mqtt_connections{credential="key"} 1`,
		`wotkit_mqtt_acl_denials_total{kind="publish"} 1`,
		`wotkit_mqtt_messages_received_total 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
