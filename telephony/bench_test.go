package telephony_test

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/cuecard/cuecard/audio/g711"
	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/telephony"
)

// BenchmarkCallSecond costs one second of a two-track Twilio call: 100
// media messages (50 a track) decoded from JSON and base64, G.711 to PCM,
// put in order, and resampled from 8 to 16 kHz as the session's Call
// does. ns/op over 1e9 is the share of one core a call takes
// (reported as core-%).
func BenchmarkCallSecond(b *testing.B) {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(i * 100)
	}
	payload := base64.StdEncoding.EncodeToString(g711.Ulaw.EncodeInt16(nil, pcm))
	start := []byte(`{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{}},"streamSid":"MZ1"}`)
	msgs := make([][]byte, 0, 100)
	for i := 1; i <= 50; i++ {
		for _, tr := range []string{"inbound", "outbound"} {
			msgs = append(msgs, fmt.Appendf(nil, `{"event":"media","sequenceNumber":"%d","media":{"track":"%s","chunk":"%d","timestamp":"%d","payload":"%s"},"streamSid":"MZ1"}`,
				2*i, tr, i, 20*i, payload))
		}
	}
	var res [2]interface {
		Process(out, in []float32) []float32
		Close()
	}
	for i := range res {
		r, err := soxr.New(8000, 16000)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		res[i] = r
	}
	d := telephony.NewDecoder(telephony.Twilio)
	if _, err := d.Decode(start); err != nil {
		b.Fatal(err)
	}
	var ro [2]*telephony.Reorder
	var frames []telephony.Frame
	var f32, out []float32
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		d = telephony.NewDecoder(telephony.Twilio)
		d.Decode(start)
		ro = [2]*telephony.Reorder{telephony.NewReorder(0), telephony.NewReorder(0)}
		for _, m := range msgs {
			msg, err := d.Decode(m)
			if err != nil {
				b.Fatal(err)
			}
			i := int(msg.Frame.Track) - 1
			frames = ro[i].Push(msg.Frame, frames[:0])
			for _, f := range frames {
				f32 = f32[:0]
				for _, v := range f.PCM {
					f32 = append(f32, float32(v)/32768)
				}
				out = res[i].Process(out[:0], f32)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9*100, "core-%")
}
