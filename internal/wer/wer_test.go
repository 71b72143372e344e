package wer

import (
	"reflect"
	"strings"
	"testing"
)

func TestAlign(t *testing.T) {
	ref := strings.Fields("so how can you help me")
	hyp := strings.Fields("so how can the help me today")
	want := [][2]string{{"so", "so"}, {"how", "how"}, {"can", "can"}, {"you", "the"}, {"help", "help"}, {"me", "me"}, {"", "today"}}
	if got := Align(ref, hyp); !reflect.DeepEqual(got, want) {
		t.Fatalf("Align = %v, want %v", got, want)
	}
	for _, c := range []struct {
		ref, hyp string
		want     int
	}{
		{"so how can you help me", "so how can the help me today", 2},
		{"a b c d", "a x c", 2},
		{"", "a b", 2},
		{"a b", "", 2},
		{"a b c", "a b c", 0},
	} {
		if got := Errors(strings.Fields(c.ref), strings.Fields(c.hyp)); got != c.want {
			t.Errorf("Errors(%q, %q) = %d, want %d", c.ref, c.hyp, got, c.want)
		}
	}
}
