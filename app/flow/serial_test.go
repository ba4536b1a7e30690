package flow

import "testing"

func TestSerialTail(t *testing.T) {
	for in, want := range map[string]string{"AB12CD34EF56": "EF56", "1234": "1234", "12": "12", "": ""} {
		if got := SerialTail(in); got != want {
			t.Errorf("SerialTail(%q) = %q, want %q", in, got, want)
		}
	}
}
