package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/crypto/bcrypt"
)

// SchemaVersion is the layout of the file this build writes.
const SchemaVersion = 1

// Bucket names. Every bucket is created on open if missing, so adding a bucket
// needs no migration; changing the layout of one does.
var (
	bucketMeta         = []byte("meta")
	bucketUsers        = []byte("users")
	bucketKeys         = []byte("keys")
	bucketKeysByOwner  = []byte("keys_by_owner")
	bucketWebSessions  = []byte("web_sessions")
	bucketApps         = []byte("apps")
	bucketGrants       = []byte("grants")
	bucketCodes        = []byte("oauth_codes")
	bucketTokens       = []byte("oauth_tokens")       // token id -> record
	bucketTokenIndex   = []byte("oauth_token_index")  // 'a' or 'r' + SHA-256 of the token -> token id
	bucketSensors      = []byte("sensors")            // owner NUL name -> sensor
	bucketSensorIDs    = []byte("sensor_ids")         // id -> owner NUL name
	bucketSensorData   = []byte("sensor_data")        // id -> bucket of time+seq -> values
	bucketSensorCounts = []byte("sensor_data_counts") // id -> number of readings kept
	allBuckets         = [][]byte{bucketMeta, bucketUsers, bucketKeys, bucketKeysByOwner, bucketWebSessions,
		bucketApps, bucketGrants, bucketCodes, bucketTokens, bucketTokenIndex,
		bucketSensors, bucketSensorIDs, bucketSensorData, bucketSensorCounts}

	metaSchema = []byte("schema")
)

// migrations[i] upgrades a file from schema i+1 to schema i+2, inside the
// transaction that opens it. Append here when SchemaVersion grows.
var migrations []func(*bolt.Tx) error

// Options configures Open.
type Options struct {
	// LockTimeout bounds the wait for the file lock another process holds (default 1s).
	LockTimeout time.Duration
	// BcryptCost is the cost of user password hashes (default bcrypt.DefaultCost).
	BcryptCost int
	// Retention bounds each sensor's history (nil: DefaultRetention).
	Retention *Retention
	// MaxPerUser bounds the keys, the applications and the sensors each user
	// may have, each kind apart (0: no limit; the server's default is
	// DefaultMaxPerUser); one more is refused with ErrLimit.
	MaxPerUser int
	// Verify checks the whole file's consistency before using it (the server
	// does, at start) and refuses a file it cannot trust with ErrCorrupt.
	Verify bool
	// Logger receives what the store's background work cannot return to a
	// caller: readings lost to a failed write, failed sweeps and last-used
	// times (nil: slog.Default()).
	Logger *slog.Logger
}

// Store is an open wotkit database. It is safe for concurrent use.
type Store struct {
	closeOnce sync.Once
	closeErr  error

	db   *bolt.DB
	path string
	log  *slog.Logger // Options.Logger
	// lastBatchErr is the failure of the readings Close wrote last, set by
	// writeReadings before it ends.
	lastBatchErr error
	bcryptCost   int
	maxPerUser   int // Options.MaxPerUser
	// fakeHash is compared against when a user does not exist, so that the
	// time a failed login takes says nothing about whether the account exists.
	// It is made on first need, at the store's cost.
	fakeHash func() []byte

	watchMu  sync.RWMutex
	watchers map[int]func(Event)
	nextW    int

	retention    Retention
	readings     chan pendingReading // readings waiting for the batch writer
	readingsDone chan struct{}
	queueMu      sync.RWMutex // read-held by each send on readings; Close takes it to close readings
	queueClosed  bool         // readings is closed: Record refuses with ErrClosed

	auth authCache // decoded keys and tokens for authentication; emptied by every write

	touchMu sync.Mutex
	touched map[string]touch // touchKey/touchGrant + id -> last use not yet written
	stop    chan struct{}
	done    chan struct{}
}

// Open opens (creating if needed) the database file at path, upgrades its
// schema, and starts the background writer of last-used times.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = defaultBcryptCost
	}
	if opts.BcryptCost < bcrypt.MinCost || opts.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("open store: bcrypt cost %d is outside %d..%d", opts.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// bbolt makes a new database in an empty file: one truncated by accident
	// would look like a first start, every user and key gone without a word.
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		return nil, fmt.Errorf("open store %s: %w: the file is empty; restore a backup, or remove the file to start with no data", path, ErrCorrupt)
	}
	db, err := openBolt(path, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if opts.Verify {
		if err := verify(db); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	if err := db.Update(initSchema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	fakeHash := sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("no such user, no such password"), opts.BcryptCost) // cost checked above
		return h
	})
	retention := DefaultRetention
	if opts.Retention != nil {
		retention = *opts.Retention
	}
	s := &Store{
		path:         path,
		retention:    retention,
		readings:     make(chan pendingReading, queueSize),
		readingsDone: make(chan struct{}),
		db:           db,
		bcryptCost:   opts.BcryptCost,
		maxPerUser:   opts.MaxPerUser,
		fakeHash:     fakeHash,
		watchers:     map[int]func(Event){},
		touched:      map[string]touch{},
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
		log:          opts.Logger,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	go s.maintain()
	go s.writeReadings()
	return s, nil
}

// initSchema creates missing buckets and brings the schema to SchemaVersion.
func initSchema(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	version := uint64(SchemaVersion)
	if v := meta.Get(metaSchema); v != nil {
		if len(v) != 8 {
			return fmt.Errorf("%w: schema version record is %d bytes, want 8", ErrCorrupt, len(v))
		}
		version = binary.BigEndian.Uint64(v)
	}
	if version == 0 {
		return fmt.Errorf("%w: schema version 0 (versions start at 1)", ErrCorrupt)
	}
	if version > SchemaVersion {
		return fmt.Errorf("schema %d, this build reads up to %d: %w", version, SchemaVersion, ErrSchemaTooNew)
	}
	for ; version < SchemaVersion; version++ {
		if err := migrations[version-1](tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", version, version+1, err)
		}
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], version)
	return meta.Put(metaSchema, b[:])
}

// Close writes pending readings and last-used times and closes the file.
// Readings recorded once it has begun are refused with ErrClosed. It returns
// the error of the last readings it wrote if that write failed (they are
// lost, and logged), with any error closing the file. Calling it again
// returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.queueMu.Lock()
		s.queueClosed = true
		close(s.readings)
		s.queueMu.Unlock()
		<-s.readingsDone
		close(s.stop)
		<-s.done
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close store: %w", err)
		}
		s.closeErr = errors.Join(s.lastBatchErr, s.closeErr)
	})
	return s.closeErr
}

// Path returns the file the store is kept in.
func (s *Store) Path() string { return s.path }

// update runs fn in a write transaction, then empties the authentication
// cache and, once the transaction has committed, publishes the events fn
// returned.
func (s *Store) update(fn func(tx *bolt.Tx) ([]Event, error)) error {
	return s.write(fn, true)
}

// updateApart is update for writes to records authentication never reads
// (web sessions, sensors and their readings, last-used times): the
// authentication cache stays, so a CONNECT after a portal sign-in or a
// reading is still answered from memory.
func (s *Store) updateApart(fn func(tx *bolt.Tx) ([]Event, error)) error {
	return s.write(fn, false)
}

func (s *Store) write(fn func(tx *bolt.Tx) ([]Event, error), emptiesAuth bool) error {
	var events []Event
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		events, err = fn(tx)
		return err
	})
	if emptiesAuth {
		s.auth.invalidate()
	}
	if err != nil {
		return err
	}
	s.emit(events)
	return nil
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	return s.db.View(fn)
}

// CheckFile verifies the internal consistency of a database file that no
// process has open (every page reachable once, no freed page in use) and
// returns the first problem found.
func CheckFile(path string) error {
	db, err := openBolt(path, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("check %s: %w", path, ErrLocked)
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	defer db.Close()
	if err := verify(db); err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	return nil
}

// openBolt opens a bbolt file. bbolt panics on some damaged files (a
// freelist page of the wrong type): that is ErrCorrupt, not a crash.
func openBolt(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return db, err
}

// verify walks every page of db and returns the first inconsistency as
// ErrCorrupt (a panic of bbolt's on a damaged page too).
func verify(db *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return nil
	})
}

// Backup writes a consistent copy of the database to path while it is in
// use (one read transaction), through a temporary file renamed into place,
// so that path holds either the whole copy or nothing new. It refuses
// (ErrInvalid) to write over the live database file itself.
func (s *Store) Backup(path string) error {
	if s.isLive(path) {
		return fmt.Errorf("backup to %s: %w: that is the live database file %s; back up to another file", path, ErrInvalid, s.path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wotkit-backup-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(tmp)
		return err
	})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}

// isLive reports whether path names the live database file: the same file,
// or the same name in the same directory, however either is spelled (a
// rename onto that name would replace the file the store writes to).
func (s *Store) isLive(path string) bool {
	if sameFile(path, s.path) {
		return true
	}
	return filepath.Base(path) == filepath.Base(s.path) && sameFile(filepath.Dir(path), filepath.Dir(s.path))
}

// sameFile reports whether a and b both exist and are the same file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
