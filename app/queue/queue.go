// Package queue is the durable outbox of jobs for the central system.
// This first part reports the backlog; the sync worker arrives with it.
package queue

import (
	"context"
	"database/sql"
	"fmt"
)

// Stats is the backlog shown on every status screen.
type Stats struct {
	Pending int `json:"pending"` // waiting or being delivered
	Dead    int `json:"dead"`    // failed permanently; a supervisor decides
}

// Backlog counts the outbox by state.
func Backlog(ctx context.Context, db *sql.DB) (Stats, error) {
	var s Stats
	err := db.QueryRowContext(ctx, `
		SELECT
		  coalesce(sum(state IN ('pending', 'inflight')), 0),
		  coalesce(sum(state = 'dead'), 0)
		FROM outbox`).Scan(&s.Pending, &s.Dead)
	if err != nil {
		return Stats{}, fmt.Errorf("queue backlog: %w", err)
	}
	return s, nil
}
