package printing

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
)

// ipaexGothic is IPAex Gothic (IPAexゴシック) 004.01, unmodified, from
// Debian's fonts-ipaexfont-gothic (IPA Font License Agreement v1.0, in
// fonts/IPA_Font_License_Agreement_v1.0.txt). It is shipped whole, as the
// licence asks of a font that is redistributed; fpdf embeds in each PDF
// only the glyphs that PDF uses.
//
//go:embed fonts/ipaexg.ttf
var ipaexGothic []byte

// FontName is the embedded font's name as PDF readers report it.
const FontName = "IPAexGothic"

// Missing is what stands in for a character the font lacks: 〓 (geta
// mark), the placeholder Japanese typesetting has long used for a missing
// kanji.
const Missing = '〓'

// Coverage is the set of characters a font maps to a glyph, from its
// Unicode BMP character map (format 4: what fpdf reads, so what it can
// embed). Characters outside the BMP are never covered.
type Coverage struct {
	bits [0x10000 / 64]uint64
}

// Has reports whether r has a glyph.
func (c *Coverage) Has(r rune) bool {
	if r < 0 || r > 0xFFFF {
		return false
	}
	return c.bits[r/64]&(1<<(uint(r)%64)) != 0
}

func (c *Coverage) set(r int) { c.bits[r/64] |= 1 << (uint(r) % 64) }

// MissingIn returns the characters of s the font lacks, each once, in
// order. Line breaks and tabs are not characters of a line and never
// count.
func (c *Coverage) MissingIn(s string) []rune {
	var out []rune
	seen := map[rune]bool{}
	for _, r := range s {
		if r == '\n' || r == '\t' || r == '\r' || c.Has(r) || seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	return out
}

// FontCoverage parses the embedded font's character map.
func FontCoverage() (*Coverage, error) { return parseCoverage(ipaexGothic) }

// parseCoverage reads the (3,1) or (0,x) format-4 cmap subtable of a
// TrueType font.
func parseCoverage(ttf []byte) (*Coverage, error) {
	be := binary.BigEndian
	bad := func(what string) (*Coverage, error) { return nil, fmt.Errorf("font: %s", what) }
	if len(ttf) < 12 {
		return bad("too short")
	}
	n := int(be.Uint16(ttf[4:]))
	var cmap []byte
	for i := 0; i < n; i++ {
		rec := 12 + 16*i
		if rec+16 > len(ttf) {
			return bad("table directory truncated")
		}
		if string(ttf[rec:rec+4]) != "cmap" {
			continue
		}
		off, ln := int(be.Uint32(ttf[rec+8:])), int(be.Uint32(ttf[rec+12:]))
		if off < 0 || ln < 4 || off+ln > len(ttf) {
			return bad("cmap out of range")
		}
		cmap = ttf[off : off+ln]
	}
	if cmap == nil {
		return bad("no cmap table")
	}
	var sub []byte
	nsub := int(be.Uint16(cmap[2:]))
	for i := 0; i < nsub; i++ {
		rec := 4 + 8*i
		if rec+8 > len(cmap) {
			return bad("cmap records truncated")
		}
		platform, encoding := be.Uint16(cmap[rec:]), be.Uint16(cmap[rec+2:])
		off := int(be.Uint32(cmap[rec+4:]))
		if off+4 > len(cmap) || be.Uint16(cmap[off:]) != 4 {
			continue
		}
		if platform == 3 && encoding == 1 || platform == 0 && sub == nil {
			sub = cmap[off:]
		}
	}
	if sub == nil {
		return bad("no format-4 Unicode cmap")
	}
	if len(sub) < 14 {
		return bad("format 4 truncated")
	}
	segX2 := int(be.Uint16(sub[6:]))
	endAt, startAt := 14, 14+segX2+2
	deltaAt, rangeAt := startAt+segX2, startAt+2*segX2
	if rangeAt+segX2 > len(sub) {
		return nil, errors.New("font: format 4 segments truncated")
	}
	c := &Coverage{}
	for s := 0; s < segX2; s += 2 {
		end, start := int(be.Uint16(sub[endAt+s:])), int(be.Uint16(sub[startAt+s:]))
		delta, ro := int(be.Uint16(sub[deltaAt+s:])), int(be.Uint16(sub[rangeAt+s:]))
		for ch := start; ch <= end && ch <= 0xFFFF; ch++ {
			if ch == 0xFFFF {
				break
			}
			g := 0
			if ro == 0 {
				g = (ch + delta) & 0xFFFF
			} else {
				at := rangeAt + s + ro + 2*(ch-start)
				if at+2 > len(sub) {
					continue
				}
				if g = int(be.Uint16(sub[at:])); g != 0 {
					g = (g + delta) & 0xFFFF
				}
			}
			if g != 0 {
				c.set(ch)
			}
		}
	}
	return c, nil
}
