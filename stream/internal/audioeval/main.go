// Command audioeval measures the audio pipeline: voice activity agreement
// with the truth of synthesized calls, talk share, word error rate and CPU
// time per second of audio. Generated audio goes to a temporary directory.
//
//	go run ./stream/internal/audioeval -calls ../shared/eval/calls -snr 10 -bleed -20 -asr
//	go run ./stream/internal/audioeval -librivox ../shared/eval/real/pocketsphinx/librivox
//	go run ./stream/internal/audioeval -stereo ../shared/eval/real/faster-whisper/stereo_diarization.wav
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/cuecard/cuecard/asr/sphinx"
	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/wer"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "audioeval:", err)
		os.Exit(1)
	}
}

type flags struct {
	calls, librivox, stereo string
	snr, bleed              float64
	asr, verbose, telephone bool
	params, lm, dict        string
	hangover                int
	bias                    float64
	threshold               float64
	errors                  int
	prime                   int
}

func run() error {
	var f flags
	flag.StringVar(&f.calls, "calls", "", "directory of call*.jsonl transcripts to synthesize and score")
	flag.StringVar(&f.librivox, "librivox", "", "directory of *.wav with *.txt references (WER on human read speech)")
	flag.StringVar(&f.stereo, "stereo", "", "real two-channel WAV (left rep, right prospect)")
	flag.Float64Var(&f.snr, "snr", 10, "synthesized noise SNR in dB (0: none)")
	flag.Float64Var(&f.bleed, "bleed", -20, "synthesized bleed in dB (0: none)")
	flag.BoolVar(&f.telephone, "telephone", false, "pass each synthesized side through a narrowband phone line (8 kHz, G.711 mu-law)")
	flag.BoolVar(&f.asr, "asr", false, "run the recognizer (WER, CPU) on the synthesized calls")
	flag.BoolVar(&f.verbose, "v", false, "print hypotheses")
	flag.StringVar(&f.params, "params", "", "pocketsphinx parameters over the defaults, e.g. -lw=6,-maxhmmpf=10000")
	flag.StringVar(&f.lm, "lm", "", "language model (default Debian's)")
	flag.StringVar(&f.dict, "dict", "", "dictionary (default Debian's)")
	flag.IntVar(&f.hangover, "hangover", 0, "VAD hangover ms (0: default)")
	flag.Float64Var(&f.bias, "bias", 0, "weight of the sales language model mixed into the recognizer's (0: none)")
	flag.Float64Var(&f.threshold, "threshold", 0, "VAD threshold (0: default)")
	flag.IntVar(&f.prime, "prime", 0, "ms of a channel's first speech used to estimate its cepstral mean (0: default, -1: none)")
	flag.IntVar(&f.errors, "errors", 0, "print the N most frequent word errors and the reference words missing from the dictionary")
	flag.Parse()

	ctx := context.Background()
	cfg := stream.DefaultConfig()
	cfg.Resample = soxr.New
	if f.hangover > 0 {
		cfg.VAD.HangoverMS = f.hangover
	}
	if f.threshold > 0 {
		cfg.VAD.Threshold = f.threshold
	}
	var tr stream.Transcriber
	if f.asr || f.librivox != "" {
		sc := sphinx.DefaultConfig()
		sc.PoolSize = 2
		sc.Bias = f.bias
		sc.PrimeMS = f.prime
		for _, kv := range strings.Split(f.params, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				sc.Params[k] = v
			}
		}
		if f.lm != "" {
			sc.LM = f.lm
		}
		if f.dict != "" {
			sc.Dict = f.dict
		}
		s, err := sphinx.New(sc)
		if err != nil {
			return err
		}
		defer s.Close()
		tr = s
	}
	if f.calls != "" {
		if err := evalCalls(ctx, f, cfg, tr); err != nil {
			return err
		}
	}
	if f.librivox != "" {
		if err := evalLibrivox(ctx, f, cfg, tr); err != nil {
			return err
		}
	}
	if f.stereo != "" {
		if err := evalStereo(ctx, cfg, f.stereo); err != nil {
			return err
		}
	}
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// result collects a pipeline run's segments and transcripts.
type result struct {
	segs   []synth.Segment
	finals map[coach.Speaker][]string
	cpu    time.Duration
	inputs int
	lastMS int64
}

func analyze(ctx context.Context, cfg stream.Config, tr stream.Transcriber, rep, pro string) (*result, error) {
	res := &result{finals: map[coach.Speaker][]string{}}
	var last int64
	emit := func(in coach.Input) error {
		if in.AtMS < last {
			return fmt.Errorf("AtMS went back from %d to %d", last, in.AtMS)
		}
		last = in.AtMS
		res.lastMS = in.AtMS
		res.inputs++
		switch in.Kind {
		case coach.SpeechEnd:
			res.segs = append(res.segs, synth.Segment{Speaker: in.Speaker, StartMS: in.StartMS, EndMS: in.EndMS})
		case coach.Final:
			res.finals[in.Speaker] = append(res.finals[in.Speaker], in.Text)
		default:
		}
		return nil
	}
	c0 := cpuTime()
	var err error
	if pro == "" {
		err = stream.AnalyzeStereo(ctx, cfg, tr, rep, emit)
	} else {
		err = stream.AnalyzeFiles(ctx, cfg, tr, rep, pro, emit)
	}
	res.cpu = cpuTime() - c0
	return res, err
}

// frames marks the 10 ms frames of sp covered by segs.
func frames(segs []synth.Segment, sp coach.Speaker, n int) []bool {
	m := make([]bool, n)
	for _, s := range segs {
		if s.Speaker != sp {
			continue
		}
		for f := s.StartMS / 10; f < (s.EndMS+9)/10 && f < int64(n); f++ {
			m[f] = true
		}
	}
	return m
}

type vadScore struct {
	agree, total      int
	truthRep, truthPr int
	vadRep, vadPr     int
	miss, fa          [3]int
}

func (v *vadScore) add(truth, got []synth.Segment, durMS int64) {
	n := int(durMS / 10)
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		t, g := frames(truth, sp, n), frames(got, sp, n)
		for i := range n {
			if t[i] == g[i] {
				v.agree++
			} else if t[i] {
				v.miss[sp]++
			} else {
				v.fa[sp]++
			}
			v.total++
			if sp == coach.Rep {
				v.truthRep += b2i(t[i])
				v.vadRep += b2i(g[i])
			} else {
				v.truthPr += b2i(t[i])
				v.vadPr += b2i(g[i])
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (v vadScore) String() string {
	ts := float64(v.truthRep) / float64(max(v.truthRep+v.truthPr, 1))
	gs := float64(v.vadRep) / float64(max(v.vadRep+v.vadPr, 1))
	return fmt.Sprintf("agreement %.2f%%  rep talk share truth %.1f%% vad %.1f%% (diff %+.1f pts) miss r/p %.1f/%.1f%% fa r/p %.1f/%.1f%%",
		100*float64(v.agree)/float64(max(v.total, 1)), 100*ts, 100*gs, 100*(gs-ts),
		pct(v.miss[coach.Rep], v.truthRep), pct(v.miss[coach.Prospect], v.truthPr),
		pct(v.fa[coach.Rep], v.total/2-v.truthRep), pct(v.fa[coach.Prospect], v.total/2-v.truthPr))
}

func evalCalls(ctx context.Context, f flags, cfg stream.Config, tr stream.Transcriber) error {
	paths, _ := filepath.Glob(filepath.Join(f.calls, "*.jsonl"))
	sort.Strings(paths)
	if len(paths) == 0 {
		return fmt.Errorf("no *.jsonl in %s", f.calls)
	}
	tmp, err := os.MkdirTemp("", "audioeval-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	opt := synth.DefaultOptions()
	opt.SNR, opt.BleedDB, opt.Telephone = f.snr, f.bleed, f.telephone
	var all vadScore
	var errs, words int
	var sideErrs, sideWords [3]int
	var tally errorTally
	if f.errors > 0 {
		dict := f.dict
		if dict == "" {
			dict = sphinx.DebianDict
		}
		v, err := readVocab(dict)
		if err != nil {
			return err
		}
		tally.vocab = v
	}
	var cpu time.Duration
	var audioMS int64
	fmt.Printf("synthesized calls: snr %g dB, bleed %g dB, telephone %v, hangover %d ms\n", f.snr, f.bleed, f.telephone, cfg.VAD.HangoverMS)
	for _, p := range paths {
		utts, err := synth.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(p), ".jsonl")
		out, err := synth.Synthesize(ctx, utts, filepath.Join(tmp, name), opt)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		res, err := analyze(ctx, cfg, tr, out.Rep, out.Prospect)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		var v vadScore
		v.add(out.Segments, res.segs, out.DurationMS)
		all.add(out.Segments, res.segs, out.DurationMS)
		line := fmt.Sprintf("%-8s %6.1fs  %v", name, float64(out.DurationMS)/1000, v)
		if tr != nil {
			e, w := scoreWords(utts, res.finals, f, &sideErrs, &sideWords, &tally)
			errs += e
			words += w
			cpu += res.cpu
			audioMS += out.DurationMS
			line += fmt.Sprintf("  WER %.1f%%  cpu %.3f s/s", 100*float64(e)/float64(w), res.cpu.Seconds()/(float64(out.DurationMS)/1000))
		}
		fmt.Println(line)
	}
	fmt.Printf("ALL      %v\n", all)
	if tr != nil {
		fmt.Printf("ALL      WER %.1f%% (%d errors / %d words)  CPU %.3f s per second of two-channel audio (%.0f s of audio)\n",
			100*float64(errs)/float64(words), errs, words, cpu.Seconds()/(float64(audioMS)/1000), float64(audioMS)/1000)
		fmt.Printf("         rep (%s) WER %.1f%%, prospect (%s) WER %.1f%%\n", opt.RepVoice, pct(sideErrs[coach.Rep], sideWords[coach.Rep]),
			opt.ProspectVoice, pct(sideErrs[coach.Prospect], sideWords[coach.Prospect]))
		if f.errors > 0 {
			tally.print(os.Stdout, f.errors)
		}
	}
	return nil
}

// scoreWords counts the word errors of one call's finals against its
// script, per side, adding to the totals; it returns the call's errors
// and words.
func scoreWords(utts []synth.Utterance, finals map[coach.Speaker][]string, f flags, sideErrs, sideWords *[3]int, tally *errorTally) (e, w int) {
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		var ref []string
		for _, u := range utts {
			if u.Speaker == sp {
				ref = append(ref, normalize(u.Text)...)
			}
		}
		hyp := normalize(strings.Join(finals[sp], " "))
		se := wer.Errors(ref, hyp)
		e += se
		w += len(ref)
		sideErrs[sp] += se
		sideWords[sp] += len(ref)
		if f.errors > 0 {
			tally.add(ref, hyp)
		}
		if f.verbose {
			fmt.Printf("  %s REF: %s\n  %s HYP: %s\n", sp, strings.Join(ref, " "), sp, strings.Join(hyp, " "))
		}
	}
	return e, w
}

// readVocab reads the words of a PocketSphinx dictionary (alternative
// pronunciations, "word(2)", count once).
func readVocab(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		w, _, _ := strings.Cut(line, " ")
		w, _, _ = strings.Cut(w, "(")
		if w != "" {
			v[w] = true
		}
	}
	return v, nil
}

func evalLibrivox(ctx context.Context, f flags, cfg stream.Config, tr stream.Transcriber) error {
	wavs, _ := filepath.Glob(filepath.Join(f.librivox, "*.wav"))
	sort.Strings(wavs)
	tmp, err := os.MkdirTemp("", "audioeval-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	silent := filepath.Join(tmp, "silent.wav")
	if err := audio.WriteWAVFile(silent, 16000, 1, nil); err != nil {
		return err
	}
	var errs, words int
	var cpu time.Duration
	var audioSec float64
	for _, w := range wavs {
		b, err := os.ReadFile(strings.TrimSuffix(w, ".wav") + ".txt")
		if err != nil {
			continue
		}
		res, err := analyze(ctx, cfg, tr, w, silent)
		if err != nil {
			return err
		}
		ref := normalize(string(b))
		hyp := normalize(strings.Join(res.finals[coach.Rep], " "))
		e := wer.Errors(ref, hyp)
		errs += e
		words += len(ref)
		cpu += res.cpu
		audioSec += float64(res.lastMS) / 1000
		if f.verbose {
			fmt.Printf("%s WER %.1f%%\n  REF: %s\n  HYP: %s\n", filepath.Base(w), 100*float64(e)/float64(len(ref)), strings.Join(ref, " "), strings.Join(hyp, " "))
		}
	}
	fmt.Printf("librivox: %d files, WER %.1f%% (%d errors / %d words), CPU %.3f s per second of one-channel audio\n",
		len(wavs), 100*float64(errs)/float64(max(words, 1)), errs, words, cpu.Seconds()/audioSec)
	return nil
}

func pct(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }
