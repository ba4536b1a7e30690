package printing

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line breaking. fpdf's MultiCell/SplitText drop a character at every
// automatic break in Japanese text (go-pdf/fpdf issue #80), so receipts
// wrap their own text: Japanese may break between any two characters,
// other scripts between words, and basic kinsoku rules (禁則処理) keep
// closing brackets and punctuation off the start of a line and opening
// brackets off its end, by pushing the previous character down (追い出し).

// noStart may not begin a line (行頭禁則).
const noStart = "、。，．・：；？！゛゜ヽヾゝゞ々ー）〕］｝〉》」』】〙〗〟’”｠»" +
	"ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ" +
	"‐゠–〜～?!‼⁇⁈⁉,.:;)]}%…‥"

// noEnd may not end a line (行末禁則).
const noEnd = "（〔［｛〈《「『【〘〖〝‘“｟«([{"

// breaksAnywhere reports whether a line may break before and after r:
// the CJK scripts and their punctuation and full-width forms.
func breaksAnywhere(r rune) bool {
	switch {
	case r >= 0x3000 && r <= 0x30FF, // CJK punctuation, hiragana, katakana
		r >= 0x3400 && r <= 0x9FFF, // CJK ideographs
		r >= 0xF900 && r <= 0xFAFF, // compatibility ideographs
		r >= 0xFF00 && r <= 0xFFEF: // full-width and half-width forms
		return true
	}
	return unicode.Is(unicode.Han, r)
}

// units splits s into what a line break may not split: one CJK character,
// a run of other non-space characters (a word), or one space.
func units(s string) []string {
	var out []string
	word := -1
	for i, r := range s {
		switch {
		case r == ' ':
			if word >= 0 {
				out = append(out, s[word:i])
				word = -1
			}
			out = append(out, " ")
		case breaksAnywhere(r):
			if word >= 0 {
				out = append(out, s[word:i])
				word = -1
			}
			out = append(out, string(r))
		default:
			if word < 0 {
				word = i
			}
		}
	}
	if word >= 0 {
		out = append(out, s[word:])
	}
	return out
}

func isSpaceUnit(u string) bool { return u == " " }

func firstRune(u string) rune { r, _ := utf8.DecodeRuneInString(u); return r }

func lastRune(u string) rune { r, _ := utf8.DecodeLastRuneInString(u); return r }

// Wrap breaks s into lines no wider than width as measured by measure;
// "\n" forces a break. A word wider than a line is cut between
// characters.
func Wrap(s string, width float64, measure func(string) float64) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		out = append(out, wrapPara(para, width, measure)...)
	}
	return out
}

func wrapPara(s string, width float64, measure func(string) float64) []string {
	var us []string
	for _, u := range units(s) {
		if isSpaceUnit(u) || measure(u) <= width {
			us = append(us, u)
			continue
		}
		// Cut an over-long word between characters.
		start := 0
		for i, r := range u {
			if i > start && measure(u[start:i+utf8.RuneLen(r)]) > width {
				us = append(us, u[start:i])
				start = i
			}
		}
		us = append(us, u[start:])
	}
	if len(us) == 0 {
		return []string{""}
	}
	var lines []string
	i := 0
	for i < len(us) {
		for i < len(us) && isSpaceUnit(us[i]) {
			i++
		}
		if i == len(us) {
			break
		}
		j, w := i, 0.0
		for j < len(us) {
			uw := measure(us[j])
			if j > i && !isSpaceUnit(us[j]) && w+uw > width {
				break
			}
			w += uw
			j++
		}
		if j < len(us) {
			// Kinsoku: never start the next line with a closing mark nor
			// end this one with an opening mark; push characters down
			// instead, as long as this line keeps one.
			// When no break satisfies the rules, keep the greedy one.
			bad := func(k int) bool {
				return strings.ContainsRune(noStart, firstRune(us[k])) || strings.ContainsRune(noEnd, lastRune(us[k-1]))
			}
			k := j
			for k > i+1 && bad(k) {
				k--
			}
			if !bad(k) {
				j = k
			}
		}
		lines = append(lines, strings.TrimRight(strings.Join(us[i:j], ""), " "))
		i = j
	}
	if len(lines) == 0 {
		return []string{""}
	}
	return lines
}
