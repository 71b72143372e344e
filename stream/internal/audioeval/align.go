package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/cuecard/cuecard/internal/wer"
)

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
	for _, p := range wer.Align(ref, hyp) {
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
