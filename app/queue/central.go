package queue

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
)

// Job kinds delivered to the central system, and their payloads.
const (
	KindEvent      = "event"       // api.Event, batched (≤ 500 per call)
	KindTransition = "transition"  // TransitionJob
	KindRevoke     = "revoke-cert" // CertJob
	KindSuspend    = "suspend-cert"
	KindLift       = "lift-cert"
)

// TransitionJob changes a card's state (a suspension for a lost card, a
// return).
type TransitionJob struct {
	Serial string        `json:"serial"`
	To     api.CardState `json:"to"`
	Reason string        `json:"reason,omitempty"`
}

// CertJob acts on a certificate.
type CertJob struct {
	Serial string `json:"serial"` // certificate serial (hex)
	Reason string `json:"reason,omitempty"`
}

// Classify maps a client error onto the worker's outcomes: the central
// system unreachable (or overloaded) waits, a refusal is permanent,
// anything else is retried with backoff.
func Classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jlis.ErrUnreachable), jlis.Code(err) == api.CodeRateLimited:
		return Unavailable(err)
	case errors.Is(err, jlis.ErrRejected), errors.Is(err, jlis.ErrNoIdempotencyKey), errors.Is(err, jlis.ErrInvalidRequest):
		return Permanent(err)
	}
	return err
}

func each(jobs []Job, f func(Job) error) []error {
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		errs[i] = Classify(f(j))
	}
	return errs
}

func decodeJob(j Job, v any) error {
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return Permanent(fmt.Errorf("job %d: payload: %w", j.ID, err))
	}
	return nil
}

// CentralKinds are the handlers that deliver jobs with the client.
func CentralKinds(c *jlis.Client) map[string]Kind {
	key := func(j Job) jlis.IdempotencyKey { return jlis.IdempotencyKey(j.IdempotencyKey) }
	return map[string]Kind{
		KindEvent: {Batch: api.MaxEventsPerRequest, Handler: func(ctx context.Context, jobs []Job) []error {
			evs := api.Events{}
			keys := make([]string, 0, len(jobs))
			errs := make([]error, len(jobs))
			for i, j := range jobs {
				var e api.Event
				if err := decodeJob(j, &e); err != nil {
					errs[i] = err
					continue
				}
				evs.Events = append(evs.Events, e)
				keys = append(keys, j.IdempotencyKey)
			}
			if len(evs.Events) == 0 {
				return errs
			}
			// The batch's key follows from its jobs' keys, so a retry of the
			// same batch replays; events are also deduplicated by id.
			sort.Strings(keys)
			h := sha256.New()
			for _, k := range keys {
				h.Write([]byte(k + "\n"))
			}
			_, err := c.SendEvents(ctx, jlis.IdempotencyKey(fmt.Sprintf("events-%x", h.Sum(nil)[:16])), evs)
			err = Classify(err)
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
			return errs
		}},
		KindTransition: {Handler: func(ctx context.Context, jobs []Job) []error {
			return each(jobs, func(j Job) error {
				var t TransitionJob
				if err := decodeJob(j, &t); err != nil {
					return err
				}
				_, err := c.Transition(ctx, key(j), t.Serial, api.Transition{To: t.To, Reason: t.Reason})
				return err
			})
		}},
		KindRevoke: {Handler: func(ctx context.Context, jobs []Job) []error {
			return each(jobs, func(j Job) error {
				var cj CertJob
				if err := decodeJob(j, &cj); err != nil {
					return err
				}
				_, err := c.Revoke(ctx, key(j), cj.Serial, api.Revocation{Reason: cj.Reason})
				return err
			})
		}},
		KindSuspend: {Handler: func(ctx context.Context, jobs []Job) []error {
			return each(jobs, func(j Job) error {
				var cj CertJob
				if err := decodeJob(j, &cj); err != nil {
					return err
				}
				_, err := c.Suspend(ctx, key(j), cj.Serial)
				return err
			})
		}},
		KindLift: {Handler: func(ctx context.Context, jobs []Job) []error {
			return each(jobs, func(j Job) error {
				var cj CertJob
				if err := decodeJob(j, &cj); err != nil {
					return err
				}
				_, err := c.Lift(ctx, key(j), cj.Serial)
				return err
			})
		}},
	}
}

// Payload marshals a job payload.
func Payload(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
