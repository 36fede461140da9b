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

// maxPendingPerUser bounds the unanswered consent pages of one user: the
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
	// order holds request ids in the order they were added, which is the
	// order they expire in; some may have gone already.
	order []string
	// byShare[n] holds the users with n requests waiting (n from 1), so that
	// the largest share is found without going through every user.
	byShare [maxPendingPerUser + 1]map[string]struct{}
}

func newPendingConsents() *pendingConsents {
	p := &pendingConsents{pending: map[string]*pendingConsent{}, byUser: map[string][]string{}}
	for n := 1; n < len(p.byShare); n++ {
		p.byShare[n] = map[string]struct{}{}
	}
	return p
}

// add stores a request and returns its id. It drops the expired requests, and
// the user's oldest when the user has maxPendingPerUser waiting. When the
// store is full it drops the oldest request of whoever has the most waiting:
// so no one is refused, and a user with few requests waiting loses one only
// to someone who has as few. Many accounts opening requests together (sign-up
// is open) would otherwise lock everyone else out.
func (p *pendingConsents) add(pc *pendingConsent) string {
	id := storage.NewSecret("")
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropExpired(now)
	if ids := p.byUser[pc.user]; len(ids) >= maxPendingPerUser {
		p.remove(ids[0])
	}
	if len(p.pending) >= maxPendingConsents {
		p.remove(p.oldestOfLargestShare())
	}
	pc.expires = now.Add(consentTTL)
	p.pending[id] = pc
	p.order = append(p.order, id)
	p.setUserIDs(pc.user, append(p.byUser[pc.user], id))
	return id
}

// dropExpired removes the requests that have expired, and forgets the ids of
// those gone from the front of p.order (and from all of it once it holds
// twice as many as can wait); p.mu is held.
func (p *pendingConsents) dropExpired(now time.Time) {
	for len(p.order) > 0 {
		pc, ok := p.pending[p.order[0]]
		if ok && !now.After(pc.expires) {
			break
		}
		if ok {
			p.remove(p.order[0])
		}
		p.order = p.order[1:]
	}
	if len(p.order) >= 2*maxPendingConsents {
		kept := make([]string, 0, len(p.pending))
		for _, id := range p.order {
			if _, ok := p.pending[id]; ok {
				kept = append(kept, id)
			}
		}
		p.order = kept
	}
}

// oldestOfLargestShare returns the oldest request of a user with the most
// requests waiting; p.mu is held and p is not empty.
func (p *pendingConsents) oldestOfLargestShare() string {
	for n := maxPendingPerUser; n > 0; n-- {
		for user := range p.byShare[n] {
			return p.byUser[user][0]
		}
	}
	panic("oauthweb: no pending consent to drop") // p is not empty
}

// setUserIDs makes ids the requests of user waiting; p.mu is held.
func (p *pendingConsents) setUserIDs(user string, ids []string) {
	delete(p.byShare[len(p.byUser[user])], user)
	if len(ids) == 0 {
		delete(p.byUser, user)
		return
	}
	p.byUser[user] = ids
	p.byShare[len(ids)][user] = struct{}{}
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
	p.setUserIDs(user, slices.DeleteFunc(p.byUser[user], func(v string) bool { return v == id }))
}
