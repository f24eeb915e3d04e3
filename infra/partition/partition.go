// Package partition says which of a read model's partitions an event or a query belongs
// to. It is the one home of that rule: the forwarder uses it to choose the subject and
// the position chain of an event, the projector to fill a gap from the event store,
// and read-your-writes to wait for the one partition a partner query reads.
package partition

import (
	"hash/fnv"
	"strings"
)

// Of is the partition of key (a partner's MPN ID) among n: FNV-1a of its bytes modulo n.
// It never changes for a given key and n, across processes and releases; n < 2 gives 0.
func Of(key string, n int) int {
	if n < 2 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Key is the partition key of an event-store stream "<category>-<id>": its id (the MPN
// ID of a partner stream). A stream without "-" is its own key.
func Key(stream string) string {
	if _, id, ok := strings.Cut(stream, "-"); ok {
		return id
	}
	return stream
}

// OfStream is the partition of every event of stream among n.
func OfStream(stream string, n int) int { return Of(Key(stream), n) }
