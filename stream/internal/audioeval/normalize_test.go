package main

import (
	"strings"
	"testing"

	"github.com/cuecard/cuecard/internal/wer"
)

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Hello, World!", "hello world"},
		{"It's 5% of $2,400 — uh, in 2022.", "it's five percent of two thousand four hundred dollars in two thousand twenty two"},
		{"the 1st of 3 reps; 10k users", "the first of three reps ten thousand users"},
		{"re-keying 2.5 times", "re keying two point five times"},
	}
	for _, c := range cases {
		if got := strings.Join(normalize(c.in), " "); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if d := wer.Errors(strings.Fields("a b c d"), strings.Fields("a x c")); d != 2 {
		t.Errorf("edit distance %d, want 2", d)
	}
}
