package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/wire"
)

// stalledStore is a store whose event writes wait until release is
// closed (a database that has stopped answering).
type stalledStore struct {
	*store.DB
	release chan struct{}
}

func (s stalledStore) AppendEvents(ctx context.Context, id string, first int64, evs []coach.Event) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.DB.AppendEvents(ctx, id, first, evs)
}

// TestStalledStoreNeverStallsAudio streams a call faster than real time
// into a server whose store has stopped writing events: the session keeps
// processing audio and publishing events live, holds at most
// PersistBacklog events for the store and counts the rest.
func TestStalledStoreNeverStallsAudio(t *testing.T) {
	release := make(chan struct{})
	st := servertest.Start(t, servertest.Options{
		Store: func(db *store.DB) server.SessionStore { return stalledStore{db, release} },
		Edit: func(cfg *server.Config) {
			cfg.InputBuffer = 100000
			cfg.PersistInterval = time.Millisecond
			cfg.PersistBacklog = 20
		},
	})
	defer close(release) // before the server's cleanup, which waits for the writes
	ts := &testServer{srv: st.Srv, ts: st.TS, db: st.DB, dir: st.Dir, cl: st.Client, st: st}
	id := ts.create(t)
	conn, err := ts.cl.Dial(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got collector
	done := make(chan error, 1)
	go func() { done <- client.ReadEvents(conn, got.add) }()
	// 60 s of audio in about 10 s: more flushes than the persist queue
	// holds while the store is stalled.
	var buf []byte
	frame := make([]int16, 320)
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	for range 3000 {
		<-tick.C
		for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
			buf = wire.EncodeFrame(buf, sp, frame)
			if err := conn.WriteMessage(websocket.BinaryMessage, buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every talk event of the call arrives live although nothing is stored
	// (a blocked loop would wait for the store's 10 s write timeouts).
	deadline := time.Now().Add(5 * time.Second)
	for len(filter(got.all(), "talk")) < 110 {
		if time.Now().After(deadline) {
			t.Fatalf("%d talk events live, want 120: the audio loop stalled", len(filter(got.all(), "talk")))
		}
		<-time.After(10 * time.Millisecond)
	}
	if n := metric(t, ts, "cuecard_events_unstored_total"); n == 0 {
		t.Fatal("no event counted as unstored")
	}
	if n := metric(t, ts, "cuecard_audio_frames_dropped_total"); n != 0 {
		t.Fatalf("%g frames dropped", n)
	}
}
