package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"sync"
	"time"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/blob"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

// segment is one closed stretch of a side's recording, ready to upload.
type segment struct {
	key  string
	data []byte
}

// segmenter cuts a live session's recorded audio into segments of
// Config.SegmentInterval and uploads each as it closes, so that a node's
// death loses at most the open segment. The session's goroutine calls
// write; one uploader goroutine, owned by the segmenter and waited for
// by close, does the I/O. When the store falls behind by segmentBacklog
// segments the newest is dropped (logged): the local file still has it,
// and the call never waits for the store.
type segmenter struct {
	st    blob.Store
	id    string
	node  string
	every int64 // samples per segment
	log   *slog.Logger
	side  [2]segmentBuf
	up    chan segment
	wg    sync.WaitGroup
}

type segmentBuf struct {
	start int64 // sample position of buf's first sample
	buf   []byte
}

// segmentBacklog bounds the segments waiting for the store.
const segmentBacklog = 8

// segmentPutTimeout bounds one segment's upload.
const segmentPutTimeout = 30 * time.Second

func newSegmenter(st blob.Store, id, node string, every time.Duration, log *slog.Logger) *segmenter {
	g := &segmenter{st: st, id: id, node: nodeName(node), log: log,
		every: max(1, int64(every/time.Millisecond)*stream.Rate/1000), up: make(chan segment, segmentBacklog)}
	g.wg.Go(g.upload)
	return g
}

// write adds pcm (side sp's audio at stream.Rate starting at sample at)
// to the open segment, closing it when it is full. Audio that does not
// follow the open segment (a side padded meanwhile) closes it first.
func (g *segmenter) write(sp coach.Speaker, at int64, pcm []float32) {
	b := &g.side[sp-1]
	if len(b.buf) > 0 && b.start+int64(len(b.buf)/2) != at {
		g.cut(sp, false)
	}
	if len(b.buf) == 0 {
		b.start = at
		if cap(b.buf) == 0 {
			b.buf = make([]byte, 0, 2*g.every)
		}
	}
	for _, v := range pcm {
		b.buf = binary.LittleEndian.AppendUint16(b.buf, uint16(audio.FloatToInt16(v)))
	}
	if int64(len(b.buf)/2) >= g.every {
		g.cut(sp, false)
	}
}

// cut closes side sp's open segment and queues it; wait says whether to
// wait for room (at the end) or drop it when the store is behind.
func (g *segmenter) cut(sp coach.Speaker, wait bool) {
	b := &g.side[sp-1]
	if len(b.buf) == 0 {
		return
	}
	seg := segment{key: segmentKey(g.id, sp, b.start*1000/stream.Rate, g.node), data: bytes.Clone(b.buf)}
	b.buf = b.buf[:0]
	if wait {
		g.up <- seg
		return
	}
	select {
	case g.up <- seg:
	default:
		g.log.Warn("recording segment dropped: the object store is behind", "key", seg.key)
	}
}

func (g *segmenter) upload() {
	for seg := range g.up {
		ctx, cancel := context.WithTimeout(context.Background(), segmentPutTimeout)
		if err := g.st.Put(ctx, seg.key, bytes.NewReader(seg.data), int64(len(seg.data))); err != nil {
			g.log.Error("upload recording segment", "key", seg.key, "err", err)
		}
		cancel()
	}
}

// close uploads the open segments and waits for every upload.
func (g *segmenter) close() {
	g.cut(coach.Rep, true)
	g.cut(coach.Prospect, true)
	close(g.up)
	g.wg.Wait()
}
