package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// newFlags returns a flag set for a command whose errors come back to run.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags reads the command line, then applies the WOTKIT_ environment
// twin (--public-url: WOTKIT_PUBLIC_URL) of each flag the command line did
// not set: the command line wins, also for a flag that may be repeated
// (--redirect-uri), whose values would otherwise add to the twin's. Flags may
// come before, between or after positional arguments; those are returned in
// order.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	positional, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "WOTKIT_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && !set[f.Name] && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%w: %s=%q: %v", errUsage, name, v, err)
			}
		}
	})
	return positional, envErr
}

// parseArgs parses the flags of args, wherever they are among the
// positional arguments, and returns those.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// dataFlag adds --data to a command.
func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", "wotkit-data", "directory of the database file and admin socket")
}
