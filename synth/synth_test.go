package synth_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/synth"
)

func requireTools(tb testing.TB) {
	tb.Helper()
	for _, n := range []string{"flite", "sox"} {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("%s is required in CI: %v", n, err)
			}
			tb.Skipf("%s not installed", n)
		}
	}
}

const script = `{"speaker":"rep","start_ms":300,"end_ms":2500,"text":"Hello there, how are you today?"}
{"speaker":"prospect","start_ms":3000,"end_ms":3900,"text":"I am fine, thank you very much for asking me that question."}
`

func TestSynthesize(t *testing.T) {
	requireTools(t)
	utts, err := synth.ParseJSONL(strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	opt := synth.DefaultOptions()
	opt.SNR, opt.BleedDB = 10, -20
	dir := filepath.Join(t.TempDir(), "out")
	res, err := synth.Synthesize(context.Background(), utts, dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		ch   int
	}{{res.Rep, 1}, {res.Prospect, 1}, {res.Stereo, 2}} {
		f, err := audio.OpenWAV(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fm := f.Format(); fm.SampleRate != 16000 || fm.Channels != c.ch || fm.BitsPerSample != 16 {
			t.Errorf("%s: %v", c.path, fm)
		}
		f.Close()
	}
	truth, err := synth.ReadTruth(res.Truth)
	if err != nil {
		t.Fatal(err)
	}
	if len(truth) != 2 {
		t.Fatalf("truth %+v, want one segment per utterance", truth)
	}
	for i, u := range utts {
		s := truth[i]
		if u.Speaker == coach.Prospect {
			s = truth[1]
		}
		if s.Speaker != u.Speaker || s.StartMS < u.StartMS-10 || s.StartMS > u.StartMS+30 {
			t.Errorf("utterance %d starts at %d, scripted %d", i, s.StartMS, u.StartMS)
		}
		// The long prospect line was sped up to end on time.
		if s.EndMS > u.EndMS+30 {
			t.Errorf("utterance %d ends at %d, scripted %d", i, s.EndMS, u.EndMS)
		}
	}
}

func TestSynthesizeErrors(t *testing.T) {
	opt := synth.DefaultOptions()
	opt.Flite = "no-such-flite-binary"
	_, err := synth.Synthesize(context.Background(), nil, t.TempDir(), opt)
	if !errors.Is(err, synth.ErrToolMissing) {
		t.Fatalf("err = %v, want ErrToolMissing", err)
	}
	for _, c := range []struct{ name, in, want string }{
		{"bad json", "{\n", "line 1"},
		{"bad speaker", `{"speaker":"bot","start_ms":0,"end_ms":1,"text":""}`, "line 1"},
		{"end before start", "\n" + `{"speaker":"rep","start_ms":5,"end_ms":1,"text":""}`, "line 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := synth.ParseJSONL(strings.NewReader(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
