package faceimg

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"
)

// demoFace is the virtual card's photo: 180x240, a light background, a
// darker circle (head) and ellipse (shoulders); JP2 with four components
// (RGB and an opacity channel), sRGB.
func demoFace(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../drivers/card/sim/assets/demo-face.jp2")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// demoCodestream is the demo photo's bare codestream (its jp2c box).
func demoCodestream(t testing.TB) []byte {
	t.Helper()
	cs, err := codestream(demoFace(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func luma(c color.Color) int {
	return int(color.GrayModel.Convert(c).(color.Gray).Y)
}

func TestDecodeDemoFace(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"jp2", demoFace(t)},
		{"codestream", demoCodestream(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Decode(context.Background(), tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds(); got != image.Rect(0, 0, 180, 240) {
				t.Fatalf("bounds %v, want 180x240", got)
			}
			bg, head, shoulders := luma(img.At(5, 5)), luma(img.At(90, 95)), luma(img.At(90, 200))
			if head+40 > bg || shoulders+40 > bg {
				t.Errorf("head %d, shoulders %d not darker than the background %d", head, shoulders, bg)
			}
			if _, _, _, a := img.At(5, 5).RGBA(); a != 0xffff {
				t.Errorf("background alpha %#x, want opaque", a)
			}
			p, size, err := PNG(context.Background(), tc.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			back, err := png.Decode(bytes.NewReader(p))
			if err != nil {
				t.Fatal(err)
			}
			if size != (image.Point{180, 240}) || back.Bounds().Size() != size {
				t.Fatalf("PNG size %v, decoded %v", size, back.Bounds())
			}
			for _, pt := range []image.Point{{5, 5}, {90, 95}, {90, 200}, {179, 239}} {
				if a, b := color.NRGBAModel.Convert(img.At(pt.X, pt.Y)), color.NRGBAModel.Convert(back.At(pt.X, pt.Y)); a != b {
					t.Errorf("PNG pixel %v = %v, decoded %v", pt, b, a)
				}
			}
		})
	}
}

func TestPNGMaxSide(t *testing.T) {
	data := demoFace(t)
	for _, tc := range []struct {
		max  int
		want image.Point
	}{
		{0, image.Point{180, 240}},
		{-1, image.Point{180, 240}},
		{240, image.Point{180, 240}},
		{1000, image.Point{180, 240}}, // never enlarged
		{120, image.Point{90, 120}},
		{100, image.Point{75, 100}},
		{1, image.Point{1, 1}},
	} {
		p, size, err := PNG(context.Background(), data, tc.max)
		if err != nil {
			t.Fatalf("max %d: %v", tc.max, err)
		}
		img, err := png.Decode(bytes.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		if size != tc.want || img.Bounds().Size() != tc.want {
			t.Errorf("max %d: size %v (PNG %v), want %v", tc.max, size, img.Bounds().Size(), tc.want)
		}
		if tc.max == 120 {
			if head, bg := luma(img.At(45, 47)), luma(img.At(2, 2)); head+40 > bg {
				t.Errorf("reduced: head %d not darker than background %d", head, bg)
			}
		}
	}
}

// siz builds a bare codestream header: SOC and SIZ for w x h with the
// given component depths, and nothing after it.
func siz(w, h uint32, depths ...byte) []byte {
	b := []byte{0xFF, 0x4F, 0xFF, 0x51}
	b = binary.BigEndian.AppendUint16(b, uint16(38+3*len(depths)))
	b = binary.BigEndian.AppendUint16(b, 0)
	for _, v := range []uint32{w, h, 0, 0, w, h, 0, 0} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(depths)))
	for _, d := range depths {
		b = append(b, d-1, 1, 1)
	}
	return b
}

func TestRejects(t *testing.T) {
	face := demoFace(t)
	cs := demoCodestream(t)
	big := append(append([]byte{}, face...), make([]byte, MaxInput)...)
	// A JP2 whose codestream box claims more than the file holds.
	lying := append([]byte{}, face...)
	binary.BigEndian.PutUint32(lying[0x71:], 0x7fffffff)
	tiles := siz(4096, 4096, 8)
	binary.BigEndian.PutUint32(tiles[4+20:], 1) // 1x1 tiles
	binary.BigEndian.PutUint32(tiles[4+24:], 1)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"nil", nil, ErrNotJPEG2000},
		{"empty", []byte{}, ErrNotJPEG2000},
		{"text", []byte("not a photo at all"), ErrNotJPEG2000},
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), ErrNotJPEG2000},
		{"JPEG", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F'}, ErrNotJPEG2000},
		{"SOC alone", []byte{0xFF, 0x4F}, ErrNotJPEG2000},
		{"signature alone", face[:12], ErrCorrupt},
		{"too large", big, ErrTooLarge},
		{"garbage after the signature", append(append([]byte{}, face[:12]...), bytes.Repeat([]byte{0xA5}, 100)...), ErrCorrupt},
		{"box longer than the file", lying, ErrCorrupt},
		{"truncated JP2", face[:len(face)/2], ErrCorrupt},
		{"truncated codestream", cs[:len(cs)-200], ErrCorrupt},
		{"header only", siz(180, 240, 8, 8, 8), ErrCorrupt},
		{"wide", siz(4097, 10, 8), ErrTooLarge},
		{"tall", siz(10, 5000, 8), ErrTooLarge},
		{"tiny tiles", tiles, ErrTooLarge},
		{"five components", siz(10, 10, 8, 8, 8, 8, 8), ErrUnsupported},
		{"17 bits", siz(10, 10, 17), ErrUnsupported},
		{"empty image", siz(0, 0, 8), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Decode(context.Background(), tc.data)
			if !errors.Is(err, tc.want) || img != nil {
				t.Errorf("Decode: %v, %v; want %v", img, err, tc.want)
			}
			if _, _, err := PNG(context.Background(), tc.data, 100); !errors.Is(err, tc.want) {
				t.Errorf("PNG: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestNeverPanics: every third prefix and many single-byte corruptions of the
// demo photo decode or fail, without a panic or a crash in C.
func TestNeverPanics(t *testing.T) {
	face := demoFace(t)
	step := 3 // every third prefix: all of them take too long under -race
	if testing.Short() {
		step = 17
	}
	for n := 0; n < len(face); n += step {
		if img, err := Decode(context.Background(), face[:n]); err == nil {
			t.Errorf("prefix of %d bytes decoded to %v", n, img.Bounds())
		}
	}
	for i := 0; i < len(face); i += 3 * step {
		b := append([]byte{}, face...)
		b[i] ^= 0x5A
		if img, err := Decode(context.Background(), b); err == nil && !img.Bounds().In(image.Rect(0, 0, MaxSide, MaxSide)) {
			t.Errorf("flip at %d: bounds %v", i, img.Bounds())
		}
	}
}

func TestContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Decode(ctx, demoFace(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := Decode(ctx, []byte("x")); !errors.Is(err, ErrNotJPEG2000) {
		t.Errorf("the signature is checked first: %v", err)
	}
}

// samples builds a component from values.
func samples(w, h, prec int, signed bool, v ...int32) component {
	return component{w: w, h: h, dx: 1, dy: 1, prec: prec, signed: signed, samples: v}
}

// TestConvert covers the colour cases OpenJPEG returns, without C.
func TestConvert(t *testing.T) {
	full := func(space colour, comps ...component) raw {
		return raw{x1: uint32(comps[0].w * comps[0].dx), y1: uint32(comps[0].h * comps[0].dy), space: space, comps: comps}
	}
	alpha := func(c component, kind int) component { c.alpha = kind; return c }
	sub := func(c component, d int) component { c.dx, c.dy = d, d; return c }
	for _, tc := range []struct {
		name string
		in   raw
		typ  string
		want []color.NRGBA // the first pixels, row by row
		err  error
	}{
		{"grey 8", full(colourGray, samples(2, 1, 8, false, 0, 200)), "*image.Gray",
			[]color.NRGBA{{0, 0, 0, 255}, {200, 200, 200, 255}}, nil},
		{"grey 12 scaled", full(colourUnspecified, samples(2, 1, 12, false, 4095, 2048)), "*image.Gray",
			[]color.NRGBA{{255, 255, 255, 255}, {128, 128, 128, 255}}, nil},
		{"grey signed", full(colourGray, samples(2, 1, 8, true, -128, 127)), "*image.Gray",
			[]color.NRGBA{{0, 0, 0, 255}, {255, 255, 255, 255}}, nil},
		{"grey out of range clamps", full(colourGray, samples(2, 1, 8, false, -5, 300)), "*image.Gray",
			[]color.NRGBA{{0, 0, 0, 255}, {255, 255, 255, 255}}, nil},
		{"grey and alpha", full(colourGray, samples(1, 1, 8, false, 100), samples(1, 1, 8, false, 50)), "*image.NRGBA",
			[]color.NRGBA{{100, 100, 100, 50}}, nil},
		{"sRGB", full(colourRGB, samples(1, 1, 8, false, 10), samples(1, 1, 8, false, 20), samples(1, 1, 8, false, 30)), "*image.RGBA",
			[]color.NRGBA{{10, 20, 30, 255}}, nil},
		{"sRGB out of range clamps", full(colourRGB, samples(1, 1, 8, false, -5), samples(1, 1, 8, false, 300), samples(1, 1, 8, false, 30)), "*image.RGBA",
			[]color.NRGBA{{0, 255, 30, 255}}, nil},
		{"RGB 16", full(colourRGB, samples(1, 1, 16, false, 65535), samples(1, 1, 16, false, 0), samples(1, 1, 16, false, 32768)), "*image.RGBA",
			[]color.NRGBA{{255, 0, 128, 255}}, nil},
		{"sYCC", full(colourYCC, samples(1, 1, 8, false, 76), samples(1, 1, 8, false, 85), samples(1, 1, 8, false, 255)), "*image.RGBA",
			[]color.NRGBA{{254, 0, 0, 255}}, nil},
		{"sYCC 4:2:0 guessed for a codestream",
			raw{x1: 2, y1: 2, comps: []component{samples(2, 2, 8, false, 128, 128, 128, 128), sub(samples(1, 1, 8, false, 128), 2), sub(samples(1, 1, 8, false, 128), 2)}},
			"*image.RGBA", []color.NRGBA{{128, 128, 128, 255}, {128, 128, 128, 255}, {128, 128, 128, 255}, {128, 128, 128, 255}}, nil},
		{"RGBA by cdef", full(colourRGB, samples(1, 1, 8, false, 1), samples(1, 1, 8, false, 2), samples(1, 1, 8, false, 3), alpha(samples(1, 1, 8, false, 4), 1)), "*image.NRGBA",
			[]color.NRGBA{{1, 2, 3, 4}}, nil},
		{"alpha first", full(colourRGB, alpha(samples(1, 1, 8, false, 9), 1), samples(1, 1, 8, false, 1), samples(1, 1, 8, false, 2), samples(1, 1, 8, false, 3)), "*image.NRGBA",
			[]color.NRGBA{{1, 2, 3, 9}}, nil},
		{"premultiplied alpha", full(colourRGB, samples(1, 1, 8, false, 200), samples(1, 1, 8, false, 20), samples(1, 1, 8, false, 30), alpha(samples(1, 1, 8, false, 100), 2)), "*image.RGBA",
			[]color.NRGBA{{255, 51, 76, 100}}, nil},
		{"RGBA unmarked", full(colourUnspecified, samples(1, 1, 8, false, 1), samples(1, 1, 8, false, 2), samples(1, 1, 8, false, 3), samples(1, 1, 8, false, 255)), "*image.NRGBA",
			[]color.NRGBA{{1, 2, 3, 255}}, nil},
		{"CMYK", full(colourCMYK, samples(1, 1, 8, false, 0), samples(1, 1, 8, false, 255), samples(1, 1, 8, false, 255), samples(1, 1, 8, false, 0)), "*image.RGBA",
			[]color.NRGBA{{255, 0, 0, 255}}, nil},
		{"e-sYCC", full(colourEYCC, samples(1, 1, 8, false, 0), samples(1, 1, 8, false, 0), samples(1, 1, 8, false, 0)), "", nil, ErrUnsupported},
		{"no components", raw{x1: 1, y1: 1}, "", nil, ErrUnsupported},
		{"five components", raw{x1: 1, y1: 1, comps: make([]component, 5)}, "", nil, ErrUnsupported},
		{"missing samples", full(colourGray, component{w: 2, h: 2, dx: 1, dy: 1, prec: 8}), "", nil, ErrCorrupt},
		{"short samples", full(colourGray, samples(2, 2, 8, false, 1, 2, 3)), "", nil, ErrCorrupt},
		{"32 bits", full(colourGray, samples(1, 1, 32, false, 1)), "", nil, ErrUnsupported},
		{"zero precision", full(colourGray, samples(1, 1, 0, false, 1)), "", nil, ErrUnsupported},
		{"empty grid", raw{x0: 5, x1: 5, y1: 1, comps: []component{samples(1, 1, 8, false, 1)}}, "", nil, ErrCorrupt},
		{"two alpha, one colour", full(colourGray, alpha(samples(1, 1, 8, false, 1), 1), alpha(samples(1, 1, 8, false, 1), 1)), "", nil, ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := convert(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(img); got != tc.typ {
				t.Errorf("type %s, want %s", got, tc.typ)
			}
			w := img.Bounds().Dx()
			for i, want := range tc.want {
				if got := color.NRGBAModel.Convert(img.At(i%w, i/w)).(color.NRGBA); got != want {
					t.Errorf("pixel %d = %v, want %v", i, got, want)
				}
			}
		})
	}
}

func typeName(img image.Image) string {
	switch img.(type) {
	case *image.Gray:
		return "*image.Gray"
	case *image.RGBA:
		return "*image.RGBA"
	case *image.NRGBA:
		return "*image.NRGBA"
	}
	return "?"
}

func TestShrinkGrey(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 4, 2))
	copy(g.Pix, []uint8{0, 100, 200, 255, 0, 100, 200, 255})
	out := shrink(g, 2).(*image.Gray)
	if out.Bounds().Size() != (image.Point{2, 1}) || out.Pix[0] != 50 || out.Pix[1] != 228 {
		t.Errorf("shrink: %v %v", out.Bounds(), out.Pix)
	}
	if shrink(g, 4) != image.Image(g) {
		t.Error("an image within the limit was copied")
	}
}

// FuzzDecode: whatever the bytes, Decode returns an image within the
// limits or an error; it never panics and the C decoder never crashes.
// The seed corpus is testdata/fuzz/FuzzDecode plus the demo photo.
func FuzzDecode(f *testing.F) {
	f.Add(demoFace(f))
	f.Add(demoCodestream(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(context.Background(), data)
		if err != nil {
			if img != nil {
				t.Errorf("an image and an error: %v", err)
			}
			return
		}
		b := img.Bounds()
		if b.Empty() || b.Dx() > MaxSide || b.Dy() > MaxSide {
			t.Errorf("bounds %v", b)
		}
	})
}

func BenchmarkPNG(b *testing.B) {
	data := demoFace(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := PNG(context.Background(), data, 0); err != nil {
			b.Fatal(err)
		}
	}
}
