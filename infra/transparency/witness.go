package transparency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Witness takes each new checkpoint outside the operator's reach: once a witness has
// a checkpoint, a rewritten history no longer matches what it holds. oldSize is the
// size the witness accepted last (0 when unknown); it answers the size it now holds.
type Witness interface {
	Witness(ctx context.Context, tree *Tree, oldSize int64, cp Checkpoint) (accepted int64, err error)
}

// addCheckpointBody is a C2SP tlog-witness add-checkpoint request: "old <size>", the
// consistency proof from that size, a blank line, then the signed checkpoint.
func addCheckpointBody(ctx context.Context, tree *Tree, oldSize int64, cp Checkpoint) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", oldSize)
	if oldSize > 0 && oldSize < cp.Size {
		proof, err := tree.ProveConsistency(ctx, oldSize, cp.Size)
		if err != nil {
			return nil, err
		}
		for _, h := range proof.Proof {
			b.WriteString(h.String() + "\n") // tlog.Hash prints as base64
		}
	}
	b.WriteString("\n")
	b.WriteString(cp.Note)
	return b.Bytes(), nil
}

// HTTPWitness POSTs the add-checkpoint request to URL (a C2SP tlog-witness's
// .../add-checkpoint, or any service that keeps what it is sent). 2xx is accepted; a
// 409 naming the size the witness holds is answered once more from that size.
type HTTPWitness struct {
	URL    string
	Client *http.Client // http.Client with a 10s timeout when nil
}

func (w HTTPWitness) Witness(ctx context.Context, tree *Tree, oldSize int64, cp Checkpoint) (int64, error) {
	_, err := w.post(ctx, tree, oldSize, cp)
	var conflict *witnessConflict
	if errors.As(err, &conflict) && conflict.size <= cp.Size && conflict.size != oldSize {
		_, err = w.post(ctx, tree, conflict.size, cp)
	}
	if err != nil {
		return oldSize, err
	}
	return cp.Size, nil
}

type witnessConflict struct{ size int64 }

func (c *witnessConflict) Error() string {
	return fmt.Sprintf("the witness holds a checkpoint of size %d", c.size)
}

func (w HTTPWitness) post(ctx context.Context, tree *Tree, oldSize int64, cp Checkpoint) (int64, error) {
	body, err := addCheckpointBody(ctx, tree, oldSize, cp)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("witness %s: %w", w.URL, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("witness %s: %w", w.URL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusConflict:
		if n, err := strconv.ParseInt(strings.TrimSpace(string(answer)), 10, 64); err == nil {
			return 0, &witnessConflict{size: n}
		}
	case resp.StatusCode/100 == 2:
		return cp.Size, nil
	}
	return 0, fmt.Errorf("witness %s answered %s: %s", w.URL, resp.Status, strings.TrimSpace(string(answer)))
}

// CommandWitness runs a command with the add-checkpoint request on its standard input
// and BENEFITS_CHECKPOINT_SIZE in its environment: exit status 0 is accepted. It suits
// a copy to another machine or a commit to a repository others hold.
type CommandWitness struct {
	Argv []string
}

func (w CommandWitness) Witness(ctx context.Context, tree *Tree, oldSize int64, cp Checkpoint) (int64, error) {
	body, err := addCheckpointBody(ctx, tree, oldSize, cp)
	if err != nil {
		return oldSize, err
	}
	cmd := exec.CommandContext(ctx, w.Argv[0], w.Argv[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(cmd.Environ(), fmt.Sprintf("BENEFITS_CHECKPOINT_SIZE=%d", cp.Size))
	if out, err := cmd.CombinedOutput(); err != nil {
		return oldSize, fmt.Errorf("witness command %s: %w: %s", w.Argv[0], err, strings.TrimSpace(string(out)))
	}
	return cp.Size, nil
}
