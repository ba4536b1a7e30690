// Package flow holds the counter procedures (domain.md §2) as explicit
// step machines in plain Go: checks → card session → PIN entry → central
// authorisations → card writes → one SQLite transaction for the procedure
// record and its outbox jobs → receipt. Nothing is written to a card
// without the central system's authorisation (docs/CARD-COMMANDS.md).
//
// Every flow is resumable: card writes are idempotent (a PIN set again,
// a key generated again, a certificate written again under a fresh
// authorisation) and the central system's requests carry idempotency
// keys, so a card pulled out or a central system gone at any step is
// answered by placing the card again and running the same procedure; the
// StepError says where it stopped.
package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"madoguchi/app/audit"
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
	// Hook, if set, runs before each step; a test uses it to pull the
	// card or stop the central system at every step in turn. Nil in
	// production.
	Hook func(ctx context.Context, s Step) error
	// Audit, if set, receives every step as an event of Actor (the staff
	// login) about Subject (the card's last four) in Procedure.
	Audit                     *audit.Log
	Actor, Subject, Procedure string
}

// Step names where a procedure is, for the screen and for resuming.
type Step string

// The steps of the procedures, in the order they run.
const (
	StepChecks    Step = "checks"    // the central record, the input
	StepIdentity  Step = "identity"  // documents, face, proxy and age rules
	StepCard      Step = "card"      // reading the card
	StepPINs      Step = "pins"      // VERIFY of PINs the citizen knows, or setting new ones
	StepAuthorise Step = "authorise" // the central cryptogram for a card write
	StepText      Step = "text"      // new card-face text data written
	StepKeys      Step = "keys"      // key pairs generated on the card
	StepCertify   Step = "certify"   // certificates issued by the central system
	StepCardWrite Step = "card-write"
	StepActivate  Step = "activate" // the card record's state at the central system
	StepRecord    Step = "record"   // one SQLite transaction: record, events, queue
	StepReceipt   Step = "receipt"
	StepDone      Step = "done"
)

// Steps lists the steps in order (tests walk them).
var Steps = []Step{StepChecks, StepIdentity, StepCard, StepPINs, StepAuthorise, StepText, StepKeys, StepCertify, StepCardWrite, StepActivate, StepRecord, StepReceipt}

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
