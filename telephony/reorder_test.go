package telephony_test

import (
	"slices"
	"testing"

	"github.com/cuecard/cuecard/telephony"
)

func frame(seq int64) telephony.Frame {
	return telephony.Frame{Track: telephony.Inbound, Seq: seq, TimestampMS: (seq - 1) * 20, PCM: []int16{int16(seq), 1, 2, 3}}
}

func TestReorder(t *testing.T) {
	cases := []struct {
		name string
		in   []int64
		// out: the sequence numbers released, negative for concealed.
		out  []int64
		want telephony.Stats
	}{
		{"in order", []int64{1, 2, 3, 4}, []int64{1, 2, 3, 4}, telephony.Stats{Frames: 4}},
		{"swapped", []int64{1, 3, 2, 4}, []int64{1, 2, 3, 4}, telephony.Stats{Frames: 4, Reordered: 1}},
		{"late duplicate", []int64{1, 2, 3, 2, 4}, []int64{1, 2, 3, 4}, telephony.Stats{Frames: 5, Late: 1}},
		{"held duplicate", []int64{1, 3, 3, 2}, []int64{1, 2, 3}, telephony.Stats{Frames: 4, Reordered: 1, Duplicate: 1}},
		{"lost frame concealed", []int64{1, 3, 4, 5, 6}, []int64{1, -2, 3, 4, 5, 6}, telephony.Stats{Frames: 5, Reordered: 4, Concealed: 1}},
		{"lost then late", []int64{1, 3, 4, 5, 6, 2, 7}, []int64{1, -2, 3, 4, 5, 6, 7}, telephony.Stats{Frames: 7, Reordered: 4, Concealed: 1, Late: 1}},
		{"burst lost", []int64{1, 5, 6, 7}, []int64{1, -2, -3, -4, 5, 6, 7}, telephony.Stats{Frames: 4, Reordered: 3, Concealed: 3}},
		{"flushed at the end", []int64{1, 3}, []int64{1, -2, 3}, telephony.Stats{Frames: 2, Reordered: 1, Concealed: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := telephony.NewReorder(3)
			var out []telephony.Frame
			for _, s := range c.in {
				out = r.Push(frame(s), out)
			}
			out = r.Flush(out)
			var got []int64
			for _, f := range out {
				s := f.Seq
				if f.Concealed {
					s = -s
					if len(f.PCM) != 4 || slices.ContainsFunc(f.PCM, func(v int16) bool { return v != 0 }) {
						t.Errorf("concealed frame %d: %v, want 4 samples of silence", f.Seq, f.PCM)
					}
				}
				got = append(got, s)
			}
			if !slices.Equal(got, c.out) {
				t.Errorf("released %v, want %v", got, c.out)
			}
			if r.Stats() != c.want {
				t.Errorf("stats %+v, want %+v", r.Stats(), c.want)
			}
		})
	}
}

// TestReorderInOrderAddsNoDelay: a frame that arrives in order is released
// by its own Push.
func TestReorderInOrderAddsNoDelay(t *testing.T) {
	r := telephony.NewReorder(0)
	for s := int64(1); s < 100; s++ {
		if out := r.Push(frame(s), nil); len(out) != 1 || out[0].Seq != s {
			t.Fatalf("frame %d: released %v", s, out)
		}
	}
}
