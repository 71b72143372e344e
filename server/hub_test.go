package server

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestSlowSubscriberDropped checks that publishing never waits for a
// subscriber that stopped reading: it is dropped, and a reading subscriber
// gets every event within 10 ms of its publication.
func TestSlowSubscriberDropped(t *testing.T) {
	drops := 0
	h := newHub(func() { drops++ })
	slow := h.subscribe(16, false)
	good := h.subscribe(16, false)
	type arrival struct {
		msg string
		at  time.Time
	}
	got := make(chan arrival, 1000)
	acks := make(chan struct{}, 1000)
	go func() {
		for m := range good.C {
			got <- arrival{string(m), time.Now()}
			acks <- struct{}{}
		}
		close(got)
	}()
	sent := make([]time.Time, 500)
	for i := range sent {
		sent[i] = time.Now()
		h.publish([]byte(strconv.Itoa(i)), true, false)
		if i%16 == 15 {
			// Wait for the reader to drain, as a live socket writer does.
			for range 16 {
				<-acks
			}
		}
	}
	h.close()
	n := 0
	for a := range got {
		i, _ := strconv.Atoi(a.msg)
		if i != n {
			t.Fatalf("good subscriber got %d, want %d", i, n)
		}
		if d := a.at.Sub(sent[i]); d > 10*time.Millisecond {
			t.Errorf("event %d reached the good subscriber after %v", i, d)
		}
		n++
	}
	if n != len(sent) {
		t.Fatalf("good subscriber got %d events, want %d", n, len(sent))
	}
	if !slow.Dropped() || drops != 1 {
		t.Fatalf("slow subscriber dropped=%v, drops=%d", slow.Dropped(), drops)
	}
	// Its channel holds what fitted, then is closed.
	k := 0
	for range slow.C {
		k++
	}
	if k != 16 {
		t.Fatalf("slow subscriber kept %d events, want 16", k)
	}
}

func TestLateViewerGetsHistory(t *testing.T) {
	h := newHub(nil)
	h.publish([]byte(`stage`), true, false)
	h.publish([]byte(`talk1`), false, true)
	h.publish([]byte(`partial`), false, false)
	h.publish([]byte(`talk2`), false, true)
	s := h.subscribe(4, true)
	h.close()
	var got []string
	for m := range s.C {
		got = append(got, string(m))
	}
	if len(got) != 2 || got[0] != "stage" || got[1] != "talk2" {
		t.Fatalf("history %v, want [stage talk2]", got)
	}
}

// TestSendDropsOldestAudio checks the live input queue: a real-time
// source never waits; the oldest audio frame gives way, control items
// never do, and a source ahead of real time is held back instead.
func TestSendDropsOldestAudio(t *testing.T) {
	s := &Server{metrics: newMetrics()}
	ls := &liveSession{srv: s, in: make(chan item, 3), done: make(chan struct{})}
	src := newSource("websocket", 16000)
	frame := func(n int) item { return item{kind: itemAudio, src: src, pcm: make([]float32, n)} }
	for i := 1; i <= 3; i++ {
		ls.send(frame(i))
	}
	ls.send(frame(4)) // full: frame 1 goes
	var got []int
	for range 3 {
		got = append(got, len((<-ls.in).pcm))
	}
	if got[0] != 2 || got[2] != 4 {
		t.Fatalf("queue %v, want [2 3 4]", got)
	}
	ls.send(item{kind: itemDetach, src: src})
	ls.send(frame(5))
	ls.send(frame(6))
	ls.send(frame(7)) // full, the oldest is the detach: it is kept, 7 is dropped
	var kinds []itemKind
	var sizes []int
	for range 3 {
		it := <-ls.in
		kinds, sizes = append(kinds, it.kind), append(sizes, len(it.pcm))
	}
	if !slices.Contains(kinds, itemDetach) || slices.Contains(sizes, 7) {
		t.Fatalf("queue kinds %v sizes %v: want the detach kept and frame 7 dropped", kinds, sizes)
	}
	// Ahead of real time: the sender waits for room in a full queue.
	for range cap(ls.in) {
		ls.send(frame(8))
	}
	sent := make(chan error)
	go func() { sent <- ls.sendPaced(frame(9), true) }()
	select {
	case <-sent:
		t.Fatal("a source ahead of real time did not wait")
	default:
	}
	<-ls.in
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	close(ls.done)
	if err := ls.sendPaced(frame(10), true); err == nil {
		// The queue may have room; fill it and check the end is seen.
		for ls.sendPaced(frame(11), true) == nil {
		}
	}
}
