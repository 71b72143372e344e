// Package siprec is a SIP recording server (SRS, RFC 7866): a session
// recording client (a PBX or session border controller) forks a call to
// it with an INVITE whose body holds the SDP of the call's streams and
// the recording metadata (RFC 7865) that names the participants. The
// server answers recvonly, receives the RTP, and hands each side's audio
// to a Sink.
package siprec

import (
	"context"
	"strings"

	"github.com/cuecard/cuecard/coach"
)

// Config configures the recording server.
type Config struct {
	// Addr is the host:port to listen on for SIP, on UDP and TCP.
	Addr string
	// MediaIP is the address of the RTP ports, given in the SDP answer
	// and the Contact; empty takes Addr's host, or 127.0.0.1 when that
	// is unspecified.
	MediaIP string
	// RepDomains and RepUsers say which participant is the rep: one whose
	// AOR's domain is in RepDomains, or whose AOR (user@domain, with or
	// without "sip:") is in RepUsers.
	RepDomains []string
	RepUsers   []string
	// MaxBody bounds an INVITE's body (413 past it); MaxCalls the calls
	// recorded at once (503 past it).
	MaxBody  int
	MaxCalls int
	// Reorder is how many packets a stream holds while it waits for a
	// missing one before counting it lost.
	Reorder int
}

// DefaultConfig returns the defaults: 64 KiB bodies, 100 calls, a
// reorder window of 5 packets (100 ms at 20 ms a packet).
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:5060", MaxBody: 64 << 10, MaxCalls: 100, Reorder: 5}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxBody <= 0 {
		c.MaxBody = d.MaxBody
	}
	if c.MaxCalls <= 0 {
		c.MaxCalls = d.MaxCalls
	}
	if c.Reorder <= 0 {
		c.Reorder = d.Reorder
	}
	return c
}

// Call is a recorded call as the Sink sees it at its start.
type Call struct {
	// ID is the recording session's SIP Call-ID.
	ID string
	// Session is the recorded call's id from the metadata, if any.
	Session string
	// Rep is the participant whose AOR matched the configured reps;
	// Others are everyone else (the prospect's side).
	Rep    Participant
	Others []Participant
	// Rate is the sample rate of all the audio of the call: 8000 when a
	// stream is G.711, else 16000.
	Rate int
}

// Sink receives recorded calls.
type Sink interface {
	// Start is called for each new call before it is answered; an error
	// refuses the call (ErrRejected: 403, else 500). The context ends
	// with the INVITE's handling.
	Start(ctx context.Context, c Call) (CallSink, error)
}

// CallSink receives one call's audio.
type CallSink interface {
	// Audio takes the next PCM of one side at rate, in media order. It is
	// called from one goroutine per stream (so concurrently for the two
	// sides) and must not block for long.
	Audio(sp coach.Speaker, pcm []float32, rate int)
	// End is called once, after the last Audio, when the call ended (BYE,
	// or the server closing).
	End()
}

// isRep reports whether aor names a rep.
func (c Config) isRep(aor string) bool {
	a := strings.ToLower(AORAddress(aor))
	_, domain, _ := strings.Cut(a, "@")
	for _, d := range c.RepDomains {
		if strings.EqualFold(domain, d) {
			return true
		}
	}
	for _, u := range c.RepUsers {
		if a == strings.ToLower(AORAddress(u)) {
			return true
		}
	}
	return false
}

// AORAddress returns aor without its scheme and parameters:
// "sip:ana@example.com;user=phone" is "ana@example.com".
func AORAddress(aor string) string {
	a := strings.TrimSpace(aor)
	a = strings.TrimPrefix(a, "<")
	a = strings.TrimPrefix(strings.TrimPrefix(a, "sips:"), "sip:")
	if i := strings.IndexAny(a, ";?>"); i >= 0 {
		a = a[:i]
	}
	return a
}
