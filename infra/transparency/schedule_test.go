package transparency_test

import (
	"context"
	"testing"

	"ledger/infra/testkit"
	"ledger/infra/transparency"
)

// Run publishes once the log has grown by Every events, without being asked.
func TestACheckpointIsPublishedEveryNEvents(t *testing.T) {
	k := newLogKit(t, backends[0].open(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	k.append(5)
	go func() { done <- k.pub.Run(ctx, k.store, transparency.Schedule{Every: 10}) }()
	defer func() { cancel(); <-done }()
	testkit.Eventually(t, "the start-up checkpoint of the 5 events", func() bool {
		cp, err := k.pub.Latest(context.Background())
		return err == nil && cp.Size == 5
	})
	k.append(25)
	// Publishing at every 10th event counted covers at least 25 of the 30.
	testkit.Eventually(t, "a checkpoint of at least 25 events", func() bool {
		cp, err := k.pub.Latest(context.Background())
		return err == nil && cp.Size >= 25
	})
}
