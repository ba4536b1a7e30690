package secretfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReadMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "k.json")
	if _, err := Read(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := Write(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(p); err != nil || string(b) != "two" {
		t.Fatalf("%q %v", b, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	os.Chmod(p, 0o640)
	if _, err := Read(p); !errors.Is(err, ErrMode) {
		t.Fatalf("0640: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	k, _ := NewKey()
	other, _ := NewKey()
	s, err := Seal(k, []byte("窓口　花子"), []byte("row-1"))
	if err != nil || bytes.Contains(s, []byte("花子")) {
		t.Fatalf("%v", err)
	}
	if p, err := Open(k, s, []byte("row-1")); err != nil || string(p) != "窓口　花子" {
		t.Fatalf("%q %v", p, err)
	}
	for name, tc := range map[string]struct {
		key, sealed, aad []byte
	}{
		"other aad": {k, s, []byte("row-2")}, "other key": {other, s, []byte("row-1")},
		"altered": {k, append(append([]byte{}, s[:len(s)-1]...), s[len(s)-1]^1), []byte("row-1")}, "short": {k, s[:5], nil},
	} {
		if _, err := Open(tc.key, tc.sealed, tc.aad); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
