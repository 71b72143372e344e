package audio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/audio"
)

// makeWAV builds a WAV file in memory; samples are interleaved in [-1, 1].
func makeWAV(tag uint16, bits, channels, rate int, extensible bool, samples []float64) []byte {
	le := binary.LittleEndian
	var data bytes.Buffer
	for _, s := range samples {
		switch {
		case tag == 3 && bits == 32:
			binary.Write(&data, le, float32(s))
		case tag == 3:
			binary.Write(&data, le, s)
		case bits == 8:
			data.WriteByte(byte(int(math.Round(s*127)) + 128))
		case bits == 16:
			binary.Write(&data, le, int16(math.Round(s*32767)))
		case bits == 24:
			v := int32(math.Round(s * 8388607))
			data.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16)})
		default:
			binary.Write(&data, le, int32(math.Round(s*2147483647)))
		}
	}
	var f bytes.Buffer
	fmtLen := 16
	if extensible {
		fmtLen = 40
	}
	f.WriteString("RIFF")
	binary.Write(&f, le, uint32(4+8+fmtLen+8+8+data.Len()))
	f.WriteString("WAVE")
	f.WriteString("LIST")
	binary.Write(&f, le, uint32(1))
	f.Write([]byte{'x', 0}) // odd chunk with pad byte
	f.WriteString("fmt ")
	binary.Write(&f, le, uint32(fmtLen))
	wtag := tag
	if extensible {
		wtag = 0xFFFE
	}
	align := channels * bits / 8
	binary.Write(&f, le, wtag)
	binary.Write(&f, le, uint16(channels))
	binary.Write(&f, le, uint32(rate))
	binary.Write(&f, le, uint32(rate*align))
	binary.Write(&f, le, uint16(align))
	binary.Write(&f, le, uint16(bits))
	if extensible {
		binary.Write(&f, le, uint16(22))
		binary.Write(&f, le, uint16(bits))
		binary.Write(&f, le, uint32(3))
		binary.Write(&f, le, tag)
		f.WriteString("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
	}
	f.WriteString("data")
	binary.Write(&f, le, uint32(data.Len()))
	f.Write(data.Bytes())
	return f.Bytes()
}

func readAll(tb testing.TB, r *audio.WAVReader) ([]float32, error) {
	tb.Helper()
	var out []float32
	buf := make([]float32, 7*r.Format().Channels) // odd size on purpose
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n*r.Format().Channels]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestWAVFormats(t *testing.T) {
	in := []float64{0, 0.5, -0.5, 0.25, -1, 0.999, 0.125, -0.125, 0.75, -0.75, 0.3, -0.3, 0.01, 0.9, -0.9, 0.6}
	cases := []struct {
		name     string
		tag      uint16
		bits, ch int
		ext      bool
		tol      float64
	}{
		{"pcm8 mono", 1, 8, 1, false, 1.0 / 100},
		{"pcm16 mono", 1, 16, 1, false, 1e-4},
		{"pcm16 stereo", 1, 16, 2, false, 1e-4},
		{"pcm24 stereo", 1, 24, 2, false, 1e-6},
		{"pcm32 mono", 1, 32, 1, false, 1e-7},
		{"float32 stereo", 3, 32, 2, false, 1e-7},
		{"float64 mono", 3, 64, 1, false, 1e-7},
		{"extensible pcm24", 1, 24, 2, true, 1e-6},
		{"extensible float32", 3, 32, 1, true, 1e-7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := makeWAV(c.tag, c.bits, c.ch, 44100, c.ext, in)
			r, err := audio.NewWAVReader(bytes.NewReader(b), "x.wav")
			if err != nil {
				t.Fatal(err)
			}
			if f := r.Format(); f.Channels != c.ch || f.SampleRate != 44100 || f.BitsPerSample != c.bits || f.Float != (c.tag == 3) {
				t.Fatalf("format %v", f)
			}
			got, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(in) {
				t.Fatalf("got %d samples, want %d", len(got), len(in))
			}
			for i := range in {
				if math.Abs(float64(got[i])-in[i]) > c.tol {
					t.Fatalf("sample %d = %v, want %v", i, got[i], in[i])
				}
			}
		})
	}
}

func TestWAVBadInput(t *testing.T) {
	good := makeWAV(1, 16, 1, 16000, false, make([]float64, 100))
	adpcm := makeWAV(1, 16, 1, 16000, false, make([]float64, 100))
	binary.LittleEndian.PutUint16(adpcm[12+10+8:], 2) // format tag 2 (ADPCM)
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, audio.ErrNotWAV},
		{"text", []byte("hello, this is not audio at all"), audio.ErrNotWAV},
		{"header only", good[:20], audio.ErrTruncated},
		{"no data chunk", good[:12+10+8+16], audio.ErrTruncated},
		{"adpcm", adpcm, audio.ErrUnsupportedFormat},
		{"truncated data", good[:len(good)-51], audio.ErrTruncated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := audio.NewWAVReader(bytes.NewReader(c.data), "bad.wav")
			if err == nil {
				_, err = readAll(t, r)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if msg := err.Error(); !strings.Contains(msg, "bad.wav") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q must be one line naming the file", msg)
			}
		})
	}
}

func TestWAVWriteRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rt.wav")
	in := []float32{0, 0.5, -0.5, 0.25, 1, -1}
	if err := audio.WriteWAVFile(p, 8000, 2, in); err != nil {
		t.Fatal(err)
	}
	f, err := audio.OpenWAV(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := readAll(t, f.WAVReader)
	if err != nil || len(got) != len(in) {
		t.Fatalf("got %v, %v", got, err)
	}
	for i := range in {
		if math.Abs(float64(got[i]-in[i])) > 1e-4 {
			t.Fatalf("sample %d = %v, want %v", i, got[i], in[i])
		}
	}
	if _, err := audio.OpenWAV(filepath.Join(t.TempDir(), "missing.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzWAVReader checks that no input makes the frame reader panic, loop or
// return samples outside [-1, 1].
func FuzzWAVReader(f *testing.F) {
	f.Add(makeWAV(1, 16, 1, 16000, false, []float64{0, 0.5, -0.5}))
	f.Add(makeWAV(1, 24, 2, 48000, true, []float64{0.1, -0.1, 0.2, -0.2}))
	f.Add(makeWAV(3, 32, 2, 44100, false, []float64{0.1, -0.1}))
	f.Add(makeWAV(3, 64, 1, 8000, true, []float64{0.3}))
	f.Add(makeWAV(1, 8, 1, 11025, false, []float64{0.3, 0.2}))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Add(rf64Seed(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := audio.NewWAVReader(bytes.NewReader(b), "fuzz.wav")
		if err != nil {
			return
		}
		buf := make([]float32, 64*r.Format().Channels)
		for range len(b) + 2 {
			n, err := r.Read(buf)
			for _, v := range buf[:n*r.Format().Channels] {
				if !(v >= -1 && v <= 1) {
					t.Fatalf("sample %v out of range", v)
				}
			}
			if err != nil {
				return
			}
		}
		t.Fatal("reader did not reach the end")
	})
}

// rf64Seed is a short RF64 file with a ds64 chunk, as the long writer
// makes one past its limit.
func rf64Seed(tb testing.TB) []byte {
	p := filepath.Join(tb.TempDir(), "rf64.wav")
	crashedWAV(tb, p, ramp(64), 64, 16)
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
