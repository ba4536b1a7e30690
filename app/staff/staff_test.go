package staff

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"madoguchi/app/secret"
	"madoguchi/app/store"
)

func newService(t *testing.T) (*Service, *time.Time) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	s := New(st.DB, func() time.Time { return now })
	if err := s.EnsureDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, &now
}

func pw(s string) secret.Value { return secret.NewPassword(s) }

func TestLoginRolesAndApproval(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	if _, err := s.Authorize(ActProcedure); !errors.Is(err, ErrNoSession) {
		t.Fatalf("before login: %v", err)
	}
	if _, err := s.Login(ctx, "clerk", pw("wrong-password")); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.Login(ctx, "nobody", pw("clerk-demo")); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("unknown login: %v", err)
	}
	sess, err := s.Login(ctx, "clerk", pw("clerk-demo"))
	if err != nil || sess.Role != Clerk {
		t.Fatalf("login: %+v %v", sess, err)
	}
	for _, tc := range []struct {
		a  Action
		ok bool
	}{{ActProcedure, true}, {ActQueueDiscard, false}, {ActReprint, false}, {ActExport, false}, {ActKiosk, false}} {
		if _, err := s.Authorize(tc.a); (err == nil) != tc.ok {
			t.Errorf("clerk %s: %v", tc.a, err)
		}
	}
	// A supervisor's approval at the terminal; a clerk cannot approve.
	if _, err := s.Approve(ctx, ActQueueDiscard, "clerk", pw("clerk-demo")); !errors.Is(err, ErrForbidden) {
		t.Errorf("clerk approving: %v", err)
	}
	if ap, err := s.Approve(ctx, ActQueueDiscard, "supervisor", pw("supervisor-demo")); err != nil || ap.Login != "supervisor" {
		t.Errorf("supervisor approving: %+v %v", ap, err)
	}
	// A kiosk device may not export.
	s.Logout()
	if _, err := s.Login(ctx, "kiosk", pw("kiosk-demo")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authorize(ActExport); !errors.Is(err, ErrForbidden) {
		t.Errorf("kiosk export: %v", err)
	}
	if _, err := s.Authorize(ActKiosk); err != nil {
		t.Errorf("kiosk procedures: %v", err)
	}
}

func TestLockoutAndIdle(t *testing.T) {
	ctx := context.Background()
	s, now := newService(t)
	for i := 1; i < MaxFailures; i++ {
		if _, err := s.Login(ctx, "supervisor", pw("nope-nope")); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, err := s.Login(ctx, "supervisor", pw("nope-nope")); !errors.Is(err, ErrLocked) {
		t.Fatalf("fifth failure: %v", err)
	}
	if _, err := s.Login(ctx, "supervisor", pw("supervisor-demo")); !errors.Is(err, ErrLocked) {
		t.Fatalf("right password while locked: %v", err)
	}
	list, _ := s.List(ctx)
	locked := false
	for _, a := range list {
		locked = locked || (a.Login == "supervisor" && a.Locked)
	}
	if !locked {
		t.Error("the list does not show the lock")
	}
	*now = now.Add(LockFor + time.Second)
	if _, err := s.Login(ctx, "supervisor", pw("supervisor-demo")); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	*now = now.Add(IdleAfter - time.Second)
	if _, err := s.Current(true); err != nil {
		t.Fatalf("before idle: %v", err)
	}
	*now = now.Add(IdleAfter + time.Second)
	if _, err := s.Current(true); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after idle: %v", err)
	}
}

func TestAdd(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	if _, err := s.Add(ctx, "clerk", "x", Clerk, pw("longenough")); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := s.Add(ctx, "c2", "x", Clerk, pw("short")); !errors.Is(err, ErrWeak) {
		t.Errorf("short: %v", err)
	}
	if _, err := s.Add(ctx, "c3", "x", Role("root"), pw("longenough")); err == nil {
		t.Error("unknown role accepted")
	}
}
