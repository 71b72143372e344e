package cluster_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/cuecard/cuecard/cluster"
	"github.com/cuecard/cuecard/cluster/clustertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func natsURL(tb testing.TB) string { return clustertest.URL(tb) }

func testConfig(tb testing.TB, url, _ string) cluster.Config { return clustertest.Config(tb, url) }

func join(tb testing.TB, cfg cluster.Config, node string) *cluster.Node {
	return clustertest.Join(tb, cfg, node, "http://"+node+".invalid")
}

func TestClaimRelease(t *testing.T) {
	cfg := testConfig(t, natsURL(t), "a")
	a, b := join(t, cfg, "a"), join(t, cfg, "b")
	ctx := context.Background()
	if _, err := a.Claim(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Claim(ctx, "s1"); err != nil {
		t.Fatalf("claim again by its owner: %v", err)
	}
	if _, err := b.Claim(ctx, "s1"); !errors.Is(err, cluster.ErrOwned) {
		t.Fatalf("claim of a live node's session: %v, want ErrOwned", err)
	}
	p, alive, err := b.Owner(ctx, "s1")
	if err != nil || !alive || p.ID != "a" || p.URL != "http://a.invalid" {
		t.Fatalf("owner = %+v alive %v err %v", p, alive, err)
	}
	if _, _, err := b.Owner(ctx, "s2"); !errors.Is(err, cluster.ErrNoOwner) {
		t.Fatalf("owner of unclaimed: %v", err)
	}
	if err := b.Release(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := b.Owner(ctx, "s1"); p.ID != "a" {
		t.Fatalf("a non-owner's release changed the owner to %q", p.ID)
	}
	if err := a.Release(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctx, "s1"); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if _, err := a.Claim(ctx, "bad.id"); !errors.Is(err, cluster.ErrBadID) {
		t.Fatalf("bad id: %v", err)
	}
}

func TestTakeoverAfterDeath(t *testing.T) {
	cfg := testConfig(t, natsURL(t), "a")
	a, b := join(t, cfg, "a"), join(t, cfg, "b")
	ctx := context.Background()
	if _, err := a.Claim(ctx, "call"); err != nil {
		t.Fatal(err)
	}
	a.Progress("call", 4200)
	waitFor(t, 2*time.Second, func() bool {
		_, _, rec, err := b.OwnerRecord(ctx, "call")
		return err == nil && rec.MediaMS == 4200
	})
	a.Close() // like a crash: the entry is left to expire
	var prev cluster.Record
	start := time.Now()
	waitFor(t, 5*time.Second, func() bool {
		var err error
		prev, err = b.Claim(ctx, "call")
		return err == nil
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("takeover took %v with a TTL of %v", d, cfg.TTL)
	}
	if prev.Node != "a" || prev.MediaMS != 4200 || prev.At.IsZero() {
		t.Fatalf("previous record = %+v", prev)
	}
	if got := b.Stats().Takeovers; got != 1 {
		t.Fatalf("takeovers = %d", got)
	}
	if p, alive, err := b.Owner(ctx, "call"); err != nil || p.ID != "b" || !alive {
		t.Fatalf("owner after takeover = %+v %v %v", p, alive, err)
	}
}

func TestConcurrentClaims(t *testing.T) {
	cfg := testConfig(t, natsURL(t), "n0")
	var nodes []*cluster.Node
	for i := range 5 {
		nodes = append(nodes, join(t, cfg, "n"+strconv.Itoa(i)))
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			_, err := n.Claim(context.Background(), "race")
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, cluster.ErrOwned):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d nodes won the claim", wins.Load())
	}
}

func TestPublishSubscribe(t *testing.T) {
	cfg := testConfig(t, natsURL(t), "a")
	a, b := join(t, cfg, "a"), join(t, cfg, "b")
	sub, err := b.Subscribe("s", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	other, err := b.Subscribe("other", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i := int64(1); i <= 50; i++ {
		a.Publish("s", i, []byte(`{"type":"talk","at_ms":`+strconv.FormatInt(i, 10)+`}`))
	}
	for i := int64(1); i <= 50; i++ {
		select {
		case ev := <-sub.C:
			if ev.Seq != i || ev.Node != "a" {
				t.Fatalf("event %d: %+v", i, ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not received", i)
		}
	}
	select {
	case ev := <-other.C:
		t.Fatalf("another session's subscriber got %+v", ev)
	default:
	}
	if s := a.Stats(); s.Published != 50 || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A subscriber that does not read is dropped; another one keeps all.
func TestSlowSubscriber(t *testing.T) {
	cfg := testConfig(t, natsURL(t), "a")
	a, b := join(t, cfg, "a"), join(t, cfg, "b")
	slow, err := b.Subscribe("s", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := b.Subscribe("s", 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	for i := int64(1); i <= 200; i++ {
		a.Publish("s", i, []byte(`{}`))
	}
	for i := int64(1); i <= 200; i++ {
		select {
		case ev := <-fast.C:
			if ev.Seq != i {
				t.Fatalf("fast subscriber: event %d is %d", i, ev.Seq)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fast subscriber: event %d not received", i)
		}
	}
	n := 0
	for range slow.C {
		n++
	}
	if !slow.Dropped() || n != 4 {
		t.Fatalf("slow subscriber: dropped %v after %d events", slow.Dropped(), n)
	}
	if b.Stats().SlowConsumers == 0 {
		t.Fatal("slow consumer not counted")
	}
}

func waitFor(tb testing.TB, d time.Duration, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// While NATS is paused or restarting, Publish never blocks and the node
// recovers by itself when it is back.
func TestNATSPauseAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ns := clustertest.Start(t)
	cfg := testConfig(t, ns.URL(), "a")
	cfg.OpTimeout = 500 * time.Millisecond
	cfg.PublishBuffer = 64
	a, b := join(t, cfg, "a"), join(t, cfg, "b")
	ctx := context.Background()
	if _, err := a.Claim(ctx, "call"); err != nil {
		t.Fatal(err)
	}
	publishFor := func(d time.Duration) {
		t.Helper()
		end := time.Now().Add(d)
		var seq int64
		for time.Now().Before(end) {
			seq++
			t0 := time.Now()
			a.Publish("call", seq, make([]byte, 512))
			if el := time.Since(t0); el > 50*time.Millisecond {
				t.Fatalf("Publish blocked for %v", el)
			}
			time.Sleep(time.Millisecond)
		}
	}
	ns.Pause()
	publishFor(3 * time.Second)
	ns.Resume()
	ns.Stop()
	publishFor(500 * time.Millisecond)
	ns.Restart()
	waitFor(t, 15*time.Second, func() bool { return a.Connected() && b.Connected() })
	// The buckets are file-backed: the registry survived the restart.
	waitFor(t, 10*time.Second, func() bool {
		p, alive, err := b.Owner(ctx, "call")
		return err == nil && alive && p.ID == "a"
	})
	sub, err := b.Subscribe("call", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	a.Publish("call", 1000, []byte(`{}`))
	select {
	case ev := <-sub.C:
		if ev.Seq != 1000 {
			t.Fatalf("after restart: %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after the restart")
	}
}

// A node finds out at its next progress report that another node took its
// session over (it was cut off from the cluster meanwhile).
func TestOwnershipLost(t *testing.T) {
	url := natsURL(t)
	cfg := testConfig(t, url, "a")
	a := join(t, cfg, "a")
	ctx := context.Background()
	if _, err := a.Claim(ctx, "call"); err != nil {
		t.Fatal(err)
	}
	if !a.Owns("call") {
		t.Fatal("a does not own what it claimed")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, cfg.Prefix+"_sessions")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "call", []byte(`{"node":"b","media_ms":0,"at":1}`)); err != nil {
		t.Fatal(err)
	}
	a.Progress("call", 1000)
	waitFor(t, 3*time.Second, func() bool { return !a.Owns("call") })
	if err := a.Release(ctx, "call"); err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "call"); err != nil || !strings.Contains(string(e.Value()), `"node":"b"`) {
		t.Fatalf("a's release touched b's session: %v", err)
	}
}
