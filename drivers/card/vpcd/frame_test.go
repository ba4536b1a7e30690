package vpcd

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadFrame(t *testing.T) {
	big := bytes.Repeat([]byte{0xAB}, MaxPayload)
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr error // matched with errors.Is; nil means success
	}{
		{"control code", []byte{0, 1, CtrlGetATR}, []byte{CtrlGetATR}, nil},
		{"apdu", []byte{0, 5, 0x80, 0xCA, 0, 0, 0}, []byte{0x80, 0xCA, 0, 0, 0}, nil},
		{"largest frame", append([]byte{0xFF, 0xFF}, big...), big, nil},
		{"clean end", nil, nil, io.EOF},
		{"zero length", []byte{0, 0}, nil, ErrEmptyFrame},
		{"half a header", []byte{0}, nil, io.ErrUnexpectedEOF},
		{"header only", []byte{0, 4}, nil, io.ErrUnexpectedEOF},
		{"short payload", []byte{0, 4, 1, 2}, nil, io.ErrUnexpectedEOF},
		{"absurd length, short stream", []byte{0xFF, 0xFF, 1}, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// OneByteReader makes every short read path run.
			got, err := ReadFrame(iotest.OneByteReader(bytes.NewReader(tt.in)))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ReadFrame error = %v, want %v", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("ReadFrame returned %d bytes with an error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("ReadFrame = % X, want % X", got, tt.want)
			}
		})
	}
}

func TestReadFrameSequence(t *testing.T) {
	in := []byte{0, 1, CtrlPowerOn, 0, 2, 0x90, 0x00}
	r := bytes.NewReader(in)
	for i, want := range [][]byte{{CtrlPowerOn}, {0x90, 0x00}} {
		got, err := ReadFrame(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d = % X, %v; want % X", i, got, err, want)
		}
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameReaderError(t *testing.T) {
	boom := errors.New("boom")
	if _, err := ReadFrame(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("ReadFrame error = %v, want it to wrap %v", err, boom)
	}
}

func TestWriteFrame(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    []byte
		wantErr error
	}{
		{"atr", []byte{0x3B, 0x80, 0x80, 0x01, 0x01}, []byte{0, 5, 0x3B, 0x80, 0x80, 0x01, 0x01}, nil},
		{"status word", []byte{0x90, 0x00}, []byte{0, 2, 0x90, 0x00}, nil},
		{"empty", nil, nil, ErrEmptyFrame},
		{"too large", make([]byte, MaxPayload+1), nil, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteFrame(&buf, tt.payload)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("WriteFrame error = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(buf.Bytes(), tt.want) {
				t.Errorf("wrote % X, want % X", buf.Bytes(), tt.want)
			}
		})
	}
}

func TestWriteFrameOneWrite(t *testing.T) {
	w := &countingWriter{}
	if err := WriteFrame(w, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Errorf("WriteFrame used %d writes, want 1 (length and payload in one segment)", w.writes)
	}
}

type countingWriter struct{ writes int }

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return len(p), nil }

// FuzzFrame feeds arbitrary byte streams to the frame reader and to a whole
// card session: neither may panic, a frame read must round-trip through
// WriteFrame, and the session must end with an error (the stream ends).
func FuzzFrame(f *testing.F) {
	f.Add([]byte{0, 1, CtrlGetATR})
	f.Add([]byte{0, 5, 0x00, 0xA4, 0x04, 0x0C, 0x00})
	f.Add([]byte{0, 0})
	f.Add([]byte{0xFF, 0xFF, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		frame, err := ReadFrame(bytes.NewReader(in))
		if err == nil {
			if len(frame) == 0 || len(frame) > MaxPayload {
				t.Fatalf("ReadFrame returned %d bytes", len(frame))
			}
			var buf bytes.Buffer
			if err := WriteFrame(&buf, frame); err != nil {
				t.Fatalf("WriteFrame of a frame just read: %v", err)
			}
			if !bytes.HasPrefix(in, buf.Bytes()) {
				t.Fatalf("round trip % X is not a prefix of the input % X", buf.Bytes(), in)
			}
		}

		c := New("fuzz", &echoCard{}, nil)
		if err := c.session(bytes.NewReader(in), io.Discard); err == nil {
			t.Fatal("session ended without an error")
		}
	})
}
