package server

import (
	"errors"
	"fmt"
	"time"
)

// Limits caps what users may take of the server; zero means no cap.
// Every refusal is a clear 4xx (429 for rates and counts, 413 for sizes)
// or a WebSocket close with its reason, and nothing already stored is
// lost.
type Limits struct {
	// MaxLive bounds the live sessions of the whole server, MaxLivePerUser
	// those of one rep.
	MaxLive        int
	MaxLivePerUser int
	// MaxSessionLength ends a live session after this much audio.
	MaxSessionLength time.Duration
	// MaxUploadBytes bounds an upload's body, MaxUploadLength its audio,
	// MaxUploads the uploads analyzed at once.
	MaxUploadBytes  int64
	MaxUploadLength time.Duration
	MaxUploads      int
	// CreateEvery/CreateBurst rate-limit session creation per user, and
	// UploadEvery/UploadBurst uploads per user.
	CreateEvery time.Duration
	CreateBurst int
	UploadEvery time.Duration
	UploadBurst int
}

// DefaultLimits fit one 2-core server with the embedded recognizer.
func DefaultLimits() Limits {
	return Limits{
		MaxLive: 200, MaxLivePerUser: 3, MaxSessionLength: 4 * time.Hour,
		MaxUploadBytes: 1 << 30, MaxUploadLength: 4 * time.Hour, MaxUploads: 2,
		CreateEvery: 2 * time.Second, CreateBurst: 20, UploadEvery: 30 * time.Second, UploadBurst: 5,
	}
}

// ErrLimit is a request refused by a configured limit.
var ErrLimit = errors.New("limit reached")

// checkLiveLimits fails when one more live session for owner would pass
// a limit.
func (s *Server) checkLiveLimits(owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkLiveLimitsLocked(owner)
}

func (s *Server) checkLiveLimitsLocked(owner string) error {
	l := s.cfg.Limits
	if l.MaxLive > 0 && len(s.live) >= l.MaxLive {
		return fmt.Errorf("%w: the server has %d live sessions, its maximum", ErrLimit, l.MaxLive)
	}
	if l.MaxLivePerUser <= 0 || owner == "" {
		return nil
	}
	n := 0
	for _, ls := range s.live {
		if ls.owner == owner {
			n++
		}
	}
	if n >= l.MaxLivePerUser {
		return fmt.Errorf("%w: you have %d live sessions, the most one rep may have", ErrLimit, n)
	}
	return nil
}

// errTooLarge is an upload over a size or length limit (413).
var errTooLarge = fmt.Errorf("%w: too large", ErrLimit)

// uploadSlot takes one of the MaxUploads analysis slots, or fails with
// ErrLimit when all are taken; release gives it back.
func (s *Server) uploadSlot() (release func(), err error) {
	if s.uploadSlots == nil {
		return func() {}, nil
	}
	select {
	case s.uploadSlots <- struct{}{}:
		return func() { <-s.uploadSlots }, nil
	default:
		return nil, fmt.Errorf("%w: %d uploads are being analyzed, the most at once; try again later", ErrLimit, cap(s.uploadSlots))
	}
}
