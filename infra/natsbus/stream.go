package natsbus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the JetStream stream every forwarded event lands in.
const StreamName = "LEDGER_EVENTS"

// AllSubjects matches every forwarded event. Projectors consume all of it, so the chain
// of previous positions they check is complete.
const AllSubjects = "events.>"

// DedupWindow is how long JetStream remembers a Nats-Msg-Id: within it, publishing an
// event twice (a second forwarder, a retried publish) stores it once.
const DedupWindow = 2 * time.Minute

// StreamOptions bound the stream's retention. The zero value keeps every event: the
// event store is the source of truth, and rebuilds read it, not NATS, so ops may bound
// the stream freely.
type StreamOptions struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// EnsureStream creates the events stream, or updates it to opts, so every process can
// call it at start-up.
func EnsureStream(ctx context.Context, js jetstream.JetStream, opts StreamOptions) (jetstream.Stream, error) {
	cfg := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "ledger events, forwarded from the event store in global-position order",
		Subjects:    []string{AllSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Duplicates:  DedupWindow,
		MaxAge:      opts.MaxAge,
		MaxBytes:    orUnlimited(opts.MaxBytes),
	}
	if cfg.MaxAge > 0 && cfg.MaxAge < cfg.Duplicates {
		cfg.Duplicates = cfg.MaxAge // the server refuses a window longer than the age limit
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", StreamName, err)
	}
	return s, nil
}

func orUnlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// PartitionSubject is where an event of the event-store stream "<category>-<id>" is
// published when read models are split into of partitions (1 included):
// "events.<category>.p<k>of<of>", k = partition.OfStream(stream, of). A consumer can
// filter by category (CategorySubjects) or by partition (PartitionSubjects). The
// partition count is in the subject so that projectors configured with another count
// than the forwarder consume nothing rather than a wrong share.
//
// The partner's ID is not in the subject (it was, before, as "events.<category>.<id>.
// p<k>of<of>"): JetStream finds a filtered consumer's next message through the subjects
// of the message block, and with one subject per partner, a partition's consumer
// walked every partner's subject in the block for each message it was given (30% of the
// CPU of the live benchmark's process with 4 partitions and 500 partners, growing with
// the partners).
// With one subject per category and partition it walks a handful. Its stream and ID
// travel in the headers and the body.
func PartitionSubject(stream string, k, of int) string {
	category, _, _ := strings.Cut(stream, "-")
	return "events." + SubjectToken(category) + "." + partitionToken(k, of)
}

// PartitionSubjects matches every event of partition k of of.
func PartitionSubjects(k, of int) string { return "events.*." + partitionToken(k, of) }

// LegacyPartitionSubjects matches the events of partition k of of that a forwarder of
// the previous release published, on "events.<category>.<id>.p<k>of<of>": a projector
// filters on both, so that no event of its partition is invisible to it across an
// upgrade (an idle partition's checkpoint rises only when its consumer has nothing
// pending, see projections.raiseIdle).
func LegacyPartitionSubjects(k, of int) string { return "events.*.*." + partitionToken(k, of) }

func partitionToken(k, of int) string { return fmt.Sprintf("p%dof%d", k, of) }

// CategorySubjects matches every event of one stream category.
func CategorySubjects(category string) string {
	return "events." + SubjectToken(category) + ".>"
}

// SubjectToken makes s safe as one subject token: letters, digits, '_' and '-' pass,
// every other byte (notably '.', '*', '>', spaces and '%') becomes %XX, so distinct
// names stay distinct. The empty string becomes "_".
func SubjectToken(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
