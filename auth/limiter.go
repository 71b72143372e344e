package auth

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter limits events per key (a client address, an email address) with
// a token bucket per key. It keeps at most maxKeys buckets: a key idle long
// enough for its bucket to refill is forgotten, and when all maxKeys are
// busy the least recently used one is. It is safe for concurrent use.
type Limiter struct {
	limit rate.Limit
	burst int
	max   int
	// idle is how long a bucket takes to refill from empty; a key unused
	// that long is in the state a new key starts in.
	idle time.Duration

	mu   sync.Mutex
	keys map[string]*list.Element // of *limiterKey
	lru  list.List                // front: most recently used
}

type limiterKey struct {
	key  string
	lim  *rate.Limiter
	last time.Time
}

// NewLimiter returns a Limiter that lets each key through once per every
// on average, burst times in a row at most, and keeps at most maxKeys keys
// (at least one). every <= 0 lets everything through.
func NewLimiter(every time.Duration, burst int, maxKeys int) *Limiter {
	l := &Limiter{limit: rate.Every(every), burst: burst, max: max(maxKeys, 1)}
	l.idle = time.Duration(math.MaxInt64)
	if every <= 0 {
		l.idle = 0
	} else if burst >= 0 && int64(burst) < math.MaxInt64/int64(every) {
		l.idle = every * time.Duration(burst)
	}
	l.keys = make(map[string]*list.Element)
	return l
}

// Allow reports whether an event for key may happen now, and counts it
// if so. It does not block.
func (l *Limiter) Allow(key string) bool { return l.allowAt(key, time.Now()) }

func (l *Limiter) allowAt(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetIdle(now)
	e, ok := l.keys[key]
	if ok {
		l.lru.MoveToFront(e)
	} else {
		if len(l.keys) >= l.max {
			l.remove(l.lru.Back())
		}
		k := &limiterKey{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
		e = l.lru.PushFront(k)
		l.keys[key] = e
	}
	k := e.Value.(*limiterKey)
	k.last = now
	return k.lim.AllowN(now, 1)
}

// forgetIdle drops the keys, least recently used first, whose buckets are
// full again. Each key is dropped once, so the cost is amortized O(1).
func (l *Limiter) forgetIdle(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		if now.Sub(e.Value.(*limiterKey).last) < l.idle {
			return
		}
		l.remove(e)
	}
}

func (l *Limiter) remove(e *list.Element) {
	delete(l.keys, e.Value.(*limiterKey).key)
	l.lru.Remove(e)
}

func (l *Limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
