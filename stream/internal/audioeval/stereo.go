package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

// evalStereo compares the VAD on a real two-channel recording with an
// energy reference that is valid for clean close-talk channels: a 10 ms
// frame is speech when it is 15 dB above the channel's noise floor (its
// 10th percentile frame level) and not 15 dB below the other channel,
// with pauses under 300 ms joined (NIST RT convention).
func evalStereo(ctx context.Context, cfg stream.Config, path string) error {
	ref, durMS, err := energyReference(path)
	if err != nil {
		return err
	}
	res, err := analyze(ctx, cfg, nil, path, "")
	if err != nil {
		return err
	}
	var v vadScore
	v.add(ref, res.segs, durMS)
	fmt.Printf("stereo %s (%.1f s): VAD vs energy reference: %v\n", path, float64(durMS)/1000, v)
	for _, s := range res.segs {
		fmt.Printf("  vad %-8s %6d-%6d ms\n", s.Speaker, s.StartMS, s.EndMS)
	}
	for _, s := range ref {
		fmt.Printf("  ref %-8s %6d-%6d ms\n", s.Speaker, s.StartMS, s.EndMS)
	}
	return nil
}

func energyReference(path string) ([]synth.Segment, int64, error) {
	f, err := audio.OpenWAV(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fm := f.Format()
	if fm.Channels != 2 {
		return nil, 0, fmt.Errorf("%s: want 2 channels", path)
	}
	win := fm.SampleRate / 100
	buf := make([]float32, 2*win)
	var lv [2][]float64
	for {
		k, err := f.Read(buf)
		if k == win {
			for c := range 2 {
				var e float64
				for i := range k {
					x := float64(buf[2*i+c])
					e += x * x
				}
				lv[c] = append(lv[c], 10*math.Log10(e/float64(k)+1e-12))
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
	}
	var segs []synth.Segment
	for c, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		s := append([]float64(nil), lv[c]...)
		sort.Float64s(s)
		floor := s[len(s)/10]
		start := int64(-1)
		var last int64
		for i, l := range lv[c] {
			if l < floor+15 || lv[1-c][i]-l >= 15 {
				continue
			}
			t := int64(i * 10)
			if start >= 0 && t-last < 300 {
				last = t + 10
				continue
			}
			if start >= 0 {
				segs = append(segs, synth.Segment{Speaker: sp, StartMS: start, EndMS: last})
			}
			start, last = t, t+10
		}
		if start >= 0 {
			segs = append(segs, synth.Segment{Speaker: sp, StartMS: start, EndMS: last})
		}
	}
	return segs, int64(len(lv[0]) * 10), nil
}
