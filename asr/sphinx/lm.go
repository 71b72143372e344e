package sphinx

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode"
)

//go:embed lm/sales.txt
var salesCorpus string

// salesSentences returns the built-in sales-conversation sentences that the
// domain language model is estimated from.
func salesSentences() []string {
	var out []string
	for _, l := range strings.Split(salesCorpus, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// ngramKey holds up to three words; unused places are "".
type ngramKey [3]string

// writeARPA estimates a trigram back-off language model from sentences
// and writes it in ARPA format. It uses interpolated absolute discounting
// (D = 0.7), written as back-off weights the way ARPA files need. Words
// for which keep returns false are dropped (a recognizer can only use
// words its dictionary has).
func writeARPA(w io.Writer, sentences []string, keep func(string) bool) error {
	c := countNgrams(sentences, keep)
	if len(c[1]) == 0 {
		return fmt.Errorf("language model: no usable sentences")
	}
	m := &lm{p: [4]map[ngramKey]float64{nil, {}, {}, {}}, bow: [3]map[ngramKey]float64{nil, {}, {}}}
	// Unigrams: maximum likelihood, with a little mass for <unk>.
	var n1 float64
	for _, v := range c[1] {
		n1 += v
	}
	const unk = 0.01
	for k, v := range c[1] {
		m.p[1][k] = (1 - unk) * v / n1
	}
	m.p[1][ngramKey{"<unk>"}] = unk
	m.estimate(2, c[2], func(k ngramKey) float64 { return m.p1(k[1]) })
	m.estimate(3, c[3], func(k ngramKey) float64 { return m.p2(k[1], k[2]) })
	return m.write(w)
}

// countNgrams counts the uni-, bi- and trigrams of the sentences, with
// sentence boundaries, keeping only the words keep accepts (nil: all).
func countNgrams(sentences []string, keep func(string) bool) [4]map[ngramKey]float64 {
	c := [4]map[ngramKey]float64{nil, {}, {}, {}}
	for _, s := range sentences {
		words := []string{"<s>"}
		for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
			return !unicode.IsLetter(r) && r != '\''
		}) {
			if keep == nil || keep(f) {
				words = append(words, f)
			}
		}
		if len(words) == 1 {
			continue
		}
		words = append(words, "</s>")
		for i := 1; i < len(words); i++ {
			c[1][ngramKey{words[i]}]++
			c[2][ngramKey{words[i-1], words[i]}]++
			if i >= 2 {
				c[3][ngramKey{words[i-2], words[i-1], words[i]}]++
			}
		}
	}
	return c
}

// lm is a back-off trigram model being estimated: probabilities by order
// and the back-off weights of 1- and 2-word histories.
type lm struct {
	p   [4]map[ngramKey]float64
	bow [3]map[ngramKey]float64
}

func (m *lm) p1(w string) float64 { return m.p[1][ngramKey{w}] }

// p2 is the bigram probability with back-off.
func (m *lm) p2(v, w string) float64 {
	if x, ok := m.p[2][ngramKey{v, w}]; ok {
		return x
	}
	b, ok := m.bow[1][ngramKey{v}]
	if !ok {
		b = 1
	}
	return b * m.p1(w)
}

// estimate fills order n from its counts, given the lower order, with
// interpolated absolute discounting.
func (m *lm) estimate(n int, counts map[ngramKey]float64, lower func(k ngramKey) float64) {
	const d = 0.7
	type ctx struct{ total, types, mass, lowerMass float64 }
	hs := map[ngramKey]*ctx{}
	hist := func(k ngramKey) ngramKey {
		k[n-1] = ""
		return k
	}
	for k, v := range counts {
		h := hs[hist(k)]
		if h == nil {
			h = &ctx{}
			hs[hist(k)] = h
		}
		h.total += v
		h.types++
	}
	for k, v := range counts {
		h := hs[hist(k)]
		pk := math.Max(v-d, 0)/h.total + d*h.types/h.total*lower(k)
		m.p[n][k] = pk
		h.mass += pk
		h.lowerMass += lower(k)
	}
	for k, h := range hs {
		m.bow[n-1][k] = math.Max(1-h.mass, 1e-9) / math.Max(1-h.lowerMass, 1e-9)
	}
}

// write writes the model in ARPA format, n-grams sorted.
func (m *lm) write(w io.Writer) error {
	p, bow := m.p, m.bow
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "\\data\\\nngram 1=%d\nngram 2=%d\nngram 3=%d\n", len(p[1])+1, len(p[2]), len(p[3]))
	for n := 1; n <= 3; n++ {
		fmt.Fprintf(bw, "\n\\%d-grams:\n", n)
		if n == 1 {
			fmt.Fprintf(bw, "-99.0000\t<s>\t%.4f\n", log10(bow[1][ngramKey{"<s>"}]))
		}
		keys := make([]ngramKey, 0, len(p[n]))
		for k := range p[n] {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b ngramKey) int { return strings.Compare(strings.Join(a[:], " "), strings.Join(b[:], " ")) })
		for _, k := range keys {
			fmt.Fprintf(bw, "%.4f\t%s", log10(p[n][k]), strings.Join(k[:n], " "))
			if n < 3 {
				if b, ok := bow[n][k]; ok {
					fmt.Fprintf(bw, "\t%.4f", log10(b))
				}
			}
			bw.WriteByte('\n')
		}
	}
	bw.WriteString("\n\\end\\\n")
	return bw.Flush()
}

func log10(x float64) float64 {
	if x <= 0 {
		return -99
	}
	return math.Log10(x)
}
