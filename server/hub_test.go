package server

import (
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
