// Package synth turns a scripted call (the transcript JSONL of the
// contract) into audio: each side spoken by its own flite voice at the
// scripted times, optionally with steady background noise at a chosen SNR
// and the other side's voice bleeding in, plus the truth of when each side
// actually speaks, for scoring voice activity detection.
package synth

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/coach"
)

// ErrToolMissing means flite or sox is not installed.
var ErrToolMissing = errors.New("synth: tool not found (install the Debian packages flite and sox)")

// Rate is the sample rate of the files written: the audio pipeline's
// (stream.Rate), so that they need no resampling.
const Rate = 16000

// Utterance is one scripted line of the call.
type Utterance struct {
	Speaker coach.Speaker
	StartMS int64
	EndMS   int64
	Text    string
}

// Segment is a stretch of actual speech of one side in the written audio.
type Segment struct {
	Speaker coach.Speaker
	StartMS int64
	EndMS   int64
}

// Options configures Synthesize.
type Options struct {
	// RepVoice and ProspectVoice are flite voice names (see flite -lv).
	RepVoice, ProspectVoice string
	// SNR adds steady pink noise at this speech-to-noise ratio in dB,
	// independently on each side; 0 means no noise.
	SNR float64
	// BleedDB mixes the other side's voice in at this level relative to
	// it (e.g. -20); 0 means no bleed.
	BleedDB float64
	// Telephone passes each side, after bleed and noise, through a
	// narrowband phone line: 8 kHz, 300-3400 Hz, G.711 mu-law.
	Telephone bool
	// Seed makes the noise reproducible.
	Seed uint64
	// Flite and Sox are the programs to run.
	Flite, Sox string
	// MergeGapMS joins truth segments of one side separated by shorter
	// pauses (NIST RT scoring convention: 300 ms).
	MergeGapMS int64
}

// DefaultOptions returns voices slt (rep) and awb (prospect), clean audio.
func DefaultOptions() Options {
	return Options{RepVoice: "slt", ProspectVoice: "awb", Seed: 1, Flite: "flite", Sox: "sox", MergeGapMS: 300}
}

// Result names the files Synthesize wrote.
type Result struct {
	Rep, Prospect, Stereo, Truth string
	// Segments are the truth: actual speech of each side, before noise
	// and bleed, in time order per side.
	Segments []Segment
	// DurationMS is the length of the audio.
	DurationMS int64
}

type line struct {
	Speaker string `json:"speaker"`
	StartMS *int64 `json:"start_ms"`
	EndMS   *int64 `json:"end_ms"`
	Text    string `json:"text"`
}

// ParseJSONL reads transcript lines {"speaker","start_ms","end_ms","text"};
// errors carry the 1-based line number.
func ParseJSONL(r io.Reader) ([]Utterance, error) {
	var out []Utterance
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		sp, ok := coach.ParseSpeaker(l.Speaker)
		if !ok || l.StartMS == nil || l.EndMS == nil || *l.EndMS < *l.StartMS || *l.StartMS < 0 {
			return nil, fmt.Errorf("line %d: want speaker rep|prospect and 0 <= start_ms <= end_ms", n)
		}
		out = append(out, Utterance{Speaker: sp, StartMS: *l.StartMS, EndMS: *l.EndMS, Text: l.Text})
	}
	return out, sc.Err()
}

// ReadFile parses a transcript JSONL file; errors name it.
func ReadFile(path string) ([]Utterance, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u, err := ParseJSONL(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// Synthesize speaks utts with flite into dir (created if missing):
// rep.wav, prospect.wav (16 kHz mono 16-bit), stereo.wav (left rep, right
// prospect) and truth.jsonl (the Segments). Each utterance starts at its
// start_ms and, if flite's speech is longer than scripted, is sped up with
// sox's tempo effect to fit. It blocks until done; ctx cancels the tools.
func Synthesize(ctx context.Context, utts []Utterance, dir string, opt Options) (*Result, error) {
	for _, tool := range []string{opt.Flite, opt.Sox} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrToolMissing, tool)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, ".synth-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	clean, err := speakAll(ctx, opt, tmp, utts)
	if err != nil {
		return nil, err
	}
	n := max(len(clean[0]), len(clean[1])) + Rate/2
	for s := range clean {
		clean[s] = append(clean[s], make([]float32, n-len(clean[s]))...)
	}

	res := &Result{
		Rep:        filepath.Join(dir, "rep.wav"),
		Prospect:   filepath.Join(dir, "prospect.wav"),
		Stereo:     filepath.Join(dir, "stereo.wav"),
		Truth:      filepath.Join(dir, "truth.jsonl"),
		DurationMS: int64(n) * 1000 / Rate,
	}
	var active [2][]bool
	for s, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		segs, act := truth(clean[s], sp, opt.MergeGapMS)
		res.Segments = append(res.Segments, segs...)
		active[s] = act
	}

	rng := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
	var mixed [2][]float32
	for s := range clean {
		m := make([]float32, n)
		copy(m, clean[s])
		if opt.BleedDB != 0 {
			g := float32(math.Pow(10, opt.BleedDB/20))
			for j, v := range clean[1-s] {
				m[j] += g * v
			}
		}
		if opt.SNR != 0 {
			addNoise(m, clean[s], active[s], opt.SNR, rng)
		}
		if opt.Telephone {
			if m, err = telephone(m); err != nil {
				return nil, err
			}
		}
		mixed[s] = m
	}
	if err := audio.WriteWAVFile(res.Rep, Rate, 1, mixed[0]); err != nil {
		return nil, err
	}
	if err := audio.WriteWAVFile(res.Prospect, Rate, 1, mixed[1]); err != nil {
		return nil, err
	}
	st := make([]float32, 2*n)
	for j := range n {
		st[2*j], st[2*j+1] = mixed[0][j], mixed[1][j]
	}
	if err := audio.WriteWAVFile(res.Stereo, Rate, 2, st); err != nil {
		return nil, err
	}
	return res, WriteTruth(res.Truth, res.Segments)
}

// gain leaves headroom for bleed and noise.
const gain = 0.5

// speak runs flite for one utterance and returns its speech (leading and
// trailing silence trimmed) at 16 kHz, sped up to fit the scripted time.
func speak(ctx context.Context, opt Options, tmp string, i int, voice string, u Utterance) ([]float32, error) {
	raw := filepath.Join(tmp, fmt.Sprintf("u%d.wav", i))
	if out, err := exec.CommandContext(ctx, opt.Flite, "-voice", voice, "-t", u.Text, "-o", raw).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("flite: %w: %s", err, firstLine(out))
	}
	x, err := load(raw)
	if err != nil {
		return nil, err
	}
	x = trim(x)
	want := int((u.EndMS - u.StartMS) * Rate / 1000)
	if want > 0 && len(x) > want {
		fitted := filepath.Join(tmp, fmt.Sprintf("u%d-fit.wav", i))
		factor := float64(len(x)) / float64(want)
		if out, err := exec.CommandContext(ctx, opt.Sox, raw, "-r", strconv.Itoa(Rate), fitted,
			"tempo", "-s", strconv.FormatFloat(factor, 'f', 4, 64)).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sox: %w: %s", err, firstLine(out))
		}
		if x, err = load(fitted); err != nil {
			return nil, err
		}
		x = trim(x)
	}
	return x, nil
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}

// speakAll speaks every utterance at its start time into one clean track
// per side (rep, prospect).
func speakAll(ctx context.Context, opt Options, tmp string, utts []Utterance) ([2][]float32, error) {
	var clean [2][]float32
	for i, u := range utts {
		voice := opt.RepVoice
		side := 0
		if u.Speaker == coach.Prospect {
			voice, side = opt.ProspectVoice, 1
		}
		x, err := speak(ctx, opt, tmp, i, voice, u)
		if err != nil {
			return clean, fmt.Errorf("utterance %d: %w", i, err)
		}
		at := int(u.StartMS * Rate / 1000)
		if need := at + len(x); len(clean[side]) < need {
			clean[side] = append(clean[side], make([]float32, need-len(clean[side]))...)
		}
		for j, v := range x {
			clean[side][at+j] += v
		}
	}
	return clean, nil
}

// load reads a WAV file's mixdown at 16 kHz.
func load(path string) ([]float32, error) {
	f, err := audio.OpenWAV(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := audio.NewReader(f.WAVReader, audio.ReaderOptions{Rate: Rate, Resample: soxr.New})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	var out []float32
	for {
		ch, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ch[0]...)
	}
	for i := range out {
		out[i] *= gain
	}
	return out, nil
}

// silence is the per-10 ms RMS below which clean synthetic audio counts as
// silent (about -45 dBFS; flite's pauses are far below that).
const silence = 0.0056

const win = Rate / 100 // 10 ms

func frameActive(x []float32, f int) bool {
	var e float64
	seg := x[f*win : min((f+1)*win, len(x))]
	for _, v := range seg {
		e += float64(v) * float64(v)
	}
	return len(seg) > 0 && math.Sqrt(e/float64(len(seg))) > silence
}

func trim(x []float32) []float32 {
	nf := (len(x) + win - 1) / win
	a, b := 0, nf
	for a < nf && !frameActive(x, a) {
		a++
	}
	for b > a && !frameActive(x, b-1) {
		b--
	}
	return x[a*win : min(b*win, len(x))]
}

// truth finds the speech of one side in 10 ms frames of its clean audio,
// joining pauses shorter than mergeMS; it also returns per-sample
// activity for the SNR computation.
func truth(x []float32, sp coach.Speaker, mergeMS int64) ([]Segment, []bool) {
	nf := (len(x) + win - 1) / win
	var segs []Segment
	act := make([]bool, len(x))
	for f := 0; f < nf; f++ {
		if !frameActive(x, f) {
			continue
		}
		for j := f * win; j < min((f+1)*win, len(x)); j++ {
			act[j] = true
		}
		start, end := int64(f*10), int64(f*10+10)
		if k := len(segs) - 1; k >= 0 && start-segs[k].EndMS < mergeMS {
			segs[k].EndMS = end
			continue
		}
		segs = append(segs, Segment{Speaker: sp, StartMS: start, EndMS: end})
	}
	return segs, act
}

// addNoise adds pink noise (Paul Kellet's refined filter over white
// Gaussian noise) scaled so that speech power over the active samples of
// ref is snr dB above the noise power.
func addNoise(dst, ref []float32, active []bool, snr float64, rng *rand.Rand) {
	var ps float64
	var na int
	for j, v := range ref {
		if active[j] {
			ps += float64(v) * float64(v)
			na++
		}
	}
	if na == 0 {
		ps, na = 0.01*0.01, 1 // a silent side still gets audible noise
	}
	ps /= float64(na)
	noise := make([]float64, len(dst))
	var b0, b1, b2, b3, b4, b5, b6, pn float64
	for j := range noise {
		w := rng.NormFloat64()
		b0 = 0.99886*b0 + w*0.0555179
		b1 = 0.99332*b1 + w*0.0750759
		b2 = 0.96900*b2 + w*0.1538520
		b3 = 0.86650*b3 + w*0.3104856
		b4 = 0.55000*b4 + w*0.5329522
		b5 = -0.7616*b5 - w*0.0168980
		v := b0 + b1 + b2 + b3 + b4 + b5 + b6 + w*0.5362
		b6 = w * 0.115926
		noise[j] = v
		pn += v * v
	}
	pn /= float64(max(len(noise), 1))
	g := math.Sqrt(ps / math.Pow(10, snr/10) / pn)
	for j, v := range noise {
		dst[j] += float32(g * v)
	}
}

type truthLine struct {
	Speaker string `json:"speaker"`
	StartMS int64  `json:"start_ms"`
	EndMS   int64  `json:"end_ms"`
}

// WriteTruth writes segments as JSONL {"speaker","start_ms","end_ms"}.
func WriteTruth(path string, segs []Segment) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, s := range segs {
		if err := enc.Encode(truthLine{s.Speaker.String(), s.StartMS, s.EndMS}); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadTruth reads a file written by WriteTruth.
func ReadTruth(path string) ([]Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Segment
	dec := json.NewDecoder(f)
	for {
		var l truthLine
		if err := dec.Decode(&l); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		sp, ok := coach.ParseSpeaker(l.Speaker)
		if !ok {
			return nil, fmt.Errorf("%s: bad speaker %q", path, l.Speaker)
		}
		out = append(out, Segment{Speaker: sp, StartMS: l.StartMS, EndMS: l.EndMS})
	}
}
