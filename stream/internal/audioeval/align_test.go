package main

import (
	"strings"
	"testing"
)

func TestErrorTally(t *testing.T) {
	var tally errorTally
	tally.vocab = map[string]bool{"so": true, "how": true, "can": true, "you": true, "help": true}
	tally.add(strings.Fields("so how can you help me"), strings.Fields("so how can the help me today"))
	tally.add(strings.Fields("help me"), strings.Fields("help"))
	if tally.sub != 1 || tally.ins != 1 || tally.del != 1 {
		t.Errorf("sub/ins/del = %d/%d/%d, want 1/1/1", tally.sub, tally.ins, tally.del)
	}
	if tally.pairs[[2]string{"you", "the"}] != 1 || tally.pairs[[2]string{"", "today"}] != 1 || tally.pairs[[2]string{"me", ""}] != 1 {
		t.Errorf("pairs = %v", tally.pairs)
	}
	if tally.oov["me"] != 2 || len(tally.oov) != 1 {
		t.Errorf("words missing from the dictionary = %v, want me twice", tally.oov)
	}
}
