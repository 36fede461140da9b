// Package hooks holds wotkit's mochi-mqtt hooks: authentication of keys at
// CONNECT, the topic ACL checked on every publish, subscribe and delivery, and
// the revocation of live sessions when storage reports a credential gone.
//
// The decision for a session is made once, at CONNECT, into a Grant kept in
// memory; the ACL reads only that Grant, with no lock, no allocation and no
// database read. Revocation marks the Grant revoked before it disconnects the
// client, so nothing more is routed to it; of the messages already queued for
// its connection, only what mochi's write loop is writing at that instant can
// still reach the socket, and the rest are dropped when the connection closes.
package hooks
