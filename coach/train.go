package coach

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"gonum.org/v1/gonum/optimize"
)

// Example is one labelled utterance of the signal corpus
// (coach/corpus/README.md describes the format).
type Example struct {
	Ctx     []CorpusTurn `json:"ctx"`
	Speaker string       `json:"speaker"`
	Text    string       `json:"text"`
	Labels  []string     `json:"labels"`
	Voice   string       `json:"voice"`
	// Source is the corpus file it came from.
	Source string `json:"-"`
}

// CorpusTurn is one turn of an example's context.
type CorpusTurn struct {
	Speaker string `json:"speaker"`
	Text    string `json:"text"`
}

// MaxCorpusLine bounds one line of a corpus file.
const MaxCorpusLine = 64 << 10

// ReadCorpus reads the JSONL examples of one corpus file. labels lists the
// signals an example may carry; an error names the file and line.
func ReadCorpus(r io.Reader, name string, labels []string) ([]Example, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxCorpusLine)
	var out []Example
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var ex Example
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ex); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: more than one JSON value on the line", name, line)
		}
		if err := ex.check(labels); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		ex.Source = name
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func (ex *Example) check(labels []string) error {
	if _, ok := ParseSpeaker(ex.Speaker); !ok {
		return fmt.Errorf("speaker %q is neither rep nor prospect", ex.Speaker)
	}
	if strings.TrimSpace(ex.Text) == "" {
		return errors.New("empty text")
	}
	for _, l := range ex.Labels {
		if !slices.Contains(labels, l) {
			return fmt.Errorf("unknown label %q", l)
		}
	}
	for _, c := range ex.Ctx {
		if _, ok := ParseSpeaker(c.Speaker); !ok {
			return fmt.Errorf("context speaker %q is neither rep nor prospect", c.Speaker)
		}
	}
	return nil
}

// context returns the other side's last turn in the example's context.
func (ex *Example) context() string {
	for i := len(ex.Ctx) - 1; i >= 0; i-- {
		if ex.Ctx[i].Speaker != ex.Speaker {
			return ex.Ctx[i].Text
		}
	}
	return ""
}

// TrainConfig sets what the signal model learns and how.
type TrainConfig struct {
	Name       string
	Labels     []string
	Speakers   []ModelSpeakers // per label
	L2         float64         // weight decay, per example
	PosWeight  float64         // weight of a positive example relative to a negative, at most
	DenseScale float32         // the word vectors' scale against the 0/1 features
	MinCount   int             // a feature must appear in this many examples
	Iterations int             // L-BFGS iterations per label
}

// DefaultTrainConfig returns the settings the built-in model is trained
// with: the signals of coach/corpus/README.md.
func DefaultTrainConfig() TrainConfig {
	b, r, p := FromRep|FromProspect, FromRep, FromProspect
	return TrainConfig{
		Name: "signals-1",
		Labels: []string{"business", "pain", "vague", "solved", "future_q", "value", "offer", "door",
			"resistance", "hedge", "pitch", "self_serving", "next_step"},
		Speakers:   []ModelSpeakers{b, p, p, p, r, p, r, p, p, p, r, r, b},
		L2:         1e-3,
		PosWeight:  3,
		DenseScale: 3,
		MinCount:   2,
		Iterations: 300,
	}
}

// prepared is the corpus as feature vectors.
type prepared struct {
	spk    []Speaker
	sparse [][]uint64
	dense  [][]float32
	y      [][]bool // per example, per label
}

func prepare(m *SignalModel, exs []Example, labels []string) *prepared {
	a := newAnalyzer(nil)
	p := &prepared{}
	var f features
	for _, ex := range exs {
		spk, _ := ParseSpeaker(ex.Speaker)
		t := a.analyze(ex.Text)
		c := a.analyze(ex.context())
		m.extract(&f, spk, &t, &c)
		y := make([]bool, len(labels))
		for i, l := range labels {
			y[i] = slices.Contains(ex.Labels, l)
		}
		p.spk = append(p.spk, spk)
		p.sparse = append(p.sparse, slices.Clone(f.sparse))
		p.dense = append(p.dense, slices.Clone(f.dense))
		p.y = append(p.y, y)
	}
	return p
}

// TrainSignalModel learns a model from exs. It is deterministic: the same
// corpus and configuration give the same model, byte for byte.
func TrainSignalModel(exs []Example, cfg TrainConfig) (*SignalModel, error) {
	if len(cfg.Labels) == 0 || len(cfg.Speakers) != len(cfg.Labels) {
		return nil, errors.New("train: labels and speakers differ in number")
	}
	vec, err := builtinVectors()
	if err != nil {
		return nil, err
	}
	m := &SignalModel{vec: vec, hdr: modelHeader{
		Name: cfg.Name, Labels: cfg.Labels, Speakers: cfg.Speakers, Dense: 2 * vec.dim,
		DenseScale: cfg.DenseScale, Corpus: len(exs), Thresholds: map[string]float64{},
	}}
	sum := sha256.Sum256(vectorsBin)
	m.hdr.Vectors = hex.EncodeToString(sum[:8])
	p := prepare(m, exs, cfg.Labels)
	m.vocabulary(p, cfg.MinCount)
	cols := m.cols()
	m.w = make([]float32, len(cfg.Labels)*cols)
	m.b = make([]float32, len(cfg.Labels))
	rows := p.columns(m)
	var wg sync.WaitGroup
	errs := make([]error, len(cfg.Labels))
	sem := make(chan struct{}, 2)
	for l := range cfg.Labels {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			w, b, err := fitLabel(rows, p, l, cfg, m.hdr.Features)
			if err != nil {
				errs[l] = fmt.Errorf("train %s: %w", cfg.Labels[l], err)
				return
			}
			copy(m.w[l*cols:], w)
			m.b[l] = b
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.index()
	return m, nil
}

// vocabulary keeps the sparse features seen in at least min examples, in
// hash order.
func (m *SignalModel) vocabulary(p *prepared, min int) {
	count := map[uint64]int{}
	for _, fs := range p.sparse {
		seen := map[uint64]bool{}
		for _, h := range fs {
			if !seen[h] {
				seen[h] = true
				count[h]++
			}
		}
	}
	var keep []uint64
	for h, n := range count {
		if n >= min {
			keep = append(keep, h)
		}
	}
	slices.Sort(keep)
	m.feats = make(map[uint64]int32, len(keep))
	for i, h := range keep {
		m.feats[h] = int32(i)
	}
	m.hdr.Features = len(keep)
}

// row is one example's known sparse columns (with their counts).
type row struct {
	cols []int32
	vals []float64
}

func (p *prepared) columns(m *SignalModel) []row {
	rows := make([]row, len(p.sparse))
	for i, fs := range p.sparse {
		cnt := map[int32]float64{}
		for _, h := range fs {
			if c, ok := m.feats[h]; ok {
				cnt[c]++
			}
		}
		r := row{}
		for c := range cnt {
			r.cols = append(r.cols, c)
		}
		slices.Sort(r.cols)
		for _, c := range r.cols {
			r.vals = append(r.vals, math.Min(cnt[c], 2))
		}
		rows[i] = r
	}
	return rows
}

// fitLabel fits one label's logistic model by L-BFGS on the examples whose
// speaker can give it: weighted log loss plus L2 on the weights.
func fitLabel(rows []row, p *prepared, l int, cfg TrainConfig, nSparse int) ([]float32, float32, error) {
	var idx []int
	pos := 0
	for i, spk := range p.spk {
		if cfg.Speakers[l].has(spk) {
			idx = append(idx, i)
			if p.y[i][l] {
				pos++
			}
		}
	}
	cols := nSparse + len(p.dense[0])
	if pos == 0 || pos == len(idx) {
		return make([]float32, cols), -4, nil
	}
	pw := math.Min(cfg.PosWeight, float64(len(idx)-pos)/float64(pos))
	pw = math.Max(pw, 1)
	n := float64(len(idx))
	lossGrad := func(grad, x []float64) float64 {
		if grad != nil {
			clear(grad)
		}
		var loss float64
		b := x[cols]
		for _, i := range idx {
			z := b
			r := rows[i]
			for k, c := range r.cols {
				z += x[c] * r.vals[k]
			}
			for k, v := range p.dense[i] {
				z += x[nSparse+k] * float64(v)
			}
			y, wt := 0.0, 1.0
			if p.y[i][l] {
				y, wt = 1, pw
			}
			// log(1+e^z) - y z, computed stably.
			loss += wt * (softplus(z) - y*z)
			if grad == nil {
				continue
			}
			g := wt * (sigmoid(z) - y) / n
			for k, c := range r.cols {
				grad[c] += g * r.vals[k]
			}
			for k, v := range p.dense[i] {
				grad[nSparse+k] += g * float64(v)
			}
			grad[cols] += g
		}
		loss /= n
		var reg float64
		for k := range cols {
			reg += x[k] * x[k]
			if grad != nil {
				grad[k] += cfg.L2 * x[k]
			}
		}
		return loss + cfg.L2/2*reg
	}
	prob := optimize.Problem{
		Func: func(x []float64) float64 { return lossGrad(nil, x) },
		Grad: func(grad, x []float64) { lossGrad(grad, x) },
	}
	x0 := make([]float64, cols+1)
	res, err := optimize.Minimize(prob, x0, &optimize.Settings{MajorIterations: cfg.Iterations, GradientThreshold: 1e-7}, &optimize.LBFGS{})
	if err != nil && res == nil {
		return nil, 0, err
	}
	w := make([]float32, cols)
	for k := range cols {
		w[k] = float32(res.X[k])
	}
	return w, float32(res.X[cols]), nil
}

func softplus(z float64) float64 {
	if z > 30 {
		return z
	}
	return math.Log1p(math.Exp(z))
}

// LabelScore is a signal's precision and recall on held-out examples.
type LabelScore struct {
	Label     string  `json:"label"`
	Threshold float64 `json:"threshold"`
	Positives int     `json:"positives"`
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
}

// Precision returns TP/(TP+FP), 1 when nothing was predicted.
func (s LabelScore) Precision() float64 { return ratio(s.TP, s.TP+s.FP) }

// Recall returns TP/(TP+FN), 1 when there was nothing to find.
func (s LabelScore) Recall() float64 { return ratio(s.TP, s.TP+s.FN) }

// F1 is the harmonic mean of precision and recall.
func (s LabelScore) F1() float64 {
	p, r := s.Precision(), s.Recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// CVReport is a cross-validation's result: per label, scored on examples
// no fold's model was trained on, at the threshold that gave the best F1
// over all folds.
type CVReport struct {
	Folds  int          `json:"folds"`
	Labels []LabelScore `json:"labels"`
	// ByGroup holds the same per group of examples (a voice, or a corpus
	// file when folds are files).
	ByGroup map[string][]LabelScore `json:"by_group"`
}

// CrossValidate trains on all folds but one and scores the one left out,
// for every fold. fold assigns each example its fold (0..folds-1);
// FoldsByHash and FoldsBySource make the usual ones.
func CrossValidate(exs []Example, cfg TrainConfig, fold []int, folds int, group func(*Example) string) (*CVReport, error) {
	scores := make([][]float64, len(exs))
	for k := range folds {
		var train, test []Example
		var testIdx []int
		for i, ex := range exs {
			if fold[i] == k {
				test = append(test, ex)
				testIdx = append(testIdx, i)
			} else {
				train = append(train, ex)
			}
		}
		if len(test) == 0 || len(train) == 0 {
			continue
		}
		m, err := TrainSignalModel(train, cfg)
		if err != nil {
			return nil, err
		}
		p := prepare(m, test, cfg.Labels)
		for j, i := range testIdx {
			f := features{sparse: p.sparse[j], dense: p.dense[j]}
			s := make([]float64, len(cfg.Labels))
			for l := range cfg.Labels {
				s[l] = m.score(l, &f, p.spk[j])
			}
			scores[i] = s
		}
	}
	rep := &CVReport{Folds: folds, ByGroup: map[string][]LabelScore{}}
	for l, name := range cfg.Labels {
		best := LabelScore{}
		bestF := -1.0
		for th := 0.2; th < 0.91; th += 0.05 {
			s := tally(exs, scores, l, name, math.Round(th*100)/100, cfg.Speakers[l], nil)
			if f := s.F1(); f > bestF+1e-9 {
				best, bestF = s, f
			}
		}
		rep.Labels = append(rep.Labels, best)
		if group == nil {
			continue
		}
		groups := map[string]bool{}
		for i := range exs {
			groups[group(&exs[i])] = true
		}
		names := make([]string, 0, len(groups))
		for g := range groups {
			names = append(names, g)
		}
		sort.Strings(names)
		for _, g := range names {
			s := tally(exs, scores, l, name, best.Threshold, cfg.Speakers[l], func(ex *Example) bool { return group(ex) == g })
			rep.ByGroup[g] = append(rep.ByGroup[g], s)
		}
	}
	return rep, nil
}

func tally(exs []Example, scores [][]float64, l int, name string, th float64, spk ModelSpeakers, keep func(*Example) bool) LabelScore {
	s := LabelScore{Label: name, Threshold: th}
	for i := range exs {
		ex := &exs[i]
		sp, _ := ParseSpeaker(ex.Speaker)
		if scores[i] == nil || !spk.has(sp) || keep != nil && !keep(ex) {
			continue
		}
		y := slices.Contains(ex.Labels, name)
		pred := scores[i][l] >= th
		if y {
			s.Positives++
		}
		switch {
		case y && pred:
			s.TP++
		case pred:
			s.FP++
		case y:
			s.FN++
		}
	}
	return s
}

// FoldsByHash assigns examples to k folds by a hash of their text, so an
// example keeps its fold whatever else the corpus holds.
func FoldsByHash(exs []Example, k int) []int {
	k = max(k, 1)
	out := make([]int, len(exs))
	for i, ex := range exs {
		h := fnv.New32a()
		h.Write([]byte(ex.Source))
		h.Write([]byte{0})
		h.Write([]byte(ex.Text))
		out[i] = int(h.Sum32() % uint32(k))
	}
	return out
}

// FoldsBySource makes one fold per corpus file: each file is scored by a
// model trained on the others (voices it never saw). It returns the folds
// and their number.
func FoldsBySource(exs []Example) ([]int, int) {
	idx := map[string]int{}
	var names []string
	for _, ex := range exs {
		if _, ok := idx[ex.Source]; !ok {
			idx[ex.Source] = 0
			names = append(names, ex.Source)
		}
	}
	sort.Strings(names)
	for i, n := range names {
		idx[n] = i
	}
	out := make([]int, len(exs))
	for i, ex := range exs {
		out[i] = idx[ex.Source]
	}
	return out, len(names)
}

// SetThresholds records thresholds (from a cross-validation) in the model.
func (m *SignalModel) SetThresholds(scores []LabelScore) {
	if m.hdr.Thresholds == nil {
		m.hdr.Thresholds = map[string]float64{}
	}
	for _, s := range scores {
		m.hdr.Thresholds[s.Label] = s.Threshold
	}
}
