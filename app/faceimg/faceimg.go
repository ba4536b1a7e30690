// Package faceimg decodes the face photo of an Individual Number Card (the
// card-face application's DF27, a JPEG 2000 codestream or JP2 file) for
// the clerk's screen, where the clerk compares it with the face of the
// person at the counter.
//
// The input is untrusted: it comes from a card. Before any byte reaches
// the C decoder (OpenJPEG, see openjpeg.go), the Go side checks the
// signature (a JP2 signature box, or a codestream's SOC marker followed by
// SIZ), the input size (at most MaxInput), the JP2 box structure and the
// codestream's SIZ marker: image and tile sizes, at most MaxSide pixels a
// side, at most four components of at most 16 bits. After decoding it
// checks OpenJPEG's image again before reading it.
//
// Decoded images: one component is grey (*image.Gray), grey with an
// opacity channel and everything with one is *image.NRGBA (*image.RGBA
// for premultiplied opacity), three components are RGB (*image.RGBA, opaque),
// converted from sYCC when the file says so (or, for a bare codestream,
// when the chroma components are subsampled, as OpenJPEG's own tools
// guess), and CMYK is converted to RGB. Precision other than 8 bits is
// scaled to 8; signed samples are shifted. Subsampled components are
// upsampled by repetition. ICC profiles are ignored: the card's photos
// are sRGB. e-sYCC is refused (ErrUnsupported).
package faceimg

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
)

// Limits on untrusted input. A card's photo is a few kilobytes and a few
// hundred pixels a side.
const (
	MaxInput      = 512 << 10 // bytes
	MaxSide       = 1024      // pixels, width and height (a card photo is a few hundred)
	maxComponents = 4
	maxPrecision  = 16
	maxTiles      = 4096
)

// Errors, always wrapped.
var (
	// ErrNotJPEG2000: neither a JP2 signature box nor a codestream's
	// SOC and SIZ markers at the start.
	ErrNotJPEG2000 = errors.New("faceimg: not JPEG 2000 data")
	// ErrTooLarge: more than MaxInput bytes, more than MaxSide pixels a
	// side, or too many tiles.
	ErrTooLarge = errors.New("faceimg: image too large")
	// ErrUnsupported: more than four components, more than 16 bits, or
	// a colour space this package does not convert.
	ErrUnsupported = errors.New("faceimg: unsupported JPEG 2000 image")
	// ErrCorrupt: the data is JPEG 2000 but cannot be decoded.
	ErrCorrupt = errors.New("faceimg: corrupt JPEG 2000 data")
)

var (
	jp2Signature = []byte{0x00, 0x00, 0x00, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A}
	socSIZ       = []byte{0xFF, 0x4F, 0xFF, 0x51}
)

// Decode decodes a JPEG 2000 codestream or JP2 file. ctx bounds the wait:
// when it ends first, Decode returns its error (the C decoder, which
// cannot be interrupted, finishes in the background; the size limits
// bound its work).
func Decode(ctx context.Context, jp2 []byte) (image.Image, error) {
	isJP2, err := checkHeader(jp2)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("faceimg: %w", err)
	}
	type result struct {
		img image.Image
		err error
	}
	done := make(chan result, 1)
	go func() {
		img, err := openjpeg(jp2, isJP2)
		done <- result{img, err}
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("faceimg: %w", ctx.Err())
	case r := <-done:
		return r.img, r.err
	}
}

// PNG decodes jp2 and encodes it as PNG. When maxSide > 0 and the longer
// side exceeds it, the image is reduced (area average) so that the longer
// side is maxSide; it is never enlarged: the screen scales a small photo
// up. It returns the PNG and its size.
func PNG(ctx context.Context, jp2 []byte, maxSide int) ([]byte, image.Point, error) {
	img, err := Decode(ctx, jp2)
	if err != nil {
		return nil, image.Point{}, err
	}
	if maxSide > 0 {
		img = shrink(img, maxSide)
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, image.Point{}, fmt.Errorf("faceimg: png: %w", err)
	}
	return buf.Bytes(), img.Bounds().Size(), nil
}

// checkHeader tells a JP2 file from a codestream and validates what the C
// decoder will rely on: the signature first, then the size, then the box
// structure and the SIZ marker.
func checkHeader(data []byte) (jp2 bool, err error) {
	switch {
	case bytes.HasPrefix(data, jp2Signature):
		jp2 = true
	case bytes.HasPrefix(data, socSIZ):
	default:
		return false, ErrNotJPEG2000
	}
	if len(data) > MaxInput {
		return jp2, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxInput)
	}
	cs := data
	if jp2 {
		if cs, err = codestream(data); err != nil {
			return jp2, err
		}
	}
	return jp2, checkSIZ(cs)
}

// codestream walks a JP2 file's top-level boxes, checks the header box
// and returns the contiguous codestream box's contents.
func codestream(b []byte) ([]byte, error) {
	header := false
	for len(b) > 0 {
		body, typ, rest, err := box(b)
		if err != nil {
			return nil, err
		}
		switch typ {
		case "jp2h":
			if err := checkJP2Header(body); err != nil {
				return nil, err
			}
			header = true
		case "jp2c":
			if !header {
				return nil, fmt.Errorf("%w: codestream before the JP2 header", ErrCorrupt)
			}
			if !bytes.HasPrefix(body, socSIZ) {
				return nil, fmt.Errorf("%w: the codestream box lacks SOC and SIZ", ErrCorrupt)
			}
			return body, nil
		}
		b = rest
	}
	return nil, fmt.Errorf("%w: no codestream box", ErrCorrupt)
}

// box splits the first box off b.
func box(b []byte) (body []byte, typ string, rest []byte, err error) {
	if len(b) < 8 {
		return nil, "", nil, fmt.Errorf("%w: truncated box", ErrCorrupt)
	}
	size, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
	typ = string(b[4:8])
	switch size {
	case 0: // to the end
		size = uint64(len(b))
	case 1:
		if len(b) < 16 {
			return nil, "", nil, fmt.Errorf("%w: truncated box", ErrCorrupt)
		}
		size, hdr = binary.BigEndian.Uint64(b[8:]), 16
	}
	if size < hdr || size > uint64(len(b)) {
		return nil, "", nil, fmt.Errorf("%w: box %q of %d bytes in %d", ErrCorrupt, typ, size, len(b))
	}
	return b[hdr:size], typ, b[size:], nil
}

// checkJP2Header checks the image header and palette boxes: a palette
// makes OpenJPEG produce one component per palette column.
func checkJP2Header(b []byte) error {
	for len(b) > 0 {
		body, typ, rest, err := box(b)
		if err != nil {
			return err
		}
		switch typ {
		case "ihdr":
			if len(body) < 14 {
				return fmt.Errorf("%w: short image header", ErrCorrupt)
			}
			h, w, nc := binary.BigEndian.Uint32(body), binary.BigEndian.Uint32(body[4:]), binary.BigEndian.Uint16(body[8:])
			if w > MaxSide || h > MaxSide {
				return fmt.Errorf("%w: %dx%d pixels, at most %d a side", ErrTooLarge, w, h, MaxSide)
			}
			if nc == 0 || nc > maxComponents {
				return fmt.Errorf("%w: %d components", ErrUnsupported, nc)
			}
		case "pclr":
			if len(body) < 3 {
				return fmt.Errorf("%w: short palette", ErrCorrupt)
			}
			if npc := body[2]; npc == 0 || npc > maxComponents {
				return fmt.Errorf("%w: palette of %d columns", ErrUnsupported, npc)
			}
		}
		b = rest
	}
	return nil
}

// checkSIZ validates the SIZ marker segment that follows SOC.
func checkSIZ(cs []byte) error {
	if !bytes.HasPrefix(cs, socSIZ) {
		return fmt.Errorf("%w: no SIZ marker", ErrCorrupt)
	}
	p := cs[4:]
	if len(p) < 2 {
		return fmt.Errorf("%w: truncated SIZ", ErrCorrupt)
	}
	lsiz := int(binary.BigEndian.Uint16(p))
	if lsiz < 41 || len(p) < lsiz {
		return fmt.Errorf("%w: truncated SIZ", ErrCorrupt)
	}
	u := func(off int) uint64 { return uint64(binary.BigEndian.Uint32(p[off:])) }
	xs, ys, xo, yo := u(4), u(8), u(12), u(16)
	xt, yt, xto, yto := u(20), u(24), u(28), u(32)
	nc := int(binary.BigEndian.Uint16(p[36:]))
	if nc == 0 || lsiz != 38+3*nc {
		return fmt.Errorf("%w: SIZ of %d bytes for %d components", ErrCorrupt, lsiz, nc)
	}
	if nc > maxComponents {
		return fmt.Errorf("%w: %d components", ErrUnsupported, nc)
	}
	if xs <= xo || ys <= yo {
		return fmt.Errorf("%w: empty image", ErrCorrupt)
	}
	if w, h := xs-xo, ys-yo; w > MaxSide || h > MaxSide {
		return fmt.Errorf("%w: %dx%d pixels, at most %d a side", ErrTooLarge, w, h, MaxSide)
	}
	if xt == 0 || yt == 0 || xto > xo || yto > yo || xto+xt <= xo || yto+yt <= yo {
		return fmt.Errorf("%w: bad tiling", ErrCorrupt)
	}
	if tiles := ((xs - xto + xt - 1) / xt) * ((ys - yto + yt - 1) / yt); tiles > maxTiles {
		return fmt.Errorf("%w: %d tiles", ErrTooLarge, tiles)
	}
	for i := 0; i < nc; i++ {
		ssiz, dx, dy := p[38+3*i], p[39+3*i], p[40+3*i]
		if bits := int(ssiz&0x7F) + 1; bits > maxPrecision {
			return fmt.Errorf("%w: %d-bit samples", ErrUnsupported, bits)
		}
		if dx == 0 || dy == 0 {
			return fmt.Errorf("%w: component %d subsampled by zero", ErrCorrupt, i)
		}
	}
	return nil
}

// colour is the decoder's colour space.
type colour int

const (
	colourUnspecified colour = iota
	colourRGB
	colourGray
	colourYCC
	colourEYCC
	colourCMYK
)

// component is one decoded component; samples may point into C memory.
type component struct {
	w, h, dx, dy int
	prec         int
	signed       bool
	alpha        int // 0 colour, 1 opacity, 2 premultiplied opacity
	samples      []int32
}

// raw is a decoded image as the decoder left it.
type raw struct {
	x0, y0, x1, y1 uint32
	space          colour
	comps          []component
}

// plane reads one component as 8-bit values over the output grid.
type plane struct {
	c        component
	w, h     int // output size
	off, max int64
}

func newPlane(c component, w, h int) (plane, error) {
	if c.prec < 1 || c.prec > maxPrecision {
		return plane{}, fmt.Errorf("%w: %d-bit samples", ErrUnsupported, c.prec)
	}
	if c.w < 1 || c.h < 1 || c.w > MaxSide || c.h > MaxSide || len(c.samples) != c.w*c.h {
		return plane{}, fmt.Errorf("%w: component of %dx%d without its samples", ErrCorrupt, c.w, c.h)
	}
	p := plane{c: c, w: w, h: h, max: 1<<c.prec - 1}
	if c.signed {
		p.off = 1 << (c.prec - 1)
	}
	return p, nil
}

// at returns the sample for output pixel (x, y), scaled to 0..255.
func (p plane) at(x, y int) uint8 {
	sx, sy := x, y
	if p.c.w != p.w {
		sx = x * p.c.w / p.w
	}
	if p.c.h != p.h {
		sy = y * p.c.h / p.h
	}
	v := int64(p.c.samples[sy*p.c.w+sx]) + p.off
	switch {
	case v < 0:
		return 0
	case v > p.max:
		return 255
	case p.max == 255:
		return uint8(v)
	}
	return uint8((v*255 + p.max/2) / p.max)
}

// convert turns a decoded image into a Go image.
func convert(r raw) (image.Image, error) {
	if len(r.comps) < 1 || len(r.comps) > maxComponents {
		return nil, fmt.Errorf("%w: %d components", ErrUnsupported, len(r.comps))
	}
	if r.x1 <= r.x0 || r.y1 <= r.y0 || r.x1-r.x0 > MaxSide || r.y1-r.y0 > MaxSide {
		return nil, fmt.Errorf("%w: decoded size %dx%d", ErrCorrupt, int64(r.x1)-int64(r.x0), int64(r.y1)-int64(r.y0))
	}
	// The output has the first component's size at full resolution.
	c0 := r.comps[0]
	w, h := c0.w*max(c0.dx, 1), c0.h*max(c0.dy, 1)
	if ref := int(r.x1 - r.x0); w > ref {
		w = ref
	}
	if ref := int(r.y1 - r.y0); h > ref {
		h = ref
	}
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("%w: decoded size %dx%d", ErrCorrupt, w, h)
	}
	var colours []plane
	var alpha *plane
	premultiplied := false
	for _, c := range r.comps {
		p, err := newPlane(c, w, h)
		if err != nil {
			return nil, err
		}
		if c.alpha != 0 {
			if alpha == nil {
				alpha, premultiplied = &p, c.alpha == 2
			}
			continue
		}
		colours = append(colours, p)
	}
	// Without an opacity channel marked, two components are grey and
	// alpha, four are RGBA unless the file says CMYK (as OpenJPEG's tools).
	if alpha == nil && (len(colours) == 2 || (len(colours) == 4 && r.space != colourCMYK)) {
		alpha, colours = &colours[len(colours)-1], colours[:len(colours)-1]
	}
	var pix func(x, y int) (r, g, b uint8)
	switch {
	case len(colours) == 1:
		if alpha == nil {
			img := image.NewGray(image.Rect(0, 0, w, h))
			for y := 0; y < h; y++ {
				row := img.Pix[y*img.Stride:]
				for x := 0; x < w; x++ {
					row[x] = colours[0].at(x, y)
				}
			}
			return img, nil
		}
		pix = func(x, y int) (uint8, uint8, uint8) { v := colours[0].at(x, y); return v, v, v }
	case len(colours) == 3 && r.space == colourEYCC:
		return nil, fmt.Errorf("%w: e-sYCC colour space", ErrUnsupported)
	case len(colours) == 3 && (r.space == colourYCC || (r.space == colourUnspecified && c0.dx == 1 && c0.dy == 1 && (r.comps[1].dx != 1 || r.comps[1].dy != 1))):
		pix = func(x, y int) (uint8, uint8, uint8) {
			return color.YCbCrToRGB(colours[0].at(x, y), colours[1].at(x, y), colours[2].at(x, y))
		}
	case len(colours) == 3:
		pix = func(x, y int) (uint8, uint8, uint8) {
			return colours[0].at(x, y), colours[1].at(x, y), colours[2].at(x, y)
		}
	case len(colours) == 4 && r.space == colourCMYK:
		pix = func(x, y int) (uint8, uint8, uint8) {
			return color.CMYKToRGB(colours[0].at(x, y), colours[1].at(x, y), colours[2].at(x, y), colours[3].at(x, y))
		}
	default:
		return nil, fmt.Errorf("%w: %d colour components", ErrUnsupported, len(colours))
	}
	rect := image.Rect(0, 0, w, h)
	var out []uint8
	var img image.Image
	if alpha != nil && !premultiplied {
		n := image.NewNRGBA(rect)
		out, img = n.Pix, n
	} else {
		n := image.NewRGBA(rect)
		out, img = n.Pix, n
	}
	if rgbDirect(r.space, colours, alpha, premultiplied) {
		// The common case (the card's photos): full-resolution 8-bit
		// RGB(A), copied without scaling.
		a := []int32(nil)
		if alpha != nil {
			a = alpha.c.samples
		}
		rs, gs, bs := colours[0].c.samples, colours[1].c.samples, colours[2].c.samples
		for j := range w * h {
			av := int32(255)
			if a != nil {
				av = a[j]
			}
			out[4*j], out[4*j+1], out[4*j+2], out[4*j+3] = clamp8(rs[j]), clamp8(gs[j]), clamp8(bs[j]), clamp8(av)
		}
		return img, nil
	}
	i := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			rr, gg, bb := pix(x, y)
			a := uint8(255)
			if alpha != nil {
				a = alpha.at(x, y)
			}
			if premultiplied { // keep the image.RGBA invariant c <= a
				rr, gg, bb = min(rr, a), min(gg, a), min(bb, a)
			}
			out[i], out[i+1], out[i+2], out[i+3] = rr, gg, bb, a
			i += 4
		}
	}
	return img, nil
}

// rgbDirect: three colour planes in RGB (not YCC, not CMYK) and an optional
// straight alpha, all 8-bit unsigned at the output's full resolution.
func rgbDirect(space colour, colours []plane, alpha *plane, premultiplied bool) bool {
	if len(colours) != 3 || premultiplied || space == colourYCC || space == colourCMYK || space == colourEYCC {
		return false
	}
	ps := colours
	if alpha != nil {
		ps = append(ps[:3:3], *alpha)
	}
	for _, p := range ps {
		if p.c.w != p.w || p.c.h != p.h || p.max != 255 || p.off != 0 {
			return false
		}
	}
	// A bare codestream with subsampled chroma is YCC, decided above;
	// here no plane is subsampled.
	return true
}

func clamp8(v int32) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// shrink reduces img so that its longer side is at most side, averaging
// the source pixels each output pixel covers. Smaller images are returned
// unchanged.
func shrink(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		return img
	}
	dw, dh := side, side
	if w >= h {
		dh = max(1, (h*side+w/2)/w)
	} else {
		dw = max(1, (w*side+h/2)/h)
	}
	// span returns the source range that output index i of n covers.
	span := func(i, n, src int) (int, int) { return i * src / n, max((i+1)*src/n, i*src/n+1) }
	if g, ok := img.(*image.Gray); ok {
		out := image.NewGray(image.Rect(0, 0, dw, dh))
		for y := 0; y < dh; y++ {
			y0, y1 := span(y, dh, h)
			for x := 0; x < dw; x++ {
				x0, x1 := span(x, dw, w)
				sum, n := 0, 0
				for sy := y0; sy < y1; sy++ {
					row := g.Pix[(sy+b.Min.Y-g.Rect.Min.Y)*g.Stride+(b.Min.X-g.Rect.Min.X):]
					for sx := x0; sx < x1; sx++ {
						sum += int(row[sx])
						n++
					}
				}
				out.Pix[y*out.Stride+x] = uint8((sum + n/2) / n)
			}
		}
		return out
	}
	// Everything else through premultiplied 16-bit colour, averaged and
	// returned as non-premultiplied 8-bit.
	out := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		y0, y1 := span(y, dh, h)
		for x := 0; x < dw; x++ {
			x0, x1 := span(x, dw, w)
			var sr, sg, sb, sa, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					r, g, bb, a := img.At(b.Min.X+sx, b.Min.Y+sy).RGBA()
					sr, sg, sb, sa, n = sr+uint64(r), sg+uint64(g), sb+uint64(bb), sa+uint64(a), n+1
				}
			}
			c := color.RGBA64{R: uint16(sr / n), G: uint16(sg / n), B: uint16(sb / n), A: uint16(sa / n)}
			out.Set(x, y, c)
		}
	}
	return out
}
