// Command wotkit is a self-hosted home for sensor data: an MQTT broker whose
// clients authenticate with keys or OAuth2 tokens, a web portal, and all state
// in one bbolt file. Run `wotkit help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `wotkit: a self-hosted home for sensor data

Usage:
  wotkit serve [flags]                         run the broker and the web portal
  wotkit user add NAME [--admin] --password-stdin
  wotkit user passwd NAME --password-stdin
  wotkit user list [--json]
  wotkit key create USER --name NAME [--description TEXT] [--read-only] [--json]
  wotkit key list USER [--json]
  wotkit key delete KEYID
  wotkit app create USER --name NAME --redirect-uri URI [--redirect-uri URI ...] [--description TEXT] [--public] [--json]
  wotkit app list [--json]
  wotkit app delete CLIENTID
  wotkit backup FILE                           a consistent copy of the database, also while serving

Every command takes --data DIR (env WOTKIT_DATA, default ./wotkit-data).
Administration works whether the server runs or not. Run a command with -h for its flags.
`

// errUsage marks a mistake in how a command was called (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "wotkit:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "wotkit:", err)
		os.Exit(1)
	}
}

// run executes one command line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "serve":
		return serveCommand(ctx, args[1:], stderr)
	case "user":
		return userCommand(ctx, args[1:], stdin, stdout, stderr)
	case "key":
		return keyCommand(ctx, args[1:], stdout, stderr)
	case "app":
		return appCommand(ctx, args[1:], stdout, stderr)
	case "backup":
		return backupCommand(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}
