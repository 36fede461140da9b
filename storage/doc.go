// Package storage keeps all of wotkit's state in one bbolt file: users, keys and
// (as the product grows) applications, grants and tokens.
//
// Secrets are stored only as hashes: SHA-256 for the random secrets wotkit makes
// (key passwords, client secrets, tokens), bcrypt for the passwords people choose.
// Every write is one bbolt transaction, committed to disk before the caller sees
// its result, so a secret is on disk before it is shown to anyone.
//
// Changes that must reach live sessions (a key deleted or its password reset)
// are published as Events to the functions registered with Store.Watch, after
// the transaction that made them has committed.
package storage
