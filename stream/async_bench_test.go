package stream_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/stream"
)

// BenchmarkRemoteAddedLatency runs 20 live pipelines at once, fed in real
// time (one 20 ms frame per 20 ms), on a fake remote backend that answers
// each segment after a fixed latency, and reports the p50/p95/max of the
// time from the end of a segment (End handed to the backend) to its Final
// input, minus the backend's own latency.
func BenchmarkRemoteAddedLatency(b *testing.B) {
	for _, lat := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%s/pipelines=20", lat), func(b *testing.B) {
			rep, pro := calltest.ToneCall(3, 1000)
			var mu sync.Mutex
			var added []time.Duration
			for range b.N {
				var wg sync.WaitGroup
				for range 20 {
					wg.Go(func() {
						// Each pipeline has its own backend, so that
						// segment ids name one segment.
						f := &fakeAsync{latency: func(uint64) time.Duration { return lat }}
						emit := func(in coach.Input) error {
							if in.Kind == coach.Final {
								var n, id int
								fmt.Sscanf(in.Text, "final %d seg %d", &n, &id)
								f.mu.Lock()
								t0 := f.ended[uint64(id)]
								f.mu.Unlock()
								mu.Lock()
								added = append(added, time.Since(t0)-lat)
								mu.Unlock()
							}
							return nil
						}
						p := stream.NewPipeline(stream.DefaultConfig(), fakeRemote{f}, emit)
						defer p.Close()
						tick := time.NewTicker(20 * time.Millisecond)
						defer tick.Stop()
						for off := 0; off+320 <= len(pro); off += 320 {
							<-tick.C
							p.Write(coach.Rep, rep[off:off+320])
							p.Write(coach.Prospect, pro[off:off+320])
						}
						p.Flush(context.Background())
					})
				}
				wg.Wait()
			}
			slices.Sort(added)
			if len(added) == 0 {
				b.Fatal("no finals")
			}
			q := func(x float64) float64 { return float64(added[int(x*float64(len(added)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "p50_added_ms")
			b.ReportMetric(q(0.95), "p95_added_ms")
			b.ReportMetric(q(1), "max_added_ms")
			b.ReportMetric(float64(len(added)), "finals")
		})
	}
}

// BenchmarkRemoteStalledMemory feeds 10 minutes of speech, as fast as the
// CPU allows, to a backend that never answers, and reports the heap still
// held and the segments waiting: both bounded by MaxOutstanding.
func BenchmarkRemoteStalledMemory(b *testing.B) {
	rep, pro := calltest.ToneCall(300, 1000)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f := &fakeAsync{stall: true}
		p := stream.NewPipeline(stream.DefaultConfig(), fakeRemote{f}, func(coach.Input) error { return nil })
		calltest.Feed(b, p, rep, pro, nil)
		runtime.GC()
		runtime.ReadMemStats(&after)
		st := p.Stats()
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap_MiB_held")
		b.ReportMetric(float64(st.Pending), "pending_segments")
		b.ReportMetric(float64(st.Dropped), "dropped_segments")
		p.Close()
	}
}
