package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/go-oauth2/oauth2/v4/models"

	"github.com/wotkit/wotkit/storage"
)

// mintCommand grants an application access for a user and stores access
// tokens for that grant, as the token endpoint would after the user's
// consent: `wotkit-bench mint --data DIR --user U --client CID [--n N]`. It
// opens the store file, so the server must be stopped. It prints one token a
// line. wotkit has no command-line path to a token (tokens come from the
// browser flow), and the benchmark needs some.
func mintCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "wotkit-data", "data directory of a stopped wotkit")
	user := fs.String("user", "", "the user who grants")
	client := fs.String("client", "", "the application's client id")
	scope := fs.String("scope", "all", "read, write or all")
	ttl := fs.Duration("ttl", 24*time.Hour, "token lifetime")
	n := fs.Int("n", 1, "how many tokens")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" || *client == "" || *n < 1 || *n > 10000 {
		return errors.New("mint: need --user, --client and 1 <= --n <= 10000")
	}
	sc, err := storage.ParseScope(*scope)
	if err != nil {
		return fmt.Errorf("mint: --scope: %w", err)
	}
	store, err := storage.Open(filepath.Join(*data, "wotkit.db"), storage.Options{})
	if err != nil {
		return fmt.Errorf("mint: open store (is the server stopped?): %w", err)
	}
	defer store.Close()
	if _, err := store.SaveGrant(*user, *client, sc); err != nil {
		return fmt.Errorf("mint: save grant: %w", err)
	}
	for range *n {
		access := storage.NewSecret(storage.PrefixAccessToken)
		err := store.OAuthTokens().Create(ctx, &models.Token{
			ClientID: *client, UserID: *user, Scope: sc.String(),
			Access: access, AccessCreateAt: time.Now(), AccessExpiresIn: *ttl,
		})
		if err != nil {
			return fmt.Errorf("mint: create token: %w", err)
		}
		fmt.Fprintln(stdout, access)
	}
	return nil
}
