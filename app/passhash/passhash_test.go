package passhash

import (
	"errors"
	"strings"
	"testing"

	"madoguchi/app/secret"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash(secret.NewPassword("31415926"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=1$") || strings.Contains(h, "31415926") {
		t.Fatalf("hash %q", h)
	}
	for _, tc := range []struct {
		code string
		ok   bool
	}{{"31415926", true}, {"31415927", false}, {"", false}, {"314159260", false}} {
		ok, err := Verify(h, secret.NewPassword(tc.code))
		if err != nil || ok != tc.ok {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.code, ok, err, tc.ok)
		}
	}
	h2, _ := Hash(secret.NewPassword("31415926"))
	if h2 == h {
		t.Error("two hashes of one code share a salt")
	}
}

func TestMalformed(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=65536,t=2,p=1$!!$aGFzaA"} {
		if _, err := Verify(h, secret.NewPassword("x")); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q): %v", h, err)
		}
	}
}
