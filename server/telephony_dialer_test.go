package server_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/audio/g711"
	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/telephony"
)

// dialer plays a call to the server as a provider does: the provider's
// messages, on its WebSocket, in real time (one 20 ms frame per track
// every 20 ms).
type dialer struct {
	p      telephony.Provider
	url    string // ws://.../v1/telephony/NAME[?query]
	header http.Header
	params map[string]string
	// mangle, if set, rewrites the order of a batch of each track's
	// frames (drop, swap, duplicate); it gets the chunk numbers.
	mangle func(chunks []int64) []int64
	// extras are sent after the start: DTMF and marks to be ignored.
	extras bool
	// sent, if set, is told the media time (ms) of each frame batch and
	// when it was sent.
	sent func(ms int64, at time.Time)
}

// format is what each provider sends in the tests: Twilio mu-law 8 kHz,
// Telnyx A-law 8 kHz, Plivo L16 16 kHz.
func (d *dialer) rate() int {
	if d.p == telephony.Plivo {
		return 16000
	}
	return 8000
}

func (d *dialer) encode(pcm []float32) []byte {
	switch d.p {
	case telephony.Twilio:
		return g711.Ulaw.Encode(nil, pcm)
	case telephony.Telnyx:
		return g711.Alaw.Encode(nil, pcm)
	case telephony.Plivo:
	}
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(max(-32768, min(32767, v*32768)))))
	}
	return b
}

func (d *dialer) startMsg() []byte {
	params, _ := json.Marshal(d.params)
	switch d.p {
	case telephony.Twilio:
		return fmt.Appendf(nil, `{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC00000000000000000000000000000000","streamSid":"MZ00000000000000000000000000000000","callSid":"CA00000000000000000000000000000000","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":%s},"streamSid":"MZ00000000000000000000000000000000"}`, params)
	case telephony.Telnyx:
		return fmt.Appendf(nil, `{"event":"start","sequence_number":"1","start":{"user_id":"u1","call_control_id":"v3:call","call_session_id":"s1","from":"+13122010094","to":"+13122123456","custom_parameters":%s,"media_format":{"encoding":"PCMA","sample_rate":8000,"channels":1}},"stream_id":"st1"}`, params)
	case telephony.Plivo:
	}
	var hs []string
	for k, v := range d.params {
		hs = append(hs, k+"="+v)
	}
	return fmt.Appendf(nil, `{"event":"start","sequenceNumber":1,"start":{"callId":"c1","streamId":"st1","accountId":"MA1","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-l16","sampleRate":16000}},"extra_headers":%q}`, strings.Join(hs, ";"))
}

func (d *dialer) mediaMsg(seq int64, track string, chunk int64, payload []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString(payload)
	ts := (chunk - 1) * 20
	switch d.p {
	case telephony.Twilio:
		return fmt.Appendf(nil, `{"event":"media","sequenceNumber":"%d","media":{"track":"%s","chunk":"%d","timestamp":"%d","payload":"%s"},"streamSid":"MZ00000000000000000000000000000000"}`, seq, track, chunk, ts, b64)
	case telephony.Telnyx:
		return fmt.Appendf(nil, `{"event":"media","sequence_number":"%d","media":{"track":"%s","chunk":"%d","timestamp":"%d","payload":"%s"},"stream_id":"st1"}`, seq, track, chunk, ts, b64)
	case telephony.Plivo:
	}
	return fmt.Appendf(nil, `{"event":"media","sequenceNumber":%d,"streamId":"st1","media":{"track":"%s","timestamp":"%d","chunk":%d,"payload":"%s"}}`, seq, track, 1705312200000+ts, chunk, b64)
}

func (d *dialer) extraMsgs() [][]byte {
	switch d.p {
	case telephony.Twilio:
		return [][]byte{[]byte(`{"event":"dtmf","streamSid":"MZ00000000000000000000000000000000","sequenceNumber":"2","dtmf":{"track":"inbound_track","digit":"5"}}`),
			[]byte(`{"event":"mark","sequenceNumber":"3","streamSid":"MZ00000000000000000000000000000000","mark":{"name":"greeting"}}`)}
	case telephony.Telnyx:
		return [][]byte{[]byte(`{"event":"dtmf","stream_id":"st1","occurred_at":"2022-03-25T10:01:00.000Z","sequence_number":"2","dtmf":{"digit":"5"}}`),
			[]byte(`{"event":"mark","sequence_number":"3","stream_id":"st1","mark":{"name":"greeting"}}`)}
	case telephony.Plivo:
	}
	return [][]byte{[]byte(`{"event":"dtmf","sequenceNumber":2,"streamId":"st1","dtmf":{"track":"inbound","digit":"5"}}`),
		[]byte(`{"event":"playedStream","sequenceNumber":3,"streamId":"st1","name":"greeting"}`)}
}

func (d *dialer) stopMsg(seq int64) []byte {
	switch d.p {
	case telephony.Twilio:
		return fmt.Appendf(nil, `{"event":"stop","sequenceNumber":"%d","stop":{"accountSid":"AC00000000000000000000000000000000","callSid":"CA00000000000000000000000000000000"},"streamSid":"MZ00000000000000000000000000000000"}`, seq)
	case telephony.Telnyx:
		return fmt.Appendf(nil, `{"event":"stop","sequence_number":"%d","stop":{"user_id":"u1","call_control_id":"v3:call"},"stream_id":"st1"}`, seq)
	case telephony.Plivo:
	}
	return nil // Plivo closes the socket
}

// dial opens the provider's socket; on a refused upgrade it returns the
// HTTP status.
func (d *dialer) dial(ctx context.Context) (*websocket.Conn, int, error) {
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, d.url, d.header)
	if resp != nil && resp.Body != nil && err == nil {
		resp.Body.Close()
	}
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		return nil, code, err
	}
	return conn, http.StatusSwitchingProtocols, nil
}

// closeOf reads until the server closes and returns its close frame
// (the caller bounds the wait with a read deadline).
func closeOf(conn *websocket.Conn) *websocket.CloseError {
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce
			}
			return &websocket.CloseError{Code: -1, Text: err.Error()}
		}
	}
}

// play sends the call: rep on repTrack, prospect on the other, until maxMS
// of media (0: all of it), then stop. It returns the server's close.
func (d *dialer) play(ctx context.Context, repPath, prospectPath, repTrack string, maxMS int64) (*websocket.CloseError, error) {
	sides, err := readSides(repPath, prospectPath, d.rate())
	if err != nil {
		return nil, err
	}
	conn, code, err := d.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("dial: %d: %w", code, err)
	}
	defer conn.Close()
	// The server only closes; read so its close frame is seen.
	closed := make(chan *websocket.CloseError, 1)
	go func() { closed <- closeOf(conn) }()
	if d.p != telephony.Plivo {
		conn.WriteMessage(websocket.TextMessage, []byte(`{"event":"connected","protocol":"Call","version":"1.0.0"}`))
	}
	conn.WriteMessage(websocket.TextMessage, d.startMsg())
	if d.extras {
		for _, m := range d.extraMsgs() {
			conn.WriteMessage(websocket.TextMessage, m)
		}
	}
	tracks := map[string][]float32{repTrack: sides[0], otherTrack(repTrack): sides[1]}
	frame := d.rate() / 50
	n := max(len(sides[0]), len(sides[1])) / frame
	if maxMS > 0 {
		n = min(n, int(maxMS/20))
	}
	const batch = 5 // frames mangled together
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq := int64(10)
	began := time.Now()
	for i := 0; i < n; i += batch {
		chunks := make([]int64, 0, batch)
		for c := i; c < min(n, i+batch); c++ {
			chunks = append(chunks, int64(c+1))
		}
		if d.mangle != nil {
			chunks = d.mangle(chunks)
		}
		for _, c := range chunks {
			for _, tr := range []string{"inbound", "outbound"} {
				pcm := make([]float32, frame)
				copy(pcm, tail(tracks[tr], int(c-1)*frame, frame))
				seq++
				if err := conn.WriteMessage(websocket.TextMessage, d.mediaMsg(seq, tr, c, d.encode(pcm))); err != nil {
					return <-closed, nil
				}
			}
		}
		if d.sent != nil {
			d.sent(int64(i+len(chunks))*20, time.Now())
		}
		// Real time: the next batch is due batch*20 ms after this one.
		for time.Since(began) < time.Duration(i+batch)*20*time.Millisecond {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			case ce := <-closed:
				return ce, nil
			}
		}
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if m := d.stopMsg(seq + 1); m != nil {
		conn.WriteMessage(websocket.TextMessage, m)
	} else {
		conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	}
	return <-closed, nil
}

func otherTrack(t string) string {
	if t == "inbound" {
		return "outbound"
	}
	return "inbound"
}

func tail(x []float32, off, n int) []float32 {
	if off >= len(x) {
		return nil
	}
	return x[off:min(len(x), off+n)]
}

// readSides reads the rep's and the prospect's WAV files at rate.
func readSides(repPath, prospectPath string, rate int) ([2][]float32, error) {
	var out [2][]float32
	for i, p := range []string{repPath, prospectPath} {
		f, err := audio.OpenWAV(p)
		if err != nil {
			return out, err
		}
		rd, err := audio.NewReader(f.WAVReader, audio.ReaderOptions{Rate: rate, Resample: soxr.New})
		if err != nil {
			f.Close()
			return out, err
		}
		for {
			ch, err := rd.Next()
			out[i] = append(out[i], ch[0]...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rd.Close()
				f.Close()
				return out, err
			}
		}
		rd.Close()
		f.Close()
	}
	return out, nil
}
