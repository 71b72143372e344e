// Package soxr resamples audio with libsoxr (cgo). It implements
// audio.Resampler; the rest of cuecard sees only that interface.
package soxr

/*
#cgo pkg-config: soxr
#include <stdlib.h>
#include <soxr.h>

static soxr_t cc_soxr_new(double in, double out, const char **err) {
	soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
	soxr_runtime_spec_t rt = soxr_runtime_spec(1);
	soxr_error_t e = NULL;
	soxr_t s = soxr_create(in, out, 1, &e, &io, &q, &rt);
	*err = e;
	return s;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/cuecard/cuecard/audio"
)

// Resampler converts one channel between sample rates with libsoxr's
// high-quality (20-bit, linear-phase, anti-aliased) streaming resampler.
// Equal rates pass samples through unchanged. It is not safe for
// concurrent use; Close frees the C state.
type Resampler struct {
	s     C.soxr_t
	ratio float64
	// in and out counts live here, not on the stack, so that passing
	// their addresses to C does not allocate.
	idone, odone C.size_t
}

var _ audio.Resampler = (*Resampler)(nil)

// New returns a streaming resampler from inRate to outRate Hz; its type
// fits audio.NewResampler.
func New(inRate, outRate int) (audio.Resampler, error) { return NewResampler(inRate, outRate) }

// NewResampler returns a streaming resampler from inRate to outRate Hz.
func NewResampler(inRate, outRate int) (*Resampler, error) {
	if inRate <= 0 || outRate <= 0 {
		return nil, fmt.Errorf("resample %d Hz to %d Hz: invalid rate", inRate, outRate)
	}
	r := &Resampler{ratio: float64(outRate) / float64(inRate)}
	if inRate == outRate {
		return r, nil
	}
	var e *C.char
	r.s = C.cc_soxr_new(C.double(inRate), C.double(outRate), &e)
	if r.s == nil || e != nil {
		return nil, fmt.Errorf("resample %d Hz to %d Hz: %s", inRate, outRate, C.GoString(e))
	}
	return r, nil
}

// Process appends the resampled form of in to out and returns it. Output
// lags input by the filter's delay; Flush drains it at the end.
func (r *Resampler) Process(out, in []float32) []float32 {
	if r.s == nil {
		return append(out, in...)
	}
	return r.run(out, in, false)
}

// Flush appends the samples still held in the filter to out and returns it.
func (r *Resampler) Flush(out []float32) []float32 {
	if r.s == nil {
		return out
	}
	return r.run(out, nil, true)
}

func (r *Resampler) run(out, in []float32, flush bool) []float32 {
	for {
		room := int(float64(len(in))*r.ratio) + 256
		if cap(out)-len(out) < room {
			grown := make([]float32, len(out), len(out)+room+len(out)/2)
			copy(grown, out)
			out = grown
		}
		dst := out[len(out):cap(out)]
		var ip unsafe.Pointer
		if !flush {
			if len(in) == 0 {
				return out
			}
			ip = unsafe.Pointer(&in[0])
		}
		// soxr copies the input into its own FIFO; neither buffer is kept.
		e := C.soxr_process(r.s, C.soxr_in_t(ip), C.size_t(len(in)), &r.idone,
			C.soxr_out_t(unsafe.Pointer(&dst[0])), C.size_t(len(dst)), &r.odone)
		if e != nil {
			// Only on invalid arguments, which this wrapper never passes.
			return out
		}
		out = out[:len(out)+int(r.odone)]
		in = in[r.idone:]
		if flush && int(r.odone) < len(dst) {
			return out
		}
		if !flush && len(in) == 0 {
			return out
		}
	}
}

// Close frees the resampler.
func (r *Resampler) Close() {
	if r.s != nil {
		C.soxr_delete(r.s)
		r.s = nil
	}
}
