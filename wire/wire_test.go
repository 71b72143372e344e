package wire_test

import (
	"errors"
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/wire"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		rate  int
		spk   coach.Speaker
		n     int
		err   error
	}{
		{"rep", []byte{0, 0x00, 0x80, 0xff, 0x7f}, 16000, coach.Rep, 2, nil},
		{"prospect", []byte{1, 1, 0}, 16000, coach.Prospect, 1, nil},
		{"unknown channel", []byte{2, 0, 0}, 16000, coach.NoSpeaker, 0, wire.ErrBadChannel},
		{"odd bytes", []byte{0, 1, 2, 3}, 16000, coach.Rep, 0, wire.ErrOddFrame},
		{"no samples", []byte{1}, 16000, coach.Prospect, 0, wire.ErrEmptyFrame},
		{"empty", nil, 16000, coach.NoSpeaker, 0, wire.ErrEmptyFrame},
		{"too long for the rate", append([]byte{0}, make([]byte, 2*1601)...), 8000, coach.Rep, 0, wire.ErrFrameTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spk, out, err := wire.DecodeFrame(tt.frame, tt.rate, nil)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err == nil && (spk != tt.spk || len(out) != tt.n) {
				t.Fatalf("speaker %v, %d samples; want %v, %d", spk, len(out), tt.spk, tt.n)
			}
		})
	}
	_, out, _ := wire.DecodeFrame([]byte{0, 0x00, 0x80, 0xff, 0x7f}, 16000, nil)
	if out[0] != -1 || out[1] < 0.9999 {
		t.Fatalf("samples %v", out)
	}
}

func TestDecodeControl(t *testing.T) {
	tests := []struct {
		in   string
		rate int
		err  error
	}{
		{`{"type":"start","sample_rate":48000}`, 48000, nil},
		{`{"type":"start"}`, 16000, nil},
		{`{"type":"stop"}`, 0, nil},
		{`{"type":"start","sample_rate":47000}`, 0, wire.ErrBadRate},
		{`{"type":"pause"}`, 0, wire.ErrBadControl},
		{`{"type":"start","rate":48000}`, 0, wire.ErrBadControl},
		{`hello`, 0, wire.ErrBadControl},
		{`{"type":"stop"} {"type":"stop"}`, 0, wire.ErrBadControl},
	}
	for _, tt := range tests {
		c, err := wire.DecodeControl([]byte(tt.in))
		if !errors.Is(err, tt.err) || (err == nil && c.SampleRate != tt.rate) {
			t.Errorf("%s: %+v %v", tt.in, c, err)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte{0, 1, 2}, 16000)
	f.Add([]byte{1}, 48000)
	f.Add([]byte{7, 0, 0, 0}, 8000)
	f.Fuzz(func(t *testing.T, b []byte, rate int) {
		if rate <= 0 || rate > 48000 {
			rate = 16000
		}
		sp, out, err := wire.DecodeFrame(b, rate, nil)
		if err != nil {
			return
		}
		if sp != coach.Rep && sp != coach.Prospect || len(out) != (len(b)-1)/2 {
			t.Fatalf("speaker %v, %d samples from %d bytes", sp, len(out), len(b))
		}
		for _, v := range out {
			if v < -1 || v >= 1 {
				t.Fatalf("sample %v out of range", v)
			}
		}
		back := wire.EncodeFrame(nil, sp, toInt16(out))
		if string(back) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func toInt16(f []float32) []int16 {
	out := make([]int16, len(f))
	for i, v := range f {
		out[i] = int16(v * 32768)
	}
	return out
}

func FuzzDecodeControl(f *testing.F) {
	f.Add([]byte(`{"type":"start","sample_rate":48000}`))
	f.Add([]byte(`{"type":"stop"}`))
	f.Add([]byte(`{"type":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := wire.DecodeControl(b)
		if err != nil {
			if !errors.Is(err, wire.ErrBadControl) && !errors.Is(err, wire.ErrBadRate) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if c.Type != "start" && c.Type != "stop" {
			t.Fatalf("accepted %+v", c)
		}
	})
}
