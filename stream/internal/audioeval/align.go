package main

import (
	"fmt"
	"io"
	"sort"
)

// align returns the word-level Levenshtein alignment of ref and hyp as
// pairs (ref word, hyp word); "" marks an insertion or a deletion.
func align(ref, hyp []string) [][2]string {
	n, m := len(ref), len(hyp)
	d := make([][]int, n+1)
	for i := range d {
		d[i] = make([]int, m+1)
		d[i][0] = i
	}
	for j := 0; j <= m; j++ {
		d[0][j] = j
	}
	for i := 1; i <= n; i++ {
		for j := 1; j <= m; j++ {
			c := d[i-1][j-1]
			if ref[i-1] != hyp[j-1] {
				c++
			}
			d[i][j] = min(c, d[i-1][j]+1, d[i][j-1]+1)
		}
	}
	var out [][2]string
	for i, j := n, m; i > 0 || j > 0; {
		switch {
		case i > 0 && j > 0 && d[i][j] == d[i-1][j-1]+b2i(ref[i-1] != hyp[j-1]):
			out = append(out, [2]string{ref[i-1], hyp[j-1]})
			i, j = i-1, j-1
		case i > 0 && d[i][j] == d[i-1][j]+1:
			out = append(out, [2]string{ref[i-1], ""})
			i--
		default:
			out = append(out, [2]string{"", hyp[j-1]})
			j--
		}
	}
	for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
		out[l], out[r] = out[r], out[l]
	}
	return out
}

// errorTally counts the recognizer's mistakes by kind and by word pair.
type errorTally struct {
	sub, del, ins int
	pairs         map[[2]string]int
	oov           map[string]int // reference words missing from the dictionary
	vocab         map[string]bool
}

func (t *errorTally) add(ref, hyp []string) {
	if t.pairs == nil {
		t.pairs, t.oov = map[[2]string]int{}, map[string]int{}
	}
	for _, w := range ref {
		if t.vocab != nil && !t.vocab[w] {
			t.oov[w]++
		}
	}
	for _, p := range align(ref, hyp) {
		switch {
		case p[0] == p[1]:
			continue
		case p[1] == "":
			t.del++
		case p[0] == "":
			t.ins++
		default:
			t.sub++
		}
		t.pairs[p]++
	}
}

func (t *errorTally) print(w io.Writer, top int) {
	fmt.Fprintf(w, "errors: %d substitutions, %d deletions, %d insertions\n", t.sub, t.del, t.ins)
	type kv struct {
		k [2]string
		n int
	}
	var all []kv
	for k, n := range t.pairs {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].k[0]+"|"+all[i].k[1] < all[j].k[0]+"|"+all[j].k[1]
	})
	for i, e := range all {
		if i == top {
			break
		}
		r, h := e.k[0], e.k[1]
		if r == "" {
			r = "·"
		}
		if h == "" {
			h = "·"
		}
		fmt.Fprintf(w, "  %3d  %s → %s\n", e.n, r, h)
	}
	if t.vocab != nil {
		n := 0
		var words []string
		for w, c := range t.oov {
			n += c
			words = append(words, w)
		}
		sort.Strings(words)
		fmt.Fprintf(w, "reference words not in the dictionary: %d (%d distinct) %v\n", n, len(words), words)
	}
}
