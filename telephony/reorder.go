package telephony

import "slices"

// DefaultDepth is how many frames a Reorder holds waiting for a missing
// one (5 frames of 20 ms: at most 100 ms added when a frame is lost;
// none when frames arrive in order).
const DefaultDepth = 5

// Stats count what a Reorder did to a track.
type Stats struct {
	Frames    int64 // frames pushed
	Reordered int64 // frames that arrived ahead of a missing one
	Concealed int64 // lost frames replaced by silence
	Late      int64 // frames that arrived after their place was played
	Duplicate int64 // frames already held
}

// Reorder puts one track's frames back in sequence order. A frame ahead
// of a missing one is held; once more than depth frames are held the
// missing ones are given up and replaced by silence of the last frame's
// length (counted); frames behind the play-out point, and duplicates,
// are dropped (counted). Not safe for concurrent use.
type Reorder struct {
	depth    int
	next     int64 // sequence of the next frame to release; 0 before the first
	held     map[int64]Frame
	frameLen int
	stats    Stats
}

// NewReorder returns a Reorder holding at most depth frames (DefaultDepth
// if depth < 1).
func NewReorder(depth int) *Reorder {
	if depth < 1 {
		depth = DefaultDepth
	}
	return &Reorder{depth: depth, held: make(map[int64]Frame, depth+1)}
}

// Stats returns the counts so far.
func (r *Reorder) Stats() Stats { return r.stats }

// Push takes frame f and appends to out the frames now ready, in order
// (silent Concealed frames in place of lost ones), and returns out.
func (r *Reorder) Push(f Frame, out []Frame) []Frame {
	r.stats.Frames++
	if r.next == 0 {
		r.next = f.Seq
	}
	switch _, dup := r.held[f.Seq]; {
	case f.Seq < r.next:
		r.stats.Late++
		return out
	case dup:
		r.stats.Duplicate++
		return out
	case f.Seq > r.next:
		r.stats.Reordered++
	}
	r.held[f.Seq] = f
	out = r.release(out)
	for len(r.held) > r.depth {
		out = r.skip(out)
		out = r.release(out)
	}
	return out
}

// Flush appends every held frame in order, concealing the gaps between
// them, and returns out.
func (r *Reorder) Flush(out []Frame) []Frame {
	for len(r.held) > 0 {
		out = r.skip(out)
		out = r.release(out)
	}
	return out
}

// release appends the run of held frames from next on.
func (r *Reorder) release(out []Frame) []Frame {
	for {
		f, ok := r.held[r.next]
		if !ok {
			return out
		}
		delete(r.held, r.next)
		r.next++
		r.frameLen = len(f.PCM)
		out = append(out, f)
	}
}

// skip conceals the frames missing before the oldest held one.
func (r *Reorder) skip(out []Frame) []Frame {
	if len(r.held) == 0 {
		return out
	}
	first := slices.Min(mapKeys(r.held))
	ms := int64(20)
	if f, ok := r.held[first]; ok && first > r.next {
		ms = max(1, (f.TimestampMS)/max(1, first-1))
	}
	for ; r.next < first; r.next++ {
		r.stats.Concealed++
		out = append(out, Frame{Track: r.held[first].Track, Seq: r.next, TimestampMS: (r.next - 1) * ms,
			PCM: make([]int16, r.frameLen), Concealed: true})
	}
	return out
}

func mapKeys(m map[int64]Frame) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
