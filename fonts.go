package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"time"

	"madoguchi/app/i18n"
)

// fontCheck says whether the PC has a font for one of the screen's
// languages: without one, a citizen who picks Thai or Nepali at the kiosk
// sees empty boxes (even the language's own name on its button).
type fontCheck struct {
	Lang   string `json:"lang"`
	OK     bool   `json:"ok"`
	Family string `json:"family,omitempty"` // one font that covers it
}

// fontconfigLang maps a screen language to fontconfig's orthography name
// (fc-list :lang=…), which lists the fonts covering that language's
// letters.
func fontconfigLang(tag string) string {
	switch tag {
	case "ja-x-easy":
		return "ja"
	case "zh-Hans":
		return "zh-cn"
	case "zh-Hant":
		return "zh-tw"
	case "pt-BR":
		return "pt"
	case "tl":
		return "fil"
	}
	if base, _, _ := strings.Cut(tag, "-"); base != "" {
		return base
	}
	return tag
}

// errNoFontconfig: fc-list is missing, so fonts cannot be checked.
var errNoFontconfig = errors.New("fc-list (fontconfig) not found: fonts not checked")

// checkFonts asks fontconfig, for each language, for a font covering it.
func checkFonts(ctx context.Context, langs []i18n.Language) ([]fontCheck, error) {
	fcList, err := exec.LookPath("fc-list")
	if err != nil {
		return nil, errNoFontconfig
	}
	out := make([]fontCheck, 0, len(langs))
	for _, l := range langs {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		b, err := exec.CommandContext(cctx, fcList, ":lang="+fontconfigLang(l.Tag), "family").Output()
		cancel()
		if err != nil {
			return nil, err
		}
		c := fontCheck{Lang: l.Tag}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			// "Noto Sans CJK JP,Noto Sans CJK JP Regular": the first name.
			if fam, _, _ := strings.Cut(line, ","); strings.TrimSpace(fam) != "" {
				c.OK, c.Family = true, strings.TrimSpace(fam)
				break
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// missingLangs lists the languages of checks that found no font.
func missingLangs(checks []fontCheck) []string {
	var out []string
	for _, c := range checks {
		if !c.OK {
			out = append(out, c.Lang)
		}
	}
	return out
}

// fontHint is what to do about missing fonts on Debian.
const fontHint = "install fonts-noto-cjk and fonts-noto-core (make run does)"
