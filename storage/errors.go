package storage

import "errors"

var (
	// ErrNotFound is returned when the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when a record with the same name already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid is returned, wrapped with the reason, for input that breaks a rule.
	ErrInvalid = errors.New("invalid")
	// ErrLimit is returned, wrapped with the reason, when a user already has
	// as many keys, applications or sensors as one user may (Options.MaxPerUser).
	ErrLimit = errors.New("limit reached")
	// ErrBadCredentials is returned when an id or name and its secret do not match.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrLocked is returned by Open when another process holds the database file.
	ErrLocked = errors.New("database file is in use by another process")
	// ErrCorrupt is returned for a file whose pages are inconsistent: restore a backup.
	ErrCorrupt = errors.New("database file is damaged")
	// ErrSchemaTooNew is returned by Open for a file written by a newer wotkit.
	ErrSchemaTooNew = errors.New("database was written by a newer wotkit")
	// ErrClosed is returned by Record, RecordJSON and RecordSync once Close
	// has begun: the reading is not kept.
	ErrClosed = errors.New("store is closed")
)
