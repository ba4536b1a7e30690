package app

import (
	"context"
	"errors"
	"strconv"
	"time"

	"madoguchi/app/audit"
	"madoguchi/app/i18n"
	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/app/staff"
	"madoguchi/drivers/jlis"
)

// Errors of staff sessions.
var (
	ErrLogin     = &Error{Code: i18n.Key("staff.error.login")}
	ErrLocked    = &Error{Code: i18n.Key("staff.error.locked")}
	ErrForbidden = &Error{Code: i18n.Key("staff.error.forbidden")}
	ErrNoSession = &Error{Code: i18n.Key("staff.error.no_session")}
)

// SessionView is the logged-in staff member.
type SessionView struct {
	LoggedIn bool       `json:"loggedIn"`
	Login    string     `json:"login,omitempty"`
	Name     string     `json:"name,omitempty"`
	Role     staff.Role `json:"role,omitempty"`
}

func staffErr(err error) error {
	switch {
	case errors.Is(err, staff.ErrBadLogin):
		return ErrLogin
	case errors.Is(err, staff.ErrLocked):
		return ErrLocked
	case errors.Is(err, staff.ErrForbidden):
		return ErrForbidden
	case errors.Is(err, staff.ErrNoSession):
		return ErrNoSession
	}
	return err
}

// actor names who acts: the staff login, "kiosk" in kiosk mode, or
// "demo" when the demo runs without a login.
func (a *App) actor() string {
	if a.d.Staff != nil {
		if s, err := a.d.Staff.Current(false); err == nil {
			return s.Login
		}
	}
	if a.d.Mode == ModeKiosk {
		return "kiosk"
	}
	if a.demo() {
		return "demo"
	}
	return "system"
}

// audit appends an event when the trail is wired.
func (a *App) audit(kind, subject string, detail map[string]any) {
	if a.d.Audit == nil {
		return
	}
	actor := a.actor()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := a.d.Audit.Append(ctx, nil, audit.Event{Actor: actor, Kind: kind, Subject: subject, Detail: detail}); err != nil {
		a.d.Log.Error("audit", "err", err)
	}
}

// Login starts a staff session on this terminal.
func (a *App) Login(login, password string) (SessionView, error) {
	if a.d.Staff == nil {
		return SessionView{}, ErrNoCounter
	}
	pw := secret.NewPassword(password)
	defer pw.Wipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := a.d.Staff.Login(ctx, login, pw)
	if err != nil {
		a.audit("login.failed", login, map[string]any{"reason": staffErr(err).Error()})
		return SessionView{}, staffErr(err)
	}
	a.audit("login", s.Login, map[string]any{"role": string(s.Role)})
	return SessionView{LoggedIn: true, Login: s.Login, Name: s.Name, Role: s.Role}, nil
}

// Logout ends the staff session.
func (a *App) Logout() bool {
	if a.d.Staff != nil {
		if s, err := a.d.Staff.Current(false); err == nil {
			a.audit("logout", s.Login, nil)
		}
		a.d.Staff.Logout()
	}
	return true
}

// WhoAmI returns the staff session (ended when idle).
func (a *App) WhoAmI() SessionView {
	if a.d.Staff == nil {
		return SessionView{}
	}
	s, err := a.d.Staff.Current(true)
	if err != nil {
		return SessionView{}
	}
	return SessionView{LoggedIn: true, Login: s.Login, Name: s.Name, Role: s.Role}
}

// authorize checks the session for an action. With approval, a
// supervisor's login and password given at the terminal lets a clerk do
// an approvable action.
func (a *App) authorize(act staff.Action, approval *Approval) (actor string, err error) {
	if a.d.Staff == nil {
		return "", ErrForbidden
	}
	s, err := a.d.Staff.Authorize(act)
	if err == nil {
		return s.Login, nil
	}
	if !errors.Is(err, staff.ErrForbidden) || approval == nil || !staff.NeedsApproval[act] {
		return "", staffErr(err)
	}
	pw := secret.NewPassword(approval.Password)
	defer pw.Wipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ap, err := a.d.Staff.Approve(ctx, act, approval.Login, pw)
	if err != nil {
		a.audit("approval.refused", string(act), map[string]any{"by": approval.Login})
		return "", staffErr(err)
	}
	a.audit("approval", string(act), map[string]any{"by": ap.Login, "for": s.Login})
	return s.Login + " (approved by " + ap.Login + ")", nil
}

// Approval is a supervisor's login and password given at the terminal.
type Approval struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// QueueJobView is one job on the supervisor's queue screen.
type QueueJobView struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Reason   string `json:"reason,omitempty"`
	Created  string `json:"created"`
}

// QueueJobs lists the queue's waiting jobs and dead letters: any staff
// member at the counter may look; acting on them is a supervisor's.
func (a *App) QueueJobs() ([]QueueJobView, error) {
	if _, err := a.authorize(staff.ActProcedure, nil); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := a.d.Store.DB.QueryContext(ctx, `SELECT id, kind, state, attempts, dead_reason, created_at FROM outbox WHERE state IN ('pending','inflight','dead') ORDER BY id DESC LIMIT 500`)
	if err != nil {
		return nil, ErrStore
	}
	defer rows.Close()
	out := []QueueJobView{}
	for rows.Next() {
		var j QueueJobView
		if err := rows.Scan(&j.ID, &j.Kind, &j.State, &j.Attempts, &j.Reason, &j.Created); err != nil {
			return nil, ErrStore
		}
		out = append(out, j)
	}
	return out, nil
}

// QueueDiscard throws a dead letter away: a supervisor, or a clerk with a
// supervisor's approval; recorded in the queue's own log and the audit
// trail.
func (a *App) QueueDiscard(id int64, reason string, approval *Approval) (bool, error) {
	actor, err := a.authorize(staff.ActQueueDiscard, approval)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q := queue.New(a.d.Store.DB, nil)
	if err := q.Discard(ctx, id, actor, reason); err != nil {
		a.d.Log.Warn("queue discard", "id", id, "err", err)
		return false, &Error{Code: i18n.Key("supervisor.error.discard")}
	}
	a.audit("queue.discard", strconv.FormatInt(id, 10), map[string]any{"reason": reason})
	return true, nil
}

// QueueRetry sends a dead letter again (supervisor).
func (a *App) QueueRetry(id int64) (bool, error) {
	actor, err := a.authorize(staff.ActQueueRetry, nil)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q := queue.New(a.d.Store.DB, nil)
	if err := q.Retry(ctx, id, actor); err != nil {
		a.d.Log.Warn("queue retry", "id", id, "err", err)
		return false, &Error{Code: i18n.Key("supervisor.error.retry")}
	}
	a.audit("queue.retry", strconv.FormatInt(id, 10), nil)
	return true, nil
}

// jlisCode is the central system's problem code of err ("" if none).
func jlisCode(err error) string { return jlis.Code(err) }

// jlisKey is a fresh idempotency key.
func jlisKey() jlis.IdempotencyKey { return jlis.NewIdempotencyKey() }

// Reprint prints a stored receipt again: a supervisor, or a clerk with a
// supervisor's approval; audited.
func (a *App) Reprint(number string, approval *Approval) (i18n.Key, error) {
	if _, err := a.authorize(staff.ActReprint, approval); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := a.ports(ctx)
	if err != nil || p.Receipts == nil {
		return "", ErrNoCounter
	}
	o, err := p.Receipts.Print(ctx, number, "")
	if err != nil {
		a.d.Log.Warn("reprint", "receipt", number, "err", err)
		return "", &Error{Code: i18n.Key("supervisor.error.reprint")}
	}
	a.audit("reprint", o.Number, map[string]any{"printed": o.Printed})
	return o.Message, nil
}

// ReceiptView is one stored receipt on the supervisor's reprint screen.
type ReceiptView struct {
	Number    string    `json:"number"`
	Procedure string    `json:"procedure"`
	Issued    time.Time `json:"issued"`
	Status    string    `json:"status"` // printed, unprinted
}

// Receipts lists the latest stored receipts (supervisor; the reprint
// screen).
func (a *App) Receipts() ([]ReceiptView, error) {
	if _, err := a.authorize(staff.ActReprint, nil); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := a.ports(ctx)
	if err != nil || p.Receipts == nil {
		return nil, ErrNoCounter
	}
	recs, err := p.Receipts.List(ctx, receipt.Filter{Limit: 50})
	if err != nil {
		return nil, ErrStore
	}
	out := []ReceiptView{}
	for _, r := range recs {
		out = append(out, ReceiptView{Number: r.Number, Procedure: string(r.Procedure), Issued: r.Issued, Status: string(r.Status)})
	}
	return out, nil
}
