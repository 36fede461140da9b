package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/wotkit/wotkit/broker"
	"github.com/wotkit/wotkit/hooks"
	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// The load tool's figures are only as good as its counting: these tests run
// small loads against real brokers in this process and check the counts
// exactly. Nothing here asserts a duration or a rate.

// testTimeout bounds every run in these tests.
const testTimeout = time.Minute

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startTestMochi runs bare mochi on a loopback port for the test.
func startTestMochi(t testing.TB, writesPending int32) *bareMochi {
	t.Helper()
	m, err := startBareMochi("127.0.0.1:0", writesPending, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.close() })
	return m
}

// startTestWotkit runs wotkit's broker with two users, each with a key, and
// limits raised as the suite raises them.
func startTestWotkit(t testing.TB) (*storage.Store, string, []Cred) {
	t.Helper()
	store := wotkittest.NewStore(t)
	var creds []Cred
	for _, name := range []string{"alice", "bobby"} {
		id, pw := wotkittest.User(t, store, name, false)
		creds = append(creds, Cred{Root: name, Username: id, Password: pw})
	}
	limits := hooks.DefaultLimits
	limits.PublishRate, limits.PublishBurst, limits.SessionsPerCredential = benchPublishRate, benchPublishBurst, benchSessionsPerKey
	_, addr := wotkittest.StartBroker(t, store, func(c *broker.Config) {
		c.Logger = quietLogger()
		c.Limits = &limits
	})
	return store, addr, creds
}

// TestPubSub_CountsEveryMessageExactly: every message published is received
// once by each subscriber of its user, no more and no fewer, at QoS 0 and 1,
// through wotkit (with its ACL) and through bare mochi.
func TestPubSub_CountsEveryMessageExactly(t *testing.T) {
	_, wotkitAddr, wotkitCreds := startTestWotkit(t)
	mochiAddr := startTestMochi(t, 0).addr.String()
	const perPublisher = 300
	for _, b := range []struct {
		name  string
		addr  string
		creds []Cred
	}{{"wotkit", wotkitAddr, wotkitCreds}, {"mochi", mochiAddr, mochiCreds()[:2]}} {
		for _, qos := range []byte{0, 1} {
			t.Run(fmt.Sprintf("%s/qos%d", b.name, qos), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				res, err := RunPubSub(ctx, PubSubConfig{
					Addr: b.addr, Users: b.creds, Publishers: 2, Subscribers: 3, QoS: qos,
					PayloadSize: 64, Window: 50, Messages: perPublisher, Drain: testTimeout,
					IDPrefix: fmt.Sprintf("exact%d", qos), Tag: 7,
				})
				if err != nil {
					t.Fatal(err)
				}
				sent := int64(len(b.creds) * 2 * perPublisher)
				if res.Sent != sent || res.Expected != 3*sent || res.Received != 3*sent || res.Lost != 0 || res.Foreign != 0 {
					t.Fatalf("sent %d, expected %d, received %d, lost %d, foreign %d; want sent %d, received %d, none lost or foreign",
						res.Sent, res.Expected, res.Received, res.Lost, res.Foreign, sent, 3*sent)
				}
				if qos == 1 && res.Acked != sent {
					t.Fatalf("acked %d of %d", res.Acked, sent)
				}
				if res.Measured != res.Received {
					t.Fatalf("a run without a duration measures everything: measured %d, received %d", res.Measured, res.Received)
				}
			})
		}
	}
}

// TestPubSub_CountsOnlyItsOwnMessages: two runs share topics and run at once;
// each counts exactly its own messages, and the other's as foreign.
func TestPubSub_CountsOnlyItsOwnMessages(t *testing.T) {
	addr := startTestMochi(t, 0).addr.String()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var wg sync.WaitGroup
	results := make([]PubSubResult, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			results[i], errs[i] = RunPubSub(ctx, PubSubConfig{
				Addr: addr, Users: mochiCreds()[:1], Publishers: 2, Subscribers: 2,
				Window: 20, Messages: 400, Drain: testTimeout,
				IDPrefix: fmt.Sprintf("run%d", i), Tag: uint32(100 + i),
			})
		})
	}
	wg.Wait()
	for i, res := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		other := results[1-i]
		if res.Received != res.Expected || res.Expected != 2*800 || res.Lost != 0 {
			t.Fatalf("run %d: received %d of %d (lost %d)", i, res.Received, res.Expected, res.Lost)
		}
		if res.Foreign > other.Sent*2 {
			t.Fatalf("run %d: %d foreign messages, but the other run sent only %d to 2 subscribers", i, res.Foreign, other.Sent)
		}
	}
}

// TestPubSub_ReportsWhatTheBrokerDrops: with a write queue of one message
// mochi drops what a subscriber cannot take at once; the run says how many
// were lost and counts only what arrived.
func TestPubSub_ReportsWhatTheBrokerDrops(t *testing.T) {
	addr := startTestMochi(t, 1).addr.String()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const perPublisher = 2000
	res, err := RunPubSub(ctx, PubSubConfig{
		Addr: addr, Users: mochiCreds()[:1], Publishers: 4, Subscribers: 1,
		Window: perPublisher, Messages: perPublisher, Drain: 500 * time.Millisecond, Tag: 9,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 4*perPublisher || res.Received == 0 || res.Received > res.Expected || res.Lost == 0 {
		t.Fatalf("sent %d, expected %d, received %d, lost %d: want every message sent, some received and the drops reported",
			res.Sent, res.Expected, res.Received, res.Lost)
	}
	t.Logf("queue of 1: %d of %d messages lost", res.Lost, res.Expected)
}

// TestConnect_CountsAcceptedAndRefused: every connect is counted once, as
// accepted or as refused with the broker's code.
func TestConnect_CountsAcceptedAndRefused(t *testing.T) {
	_, addr, creds := startTestWotkit(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := RunConnect(ctx, ConnectConfig{Addr: addr, Creds: creds, Workers: 4, Count: 40, IDPrefix: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 40 || res.Refused != 0 || res.Failed != 0 {
		t.Fatalf("ok %d, refused %d, failed %d (%v); want 40 ok", res.OK, res.Refused, res.Failed, res.FirstErr)
	}
	// Fewer bad attempts than wotkit lets through before it throttles a key id.
	bad := []Cred{{Root: "alice", Username: creds[0].Username, Password: "wkp_wrong"}}
	res, err = RunConnect(ctx, ConnectConfig{Addr: addr, Creds: bad, Workers: 1, Count: 3, IDPrefix: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.Refused != 3 || !errors.Is(res.FirstErr, ErrRefused) {
		t.Fatalf("ok %d, refused %d, first error %v; want 3 refused", res.OK, res.Refused, res.FirstErr)
	}
}

// TestIdle_PerConnectionArithmetic: the memory figure is the growth over the
// number of connections, each of which was really open at the reading.
func TestIdle_PerConnectionArithmetic(t *testing.T) {
	m := startTestMochi(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	readings := []int64{1 << 20, 3 << 20, 2 << 20}
	// The connections of the first opening (idle-N) and of the second
	// (idler-N) the broker holds open at each reading.
	var open [3][2]int
	var n atomic.Int32
	res, err := RunIdle(ctx, IdleConfig{
		Addr: m.addr.String(), Creds: mochiCreds(), Conns: 32, Workers: 8, Settle: time.Millisecond, Reconnect: true, IDPrefix: "idle",
		Memory: func() (int64, error) {
			k := n.Add(1) - 1
			for _, cl := range m.server.Clients.GetAll() {
				switch {
				case cl.Closed():
				case strings.HasPrefix(cl.ID, "idle-"):
					open[k][0]++
				case strings.HasPrefix(cl.ID, "idler-"):
					open[k][1]++
				}
			}
			return readings[k], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := [3][2]int{{0, 0}, {32, 0}, {0, 32}}; open[0] != want[0] || open[1] != want[1] || open[2][1] != want[2][1] {
		t.Fatalf("connections open at the readings (first opening, second): %v, want %v (the first opening's may still be closing at the last)", open, want)
	}
	if res.PerConn != float64(2<<20)/32 || res.PerConnReconnect != float64(1<<20)/32 {
		t.Fatalf("per connection %v and %v after reconnecting; want %v and %v", res.PerConn, res.PerConnReconnect, float64(2<<20)/32, float64(1<<20)/32)
	}
	if _, err := rss(1); err != nil {
		t.Fatalf("rss of pid 1: %v", err)
	}
}

// TestRevoke_CountsEverySessionClosed: deleting the key closes every session
// that used it, and the run counts each close.
func TestRevoke_CountsEverySessionClosed(t *testing.T) {
	store, addr, _ := startTestWotkit(t)
	id, pw := wotkittest.Key(t, store, "alice", storage.ReadWrite)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := RunRevoke(ctx, RevokeConfig{
		Addr: addr, Key: Cred{Root: "alice", Username: id, Password: pw}, Sessions: 25, IDPrefix: "rv",
		Revoke: func(context.Context) error { return store.DeleteKey(id) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Closed != 25 || res.Sessions != 25 {
		t.Fatalf("closed %d of %d", res.Closed, res.Sessions)
	}
	// Sessions the broker leaves open are not counted as closed.
	other, otherPw := wotkittest.Key(t, store, "alice", storage.ReadWrite)
	res, err = RunRevoke(ctx, RevokeConfig{
		Addr: addr, Key: Cred{Root: "alice", Username: other, Password: otherPw}, Sessions: 5, IDPrefix: "kept",
		Revoke: func(context.Context) error { return nil }, Timeout: 300 * time.Millisecond,
	})
	if err == nil || res.Closed != 0 {
		t.Fatalf("a revocation that revokes nothing: closed %d of %d, error %v; want none closed and an error", res.Closed, res.Sessions, err)
	}
}

// BenchmarkClient compares the two client sides considered for the load:
// this package's raw 3.1.1 codec and paho.mqtt.golang, each publishing at
// QoS 0 to one subscriber through bare mochi in this process, with the same
// window of messages in flight. The broker's work is the same in both, so
// the difference in ns/op is the client's. Run on 2 cores:
//
//	go test ./cmd/wotkit-bench -run '^$' -bench BenchmarkClient -cpu 2
func BenchmarkClient(b *testing.B) {
	addr := startTestMochi(b, 0).addr.String()
	const window = 256
	b.Run("raw", func(b *testing.B) {
		ctx := context.Background()
		res, err := RunPubSub(ctx, PubSubConfig{
			Addr: addr, Users: mochiCreds()[:1], Publishers: 1, Subscribers: 1,
			Window: window, Messages: b.N, Drain: testTimeout, IDPrefix: "raw", Tag: 1,
		})
		if err != nil || res.Lost != 0 {
			b.Fatalf("lost %d: %v", res.Lost, err)
		}
	})
	b.Run("paho", func(b *testing.B) {
		var received atomic.Int64
		done := make(chan struct{}, 1)
		wake := make(chan struct{}, 1)
		sub := pahoClient(b, addr, "paho-sub")
		tok := sub.Subscribe("bench0/+/data", 0, func(_ paho3.Client, _ paho3.Message) {
			if n := received.Add(1); n == int64(b.N) {
				done <- struct{}{}
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		if !tok.WaitTimeout(testTimeout) || tok.Error() != nil {
			b.Fatalf("subscribe: %v", tok.Error())
		}
		pub := pahoClient(b, addr, "paho-pub")
		payload := make([]byte, 64)
		b.ResetTimer()
		for i := range b.N {
			for int64(i)-received.Load() >= window {
				select {
				case <-wake:
				case <-time.After(pollInterval):
				}
			}
			pub.Publish("bench0/sensor0/data", 0, false, payload)
		}
		select {
		case <-done:
		case <-time.After(testTimeout):
			b.Fatalf("received %d of %d", received.Load(), b.N)
		}
	})
}

// pahoClient connects a paho.mqtt.golang 3.1.1 client for the benchmark.
func pahoClient(b *testing.B, addr, id string) paho3.Client {
	b.Helper()
	c, err := wotkittest.Dial3(b, addr, id, "bench0", "x", func(o *paho3.ClientOptions) {
		o.SetOrderMatters(false).SetMessageChannelDepth(4096)
	})
	if err != nil {
		b.Fatalf("paho connect: %v", err)
	}
	return c
}

// TestTurns_OneBrokerAtATime: two runs against two brokers take turns. While
// one has its turn the other broker receives and sends nothing; a turn ends
// only once everything it sent has arrived, so the messages it counts are
// exactly those its broker delivered in the turn; and every message of every
// turn and warm-up is received once by each subscriber.
func TestTurns_OneBrokerAtATime(t *testing.T) {
	var servers [2]*mqtt.Server
	runs := make([]PubSubConfig, 2)
	for i := range servers {
		// A write queue no subscriber falls that far behind in these short
		// turns. With the default 1,024 the QoS 1 warm-up turn waited for its
		// messages until the deadline on a loaded machine (seen once in a full
		// run, and again with three busy loops beside it; 30 of 30 passed
		// there with this queue): a subscriber starved of CPU falls behind
		// further than that and mochi drops what does not fit.
		m := startTestMochi(t, 1<<16)
		servers[i] = m.server
		runs[i] = PubSubConfig{Addr: m.addr.String(), Users: mochiCreds()[:2], Publishers: 2, Subscribers: 2,
			Window: 50, Drain: testTimeout, Tag: uint32(20 + i)}
	}
	counts := func(i int) [2]int64 {
		return [2]int64{atomic.LoadInt64(&servers[i].Info.MessagesReceived), atomic.LoadInt64(&servers[i].Info.MessagesSent)}
	}
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			type turn struct {
				run                int
				delivered          int64
				otherIn, otherSent int64
			}
			var (
				marks   [2][2][2]int64 // run -> broker -> counts at the turn's start
				seen    []turn
				settled []string
			)
			for i := range runs {
				// Client ids of their own: the QoS 0 run's connections, just
				// reset, may still be going away in the broker, and mochi
				// v2.7.9 can then remove a new session of the same id.
				runs[i].QoS, runs[i].IDPrefix = qos, fmt.Sprintf("turns%d-qos%d", i, qos)
			}
			res, err := RunTurns(ctx, TurnsConfig{
				Runs: runs, TurnPlan: TurnPlan{Warmup: 20 * time.Millisecond, Turn: 30 * time.Millisecond, Turns: 3,
					Mark: func(i int) {
						marks[i] = [2][2]int64{counts(0), counts(1)}
					},
					// mochi counts a message sent just after writing it, which may
					// be after the subscriber read it: the turn's counts are read
					// once the broker's have stood still, as the suite waits for
					// a broker to be idle.
					Settle: func(i int, measured bool) error {
						settled = append(settled, fmt.Sprint(i, measured))
						for prev := counts(i); ; {
							time.Sleep(20 * time.Millisecond)
							if now := counts(i); now == prev {
								break
							} else {
								prev = now
							}
						}
						if measured {
							mine, other := counts(i), counts(1-i)
							seen = append(seen, turn{run: i, delivered: mine[1] - marks[i][i][1],
								otherIn: other[0] - marks[i][1-i][0], otherSent: other[1] - marks[i][1-i][1]})
						}
						return nil
					}},
			})
			if err != nil {
				for i, sv := range servers {
					t.Logf("broker %d: received %d, sent %d, dropped %d, in flight %d, in flight dropped %d", i,
						atomic.LoadInt64(&sv.Info.MessagesReceived), atomic.LoadInt64(&sv.Info.MessagesSent),
						atomic.LoadInt64(&sv.Info.MessagesDropped), atomic.LoadInt64(&sv.Info.Inflight), atomic.LoadInt64(&sv.Info.InflightDropped))
				}
				t.Fatal(err)
			}
			if got, want := strings.Join(settled, " "), "0 false 1 false 0 true 1 true 1 true 0 true 0 true 1 true"; got != want {
				t.Fatalf("settled after turns %q, want %q (after every turn, warm-ups included; each cycle starts one run later)", got, want)
			}
			next := [2]int{}
			var delivered [2]int64 // by each run's broker in its measured turns
			for _, s := range seen {
				delivered[s.run] += s.delivered
				if s.otherIn != 0 || s.otherSent != 0 {
					t.Errorf("during a turn of run %d the other broker received %d and sent %d messages", s.run, s.otherIn, s.otherSent)
				}
				got := res.Turns[s.run][next[s.run]]
				next[s.run]++
				if got.Received == 0 || got.Received != s.delivered {
					t.Errorf("a turn of run %d counted %d messages; its broker delivered %d", s.run, got.Received, s.delivered)
				}
			}
			for i, r := range res.Runs {
				if r.Measured != delivered[i] || r.Received != r.Expected || r.Foreign != 0 {
					t.Errorf("run %d: measured %d (its broker delivered %d in the measured turns), sent %d, received %d of %d, lost %d, foreign %d",
						i, r.Measured, delivered[i], r.Sent, r.Received, r.Expected, r.Lost, r.Foreign)
				}
				if qos == 1 && r.Acked != r.Sent {
					t.Errorf("run %d: acked %d of %d", i, r.Acked, r.Sent)
				}
			}
		})
	}
}

// TestConnectTurns_OneBrokerAtATime: connect runs against two brokers take
// turns. While one has its turn the other receives nothing; a turn ends only
// once every connect begun in it has, so the connects it counts are exactly
// those its broker took in the turn (a CONNECT and a DISCONNECT each), also
// when turns are so short that workers are still waking up as one ends. A
// refused connect ends the runs with the broker's refusal.
func TestConnectTurns_OneBrokerAtATime(t *testing.T) {
	var servers [2]*mqtt.Server
	runs := make([]ConnectConfig, 2)
	for i := range servers {
		m := startTestMochi(t, 0)
		servers[i] = m.server
		runs[i] = ConnectConfig{Addr: m.addr.String(), Creds: mochiCreds()[:2], Workers: 4, IDPrefix: fmt.Sprintf("ct%d", i)}
	}
	received := func(i int) int64 { return atomic.LoadInt64(&servers[i].Info.PacketsReceived) }
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, c := range []struct {
		turn, warmup time.Duration
		turns        int
	}{{30 * time.Millisecond, 20 * time.Millisecond, 3}, {100 * time.Microsecond, 0, 50}} {
		type turn struct {
			run         int
			took, other int64 // packets received by the run's broker and by the other
		}
		var (
			marks [2][2]int64 // run -> broker -> packets at the turn's start
			seen  []turn
		)
		turns, err := RunConnectTurns(ctx, ConnectTurnsConfig{Runs: runs, TurnPlan: TurnPlan{
			Warmup: c.warmup, Turn: c.turn, Turns: c.turns,
			Mark: func(i int) { marks[i] = [2]int64{received(0), received(1)} },
			Settle: func(i int, measured bool) error {
				if measured {
					seen = append(seen, turn{run: i, took: received(i) - marks[i][i], other: received(1-i) - marks[i][1-i]})
				}
				return nil
			},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 2*c.turns || len(turns[0]) != c.turns || len(turns[1]) != c.turns {
			t.Fatalf("turns of %v: %d settled, %d and %d measured; want %d, %d and %d",
				c.turn, len(seen), len(turns[0]), len(turns[1]), 2*c.turns, c.turns, c.turns)
		}
		next := [2]int{}
		var counted int64
		for _, s := range seen {
			got := turns[s.run][next[s.run]]
			next[s.run]++
			counted += got.Received
			if 2*got.Received != s.took || (c.turn >= time.Millisecond && got.Received == 0) {
				t.Errorf("turns of %v: a turn of run %d counted %d connects; its broker received %d packets", c.turn, s.run, got.Received, s.took)
			}
			if s.other != 0 {
				t.Errorf("turns of %v: during a turn of run %d the other broker received %d packets", c.turn, s.run, s.other)
			}
		}
		if counted == 0 {
			t.Errorf("turns of %v: no connect counted", c.turn)
		}
	}

	_, addr, creds := startTestWotkit(t)
	bad := []Cred{{Root: "alice", Username: creds[0].Username, Password: "wkp_wrong"}}
	_, err := RunConnectTurns(ctx, ConnectTurnsConfig{
		Runs:     []ConnectConfig{{Addr: addr, Creds: bad, Workers: 1, IDPrefix: "bad"}},
		TurnPlan: TurnPlan{Warmup: 20 * time.Millisecond, Turn: 30 * time.Millisecond, Turns: 1},
	})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("a run whose connects are refused returned %v, want the refusal", err)
	}
}
