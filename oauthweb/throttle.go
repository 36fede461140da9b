package oauthweb

import (
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

// throttleWait returns how long subject and addr must still wait before a
// try, and counts the attempt as throttled when they must.
func (p *Portal) throttleWait(subject, addr string) time.Duration {
	w := p.throttle.Wait(subject, addr)
	if w > 0 {
		p.cfg.Metrics.Throttled("web")
	}
	return w
}
