package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"madoguchi/app/secret"
)

// Auth guards the browser face when it listens beyond loopback: a browser
// logs in with the access code and gets a session cookie (HttpOnly,
// Secure, SameSite=Strict) that ends after Idle without use.
type Auth struct {
	code secret.Value
	Idle time.Duration
	Now  func() time.Time

	mu       sync.Mutex
	sessions map[string]time.Time // token → last use
	failures int
	lockedTo time.Time
}

// NewAuth guards with the given access code.
func NewAuth(code secret.Value) *Auth {
	return &Auth{code: code, Idle: 15 * time.Minute, Now: time.Now, sessions: map[string]time.Time{}}
}

const cookieName = "madoguchi_session"

// After maxFailures wrong codes in a row, logins are refused for lockout.
const (
	maxFailures = 5
	lockout     = 30 * time.Second
)

func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "error.bad_request")
		return
	}
	given := secret.NewPassword(req.Code)
	req.Code = ""
	defer given.Wipe()

	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.Now()
	if now.Before(a.lockedTo) {
		writeErr(w, http.StatusTooManyRequests, "login.failed")
		return
	}
	ok := false
	_ = a.code.Reveal(func(want []byte) error {
		return given.Reveal(func(got []byte) error {
			ok = len(want) > 0 && subtle.ConstantTimeCompare(want, got) == 1
			return nil
		})
	})
	if !ok {
		a.failures++
		if a.failures >= maxFailures {
			a.failures = 0
			a.lockedTo = now.Add(lockout)
		}
		writeErr(w, http.StatusUnauthorized, "login.failed")
		return
	}
	a.failures = 0
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	a.sessions[tok] = now
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"result":true}`))
}

func (a *Auth) valid(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	last, ok := a.sessions[c.Value]
	now := a.Now()
	if !ok || now.Sub(last) > a.Idle {
		delete(a.sessions, c.Value)
		return false
	}
	a.sessions[c.Value] = now
	return true
}
