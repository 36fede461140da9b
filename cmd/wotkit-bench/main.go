// Command wotkit-bench measures wotkit's MQTT broker against bare mochi and
// mosquitto: connect + authenticate rate with keys and tokens, publish
// throughput at QoS 0 and 1 counting only messages that arrive, latency at a
// fixed offered rate, memory per idle connection, and the time a key's
// revocation takes to close its sessions. `make bench` runs `wotkit-bench
// suite`; the other commands serve the brokers under test and drive load for
// profiling.
//
// The client side is a minimal MQTT 3.1.1 codec of its own (mqtt.go) rather
// than paho: on a 2-core machine the load shares the box with the broker, and
// paho spends several times the CPU per message (see BenchmarkClient).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

const usage = `wotkit-bench: measure wotkit against bare mochi and mosquitto

Usage:
  wotkit-bench suite [flags]     every scenario against every broker, in turns; prints the table (make bench)
  wotkit-bench mochi [flags]     serve mochi v2.7.9 with an allow-all hook, configured as wotkit's broker
  wotkit-bench wotkit [flags]    serve wotkit's broker in-process over a stopped server's --data (--writes-pending, --pprof)
  wotkit-bench setup [flags]     make bench users, keys and tokens in a new data directory; write keys.json and tokens.json
  wotkit-bench load [flags]      drive one scenario against an address, for profiling

Run a command with -h for its flags. Servers bind loopback addresses only.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "wotkit-bench:", err)
		os.Exit(1)
	}
}

// run executes one command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "suite":
		return suiteCommand(ctx, args[1:], stdout, stderr)
	case "mochi":
		return mochiCommand(ctx, args[1:], stderr)
	case "wotkit":
		return wotkitCommand(ctx, args[1:], stderr)
	case "setup":
		return setupCommand(ctx, args[1:], stdout, stderr)
	case "load":
		return loadCommand(ctx, args[1:], stdout, stderr)
	case "mint": // hidden: tokens for a stopped server (wotkit has no command-line path to one)
		return mintCommand(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// setupCommand makes the suite's users, keys and tokens in a new data directory.
func setupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("wotkit", "bin/wotkit", "the wotkit binary")
	data := fs.String("data", "", "a new data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" {
		return errors.New("setup: --data is required")
	}
	ws, err := setupWotkit(ctx, *bin, *data)
	if err != nil {
		return err
	}
	for name, creds := range map[string][]Cred{"keys.json": ws.keys, "tokens.json": ws.tokens} {
		b, err := json.MarshalIndent(creds, "", "  ")
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(*data, name), b, 0o600); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	fmt.Fprintf(stdout, "credentials in %s and %s\n", filepath.Join(*data, "keys.json"), filepath.Join(*data, "tokens.json"))
	return nil
}

// loadCommand drives one scenario against a broker for a while and prints the result.
func loadCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:1883", "broker address")
	credsFile := fs.String("creds", "", "JSON list of credentials ({root, username, password}); default: any, for an allow-all broker")
	scenario := fs.String("scenario", "qos0", "connect, qos0, qos1, latency or idle")
	duration := fs.Duration("duration", 10*time.Second, "how long to measure")
	rate := fs.Float64("rate", 4000, "latency: offered messages per second in all")
	window := fs.Int("window", 0, "messages a publisher may be ahead of its slowest subscriber (0: default)")
	pid := fs.Int("pid", 0, "the broker's process id: report its CPU use")
	workers := fs.Int("workers", connectWorkers, "connect: clients connecting at once")
	conns := fs.Int("conns", 10000, "idle: connections to hold open for --duration (needs --pid for memory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	creds := mochiCreds()
	if *credsFile != "" {
		b, err := os.ReadFile(*credsFile)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if err := json.Unmarshal(b, &creds); err != nil {
			return fmt.Errorf("load: %s: %w", *credsFile, err)
		}
	}
	tag := uint32(time.Now().UnixNano())
	switch *scenario {
	case "idle":
		if err := raiseNoFile(uint64(*conns)+1024, slog.New(slog.NewTextHandler(stderr, nil))); err != nil {
			return err
		}
		res, err := RunIdle(ctx, IdleConfig{Addr: *addr, Creds: creds, Conns: *conns, Settle: *duration, IDPrefix: fmt.Sprint("idle", tag),
			Memory: func() (int64, error) {
				if *pid == 0 {
					return 0, nil
				}
				return rss(*pid)
			}})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "idle: %d connections held %v; broker RSS %d MiB -> %d MiB, %.1f KB per connection\n",
			res.Conns, *duration, res.Before>>20, res.After>>20, res.PerConn/1024)
	case "connect":
		res, err := RunConnect(ctx, ConnectConfig{Addr: *addr, Creds: creds, Workers: *workers, Duration: *duration, IDPrefix: "load"})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "connect: %.0f conn/s (%d ok, %d refused, %d failed; first error: %v)\n", res.Rate, res.OK, res.Refused, res.Failed, res.FirstErr)
	case "qos0", "qos1", "latency":
		cfg := PubSubConfig{Addr: *addr, Users: creds, Publishers: pubsPerUser, Subscribers: subsPerUser,
			PayloadSize: payloadSize, Warmup: 500 * time.Millisecond, Duration: *duration, IDPrefix: "load", Tag: tag, Window: *window}
		if *scenario == "qos1" {
			cfg.QoS = 1
		}
		if *scenario == "latency" {
			cfg.Publishers, cfg.Subscribers, cfg.Rate = 1, 1, *rate
		}
		var brokerCPU, selfCPU func() float64
		cfg.Mark = func(end bool) {
			if !end {
				selfCPU = cpuShare(os.Getpid())
				if *pid > 0 {
					brokerCPU = cpuShare(*pid)
				}
				return
			}
			if *pid > 0 {
				fmt.Fprintf(stdout, "broker CPU %.2f cores, ", brokerCPU())
			}
			fmt.Fprintf(stdout, "load CPU %.2f cores; ", selfCPU())
		}
		res, err := RunPubSub(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %.0f msg/s received (sent %d, received %d, lost %d, foreign %d)",
			*scenario, res.Rate, res.Sent, res.Received, res.Lost, res.Foreign)
		if cfg.Rate > 0 {
			fmt.Fprintf(stdout, "; p50 %v, p99 %v", res.Percentile(0.5), res.Percentile(0.99))
		}
		fmt.Fprintln(stdout)
	default:
		return fmt.Errorf("load: unknown scenario %q", *scenario)
	}
	return nil
}
