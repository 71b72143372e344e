package g711_test

import (
	"math"
	"testing"

	"github.com/cuecard/cuecard/audio/g711"
)

func TestDecodeKnownValues(t *testing.T) {
	// Values from the ITU-T G.711 tables.
	tests := []struct {
		name string
		law  g711.Law
		in   byte
		want int16
	}{
		{"ulaw 0xFF is zero", g711.Ulaw, 0xFF, 0},
		{"ulaw 0x7F is zero", g711.Ulaw, 0x7F, 0},
		{"ulaw 0x00 is most negative", g711.Ulaw, 0x00, -32124},
		{"ulaw 0x80 is most positive", g711.Ulaw, 0x80, 32124},
		{"ulaw 0xFE is smallest positive", g711.Ulaw, 0xFE, 8},
		{"alaw 0xD5 is smallest positive", g711.Alaw, 0xD5, 8},
		{"alaw 0x55 is smallest negative", g711.Alaw, 0x55, -8},
		{"alaw 0xAA is most positive", g711.Alaw, 0xAA, 32256},
		{"alaw 0x2A is most negative", g711.Alaw, 0x2A, -32256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.law.DecodeInt16(nil, []byte{tc.in})
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("decode %#x = %v, want %d", tc.in, got, tc.want)
			}
			f := tc.law.Decode(nil, []byte{tc.in})
			if want := float32(tc.want) / 32768; f[0] != want {
				t.Fatalf("decode %#x as float = %v, want %v", tc.in, f[0], want)
			}
		})
	}
}

func TestEncodeKnownValues(t *testing.T) {
	tests := []struct {
		name string
		law  g711.Law
		in   int16
		want byte
	}{
		{"ulaw zero", g711.Ulaw, 0, 0xFF},
		{"ulaw full scale", g711.Ulaw, 32767, 0x80},
		{"ulaw negative full scale", g711.Ulaw, -32768, 0x00},
		{"alaw zero", g711.Alaw, 0, 0xD5},
		{"alaw full scale", g711.Alaw, 32767, 0xAA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.law.EncodeInt16(nil, []int16{tc.in})
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("encode %d = %#v, want %#x", tc.in, got, tc.want)
			}
		})
	}
}

// TestRoundTripError checks that the quantization error stays within the
// companding step: a few per cent of the sample for loud samples, a few
// units for quiet ones.
func TestRoundTripError(t *testing.T) {
	for _, law := range []g711.Law{g711.Ulaw, g711.Alaw} {
		t.Run([]string{"ulaw", "alaw"}[law], func(t *testing.T) {
			in := make([]int16, 0, 65536)
			for v := -32768; v <= 32767; v++ {
				in = append(in, int16(v))
			}
			out := law.DecodeInt16(nil, law.EncodeInt16(nil, in))
			for i, v := range in {
				e := math.Abs(float64(out[i]) - float64(v))
				// 1/16 of the sample (one step of the 16-step segments)
				// plus the smallest step near zero.
				if bound := math.Abs(float64(v))/16 + 40; e > bound {
					t.Fatalf("%d came back as %d (error %v > %v)", v, out[i], e, bound)
				}
			}
		})
	}
}

func TestRoundTripSNR(t *testing.T) {
	x := make([]float32, g711.Rate)
	for i := range x {
		x[i] = float32(0.3 * math.Sin(2*math.Pi*440*float64(i)/g711.Rate))
	}
	for _, law := range []g711.Law{g711.Ulaw, g711.Alaw} {
		y := law.RoundTrip(x)
		var ps, pe float64
		for i := range x {
			ps += float64(x[i]) * float64(x[i])
			d := float64(y[i] - x[i])
			pe += d * d
		}
		// G.711 gives about 38 dB SNR over most of its range.
		if snr := 10 * math.Log10(ps/pe); snr < 33 {
			t.Errorf("law %d: round-trip SNR %.1f dB, want >= 33", law, snr)
		}
	}
}

func TestEncodeClips(t *testing.T) {
	got := g711.Ulaw.Encode(nil, []float32{2, -2, float32(math.NaN())})
	want := []byte{0x80, 0x00, 0xFF}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("encode = %#v, want %#v", got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x00, 0xFF, 0xD5, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, law := range []g711.Law{g711.Ulaw, g711.Alaw} {
			s := law.DecodeInt16(nil, in)
			x := law.Decode(nil, in)
			if len(s) != len(in) || len(x) != len(in) {
				t.Fatalf("decoded %d and %d samples from %d bytes", len(s), len(x), len(in))
			}
			for _, v := range x {
				if v < -1 || v >= 1 {
					t.Fatalf("sample %v out of [-1, 1)", v)
				}
			}
			// Decoding is the inverse of encoding on decoded values.
			if back := law.EncodeInt16(nil, s); len(back) != len(in) {
				t.Fatalf("re-encoded %d bytes from %d", len(back), len(in))
			}
		}
	})
}

// BenchmarkDecodeSecond decodes one second of 8 kHz mu-law: ns/op is the
// CPU cost per second of telephone audio (1 % of a core is 10 ms).
func BenchmarkDecodeSecond(b *testing.B) {
	in := make([]byte, g711.Rate)
	for i := range in {
		in[i] = byte(i * 7)
	}
	out := make([]float32, 0, len(in))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		out = g711.Ulaw.Decode(out[:0], in)
	}
}
