// Package hooks holds wotkit's mochi-mqtt hooks: authentication of keys at
// CONNECT, the topic ACL checked on every publish, subscribe and delivery, and
// the revocation of live sessions when storage reports a credential gone.
//
// The decision for a session is made once, at CONNECT, into a Grant kept in
// memory; the ACL reads only that Grant, with no lock, no allocation and no
// database read. Revocation marks the Grant revoked before it disconnects the
// client, so nothing is delivered to it afterwards.
package hooks
