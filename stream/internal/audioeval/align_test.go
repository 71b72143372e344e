package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestAlign(t *testing.T) {
	ref := strings.Fields("so how can you help me")
	hyp := strings.Fields("so how can the help me today")
	got := align(ref, hyp)
	want := [][2]string{{"so", "so"}, {"how", "how"}, {"can", "can"}, {"you", "the"}, {"help", "help"}, {"me", "me"}, {"", "today"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("align = %v, want %v", got, want)
	}
	var tally errorTally
	tally.vocab = map[string]bool{"so": true, "how": true, "can": true, "you": true, "help": true}
	tally.add(ref, hyp)
	tally.add(strings.Fields("help me"), strings.Fields("help"))
	if tally.sub != 1 || tally.ins != 1 || tally.del != 1 {
		t.Errorf("sub/ins/del = %d/%d/%d, want 1/1/1", tally.sub, tally.ins, tally.del)
	}
	if tally.oov["me"] != 2 || len(tally.oov) != 1 {
		t.Errorf("words missing from the dictionary = %v, want me twice", tally.oov)
	}
	if n := editDistance(ref, hyp); n != 2 {
		t.Errorf("editDistance = %d, want 2", n)
	}
}
