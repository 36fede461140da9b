package oauthweb

import (
	"errors"
	"strings"
	"time"

	"github.com/wotkit/wotkit/storage"
)

// throttleAccount is the table key for a submitted user name: only names that
// could exist are tracked, so junk names cannot fill the table (the address
// table still counts them).
func throttleAccount(name string) string {
	name = strings.TrimSpace(name)
	if !storage.ValidUserName(name) {
		return ""
	}
	return name
}

// checkPassword checks a user's own password behind the failed-login
// throttle. A wait above zero means the name or address must still wait and
// nothing was checked (the attempt counts as throttled);
// storage.ErrBadCredentials counts a failure, and a good password clears the
// name's count. Checks in flight count against the free allowance, so that
// guesses sent at once are throttled as guesses sent one after another.
func (p *Portal) checkPassword(name, password, addr string) (storage.User, time.Duration, error) {
	account := throttleAccount(name)
	if wait := p.throttle.Begin(account, addr); wait > 0 {
		p.cfg.Metrics.Throttled("web")
		return storage.User{}, wait, nil
	}
	u, err := p.store.CheckPassword(name, password)
	p.throttle.End(account, addr, errors.Is(err, storage.ErrBadCredentials))
	if err == nil {
		p.throttle.Succeed(account)
	}
	return u, 0, err
}
