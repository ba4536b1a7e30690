// Package flow holds the counter procedures (domain.md §2) as explicit
// step machines in plain Go: checks → card session → PIN entry → central
// authorisations → card writes → one SQLite transaction for the procedure
// record and its outbox jobs → receipt. Nothing is written to a card
// without the central system's authorisation (docs/CARD-COMMANDS.md).
//
// This first part carries the PIN reset; the other procedures follow the
// same shape (issue #7).
package flow

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/store"
	"madoguchi/drivers/jlis"
)

// Ports are what flows talk to; main wires them.
type Ports struct {
	Central  *jlis.Client
	Store    *store.Store
	Queue    *queue.Queue
	Receipts *receipt.Service
	Terminal string
	Log      *slog.Logger
	Now      func() time.Time
}

// Step names where a procedure is, for the screen and for resuming.
type Step string

// The steps of the PIN reset.
const (
	StepChecks    Step = "checks"
	StepCard      Step = "card"
	StepAuthorise Step = "authorise"
	StepCardWrite Step = "card-write"
	StepRecord    Step = "record"
	StepReceipt   Step = "receipt"
	StepDone      Step = "done"
)

// StepError says at which step a procedure stopped and why; the screen
// shows the step and the reason, and where to resume.
type StepError struct {
	Step Step
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("%s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

func stop(step Step, err error) error { return &StepError{Step: step, Err: err} }

// ErrCentralDown: the procedure needs the central system, which does not
// answer now.
var ErrCentralDown = errors.New("flow: the central system cannot be reached")

func (p Ports) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}
