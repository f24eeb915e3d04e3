// Package privacy is crypto-shredding: personal data in events is stored encrypted
// with a key per subject (a person's user ID, a customer's identifier), kept outside
// the event log in a key table; erasing a subject deletes its key, so every event that
// named it keeps its bytes (the hash chain and the Merkle tree still verify) but reads
// as "erased:<ref>" from then on.
package privacy

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/sync/singleflight"

	"ledger/infra/sqldb"
)

// ErrUnknownSubject: no key is kept for the subject (never seen, or already erased).
var ErrUnknownSubject = errors.New("no personal data is kept for this subject")

// Keys is the key table: per subject, a random opaque reference (stored in the events
// next to the ciphertext) and a random AES-256 key. The subject itself is never stored,
// only its SHA-256, to find its key when it appears again; once the row is deleted
// nothing links the reference to the person.
type Keys struct {
	db     *bun.DB
	mu     sync.Mutex
	byHash map[string]subjectKey
	byRef  map[string]cipher.AEAD
	erased map[string]bool
	// lookups shares one database query among concurrent misses of a reference.
	lookups singleflight.Group
	// created writes the keys of concurrent first sights in one transaction.
	created keyBatches
}

type subjectKey struct {
	ref  string
	aead cipher.AEAD
}

// KeysTable is the key table's name (for those that compact it after an erasure).
const KeysTable = "privacy_subject_keys"

type keyRow struct {
	bun.BaseModel `bun:"table:privacy_subject_keys"`
	SubjectHash   string    `bun:"subject_hash,pk"`
	SubjectRef    string    `bun:"subject_ref,notnull,unique"`
	Key           []byte    `bun:"key,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

// OpenKeys keeps the key table in db (the event store's SQL database), creating it.
func OpenKeys(ctx context.Context, db *bun.DB) (*Keys, error) {
	if _, err := db.NewCreateTable().Model((*keyRow)(nil)).IfNotExists().Exec(ctx); err != nil {
		return nil, fmt.Errorf("privacy key table: %w", err)
	}
	return &Keys{db: db, byHash: map[string]subjectKey{}, byRef: map[string]cipher.AEAD{}, erased: map[string]bool{}}, nil
}

func subjectHash(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(sum[:])
}

// keyFor gives the subject's reference and key, creating them on first sight.
func (k *Keys) keyFor(ctx context.Context, subject string) (subjectKey, error) {
	h := subjectHash(subject)
	k.mu.Lock()
	sk, ok := k.byHash[h]
	k.mu.Unlock()
	if ok {
		return sk, nil
	}
	row, err := k.created.create(ctx, k.db, h)
	if err != nil {
		return subjectKey{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.erased[row.SubjectRef] { // erased between the select and now: never reuse its key
		return subjectKey{}, fmt.Errorf("privacy key %s: erased while being read; retry", row.SubjectRef)
	}
	return k.remember(h, row)
}

// keyOf gives the key of a reference; ok is false when it was erased. A cache miss
// queries the database without holding the cache lock, and concurrent misses of one
// reference share one query, so a miss never stalls decoders of other subjects.
func (k *Keys) keyOf(ctx context.Context, ref string) (cipher.AEAD, bool, error) {
	k.mu.Lock()
	aead, cached := k.byRef[ref]
	erased := k.erased[ref]
	k.mu.Unlock()
	if cached || erased {
		return aead, cached, nil
	}
	found, err, _ := k.lookups.Do(ref, func() (any, error) { return k.load(ctx, ref) })
	if err != nil {
		return nil, false, err
	}
	aead, _ = found.(cipher.AEAD)
	return aead, aead != nil, nil
}

// load reads a reference's key into the cache; nil when it was erased.
func (k *Keys) load(ctx context.Context, ref string) (cipher.AEAD, error) {
	var row keyRow
	err := k.db.NewSelect().Model(&row).Where("subject_ref = ?", ref).Scan(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	if errors.Is(err, sql.ErrNoRows) || k.erased[ref] { // erased before or during the query
		k.erased[ref] = true
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("privacy key %s: %w", ref, err)
	}
	sk, err := k.remember(row.SubjectHash, row)
	if err != nil {
		return nil, err
	}
	return sk.aead, nil
}

func (k *Keys) remember(hash string, row keyRow) (subjectKey, error) {
	block, err := aes.NewCipher(row.Key)
	if err != nil {
		return subjectKey{}, fmt.Errorf("privacy key %s: %w", row.SubjectRef, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return subjectKey{}, fmt.Errorf("privacy key %s: %w", row.SubjectRef, err)
	}
	sk := subjectKey{ref: row.SubjectRef, aead: aead}
	k.byHash[hash], k.byRef[row.SubjectRef] = sk, aead
	return sk, nil
}

// Erase deletes the subject's key and returns its reference. On SQLite the deleted
// row's bytes are overwritten (secure_delete) and the WAL is checkpointed, so the key
// does not linger in free pages or the log file.
func (k *Keys) Erase(ctx context.Context, subject string) (string, error) {
	h := subjectHash(subject)
	k.mu.Lock()
	defer k.mu.Unlock()
	conn, err := k.db.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("erase: %w", err)
	}
	defer conn.Close()
	sqlite := sqldb.DialectOf(k.db) == sqldb.SQLite
	if sqlite {
		if _, err := conn.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
			return "", fmt.Errorf("erase: %w", err)
		}
	}
	var row keyRow
	if err := conn.NewSelect().Model(&row).Where("subject_hash = ?", h).Scan(ctx); errors.Is(err, sql.ErrNoRows) {
		return "", ErrUnknownSubject
	} else if err != nil {
		return "", fmt.Errorf("erase: %w", err)
	}
	if _, err := conn.NewDelete().Model((*keyRow)(nil)).Where("subject_hash = ?", h).Exec(ctx); err != nil {
		return "", fmt.Errorf("erase: %w", err)
	}
	if sqlite {
		if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return "", fmt.Errorf("erase: checkpoint: %w", err)
		}
	}
	delete(k.byHash, h)
	delete(k.byRef, row.SubjectRef)
	k.erased[row.SubjectRef] = true
	return row.SubjectRef, nil
}
