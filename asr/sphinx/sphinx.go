package sphinx

/*
#cgo pkg-config: pocketsphinx sphinxbase
#include <stdlib.h>
#include <pocketsphinx.h>
#include <feat.h>
#include <cmn.h>
#include <fe.h>

_Static_assert(sizeof(mfcc_t) == sizeof(float), "sphinxbase built with fixed-point features");

// The live cepstral mean (CMN) is the state PocketSphinx carries from one
// utterance to the next; these read and set it.
static int cc_cmn_len(ps_decoder_t *ps) {
	feat_t *f = ps_get_feat(ps);
	return (f == NULL || f->cmn_struct == NULL) ? 0 : f->cmn_struct->veclen;
}
static void cc_cmn_get(ps_decoder_t *ps, float *v) { cmn_live_get(ps_get_feat(ps)->cmn_struct, (mfcc_t *)v); }
static void cc_cmn_set(ps_decoder_t *ps, const float *v) { cmn_live_set(ps_get_feat(ps)->cmn_struct, (const mfcc_t *)v); }

// cc_cmn_estimate computes, with a front end configured like ps's own, the
// mean cepstrum of the n samples at pcm over the frames the live CMN would
// count (those with non-negative energy c0). It returns the number of
// frames averaged (0: none, mean untouched) or -1 on failure.
static int cc_cmn_estimate(ps_decoder_t *ps, const int16 *pcm, size_t n, float *mean) {
	fe_t *fe = fe_init_auto_r(ps_get_config(ps));
	if (fe == NULL) return -1;
	int veclen = fe_get_output_size(fe);
	mfcc_t **cep = NULL;
	int32 nfr = 0;
	fe_start_utt(fe);
	if (fe_process_utt(fe, pcm, n, &cep, &nfr) < 0) {
		fe_free(fe);
		return -1;
	}
	double *sum = calloc(veclen, sizeof(double));
	if (sum == NULL) {
		if (cep != NULL) fe_free_2d(cep);
		fe_free(fe);
		return -1;
	}
	int used = 0;
	for (int i = 0; i < nfr; i++) {
		if (cep[i][0] < 0) continue;
		for (int j = 0; j < veclen; j++) sum[j] += cep[i][j];
		used++;
	}
	if (used > 0) {
		for (int j = 0; j < veclen; j++) mean[j] = (float)(sum[j] / used);
	}
	free(sum);
	if (cep != NULL) fe_free_2d(cep);
	fe_free(fe);
	return used;
}

// cc_ps_bias interpolates the decoder's language model with the ARPA model
// at path (weight w) and makes the mixture the active search. It returns
// 0, or -1 if a model could not be read or set.
static int cc_ps_bias(ps_decoder_t *ps, const char *path, float w) {
	const char *cur = ps_get_search(ps);
	if (cur == NULL) return -1;
	ngram_model_t *base = ps_get_lm(ps, cur);
	if (base == NULL) return -1;
	ngram_model_t *dom = ngram_model_read(ps_get_config(ps), path, NGRAM_ARPA, logmath_retain(ps_get_logmath(ps)));
	if (dom == NULL) return -1;
	ngram_model_retain(base);
	ngram_model_t *models[2] = {base, dom};
	char *names[2] = {"general", "domain"};
	float32 weights[2] = {1.0f - w, w};
	ngram_model_t *set = ngram_model_set_init(ps_get_config(ps), models, names, weights, 2);
	if (set == NULL) return -1;
	if (ps_set_lm(ps, "biased", set) < 0) return -1;
	ngram_model_free(set);
	return ps_set_search(ps, "biased");
}

// cc_ps_new parses argv (pairs of "-name", "value") and builds a decoder.
// The configuration is reference-counted by the decoder, so it is released
// here; the decoder keeps its own reference.
static ps_decoder_t *cc_ps_new(int argc, char **argv) {
	cmd_ln_t *c = cmd_ln_parse_r(NULL, ps_args(), argc, argv, FALSE);
	if (c == NULL) {
		return NULL;
	}
	ps_decoder_t *ps = ps_init(c);
	cmd_ln_free_r(c);
	return ps;
}

// cc_ps_hyp returns the current hypothesis or "" (never NULL).
static const char *cc_ps_hyp(ps_decoder_t *ps) {
	int32 score;
	const char *h = ps_get_hyp(ps, &score);
	return h == NULL ? "" : h;
}
*/
import "C"

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/cuecard/cuecard/stream"
)

// Debian's pocketsphinx-en-us model paths, the defaults of Config.
const (
	DebianHMM  = "/usr/share/pocketsphinx/model/en-us/en-us"
	DebianLM   = "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"
	DebianDict = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
)

// DecodersPerCPU sizes the default pool: decoding one side's speech in
// real time takes about 15% of a core, so a core serves about four
// speakers at once with room to spare.
const DecodersPerCPU = 4

// Config configures the embedded PocketSphinx recognizer pool.
type Config struct {
	// HMM is the acoustic model directory.
	HMM string
	// LM is the n-gram language model (ARPA or binary).
	LM string
	// Dict is the pronunciation dictionary.
	Dict string
	// PoolSize is the number of decoders (each ~100 MB); 0 means
	// DecodersPerCPU per CPU. A decoder is held for a whole speech segment
	// while it is spoken but is busy only a fraction of that time, so a
	// core keeps several of them going.
	PoolSize int
	// Params are extra decoder parameters ("-beam": "1e-40", ...) over
	// PocketSphinx's defaults.
	Params map[string]string
	// PrimeMS is how much of a channel's first speech is held back to
	// estimate the channel's cepstral mean before decoding starts (its
	// partial hypotheses wait as long); 0 means DefaultPrimeMS, below 0
	// none: the decoder then starts from the model's mean and moves off it
	// slowly, which costs words in the first half minute of every call.
	PrimeMS int
	// Bias, if above 0, mixes a language model of sales conversation
	// (estimated from SalesCorpus at start) into LM with this weight, so
	// the words the coach listens for are recognized more often.
	Bias float64
}

// DefaultConfig returns Debian's model paths, a channel's first 3 s
// used to estimate its cepstral mean, and PocketSphinx's three passes (tree
// search, flat-lexicon rescoring, best path) with three changes measured
// on our synthesized calls (BENCHMARKS.md): a language weight of 5.5
// instead of 6.5 in the first pass (fewer words lost to the language
// model), a stronger phone lookahead (-pl_weight 4 instead of 3), which
// wins back the CPU the lower weight costs, and a word insertion penalty
// of 0.3 instead of 0.65. Narrower beams (FastParams) halve the CPU
// but double the word error; pass them in Params where CPU matters more.
func DefaultConfig() Config {
	return Config{HMM: DebianHMM, LM: DebianLM, Dict: DebianDict, Params: map[string]string{
		"-lw": "5.5", "-pl_weight": "4", "-wip": "0.3",
	}}
}

// FastParams are the narrow-beam, single-pass decoder parameters
// measured in BENCHMARKS.md.
func FastParams() map[string]string {
	return map[string]string{
		"-beam": "1e-40", "-wbeam": "1e-24", "-pbeam": "1e-40",
		"-maxhmmpf": "3000", "-maxwpf": "5", "-topn": "2", "-pl_window": "10",
		"-fwdflat": "no", "-bestpath": "no",
	}
}

// Recognizer is a pool of PocketSphinx decoders shared by all pipelines of a
// process; it implements Transcriber. The model is loaded once per pooled
// decoder when the pool is built, never per call or per utterance.
type Recognizer struct {
	free chan *C.ps_decoder_t
	// cmn0 is a fresh decoder's cepstral mean: every utterance starts from
	// it unless its pipeline hands it a channel's own (Adapter).
	cmn0 []float32
	// prime is Config.PrimeMS in 16 kHz samples.
	prime int

	mu     sync.Mutex
	all    []*C.ps_decoder_t
	closed bool
}

// New loads PoolSize decoders. It fails with ErrModel (naming the
// path) when a model file is missing or unreadable.
func New(cfg Config) (*Recognizer, error) {
	for _, p := range []string{cfg.HMM, cfg.LM, cfg.Dict} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrModel, err)
		}
	}
	n := cfg.PoolSize
	if n <= 0 {
		n = DecodersPerCPU * runtime.NumCPU()
	}
	params := map[string]string{}
	for k, v := range cfg.Params {
		params[k] = v
	}
	args := []string{"-hmm", cfg.HMM, "-lm", cfg.LM, "-dict", cfg.Dict, "-logfn", os.DevNull}
	for k, v := range params {
		if !strings.HasPrefix(k, "-") {
			k = "-" + k
		}
		args = append(args, k, v)
	}
	var biasLM string
	if cfg.Bias > 0 {
		if cfg.Bias >= 1 {
			return nil, fmt.Errorf("%w: bias weight %g must be below 1", ErrModel, cfg.Bias)
		}
		path, err := writeDomainLM(cfg.Dict)
		if err != nil {
			return nil, fmt.Errorf("%w: domain language model: %w", ErrModel, err)
		}
		defer os.Remove(path)
		biasLM = path
	}
	s := &Recognizer{free: make(chan *C.ps_decoder_t, n), prime: cfg.PrimeMS * 16}
	if cfg.PrimeMS == 0 {
		s.prime = DefaultPrimeMS * 16
	}
	for range n {
		d := newDecoder(args)
		if d == nil {
			s.Close()
			return nil, fmt.Errorf("%w: pocketsphinx rejected hmm=%s lm=%s dict=%s or params %v", ErrModel, cfg.HMM, cfg.LM, cfg.Dict, params)
		}
		if biasLM != "" {
			cp := C.CString(biasLM)
			rc := C.cc_ps_bias(d, cp, C.float(cfg.Bias))
			C.free(unsafe.Pointer(cp))
			if rc < 0 {
				C.ps_free(d)
				s.Close()
				return nil, fmt.Errorf("%w: cannot mix in the domain language model", ErrModel)
			}
		}
		s.all = append(s.all, d)
		s.free <- d
		if s.cmn0 == nil {
			if n := int(C.cc_cmn_len(d)); n > 0 {
				s.cmn0 = make([]float32, n)
				C.cc_cmn_get(d, (*C.float)(&s.cmn0[0]))
			}
		}
	}
	return s, nil
}

// writeDomainLM estimates the sales language model over the words of dict
// into a temporary ARPA file and returns its path.
func writeDomainLM(dict string) (string, error) {
	f, err := os.Open(dict)
	if err != nil {
		return "", err
	}
	words := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w, _, _ := strings.Cut(sc.Text(), " ")
		if i := strings.IndexByte(w, '('); i > 0 {
			w = w[:i] // pronunciation variants: word(2)
		}
		words[w] = true
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return "", err
	}
	out, err := os.CreateTemp("", "cuecard-sales-*.arpa")
	if err != nil {
		return "", err
	}
	err = writeARPA(out, salesSentences(), func(w string) bool { return words[w] })
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

func newDecoder(args []string) *C.ps_decoder_t {
	argv := C.malloc(C.size_t(len(args)) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(argv)
	cargs := unsafe.Slice((**C.char)(argv), len(args))
	for i, a := range args {
		cargs[i] = C.CString(a)
	}
	defer func() {
		for _, p := range cargs {
			C.free(unsafe.Pointer(p))
		}
	}()
	return C.cc_ps_new(C.int(len(args)), (**C.char)(argv))
}

// Backend implements stream.Describer.
func (s *Recognizer) Backend() stream.Backend {
	return stream.Backend{Role: "asr", Name: "pocketsphinx"}
}

// Size returns the number of pooled decoders.
func (s *Recognizer) Size() int { return cap(s.free) }

// Busy returns how many decoders are recognizing a segment now.
func (s *Recognizer) Busy() int { return cap(s.free) - len(s.free) }

// Start implements Transcriber: it takes a free decoder from the pool.
func (s *Recognizer) Start(ctx context.Context) (stream.Utterance, error) {
	var d *C.ps_decoder_t
	select {
	case d = <-s.free:
	default:
		select {
		case d = <-s.free:
		case <-ctx.Done():
			return nil, stream.ErrBusy
		}
	}
	if d == nil {
		return nil, stream.ErrClosed
	}
	if C.ps_start_utt(d) < 0 {
		s.release(d)
		return nil, fmt.Errorf("pocketsphinx: start utterance failed")
	}
	u := &sphinxUtt{s: s, d: d}
	// Nothing carries over from whoever used this decoder before.
	u.Adapt(nil)
	return u, nil
}

func (s *Recognizer) release(d *C.ps_decoder_t) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		C.ps_free(d)
		return
	}
	s.free <- d // never blocks: the channel holds every decoder
}

// Close frees the idle decoders; decoders still in use are freed when their
// utterance ends. Start after Close returns stream.ErrClosed or stream.ErrBusy.
func (s *Recognizer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for {
		select {
		case d := <-s.free:
			C.ps_free(d)
		default:
			close(s.free)
			return nil
		}
	}
}

// DefaultPrimeMS is how much of a channel's first speech is held back, by
// default, to estimate its cepstral mean before it is decoded.
const DefaultPrimeMS = 3000

type sphinxUtt struct {
	s   *Recognizer
	d   *C.ps_decoder_t
	cmn []float32 // after Finish
	// prime holds audio not yet decoded: while priming, the first audio of
	// a channel that has no cepstral mean of its own yet; after it, what
	// is left of that audio, decoded a little faster than it arrives (see
	// Write) so that no single call stalls the pipeline.
	prime   []int16
	priming bool
}

// catchUp is how many samples of held-back audio Write decodes for each
// new sample, once priming ends: three seconds are caught up in 1.5.
const catchUp = 2

// Adapt implements stream.Adapter: the cepstral mean to start from. With nil (a
// channel's first speech) the utterance estimates the mean from its own
// first PrimeMS of audio before decoding it: PocketSphinx's live mean
// starts from the model's and moves only slowly, which costs the first
// sentences of every call many words (BENCHMARKS.md).
func (u *sphinxUtt) Adapt(state []float32) {
	if u.d == nil || len(u.s.cmn0) == 0 {
		return
	}
	fresh := len(state) != len(u.s.cmn0)
	u.priming = fresh && u.s.prime > 0
	if fresh {
		state = u.s.cmn0
	}
	C.cc_cmn_set(u.d, (*C.float)(&state[0]))
}

// endPrime sets the cepstral mean from the held-back audio, which is then
// decoded as Write and Finish catch up with it.
func (u *sphinxUtt) endPrime() {
	u.priming = false
	if len(u.prime) == 0 {
		return
	}
	mean := make([]float32, len(u.s.cmn0))
	if C.cc_cmn_estimate(u.d, (*C.int16)(unsafe.Pointer(&u.prime[0])), C.size_t(len(u.prime)), (*C.float)(&mean[0])) > 0 {
		C.cc_cmn_set(u.d, (*C.float)(&mean[0]))
	}
}

// drain decodes up to n samples of the held-back audio.
func (u *sphinxUtt) drain(n int) error {
	n = min(n, len(u.prime))
	if n == 0 {
		return nil
	}
	err := u.process(u.prime[:n])
	u.prime = u.prime[n:]
	if len(u.prime) == 0 {
		u.prime = nil
	}
	return err
}

func (u *sphinxUtt) process(pcm []int16) error {
	// The decoder copies the samples into its own buffers during the call.
	if C.ps_process_raw(u.d, (*C.int16)(unsafe.Pointer(&pcm[0])), C.size_t(len(pcm)), 0, 0) < 0 {
		return fmt.Errorf("pocketsphinx: process failed")
	}
	return nil
}

// Adapted implements stream.Adapter: the cepstral mean after Finish.
func (u *sphinxUtt) Adapted() []float32 { return u.cmn }

func (u *sphinxUtt) Write(pcm []int16) error {
	if u.d == nil {
		return stream.ErrClosed
	}
	if len(pcm) == 0 {
		return nil
	}
	if !u.priming && len(u.prime) == 0 {
		return u.process(pcm)
	}
	u.prime = append(u.prime, pcm...)
	if u.priming {
		if len(u.prime) < u.s.prime {
			return nil
		}
		u.endPrime()
	}
	return u.drain((1 + catchUp) * len(pcm))
}

func (u *sphinxUtt) Partial() (string, error) {
	if u.d == nil {
		return "", stream.ErrClosed
	}
	return cleanHyp(C.GoString(C.cc_ps_hyp(u.d))), nil
}

func (u *sphinxUtt) Finish() (string, error) {
	if u.d == nil {
		return "", stream.ErrClosed
	}
	d := u.d
	if u.priming {
		u.endPrime()
	}
	perr := u.drain(len(u.prime))
	u.d = nil
	defer u.s.release(d)
	if C.ps_end_utt(d) < 0 {
		return "", fmt.Errorf("pocketsphinx: end utterance failed")
	}
	if n := len(u.s.cmn0); n > 0 {
		u.cmn = make([]float32, n)
		C.cc_cmn_get(d, (*C.float)(&u.cmn[0]))
	}
	if perr != nil {
		return "", perr
	}
	return cleanHyp(C.GoString(C.cc_ps_hyp(d))), nil
}

func (u *sphinxUtt) Abort() {
	if u.d == nil {
		return
	}
	u.prime, u.priming = nil, false
	C.ps_end_utt(u.d)
	u.s.release(u.d)
	u.d = nil
}

// cleanHyp drops filler tokens such as <sil> or [noise] if any slip through.
func cleanHyp(h string) string {
	f := strings.Fields(h)
	out := f[:0]
	for _, w := range f {
		if strings.HasPrefix(w, "<") || strings.HasPrefix(w, "[") {
			continue
		}
		out = append(out, w)
	}
	return strings.Join(out, " ")
}
