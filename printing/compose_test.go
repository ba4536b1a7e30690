package printing

import (
	"strings"
	"testing"
	"time"

	"madoguchi/app/i18n"
	"madoguchi/app/receipt"
)

func TestComposeIssuance(t *testing.T) {
	b := bundle(t)
	rec := Sample(receipt.Issuance, "en", testOrigin, testNow)
	r := Compose(b, rec, Options{MunicipalityCopy: true})

	if r.Title.JA != "マイナンバーカード交付の控え" || r.Title.Local != "Receipt: Individual Number Card issued" {
		t.Errorf("title = %+v", r.Title)
	}
	// Date in both calendars, in Japanese and in the citizen's language.
	var date Text
	for _, h := range r.Header {
		if h.Label.JA == "日時" {
			date = h.Value
		}
	}
	if date.JA != "令和8年11月22日 (2026-11-22) 10:15" || !strings.Contains(date.Local, "Reiwa 8 (2026-11-22) 10:15") {
		t.Errorf("date = %+v", date)
	}
	// The card's and the certificates' expiry side by side.
	if r.Validity == nil || len(r.Validity.Columns) != 3 {
		t.Fatalf("validity = %+v", r.Validity)
	}
	heads := []string{}
	for _, c := range r.Validity.Columns {
		heads = append(heads, c.Head.JA)
		if len(c.Lines) != 2 || !strings.HasPrefix(c.Lines[0], "令和") || !strings.HasPrefix(c.Lines[1], "(20") {
			t.Errorf("column %s lines = %q", c.Head.JA, c.Lines)
		}
	}
	if strings.Join(heads, ",") != "カード,署名用電子証明書,利用者証明用電子証明書" {
		t.Errorf("columns = %v", heads)
	}
	if len(r.Copies) != 2 || r.Copies[1].Signature.Empty() || !r.Copies[0].Signature.Empty() {
		t.Errorf("copies = %+v", r.Copies)
	}
	if r.QR != "MDGR1:"+rec.Number+":"+rec.Code {
		t.Errorf("QR = %q", r.QR)
	}
}

func TestComposeJapaneseOnly(t *testing.T) {
	b := bundle(t)
	r := Compose(b, Sample(receipt.PINReset, "ja", testOrigin, testNow), Options{})
	check := func(what string, t2 Text) {
		if t2.Local != "" {
			t.Errorf("%s has a second language for a Japanese reader: %+v", what, t2)
		}
	}
	check("title", r.Title)
	for _, h := range r.Header {
		check("header "+h.Label.JA, h.Label)
	}
	// A language Madoguchi does not have falls back to Japanese only.
	r = Compose(b, Sample(receipt.PINReset, "xx", testOrigin, testNow), Options{})
	check("fallback title", r.Title)
}

func TestComposePerProcedure(t *testing.T) {
	b := bundle(t)
	for _, tc := range []struct {
		p        receipt.Procedure
		want     []string
		validity bool
	}{
		{receipt.Issuance, []string{"マイナンバーカードをお渡ししました。", "署名用電子証明書：発行しました"}, true},
		{receipt.CertRenewal, []string{"利用者証明用電子証明書：更新しました"}, true},
		{receipt.CardRenewal, []string{"以前のカードを回収しました。"}, true},
		{receipt.ChangeOfDetails, []string{"住所", "署名用電子証明書：発行しました", "利用者証明用電子証明書：変更ありません"}, true},
		{receipt.PINReset, []string{"初期化した暗証番号", "署名用電子証明書の暗証番号", "暗証番号そのものは、この控えに記載していません。"}, false},
		{receipt.ReservedReset, []string{"暗証番号再設定の控え"}, false},
		{receipt.PUKUnlock, []string{"ロックを解除した暗証番号", "接続が回復したあと自動"}, false},
		{receipt.Phone, []string{"Android", "スマホ用電子証明書：発行しました"}, true},
		{receipt.Suspension, []string{"照会番号", "SUS-20261122-0042", "一時停止の解除を申請"}, true},
		{receipt.SuspensionLift, []string{"一時停止を解除しました"}, true},
		{receipt.Return, []string{"返納を受け付けました", "署名用電子証明書：失効しました"}, false},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			r := Compose(b, Sample(tc.p, "en", testOrigin, testNow), Options{})
			text := r.Text()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("lacks %q:\n%s", w, text)
				}
			}
			if (r.Validity != nil) != tc.validity {
				t.Errorf("validity table = %v, want %v", r.Validity != nil, tc.validity)
			}
		})
	}
}

func TestComposeWarnsNearExpiry(t *testing.T) {
	b := bundle(t)
	rec := Sample(receipt.CertRenewal, "en", testOrigin, testNow)
	rec.Details.CardExpiry = testNow.Add(30 * 24 * time.Hour)
	r := Compose(b, rec, Options{})
	if got := r.Validity.Columns[0]; got.Note.JA != "まもなく期限" || got.Note.Local != "Expires soon" {
		t.Errorf("card column note = %+v", got.Note)
	}
	if got := r.Validity.Columns[1]; !got.Note.Empty() {
		t.Errorf("a certificate five years away is flagged: %+v", got.Note)
	}
}

func TestSplitDate(t *testing.T) {
	b := bundle(t)
	d := time.Date(2019, 5, 1, 12, 0, 0, 0, i18n.Japan)
	for lang, want := range map[string][]string{
		"ja": {"令和元年5月1日", "(2019-05-01)"},
		"en": {"May 1, Reiwa 1", "(2019-05-01)"},
	} {
		got := splitDate(b.FormatDate(lang, d))
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q, want %q", lang, got, want)
		}
	}
}
