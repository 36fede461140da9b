package oauthweb

import (
	"slices"
	"sync"
	"time"

	"github.com/wotkit/wotkit/storage"
)

// consentTTL is how long a consent page stays answerable.
const consentTTL = 10 * time.Minute

// maxPendingConsents bounds the memory that unanswered consent pages hold.
const maxPendingConsents = 10000

// maxPendingPerUser bounds the unanswered consent pages of one user, so that
// one user cannot fill maxPendingConsents and lock everyone else out: the
// user's oldest is dropped to make room.
const maxPendingPerUser = 20

// authRequest is a validated authorization request.
type authRequest struct {
	App         storage.App
	RedirectURI string // where to send the answer
	GivenURI    bool   // the request named redirect_uri (the token request must repeat it)
	Scope       storage.Scope
	State       string
	Challenge   string // S256 code challenge, or empty
}

// pendingConsent is an authorization request waiting for its user's answer,
// kept on the server so that the consent form carries only its id.
type pendingConsent struct {
	req     authRequest
	user    string
	session string // hash of the web session that saw the page
	expires time.Time
}

// pendingConsents holds consent requests by id; each is answered once.
type pendingConsents struct {
	mu      sync.Mutex
	pending map[string]*pendingConsent
	byUser  map[string][]string // each user's request ids, oldest first
}

func newPendingConsents() *pendingConsents {
	return &pendingConsents{pending: map[string]*pendingConsent{}, byUser: map[string][]string{}}
}

// add stores a request and returns its id. It drops the user's oldest request
// when the user has maxPendingPerUser waiting, and expired ones when the
// store is full; it refuses only when maxPendingConsents live ones remain.
func (p *pendingConsents) add(pc *pendingConsent) (string, bool) {
	id := storage.NewSecret("")
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if ids := p.byUser[pc.user]; len(ids) >= maxPendingPerUser {
		p.remove(ids[0])
	}
	if len(p.pending) >= maxPendingConsents {
		for k, v := range p.pending {
			if now.After(v.expires) {
				p.remove(k)
			}
		}
		if len(p.pending) >= maxPendingConsents {
			return "", false
		}
	}
	pc.expires = now.Add(consentTTL)
	p.pending[id] = pc
	p.byUser[pc.user] = append(p.byUser[pc.user], id)
	return id, true
}

// take removes and returns the request with id if it is live and belongs to
// the session that asks.
func (p *pendingConsents) take(id, user, session string) (*pendingConsent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc, ok := p.pending[id]
	if !ok || pc.user != user || pc.session != session {
		return nil, false
	}
	p.remove(id)
	return pc, time.Now().Before(pc.expires)
}

// remove forgets the request with id, which must be pending; p.mu is held.
func (p *pendingConsents) remove(id string) {
	user := p.pending[id].user
	delete(p.pending, id)
	ids := slices.DeleteFunc(p.byUser[user], func(v string) bool { return v == id })
	if len(ids) == 0 {
		delete(p.byUser, user)
	} else {
		p.byUser[user] = ids
	}
}
