package cardtest

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ebfe/scard"

	"madoguchi/drivers/card/pcscd"
)

func TestStartPCSCD(t *testing.T) {
	e := StartPCSCD(t)

	if got := os.Getenv("PCSCLITE_CSOCK_NAME"); got != e.Socket {
		t.Errorf("PCSCLITE_CSOCK_NAME = %q, want %q", got, e.Socket)
	}
	if e.Socket == "/run/pcscd/pcscd.comm" {
		t.Error("the private pcscd uses the system socket")
	}
	if !strings.HasPrefix(e.ReaderName, FriendlyName+" ") {
		t.Errorf("ReaderName = %q", e.ReaderName)
	}
	// vpcd waits for the card on VPCDAddr.
	c, err := net.Dial("tcp", e.VPCDAddr)
	if err != nil {
		t.Fatalf("vpcd not listening on %s: %v", e.VPCDAddr, err)
	}
	_ = c.Close()

	// The daemon's pid file stays out of the system's /run/pcscd unless
	// no mount namespace could be had.
	if !strings.Contains(e.Output(), "no mount namespace") && !strings.Contains(e.Output(), "no private /run/pcscd") {
		pid := strconv.Itoa(e.Pid())
		if b, err := os.ReadFile("/run/pcscd/pcscd.pid"); err == nil && strings.TrimRight(string(b), "\n\x00") == pid {
			t.Errorf("private pcscd %s wrote the system's /run/pcscd/pcscd.pid", pid)
		}
	} else {
		t.Log("no private /run/pcscd here")
	}

	// A stopped pcscd is a missing service, for new and old contexts.
	old, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer old.Release()
	e.Stop()
	e.Stop() // idempotent
	if _, err := os.Stat(e.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Stop: %v", err)
	}
	if _, err := scard.EstablishContext(); !errors.Is(err, scard.ErrNoService) {
		t.Errorf("EstablishContext on a stopped pcscd = %v, want %v", err, scard.ErrNoService)
	}
	if _, err := old.ListReaders(); err == nil {
		t.Error("ListReaders on a context of a stopped pcscd succeeded")
	} else {
		t.Logf("ListReaders on the old context after Stop: %v (%#x)", err, uint32(err.(scard.Error)))
	}

	// Restart brings the same reader back.
	name := e.ReaderName
	e.Restart(t)
	if e.ReaderName != name {
		t.Errorf("after Restart ReaderName = %q, want %q", e.ReaderName, name)
	}
}

// TestSequential checks that a second private pcscd in the same process
// (after the first test's cleanup) works: the socket path is reused.
func TestSequential(t *testing.T) {
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			e := StartPCSCD(t)
			got, err := pcscd.ListVPCD()
			if err != nil || got != e.ReaderName {
				t.Fatalf("listVPCD = %q, %v; want %q", got, err, e.ReaderName)
			}
		})
	}
}
