package sqldb

import (
	"fmt"
	"time"
)

// ScannedTime is a database/sql scan target for a timestamp column as either driver
// delivers it: a time.Time (pgdriver, and modernc for a TIMESTAMP column) or,
// defensively, the text SQLite stored. Hot reads scan rows with plain database/sql
// instead of bun's reflective model scanner, and read their timestamps through it.
type ScannedTime struct{ T time.Time }

func (st *ScannedTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		st.T = v
		return nil
	case string:
		return st.parse(v)
	case []byte:
		return st.parse(string(v))
	}
	return fmt.Errorf("timestamp: unexpected %T", src)
}

func (st *ScannedTime) parse(s string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			st.T = t
			return nil
		}
	}
	return fmt.Errorf("timestamp: cannot parse %q", s)
}
