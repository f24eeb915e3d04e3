package sqlstore

import (
	"context"
	"strings"

	"github.com/uptrace/bun"
)

// setIO reads and writes the log with one statement per kind and chunk, built through
// bun (batchIO says when it is used): a round trip costs more than a parse on
// PostgreSQL.
type setIO struct{ tx bun.Tx }

// setChunk bounds the rows (and IDs) in one statement.
const setChunk = 1000

func (io setIO) head(ctx context.Context) (int64, error) {
	var head int64
	err := io.tx.NewSelect().Model((*eventRow)(nil)).ColumnExpr("coalesce(max(position), 0)").Scan(ctx, &head)
	return head, err
}

func (io setIO) lookUpEvents(ctx context.Context, ids []string, into map[string]storedRef) error {
	for start := 0; start < len(ids); start += setChunk {
		var rows []eventRow
		err := io.tx.NewSelect().Model(&rows).Column("event_id", "stream", "revision", "position").
			Where("event_id IN (?)", bun.In(ids[start:min(start+setChunk, len(ids))])).Scan(ctx)
		if err != nil {
			return err
		}
		for _, row := range rows {
			into[row.EventID] = storedRef{row.Stream, row.Revision, row.Position}
		}
	}
	return nil
}

func (io setIO) lookUpStreams(ctx context.Context, streams []string, into map[string]int64) error {
	for start := 0; start < len(streams); start += setChunk {
		if err := io.streamHeads(ctx, streams[start:min(start+setChunk, len(streams))], into); err != nil {
			return err
		}
	}
	return nil
}

// streamHeads reads the last revision of each stream with one index seek per stream (a
// GROUP BY max() would scan every row of a long stream). VALUES names its column
// column1 in both SQLite and PostgreSQL.
func (io setIO) streamHeads(ctx context.Context, streams []string, into map[string]int64) error {
	values := make([]string, 0, len(streams))
	args := make([]any, 0, len(streams))
	for _, s := range streams {
		values = append(values, "(?)")
		args = append(args, s)
	}
	var heads []struct {
		Stream string `bun:"stream"`
		Last   *int64 `bun:"last"`
	}
	q := io.tx.NewSelect().
		ColumnExpr("v.column1 AS stream").
		ColumnExpr("(SELECT e.revision FROM event_log AS e WHERE e.stream = v.column1 ORDER BY e.revision DESC LIMIT 1) AS last").
		TableExpr("(VALUES "+strings.Join(values, ",")+") AS v", args...)
	if err := q.Scan(ctx, &heads); err != nil {
		return err
	}
	for _, h := range heads {
		if h.Last != nil {
			into[h.Stream] = *h.Last
		}
	}
	return nil
}

func (io setIO) insert(ctx context.Context, rows []eventRow) error {
	for start := 0; start < len(rows); start += setChunk {
		chunk := rows[start:min(start+setChunk, len(rows))]
		if _, err := io.tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
