// Package staff holds the terminal's staff accounts: clerks, supervisors
// and kiosk devices, their argon2id password hashes (app/passhash), a
// lockout after repeated failures, sessions that end when idle, and the
// role checks and supervisor approvals of sensitive steps.
package staff

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"madoguchi/app/passhash"
	"madoguchi/app/secret"
)

// Role is what an account may do.
type Role string

// The roles.
const (
	Clerk      Role = "clerk"      // counter procedures
	Supervisor Role = "supervisor" // plus approvals, the queue, reports
	Kiosk      Role = "kiosk"      // a kiosk device: kiosk procedures only
)

// Action is a step that needs a role or a supervisor's approval.
type Action string

// Actions checked by Allowed.
const (
	ActProcedure    Action = "procedure"     // counter procedures
	ActKiosk        Action = "kiosk"         // kiosk procedures
	ActReprint      Action = "reprint"       // a receipt printed again
	ActQueueDiscard Action = "queue.discard" // a dead letter thrown away
	ActQueueRetry   Action = "queue.retry"
	ActOverride     Action = "override" // a warning overridden
	ActExport       Action = "report.export"
	ActManageStaff  Action = "staff"
)

// allowed lists what each role may do by itself.
var allowed = map[Role]map[Action]bool{
	Clerk:      {ActProcedure: true},
	Supervisor: {ActProcedure: true, ActReprint: true, ActQueueDiscard: true, ActQueueRetry: true, ActOverride: true, ActExport: true, ActManageStaff: true},
	Kiosk:      {ActKiosk: true},
}

// NeedsApproval lists the actions a clerk may do with a supervisor's
// approval given at the terminal.
var NeedsApproval = map[Action]bool{ActReprint: true, ActQueueDiscard: true, ActOverride: true}

// Allowed reports whether a role may perform an action by itself.
func Allowed(r Role, a Action) bool { return allowed[r][a] }

// Errors.
var (
	ErrBadLogin  = errors.New("staff: wrong login or password")
	ErrLocked    = errors.New("staff: account locked after repeated failures")
	ErrForbidden = errors.New("staff: not allowed for this role")
	ErrNoSession = errors.New("staff: not logged in, or the session ended")
	ErrExists    = errors.New("staff: login already taken")
	ErrWeak      = errors.New("staff: password too short (at least 8 characters)")
)

// Policy values.
const (
	MaxFailures = 5
	LockFor     = 15 * time.Minute
	IdleAfter   = 15 * time.Minute
)

// Account is a staff member as listed (never the hash).
type Account struct {
	ID       int64  `json:"id"`
	Login    string `json:"login"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Locked   bool   `json:"locked"`
	Disabled bool   `json:"disabled"`
}

// Session is a logged-in account.
type Session struct {
	Account
	Started  time.Time `json:"started"`
	LastSeen time.Time `json:"lastSeen"`
}

// Service manages accounts and the terminal's session.
type Service struct {
	db  *sql.DB
	now func() time.Time

	mu   sync.Mutex
	sess *Session
}

// New returns the service on the store's database.
func New(db *sql.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, now: now}
}

// Add creates an account.
func (s *Service) Add(ctx context.Context, login, name string, role Role, password secret.Value) (Account, error) {
	login = strings.TrimSpace(login)
	if login == "" || (role != Clerk && role != Supervisor && role != Kiosk) {
		return Account{}, fmt.Errorf("staff: login and a role (clerk, supervisor, kiosk) are required")
	}
	if password.Len() < 8 {
		return Account{}, ErrWeak
	}
	h, err := passhash.Hash(password)
	if err != nil {
		return Account{}, err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO staff (login, name, role, hash) VALUES (?, ?, ?, ?)`, login, name, string(role), h)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return Account{}, ErrExists
		}
		return Account{}, fmt.Errorf("staff: %w", err)
	}
	id, _ := res.LastInsertId()
	return Account{ID: id, Login: login, Name: name, Role: role}, nil
}

// List returns every account.
func (s *Service) List(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, login, name, role, locked_until, disabled FROM staff ORDER BY login`)
	if err != nil {
		return nil, fmt.Errorf("staff: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		var locked string
		if err := rows.Scan(&a.ID, &a.Login, &a.Name, &a.Role, &locked, &a.Disabled); err != nil {
			return nil, err
		}
		a.Locked = s.lockedAt(locked)
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *Service) lockedAt(until string) bool {
	t, err := time.Parse(time.RFC3339Nano, until)
	return err == nil && s.now().Before(t)
}

// Check verifies a login and password (counting failures, locking after
// MaxFailures) without starting a session: approvals use it.
func (s *Service) Check(ctx context.Context, login string, password secret.Value) (Account, error) {
	var a Account
	var hash, locked string
	err := s.db.QueryRowContext(ctx, `SELECT id, login, name, role, hash, locked_until, disabled FROM staff WHERE login = ?`, strings.TrimSpace(login)).
		Scan(&a.ID, &a.Login, &a.Name, &a.Role, &hash, &locked, &a.Disabled)
	if errors.Is(err, sql.ErrNoRows) {
		// Spend the same time as a real check: no login enumeration.
		_, _ = passhash.Verify(dummyHash, password)
		return Account{}, ErrBadLogin
	}
	if err != nil {
		return Account{}, fmt.Errorf("staff: %w", err)
	}
	if s.lockedAt(locked) {
		return Account{}, ErrLocked
	}
	ok, err := passhash.Verify(hash, password)
	if err != nil {
		return Account{}, err
	}
	if !ok || a.Disabled {
		var fails int
		_ = s.db.QueryRowContext(ctx, `UPDATE staff SET failures = failures + 1 WHERE id = ? RETURNING failures`, a.ID).Scan(&fails)
		if fails >= MaxFailures {
			_, _ = s.db.ExecContext(ctx, `UPDATE staff SET failures = 0, locked_until = ? WHERE id = ?`, s.now().Add(LockFor).Format(time.RFC3339Nano), a.ID)
			return Account{}, ErrLocked
		}
		return Account{}, ErrBadLogin
	}
	_, _ = s.db.ExecContext(ctx, `UPDATE staff SET failures = 0, locked_until = '' WHERE id = ?`, a.ID)
	return a, nil
}

// dummyHash makes a missing account cost as much as a wrong password.
var dummyHash = func() string {
	h, _ := passhash.Hash(secret.NewPassword("not a real account"))
	return h
}()

// Login starts the terminal's session (one staff member at a time).
func (s *Service) Login(ctx context.Context, login string, password secret.Value) (Session, error) {
	a, err := s.Check(ctx, login, password)
	if err != nil {
		return Session{}, err
	}
	now := s.now()
	s.mu.Lock()
	s.sess = &Session{Account: a, Started: now, LastSeen: now}
	sess := *s.sess
	s.mu.Unlock()
	return sess, nil
}

// Logout ends the session.
func (s *Service) Logout() {
	s.mu.Lock()
	s.sess = nil
	s.mu.Unlock()
}

// Current returns the session, ending it when idle for IdleAfter; touch
// records activity.
func (s *Service) Current(touch bool) (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return Session{}, ErrNoSession
	}
	now := s.now()
	if now.Sub(s.sess.LastSeen) > IdleAfter {
		s.sess = nil
		return Session{}, ErrNoSession
	}
	if touch {
		s.sess.LastSeen = now
	}
	return *s.sess, nil
}

// Authorize checks that the current session may perform an action by
// itself.
func (s *Service) Authorize(a Action) (Session, error) {
	sess, err := s.Current(true)
	if err != nil {
		return Session{}, err
	}
	if !Allowed(sess.Role, a) {
		return sess, ErrForbidden
	}
	return sess, nil
}

// Approve checks a supervisor's login and password given at the
// terminal for an action the current session may not do alone.
func (s *Service) Approve(ctx context.Context, a Action, login string, password secret.Value) (approver Account, err error) {
	if _, err := s.Current(true); err != nil {
		return Account{}, err
	}
	ap, err := s.Check(ctx, login, password)
	if err != nil {
		return Account{}, err
	}
	if ap.Role != Supervisor || !Allowed(ap.Role, a) {
		return Account{}, ErrForbidden
	}
	return ap, nil
}

// EnsureDemo creates the demo accounts when there is none (demo mode
// only; their passwords are in the README).
func (s *Service) EnsureDemo(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM staff`).Scan(&n); err != nil || n > 0 {
		return err
	}
	for _, d := range DemoAccounts {
		if _, err := s.Add(ctx, d.Login, d.Name, d.Role, secret.NewPassword(d.Password)); err != nil {
			return err
		}
	}
	return nil
}

// DemoAccounts are created in demo mode (fictitious, documented).
var DemoAccounts = []struct {
	Login, Name, Password string
	Role                  Role
}{
	{"clerk", "窓口　一郎", "clerk-demo", Clerk},
	{"supervisor", "管理　二郎", "supervisor-demo", Supervisor},
	{"kiosk", "キオスク1", "kiosk-demo", Kiosk},
}
