package auth_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cuecard/cuecard/auth"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestLimiterRate(t *testing.T) {
	l := auth.NewLimiter(time.Second, 3, 10)
	for i := range 3 {
		if !l.AllowAt("1.2.3.4", t0) {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	if l.AllowAt("1.2.3.4", t0) {
		t.Error("fourth event in a burst of three allowed")
	}
	if !l.AllowAt("5.6.7.8", t0) {
		t.Error("another key is limited by the first")
	}
	if l.AllowAt("1.2.3.4", t0.Add(999*time.Millisecond)) {
		t.Error("allowed before a token came back")
	}
	if !l.AllowAt("1.2.3.4", t0.Add(time.Second)) {
		t.Error("refused after a token came back")
	}
}

func TestLimiterBounded(t *testing.T) {
	l := auth.NewLimiter(time.Minute, 1, 3)
	for i := range 10 {
		if !l.AllowAt(fmt.Sprint("k", i), t0) {
			t.Errorf("new key k%d refused", i)
		}
		if n := l.Len(); n > 3 {
			t.Fatalf("%d keys after %d, want at most 3", n, i+1)
		}
	}
	// k9, k8 and k7 are held, so still limited; k0 was evicted and starts
	// afresh.
	for _, k := range []string{"k9", "k8", "k7"} {
		if l.AllowAt(k, t0) {
			t.Errorf("%s allowed twice in a burst of one", k)
		}
	}
	if !l.AllowAt("k0", t0) {
		t.Error("evicted key k0 refused")
	}
}

func TestLimiterEvictsIdleFirst(t *testing.T) {
	l := auth.NewLimiter(time.Second, 2, 3)
	l.AllowAt("idle", t0)
	l.AllowAt("busy", t0.Add(time.Second))
	l.AllowAt("busy", t0.Add(time.Second))
	// Two seconds after its last event, "idle" has a full bucket again:
	// it is forgotten without waiting for the limit.
	l.AllowAt("new", t0.Add(2*time.Second))
	if n := l.Len(); n != 2 {
		t.Errorf("%d keys, want 2 (busy, new)", n)
	}
	t2 := t0.Add(2 * time.Second)
	if first, second := l.AllowAt("busy", t2), l.AllowAt("busy", t2); !first || second {
		t.Errorf("busy allowed %v, %v one second after emptying its bucket; want true, false (forgotten: true, true)", first, second)
	}
	// Once every bucket has refilled, nothing is held.
	l.AllowAt("last", t0.Add(time.Hour))
	if n := l.Len(); n != 1 {
		t.Errorf("%d keys an hour later, want 1", n)
	}
}

func TestLimiterNoLimit(t *testing.T) {
	l := auth.NewLimiter(0, 0, 0)
	for range 100 {
		if !l.Allow("k") {
			t.Fatal("every <= 0 refused an event")
		}
	}
	if n := l.Len(); n > 1 {
		t.Errorf("%d keys, want at most 1", n)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	const maxKeys = 50
	l := auth.NewLimiter(time.Hour, 5, maxKeys)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				l.Allow(fmt.Sprint(g, "-", i))
				if n := l.Len(); n > maxKeys {
					t.Errorf("%d keys, want at most %d", n, maxKeys)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestLimiterConcurrentOneKey(t *testing.T) {
	l := auth.NewLimiter(time.Hour, 5, 10)
	var wg sync.WaitGroup
	allowed := make([]int, 8)
	for g := range allowed {
		wg.Go(func() {
			for range 100 {
				if l.Allow("shared") {
					allowed[g]++
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range allowed {
		total += n
	}
	if total != 5 {
		t.Errorf("%d events allowed with a burst of 5 and an hour per event, want 5", total)
	}
}
