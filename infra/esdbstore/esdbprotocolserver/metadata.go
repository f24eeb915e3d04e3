package esdbprotocolserver

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Stream metadata as a node keeps it: the last $metadata event of the stream's
// metastream, $$<stream>. A node reads $maxCount, $maxAge (seconds) and $tb (truncate
// before) when it serves a stream read; the events stay in the log (and in $all) until
// a scavenge, which this server never runs.
const (
	metastreamPrefix  = "$$"
	metadataEventType = "$metadata"
	tombstoneType     = "$streamDeleted"
	// deletedStream is EventNumber.DeletedStream (long.MaxValue): as $tb it marks a soft
	// delete, as a revision the tombstone of a hard delete.
	deletedStream int64 = math.MaxInt64
)

type streamMetadata struct {
	MaxCount       *int64 `json:"$maxCount"`
	MaxAge         *int64 `json:"$maxAge"`
	TruncateBefore *int64 `json:"$tb"`
}

func metastreamOf(stream string) string { return metastreamPrefix + stream }

func isMetastream(stream string) bool { return strings.HasPrefix(stream, metastreamPrefix) }

// rawMetadata is the JSON object of stream's latest metadata ({} when none or not an
// object); a node ignores metadata it cannot parse (StreamMetadata.FromJsonBytes under
// EatException) and so does this one.
func (l *eventLog) rawMetadata(stream string) map[string]any {
	m := map[string]any{}
	events := l.streams[metastreamOf(stream)]
	if len(events) > 0 {
		d := json.NewDecoder(bytes.NewReader(events[len(events)-1].data))
		d.UseNumber() // $tb may be long.MaxValue, which a float64 would round
		if d.Decode(&m) != nil {
			m = map[string]any{}
		}
	}
	return m
}

func (l *eventLog) metadata(stream string) streamMetadata {
	var m streamMetadata
	events := l.streams[metastreamOf(stream)]
	if len(events) > 0 && json.Unmarshal(events[len(events)-1].data, &m) != nil {
		m = streamMetadata{}
	}
	if isMetastream(stream) && m.MaxCount == nil {
		// A metastream keeps its last event only (SystemStreams: metastream $maxCount 1),
		// so a forward read of $$<stream> finds the current metadata.
		one := int64(1)
		m.MaxCount = &one
	}
	return m
}

func (m streamMetadata) softDeleted() bool {
	return m.TruncateBefore != nil && *m.TruncateBefore == deletedStream
}

// firstVisible is the index in events (revision order, from 0) of the first event a
// stream read returns under m: past $tb, within the last $maxCount, younger than $maxAge.
func (m streamMetadata) firstVisible(events []*record, now time.Time) int {
	first := 0
	if m.TruncateBefore != nil {
		first = int(min(max(*m.TruncateBefore, 0), int64(len(events))))
	}
	if m.MaxCount != nil {
		first = max(first, len(events)-int(min(max(*m.MaxCount, 0), int64(len(events)))))
	}
	if m.MaxAge != nil {
		oldest := now.Add(-time.Duration(*m.MaxAge)*time.Second).UnixNano() / 100
		for first < len(events) && events[first].createdTicks < oldest {
			first++
		}
	}
	return first
}
