package pcscd

import (
	"strings"
	"testing"
)

func TestWithoutListenVars(t *testing.T) {
	got := withoutListenVars([]string{"A=1", "LISTEN_FDS=2", "LISTEN_PID=9", "MADOGUCHI_PRIVATE_RUN=1", "B=2"})
	if strings.Join(got, " ") != "A=1 B=2" {
		t.Errorf("got %q", got)
	}
}
