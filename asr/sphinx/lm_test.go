package sphinx_test

import (
	"bufio"
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/asr/sphinx"
)

// TestWriteARPA checks the language model is a proper distribution: for
// every history seen, the probabilities of all words (seen ones directly,
// the others through the back-off weight) sum to one.
func TestWriteARPA(t *testing.T) {
	var buf bytes.Buffer
	sents := append(sphinx.SalesCorpus(), "the cat sat on the mat", "the cat ran")
	if err := sphinx.WriteARPA(&buf, sents, nil); err != nil {
		t.Fatal(err)
	}
	p := [4]map[string]float64{nil, {}, {}, {}}
	bow := [3]map[string]float64{nil, {}, {}}
	order := 0
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "\\") && strings.HasSuffix(l, "-grams:") {
			order, _ = strconv.Atoi(l[1:2])
			continue
		}
		f := strings.Split(l, "\t")
		if order == 0 || len(f) < 2 {
			continue
		}
		lp, _ := strconv.ParseFloat(f[0], 64)
		p[order][f[1]] = math.Pow(10, lp)
		if len(f) == 3 {
			b, _ := strconv.ParseFloat(f[2], 64)
			bow[order][f[1]] = math.Pow(10, b)
		}
	}
	var vocab []string
	sum := 0.0
	for w, v := range p[1] {
		if w != "<s>" {
			vocab = append(vocab, w)
			sum += v
		}
	}
	if math.Abs(sum-1) > 1e-3 {
		t.Fatalf("unigrams sum to %f", sum)
	}
	pb := func(v, w string) float64 {
		if x, ok := p[2][v+" "+w]; ok {
			return x
		}
		b, ok := bow[1][v]
		if !ok {
			b = 1
		}
		return b * p[1][w]
	}
	for _, h := range []string{"the", "<s>", "we", "cat"} {
		s := 0.0
		for _, w := range vocab {
			s += pb(h, w)
		}
		if math.Abs(s-1) > 1e-3 {
			t.Errorf("P(.|%s) sums to %f", h, s)
		}
	}
	for _, h := range [][2]string{{"the", "cat"}, {"<s>", "we"}, {"let", "me"}} {
		s := 0.0
		for _, w := range vocab {
			if x, ok := p[3][h[0]+" "+h[1]+" "+w]; ok {
				s += x
				continue
			}
			b, ok := bow[2][h[0]+" "+h[1]]
			if !ok {
				b = 1
			}
			s += b * pb(h[1], w)
		}
		if math.Abs(s-1) > 1e-3 {
			t.Errorf("P(.|%s %s) sums to %f", h[0], h[1], s)
		}
	}
}
