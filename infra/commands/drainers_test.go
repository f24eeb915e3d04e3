package commands

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"ledger/infra/testkit"
)

// queueGoroutines counts the goroutines waiting for or draining a stream's queue.
func queueGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("commands.(*Executor).drainLoop("))
}

// The goroutines that decide queued commands are kept for the next queue a while, but
// none outlives Close: a closed executor leaves nothing running behind.
func TestClosedExecutorLeavesNoQueueGoroutines(t *testing.T) {
	store := stores(t)["sqlite"](t)
	x := New(store, WithClock(func() time.Time { return now }))
	for _, mpn := range []string{"4714001", "4714002", "4714003"} {
		actionPackPartner(t, x, mpn)
	}
	if queueGoroutines() == 0 {
		t.Fatal("no queue goroutine kept after the commands: the test proves nothing")
	}
	x.Close()
	testkit.Eventually(t, "no queue goroutine is left after Close", func() bool { return queueGoroutines() == 0 })
}
