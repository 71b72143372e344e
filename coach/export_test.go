package coach

// Hooks for the black-box tests in package coach_test; nothing here is
// part of the package's API.

// DecodeVectors exposes decodeVectors, wrapping the table it decodes.
func DecodeVectors(b []byte) (*Vectors, error) {
	v, err := decodeVectors(b)
	if err != nil {
		return nil, err
	}
	return &Vectors{v: v}, nil
}

// BuiltinVectors returns the embedded word vectors.
func BuiltinVectors() (*Vectors, error) {
	v, err := builtinVectors()
	if err != nil {
		return nil, err
	}
	return &Vectors{v: v}, nil
}

// Vectors wraps a decoded vector table for tests.
type Vectors struct{ v *vectors }

// Len returns the number of words.
func (v *Vectors) Len() int { return len(v.v.index) }

// Dim returns the vectors' dimension.
func (v *Vectors) Dim() int { return v.v.dim }

// Lookup returns word's dequantized vector, or nil if the word is unknown.
func (v *Vectors) Lookup(word string) []float32 {
	dst := make([]float32, v.v.dim)
	if !v.v.add(dst, word) {
		return nil
	}
	return dst
}

// SignalScorer scores utterances the way the engine does on its hot path:
// one analyzer and one feature buffer, reused between utterances.
type SignalScorer struct {
	m   *SignalModel
	an  *analyzer
	f   features
	out []float64
}

// NewSignalScorer returns a scorer for m.
func NewSignalScorer(m *SignalModel) *SignalScorer {
	return &SignalScorer{m: m, an: newAnalyzer(nil), out: make([]float64, len(m.hdr.Labels))}
}

// Score analyzes text said by spk after the other side's turn ctx,
// extracts its features and scores every label, in the model's label
// order. The returned slice is reused by the next call.
func (s *SignalScorer) Score(spk Speaker, text, ctx string) []float64 {
	t, c := s.an.analyze(text), s.an.analyze(ctx)
	s.m.extract(&s.f, spk, &t, &c)
	for l := range s.out {
		s.out[l] = s.m.score(l, &s.f, spk)
	}
	return s.out
}

// RenderCue compiles src as a cue template and runs it with quote as
// .Quote.
func RenderCue(src, quote string) (string, error) {
	t, err := parseTemplate("test", src)
	if err != nil {
		return "", err
	}
	return renderCue(t, templateData{Quote: quote})
}
