package pinpolicy

import (
	"errors"
	"testing"

	"madoguchi/app/secret"
	"madoguchi/drivers/card"
)

func codes(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Code)
	}
	return out
}

func TestCheck(t *testing.T) {
	auth, _ := card.Current.PIN(card.PINAuth)
	sign, _ := card.Current.PIN(card.PINSign)
	h := Holder{BirthDate: "19850401"} // 昭和60年4月1日
	for _, tc := range []struct {
		spec card.PINSpec
		pin  string
		old  string
		want []string
	}{
		{auth, "2580", "", nil},
		{auth, "1111", "", []string{"repeated"}},
		{auth, "1234", "", []string{"sequence"}},
		{auth, "9876", "", []string{"sequence"}},
		{auth, "8901", "", []string{"sequence"}},
		{auth, "1985", "", []string{"birth-date"}},
		{auth, "0401", "", []string{"birth-date"}},
		{auth, "0104", "", []string{"birth-date"}},
		{auth, "2580", "2580", []string{"same-as-old"}},
		{sign, "abc123xyz", "", nil},
		{sign, "ABCDEF", "", []string{"sequence"}},
		{sign, "TARO19850401", "", []string{"birth-date"}},
		{sign, "X600401Y", "", []string{"birth-date"}}, // era form S60-04-01
		{sign, "PW010485", "", []string{"birth-date"}}, // DDMMYY
	} {
		err, ws := Check(tc.spec, secret.NewPIN(tc.pin), secret.NewPIN(tc.old), h)
		if err != nil {
			t.Errorf("%s %q: %v", tc.spec.Kind, tc.pin, err)
			continue
		}
		got := codes(ws)
		if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
			t.Errorf("%s %q: warnings %v, want %v", tc.spec.Kind, tc.pin, got, tc.want)
		}
	}
	var fe *card.PINFormatError
	for _, bad := range []string{"123", "12345", "12a4"} {
		if err, _ := Check(auth, secret.NewPIN(bad), secret.Value{}, h); !errors.As(err, &fe) {
			t.Errorf("%q accepted as an auth PIN", bad)
		}
	}
	if err, _ := Check(sign, secret.NewPIN("ABC12"), secret.Value{}, h); !errors.As(err, &fe) {
		t.Error("a 5-character password accepted")
	}
}

func TestNotices(t *testing.T) {
	for _, tc := range []struct {
		n    Notice
		want string
	}{
		{BeforeEntry(3), "pin.tries.left"}, {BeforeEntry(1), "pin.tries.last"}, {BeforeEntry(0), "pin.tries.blocked"},
		{AfterWrong(2, false), "pin.wrong.left"}, {AfterWrong(1, false), "pin.wrong.last"},
		{AfterWrong(0, false), "pin.wrong.blocked"}, {AfterWrong(0, true), "pin.wrong.blocked_puk"},
	} {
		if string(tc.n.Key) != tc.want {
			t.Errorf("%+v, want %s", tc.n, tc.want)
		}
	}
}
