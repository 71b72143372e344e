package coach

import (
	"fmt"
	"strconv"
	"strings"
)

// A pattern is a phrase matched against an utterance's stemmed tokens.
// Words are stemmed like the text, so "problem" also matches "problems".
// In a phrase list entry:
//
//	a b | c d   either phrase ("|" between phrases)
//	(a|b)       either word at this position
//	#num        any number, spelled out or in digits
//	*           a gap of zero to three words (*N: zero to N words)
//
// A pattern never matches across a sentence boundary.
type pattern struct {
	src  string
	toks []ptok
}

type ptok struct {
	alts []string // stems; empty for #num and gaps
	num  bool
	gap  int // >0: a gap of 0..gap tokens
}

// matcher finds the patterns of one phrase list in an utterance; patterns
// are indexed by their first word.
type matcher struct {
	pats    []pattern
	byFirst map[string][]int
	other   []int // patterns whose first token is #num
}

// splitPhrases splits an entry at the "|" that separate whole phrases
// (those outside parentheses).
func splitPhrases(entry string) []string {
	var out []string
	depth, last := 0, 0
	for i, r := range entry {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case '|':
			if depth == 0 {
				out = append(out, strings.TrimSpace(entry[last:i]))
				last = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(entry[last:]))
}

func compilePatterns(a *analyzer, entries []string) (*matcher, error) {
	m := &matcher{byFirst: make(map[string][]int)}
	for _, e := range entries {
		for _, ph := range splitPhrases(e) {
			p, err := compilePattern(a, ph)
			if err != nil {
				return nil, err
			}
			idx := len(m.pats)
			m.pats = append(m.pats, p)
			first := p.toks[0]
			if first.num {
				m.other = append(m.other, idx)
				continue
			}
			for _, alt := range first.alts {
				m.byFirst[alt] = append(m.byFirst[alt], idx)
			}
		}
	}
	return m, nil
}

func compilePattern(a *analyzer, ph string) (pattern, error) {
	p := pattern{src: ph}
	for _, f := range strings.Fields(strings.ToLower(ph)) {
		switch {
		case f == "#num":
			p.toks = append(p.toks, ptok{num: true})
		case strings.HasPrefix(f, "*"):
			n := 3
			if len(f) > 1 {
				v, err := strconv.Atoi(f[1:])
				if err != nil || v < 1 || v > 12 {
					return p, fmt.Errorf("phrase %q: gap %q must be * or *N with N from 1 to 12", ph, f)
				}
				n = v
			}
			if len(p.toks) == 0 {
				return p, fmt.Errorf("phrase %q: cannot start with a gap", ph)
			}
			p.toks = append(p.toks, ptok{gap: n})
		case strings.HasPrefix(f, "("):
			if !strings.HasSuffix(f, ")") || len(f) < 3 {
				return p, fmt.Errorf("phrase %q: %q: word alternatives are written (a|b) without spaces", ph, f)
			}
			var t ptok
			for _, alt := range strings.Split(f[1:len(f)-1], "|") {
				if alt == "#num" {
					t.num = true
					continue
				}
				at := a.analyze(alt)
				if len(at.toks) != 1 {
					return p, fmt.Errorf("phrase %q: alternative %q is not one word (write whole phrases as \"a b | c d\")", ph, alt)
				}
				t.alts = append(t.alts, at.toks[0].stem)
			}
			p.toks = append(p.toks, t)
		default:
			if strings.ContainsAny(f, "()|") {
				return p, fmt.Errorf("phrase %q: unbalanced word alternatives in %q", ph, f)
			}
			// A contraction ("can't") stands for two words, as in the text.
			at := a.analyze(f)
			if len(at.toks) == 0 {
				return p, fmt.Errorf("phrase %q: %q has no letters or digits", ph, f)
			}
			for _, tk := range at.toks {
				p.toks = append(p.toks, ptok{alts: []string{tk.stem}, num: false})
			}
		}
	}
	if len(p.toks) == 0 {
		return p, fmt.Errorf("empty phrase")
	}
	if p.toks[len(p.toks)-1].gap > 0 {
		return p, fmt.Errorf("phrase %q: cannot end with a gap", ph)
	}
	// Matching backtracks over gaps: bound them so that no phrase can
	// make matching slow.
	gaps := 0
	for i, t := range p.toks {
		if t.gap > 0 {
			gaps++
			if p.toks[i-1].gap > 0 {
				return p, fmt.Errorf("phrase %q: two gaps in a row (write one larger gap, *N)", ph)
			}
		}
	}
	switch {
	case gaps > maxGaps:
		return p, fmt.Errorf("phrase %q: more than %d gaps", ph, maxGaps)
	case len(p.toks) > maxPhraseWords:
		return p, fmt.Errorf("phrase %q: longer than %d words", ph, maxPhraseWords)
	}
	return p, nil
}

// Bounds on a phrase, so that matching stays fast whatever a playbook says.
const (
	maxGaps        = 3
	maxPhraseWords = 16
)

// hit is one match: tokens [start, end] inclusive.
type hit struct{ start, end int }

// find appends to dst the non-overlapping matches in t, leftmost first and
// longest at each position.
func (m *matcher) find(t *text, dst []hit) []hit {
	if m == nil || len(m.pats) == 0 {
		return dst
	}
	next := 0
	for i := range t.toks {
		if i < next {
			continue
		}
		best := -1
		try := func(idx int) {
			if e := matchAt(t, m.pats[idx].toks, i, -1); e > best {
				best = e
			}
		}
		for _, idx := range m.byFirst[t.toks[i].stem] {
			try(idx)
		}
		for _, idx := range m.other {
			try(idx)
		}
		if best >= 0 {
			dst = append(dst, hit{i, best})
			next = best + 1
		}
	}
	return dst
}

// matchAt returns the index of the last token of the longest match of pt
// starting at token i, or -1. sent is the sentence the match is in, or -1
// before its first token.
func matchAt(t *text, pt []ptok, i, sent int) int {
	if len(pt) == 0 {
		return i - 1
	}
	if i >= len(t.toks) || (sent >= 0 && t.toks[i].sent != sent) {
		return -1
	}
	p := pt[0]
	if p.gap > 0 {
		best := -1
		for skip := 0; skip <= p.gap && i+skip < len(t.toks) && t.toks[i+skip].sent == sent; skip++ {
			if e := matchAt(t, pt[1:], i+skip, sent); e > best {
				best = e
			}
		}
		return best
	}
	tk := t.toks[i]
	ok := p.num && tk.num
	for _, a := range p.alts {
		if a == tk.stem {
			ok = true
			break
		}
	}
	if !ok {
		return -1
	}
	return matchAt(t, pt[1:], i+1, tk.sent)
}
