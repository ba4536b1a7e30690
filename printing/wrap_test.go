package printing

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// fixed measures CJK characters as 1 and anything else as 0.5.
func fixed(s string) float64 {
	w := 0.0
	for _, r := range s {
		if breaksAnywhere(r) {
			w++
		} else {
			w += 0.5
		}
	}
	return w
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		width float64
		want  []string
	}{
		{"fits", "交付しました", 10, []string{"交付しました"}},
		{"japanese breaks anywhere", "暗証番号を設定しました", 5, []string{"暗証番号を", "設定しまし", "た"}},
		// 行頭禁則: "。" may not start a line, so "た" is pushed down with it.
		{"no full stop at line start", "交付しました。", 6, []string{"交付しまし", "た。"}},
		{"no small kana at line start", "カードキャッシュ", 4, []string{"カード", "キャッ", "シュ"}},
		{"no long vowel at line start", "プリンター", 4, []string{"プリン", "ター"}},
		// 行末禁則: "（" may not end a line.
		{"no opening bracket at line end", "番号（末尾）", 3, []string{"番号", "（末", "尾）"}},
		{"words in english", "The PINs are never printed", 6, []string{"The PINs are", "never", "printed"}},
		{"long word is cut", "SAMPLE-20261122-0001", 5, []string{"SAMPLE-202", "61122-0001"}},
		{"mixed scripts", "PUKによる解除", 3, []string{"PUKに", "よる解", "除"}},
		{"forced break", "一行目\n二行目", 10, []string{"一行目", "二行目"}},
		{"empty", "", 10, []string{""}},
		{"only kinsoku characters", "。。。。", 2, []string{"。。", "。。"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Wrap(tc.in, tc.width, fixed)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Wrap(%q, %v) = %q, want %q", tc.in, tc.width, got, tc.want)
			}
		})
	}
}

// TestWrapLosesNothing guards against fpdf's MultiCell bug (a kanji lost
// at every automatic break): wrapping never drops or adds a character,
// and no line is wider than asked unless it is one character.
func TestWrapLosesNothing(t *testing.T) {
	texts := []string{
		"暗証番号は他人に教えず、カードと一緒に保管しないでください。電子証明書は有効期限の3か月前から更新できます。",
		"カードが見つかったときは、この控えと本人確認書類を持って窓口で一時停止の解除を申請してください。",
		"Never tell anyone your PINs and do not keep them with the card.",
		"署名用電子証明書（英数字6～16文字）「見本」【注意】",
	}
	for _, s := range texts {
		for _, w := range []float64{1, 2, 3, 5, 8, 13, 40} {
			lines := Wrap(s, w, fixed)
			joined := strings.Join(lines, "")
			if strings.ReplaceAll(joined, " ", "") != strings.ReplaceAll(s, " ", "") {
				t.Fatalf("width %v: %q lost or gained characters: %q", w, s, lines)
			}
			for _, l := range lines {
				// Kinsoku only ever shortens a line.
				if fixed(l) > w && utf8.RuneCountInString(l) > 1 {
					t.Errorf("width %v: line %q is %v wide", w, l, fixed(l))
				}
			}
		}
	}
}
