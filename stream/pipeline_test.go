package stream_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

// fakeTranscriber is a pool of n recognizers that "recognize" how many
// samples they were given, so tests see exactly what reached them.
type fakeTranscriber struct {
	mu   sync.Mutex
	free int
	max  int
}

func newFake(n int) *fakeTranscriber { return &fakeTranscriber{free: n, max: n} }

func (f *fakeTranscriber) Start(ctx context.Context) (stream.Utterance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.free == 0 {
		return nil, stream.ErrBusy // never waits: tests run on one goroutine
	}
	f.free--
	return &fakeUtt{f: f}, nil
}

func (f *fakeTranscriber) inUse() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max - f.free
}

type fakeUtt struct {
	f *fakeTranscriber
	n int
}

func (u *fakeUtt) Write(pcm []int16) error  { u.n += len(pcm); return nil }
func (u *fakeUtt) Partial() (string, error) { return fmt.Sprintf("partial %d", u.n), nil }
func (u *fakeUtt) Finish() (string, error) {
	u.release()
	return fmt.Sprintf("final %d", u.n), nil
}
func (u *fakeUtt) Abort() { u.release() }
func (u *fakeUtt) release() {
	u.f.mu.Lock()
	u.f.free++
	u.f.mu.Unlock()
}

func TestPipelineSynthesizedCall(t *testing.T) {
	opt := synth.DefaultOptions()
	opt.SNR, opt.BleedDB = 10, -20
	call := calltest.SynthCall(t, calltest.Call, opt)
	cases := []struct {
		name string
		pool int
	}{
		{"pool of 2", 2},
		{"pool of 1 (segments wait for a recognizer)", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newFake(c.pool)
			got := calltest.Collect(t, func(emit func(coach.Input) error) error {
				return stream.AnalyzeFiles(context.Background(), calltest.Config(), tr, call.Rep, call.Prospect, emit)
			})
			if n := tr.inUse(); n != 0 {
				t.Fatalf("%d recognizers not given back", n)
			}
			starts, ends, finals := calltest.Kinds(got, coach.SpeechStart), calltest.Kinds(got, coach.SpeechEnd), calltest.Kinds(got, coach.Final)
			if len(starts) != len(ends) || len(finals) != len(ends) {
				t.Fatalf("%d starts, %d ends, %d finals", len(starts), len(ends), len(finals))
			}
			// Every scripted utterance is found by its own side, with the
			// onset within 100 ms of the truth.
			for _, seg := range call.Segments {
				found := false
				for _, s := range starts {
					if s.Speaker == seg.Speaker && s.StartMS >= seg.StartMS-100 && s.StartMS <= seg.StartMS+100 {
						found = true
						if s.AtMS-seg.StartMS > 100 {
							t.Errorf("onset of %+v reported %d ms late", seg, s.AtMS-seg.StartMS)
						}
					}
				}
				if !found {
					t.Errorf("no SpeechStart for truth segment %+v in %+v", seg, starts)
				}
			}
			for _, e := range ends {
				if e.AtMS-e.EndMS > int64(stream.DefaultConfig().VAD.HangoverMS)+20 {
					t.Errorf("segment end reported %d ms after it", e.AtMS-e.EndMS)
				}
			}
			// Finals carry all the audio of their segment (plus pre-roll).
			for i, f := range finals {
				var n int
				fmt.Sscanf(f.Text, "final %d", &n)
				want := int(f.EndMS-f.StartMS) * 16
				if n < want {
					t.Errorf("final %d: recognizer got %d samples, segment has %d", i, n, want)
				}
			}
			if len(calltest.Kinds(got, coach.Partial)) == 0 {
				t.Error("no partial transcripts")
			}
		})
	}
}

func TestPipelinePartialsAtMost300ms(t *testing.T) {
	call := calltest.SynthCall(t, calltest.Call, synth.DefaultOptions())
	got := calltest.Collect(t, func(emit func(coach.Input) error) error {
		return stream.AnalyzeStereo(context.Background(), calltest.Config(), newFake(2), call.Stereo, emit)
	})
	last := map[coach.Speaker]int64{}
	for _, in := range got {
		switch in.Kind {
		case coach.SpeechStart:
			last[in.Speaker] = in.AtMS
		case coach.Partial:
			if d := in.AtMS - last[in.Speaker]; d < 300 {
				t.Fatalf("partials %d ms apart", d)
			}
			last[in.Speaker] = in.AtMS
		default:
		}
	}
}

func TestAnalyzeEdgeCases(t *testing.T) {
	dir := t.TempDir()
	silent := filepath.Join(dir, "silent.wav")
	empty := filepath.Join(dir, "empty.wav")
	short := filepath.Join(dir, "short.wav")
	mono := filepath.Join(dir, "mono.wav")
	notWAV := filepath.Join(dir, "notes.txt")
	must(t, audio.WriteWAVFile(silent, 44100, 2, make([]float32, 2*44100*3)))
	must(t, audio.WriteWAVFile(empty, 16000, 1, nil))
	must(t, audio.WriteWAVFile(short, 8000, 1, make([]float32, 800)))
	must(t, audio.WriteWAVFile(mono, 16000, 1, make([]float32, 1600)))
	must(t, calltest.WriteFile(notWAV, "not audio"))

	cases := []struct {
		name      string
		run       func(emit func(coach.Input) error) error
		wantErr   string
		wantEndMS int64
	}{
		{"silent files, different lengths and rates", func(emit func(coach.Input) error) error {
			return stream.AnalyzeFiles(context.Background(), calltest.Config(), newFake(2), silent, short, emit)
		}, "", 3000},
		{"empty file", func(emit func(coach.Input) error) error {
			return stream.AnalyzeFiles(context.Background(), calltest.Config(), newFake(2), empty, empty, emit)
		}, "", 0},
		{"silent stereo", func(emit func(coach.Input) error) error {
			return stream.AnalyzeStereo(context.Background(), calltest.Config(), nil, silent, emit)
		}, "", 3000},
		{"not a WAV", func(emit func(coach.Input) error) error {
			return stream.AnalyzeFiles(context.Background(), calltest.Config(), nil, notWAV, silent, emit)
		}, "notes.txt: not a WAV file", 0},
		{"stereo wanted", func(emit func(coach.Input) error) error {
			return stream.AnalyzeStereo(context.Background(), calltest.Config(), nil, mono, emit)
		}, "mono.wav: unsupported", 0},
		{"missing file", func(emit func(coach.Input) error) error {
			return stream.AnalyzeFiles(context.Background(), calltest.Config(), nil, silent, filepath.Join(dir, "nope.wav"), emit)
		}, "nope.wav", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []coach.Input
			err := c.run(func(in coach.Input) error { got = append(got, in); return nil })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range got {
				if in.Kind != coach.Tick {
					t.Fatalf("speech in silence: %+v", in)
				}
			}
			if c.wantEndMS > 0 && (len(got) == 0 || got[len(got)-1].AtMS < c.wantEndMS) {
				t.Fatalf("last input %+v, want media time %d", got[len(got)-1:], c.wantEndMS)
			}
		})
	}
}

func TestPipelineEmitErrorStops(t *testing.T) {
	call := calltest.SynthCall(t, calltest.Call, synth.DefaultOptions())
	boom := errors.New("boom")
	tr := newFake(2)
	err := stream.AnalyzeStereo(context.Background(), calltest.Config(), tr, call.Stereo, func(in coach.Input) error {
		if in.Kind == coach.SpeechStart {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if n := tr.inUse(); n != 0 {
		t.Fatalf("%d recognizers not given back after an error", n)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
