// Package transparency anchors the global event log outside the store, in the manner of
// a transparency log: a Merkle tree over the log (RFC 6962 / RFC 9162 hashing), signed
// checkpoints of it in the C2SP tlog-checkpoint signed-note format (Ed25519), inclusion
// and consistency proofs, and the auditor's check that today's log extends a checkpoint
// saved earlier. Cutting off the newest events, reordering them or rewriting the past
// (even with a resealed hash chain) all change the tree, and a checkpoint signed before
// cannot be re-signed by anyone without the key, or at all once a witness holds it.
//
// Which library does what, on purpose:
//   - golang.org/x/mod/sumdb/tlog builds the tree and the proofs. Its stored-hash
//     layout (every node that ever becomes complete gets a fixed index and never
//     changes) is an append-only table: a row per hash in the event store's own SQL
//     database, written once, read by index. It is the Go checksum database's code.
//   - golang.org/x/mod/sumdb/note signs and verifies the notes (Ed25519 keys in the
//     note "PRIVATE+KEY+name+hash+key" / "name+hash+key" forms).
//   - github.com/transparency-dev/formats/log writes and parses the checkpoint body.
//   - github.com/transparency-dev/merkle checks: the auditor's walk (VerifyExtends)
//     recomputes the root with its compact range and the tests check tlog's proofs with
//     its verifier, so a bug in one library cannot vouch for itself.
//
// A leaf is one event at its place in the global log (see LeafBytes): the leaf index is
// the event's ordinal in ReadAll order (0 for the first event); tlog_leaves maps each
// index to the event's position.
package transparency
