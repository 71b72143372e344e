package workers

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/nats-io/nats.go"
)

// The wire protocol. Every message carries its kind in the Cuecard-Asr
// header; audio is the body, 16 kHz mono signed 16-bit little-endian PCM,
// never JSON. A segment's life:
//
//	client -> <prefix>.asr.segment (queue group)  start   reply=inbox
//	worker -> inbox                                accept  Cuecard-Feed=feed
//	                                               (or busy: no free decoder)
//	client -> feed                                 audio   Cuecard-Seq=n ... end
//	worker -> inbox                                partial ... final | error
//
// The client publishes audio with reply=inbox too, so that when the
// worker is gone (its feed subscription with it) the server answers the
// next chunk with a no-responders status and the client retries at once.
const (
	hdrKind    = "Cuecard-Asr"
	hdrVersion = "Cuecard-Asr-Version"
	hdrFeed    = "Cuecard-Feed"
	hdrSeq     = "Cuecard-Seq"
	hdrAdapt   = "Cuecard-Adapt"
	hdrCode    = "Cuecard-Code"
	hdrWorker  = "Cuecard-Worker"
	hdrStatus  = "Status"

	version = "1"
)

// Message kinds.
const (
	kindStart   = "start"
	kindAccept  = "accept"
	kindBusy    = "busy"
	kindAudio   = "audio"
	kindEnd     = "end"
	kindCancel  = "cancel"
	kindPartial = "partial"
	kindFinal   = "final"
	kindError   = "error"
	kindProbe   = "probe" // worker to client: still at it (a heartbeat)
)

// Error codes of kindError messages: what the client does with them.
const (
	codeDecoder  = "decoder"   // the decoder failed: final, not retried
	codeTooLarge = "too-large" // over the worker's limit: final
	codeProtocol = "protocol"  // bad request: final
	codeLost     = "lost"      // audio lost on the way: retried
	codeStopping = "stopping"  // the worker shuts down: retried
)

// noResponders is the server's status when nobody subscribes to the
// subject published to.
const noResponders = "503"

func segmentSubject(prefix string) string { return prefix + ".asr.segment" }

func queueGroup(prefix string) string { return prefix + ".asr.workers" }

func newMsg(subject, reply, kind string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Reply = reply
	m.Header.Set(hdrKind, kind)
	return m
}

// encodePCM appends pcm as little-endian bytes to b.
func encodePCM(b []byte, pcm []int16) []byte {
	for _, s := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

// decodePCM reads little-endian 16-bit samples.
func decodePCM(b []byte) ([]int16, error) {
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%w: %d bytes of 16-bit PCM", ErrProtocol, len(b))
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm, nil
}

// encodeState encodes a recognizer's adaptation state (stream.Adapter)
// for a header: base64 of little-endian float32s; "" for nil.
func encodeState(v []float32) string {
	if len(v) == 0 {
		return ""
	}
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// maxState bounds a decoded state (PocketSphinx's has 13 values).
const maxState = 256

func decodeState(s string) ([]float32, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 || len(b) > 4*maxState {
		return nil, fmt.Errorf("%w: bad %s header", ErrProtocol, hdrAdapt)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

func seqOf(m *nats.Msg) (int, bool) {
	n, err := strconv.Atoi(m.Header.Get(hdrSeq))
	return n, err == nil
}

func isNoResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get(hdrStatus) == noResponders
}
