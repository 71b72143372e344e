package audio_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/audio"
)

// ramp returns n distinct 16-bit-exact samples.
func ramp(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(i%2000-1000) / 32768
	}
	return s
}

// readFile reads every sample of the WAV file at path.
func readFile(tb testing.TB, path string) []float32 {
	tb.Helper()
	f, err := audio.OpenWAV(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []float32
	buf := make([]float32, 1024)
	for {
		n, err := f.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func sameSamples(tb testing.TB, got, want []float32) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%d samples, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			tb.Fatalf("sample %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// soxSamples returns the sample count sox reads from path, or skips.
func soxSamples(tb testing.TB, path string) int64 {
	tb.Helper()
	if _, err := exec.LookPath("soxi"); err != nil {
		tb.Log("soxi not installed: not checked with sox")
		return -1
	}
	out, err := exec.Command("soxi", "-s", path).CombinedOutput()
	if err != nil {
		tb.Fatalf("soxi %s: %v: %s", path, err, out)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// crashedWAV writes a long-header WAV file of all samples whose header
// was last synced after synced samples, as a killed process leaves it.
func crashedWAV(tb testing.TB, path string, samples []float32, synced int, limit int64) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w, err := audio.NewLongWAVWriter(f, 16000, 1)
	if err != nil {
		tb.Fatal(err)
	}
	if limit > 0 {
		audio.SetWAVLimit(w, limit)
	}
	if err := w.Write(samples[:synced]); err != nil {
		tb.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		tb.Fatal(err)
	}
	if err := w.Write(samples[synced:]); err != nil {
		tb.Fatal(err)
	}
}

func TestRepairWAV(t *testing.T) {
	samples := ramp(16000)
	for _, tc := range []struct {
		name   string
		synced int
		tail   int // bytes of a partial frame after the samples
	}{
		{"header never synced", 0, 0},
		{"header synced halfway", 8000, 0},
		{"partial sample frame at the end", 8000, 1},
		{"sound file", 16000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "rep.wav")
			crashedWAV(t, p, samples, tc.synced, 0)
			if tc.tail > 0 {
				f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.Write(make([]byte, tc.tail))
				f.Close()
			}
			fm, n, err := audio.RepairWAV(p)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(samples)) || fm.SampleRate != 16000 || fm.Channels != 1 {
				t.Fatalf("repair: %d frames of %v, want %d", n, fm, len(samples))
			}
			sameSamples(t, readFile(t, p), samples)
			if got := soxSamples(t, p); got >= 0 && got != int64(len(samples)) {
				t.Fatalf("sox reads %d samples, want %d", got, len(samples))
			}
		})
	}
	t.Run("not a WAV file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x.wav")
		os.WriteFile(p, []byte("hello, world"), 0o644)
		if _, _, err := audio.RepairWAV(p); !errors.Is(err, audio.ErrNotWAV) {
			t.Fatalf("got %v, want ErrNotWAV", err)
		}
	})
}

// TestLongWAVBecomesRF64 writes past an artificially small 32-bit limit:
// the file turns RF64, stays readable, by us and by sox, and a crash
// after the switch is repaired.
func TestLongWAVBecomesRF64(t *testing.T) {
	samples := ramp(4000)
	const limit = 1000 // bytes: 500 samples
	dir := t.TempDir()
	p := filepath.Join(dir, "long.wav")
	crashedWAV(t, p, samples, len(samples), limit)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[0:4]) != "RF64" || string(b[12:16]) != "ds64" {
		t.Fatalf("header %q, want RF64 with ds64", b[:16])
	}
	sameSamples(t, readFile(t, p), samples)
	if got := soxSamples(t, p); got >= 0 && got != int64(len(samples)) {
		t.Fatalf("sox reads %d samples, want %d", got, len(samples))
	}

	// Synced as RF64 at 2000 samples, then 2000 more unsynced.
	q := filepath.Join(dir, "crashed.wav")
	crashedWAV(t, q, samples, 2000, limit)
	if got := readFile(t, q); len(got) != 2000 {
		t.Fatalf("before repair: %d samples, want the 2000 synced", len(got))
	}
	if _, n, err := audio.RepairWAV(q); err != nil || n != int64(len(samples)) {
		t.Fatalf("repair: %d frames, %v", n, err)
	}
	sameSamples(t, readFile(t, q), samples)
}

func TestWAVLimit(t *testing.T) {
	// 16 kHz 16-bit mono: 32-bit sizes run out after about 37.3 hours.
	hours := float64(audio.MaxRIFFData) / 32000 / 3600
	if hours < 37 || hours > 37.5 {
		t.Fatalf("a plain WAV recording holds %.2f h", hours)
	}
}
