package server

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cuecard/cuecard/blob"
	"github.com/cuecard/cuecard/coach"
)

// TestSegmenter: segments close every interval, at a jump in the audio's
// position, and at close; their keys sort in time order and parse back.
func TestSegmenter(t *testing.T) {
	st, err := blob.NewDir(filepath.Join(t.TempDir(), "objs"))
	if err != nil {
		t.Fatal(err)
	}
	g := newSegmenter(st, "s1", "node/1", time.Second, slog.New(slog.DiscardHandler))
	chunk := make([]float32, 4000) // 250 ms
	var at int64
	for range 6 { // 1.5 s: one full segment, one open
		g.write(coach.Rep, at, chunk)
		at += int64(len(chunk))
	}
	g.write(coach.Rep, at+16000, chunk) // a jump: closes the open one
	g.write(coach.Prospect, 0, chunk)
	g.close()
	infos, err := st.List(context.Background(), "recordings/s1/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range infos {
		got = append(got, strings.TrimPrefix(in.Key, "recordings/s1/")+":"+strconv.FormatInt(in.Size, 10))
	}
	want := "prospect/seg-000000000000-node_1.pcm:8000 rep/seg-000000000000-node_1.pcm:32000 " +
		"rep/seg-000000001000-node_1.pcm:16000 rep/seg-000000002500-node_1.pcm:8000"
	if strings.Join(got, " ") != want {
		t.Fatalf("segments:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	segs, err := listSegments(context.Background(), st, "s1", coach.Rep)
	if err != nil || len(segs) != 3 || segs[2].startMS != 2500 || segs[2].node != "node_1" {
		t.Fatalf("parsed: %+v %v", segs, err)
	}
	for _, bad := range []string{"seg-12-n.pcm", "seg-000000000000-.pcm", "seg-000000000000-n.wav", "seg-00000000000x-n.pcm"} {
		if _, ok := parseSegmentKey("seg-", bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}
