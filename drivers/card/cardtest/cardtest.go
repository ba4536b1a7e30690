// Package cardtest starts a private pcscd with a vsmartcard-vpcd reader for
// a test (package pcscd does the work; see its comment for how the daemon
// is made private and its limits): call StartPCSCD before anything in the
// test binary uses PC/SC.
//
// If pcscd, the vpcd driver or /bin/sh is missing, StartPCSCD skips the
// test, unless MADOGUCHI_E2E=require, in which case it fails it. Set
// MADOGUCHI_PCSCD_DEBUG=1 to run pcscd with --debug --apdu; its output is
// logged when a test fails.
package cardtest

import (
	"errors"
	"os"
	"testing"

	"madoguchi/drivers/card/pcscd"
)

// FriendlyName is the private vpcd reader's name prefix.
const FriendlyName = pcscd.FriendlyName

// requireEnv set to "require" turns skips into failures (CI).
const requireEnv = "MADOGUCHI_E2E"

// Env is a running private pcscd with one vpcd reader.
type Env struct {
	*pcscd.Daemon
}

// StartPCSCD starts a private pcscd with a vpcd reader for this test and
// stops it at cleanup.
func StartPCSCD(t testing.TB) *Env {
	t.Helper()
	d, err := pcscd.Start(t.TempDir())
	if errors.Is(err, pcscd.ErrUnavailable) {
		skipOrFatal(t, err.Error())
	}
	if err != nil {
		t.Fatalf("cardtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cardtest: pcscd output:\n%s", d.Output())
		}
		d.Release()
	})
	return &Env{d}
}

// Restart starts pcscd again after Stop, as after a service restart.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	if err := e.Daemon.Restart(); err != nil {
		t.Fatalf("cardtest: %v", err)
	}
}

// skipOrFatal skips the test, or fails it when MADOGUCHI_E2E=require.
func skipOrFatal(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(requireEnv) == "require" {
		t.Fatalf("cardtest: %s (%s=require)", why, requireEnv)
	}
	t.Skipf("cardtest: %s; skipping (set %s=require to fail instead)", why, requireEnv)
}
