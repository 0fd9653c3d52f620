package actuator

import (
	"context"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
)

// Scaler is the cloud boundary of the actuator: read a group's state fresh,
// and set its desired count. Errors for which hwcloud.Retryable is true are
// transient: the notification is answered 5xx and redelivered.
type Scaler interface {
	// State reads the group as the cloud sees it now.
	State(ctx context.Context, g *config.Group, now time.Time) (CloudState, error)
	// SetDesired moves the group from cur.Desired to desired. token is
	// derived from the idempotency key; backends that create pass it to the
	// cloud so a retried request is deduplicated there too. The Result
	// reports exactly what changed, also alongside an error (partial success).
	SetDesired(ctx context.Context, g *config.Group, cur CloudState, desired int, token string) (Result, error)
}

// Result is what a SetDesired changed.
type Result struct {
	// Desired is the count the group is heading to after the call.
	Desired int `json:"desired"`
	// Added and Removed name the instances created or deleted (ecs backend).
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Failed names instances whose create or delete failed.
	Failed []string `json:"failed,omitempty"`
	// Partial is true when only part of the change happened.
	Partial bool   `json:"partial,omitempty"`
	Detail  string `json:"detail,omitempty"`
	// JobID is the cloud's job, when there is one (several, comma-separated).
	JobID string `json:"job_id,omitempty"`
	// Ended is when the cloud's job ended, when it was followed to its end:
	// the cooldown runs from there.
	Ended time.Time `json:"ended,omitzero"`
}

// Scalers picks a group's backend.
type Scalers map[string]Scaler

// For returns the scaler of the group's backend.
func (s Scalers) For(g *config.Group) (Scaler, bool) {
	sc, ok := s[g.Backend]
	return sc, ok
}
