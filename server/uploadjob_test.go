package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cuecard/cuecard/blob"
	"github.com/cuecard/cuecard/cluster/clustertest"
	"github.com/cuecard/cuecard/jobs"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
)

// testNATS connects to the test NATS server (CUECARD_TEST_NATS, or the
// local one), skipping when it is unreachable unless CI is set.
func testNATS(tb testing.TB) *nats.Conn {
	tb.Helper()
	return clustertest.Conn(tb)
}

// jobQueue returns a JetStream queue on nc under prefix (its stream is
// deleted at the end of the test).
func jobQueue(tb testing.TB, nc *nats.Conn, prefix string) *jobs.JetStream {
	tb.Helper()
	q, err := jobs.NewJetStream(context.Background(), nc, jobs.Config{Prefix: prefix, AckWait: time.Second,
		MaxAttempts: 3, Backoff: 50 * time.Millisecond}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		q.Close()
		if js, err := jetstream.New(nc); err == nil {
			_ = js.DeleteStream(context.Background(), prefix+"_JOBS")
		}
	})
	return q
}

// dyingQueue is node A's queue: it takes a job and never finishes it,
// as a node killed mid-analysis.
type dyingQueue struct {
	*jobs.JetStream
	took chan struct{}
}

func (d dyingQueue) Handle(kind string, _ jobs.Handler) error {
	return d.JetStream.Handle(kind, func(ctx context.Context, _ jobs.Job) error {
		close(d.took)
		<-ctx.Done()
		return ctx.Err()
	})
}

// countingStore counts the uploads marked done.
type countingStore struct {
	*store.DB
	done *atomic.Int32
}

func (c countingStore) SetUpload(ctx context.Context, u store.Upload) error {
	if u.State == store.UploadDone {
		c.done.Add(1)
	}
	return c.DB.SetUpload(ctx, u)
}

func uploadFiles(tb testing.TB) map[string]string {
	wavs := tb.TempDir()
	return map[string]string{"rep": toneWAV(tb, wavs, "rep.wav", 220, 3), "prospect": toneWAV(tb, wavs, "prospect.wav", 330, 3)}
}

// TestUploadJobSurvivesNode: node A accepts an upload, takes its job and
// dies before acknowledging it (its NATS connection closes, its disk is
// gone); node B, sharing the store, the blob store and the queue, runs
// the job from the inputs A left in the blob store. The upload ends done
// exactly once, with its recordings published and its inputs deleted.
func TestUploadJobSurvivesNode(t *testing.T) {
	ncA, ncB := testNATS(t), testNATS(t)
	prefix := fmt.Sprintf("srv%d", time.Now().UnixNano())
	objs, err := blob.NewDir(filepath.Join(t.TempDir(), "shared"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // the shared database (PostgreSQL in a cluster)
	qa := dyingQueue{JetStream: jobQueue(t, ncA, prefix), took: make(chan struct{})}
	a := servertest.Start(t, servertest.Options{Dir: dir, Edit: func(c *server.Config) {
		c.Recordings, c.Jobs, c.NodeID = objs, qa, "a"
	}})
	if err := qa.Start(); err != nil {
		t.Fatal(err)
	}
	code, out := upload(t, a.URL, uploadFiles(t), nil)
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %v", code, out)
	}
	id := out["id"].(string)
	select {
	case <-qa.took:
	case <-time.After(20 * time.Second):
		t.Fatal("node A never took the job")
	}
	ncA.Close() // A dies: no ack, no heartbeat
	a.Close()
	qa.Close()
	if err := os.RemoveAll(filepath.Join(dir, "audio", id)); err != nil { // A's disk
		t.Fatal(err)
	}

	var done atomic.Int32
	qb := jobQueue(t, ncB, prefix)
	b := servertest.Start(t, servertest.Options{Dir: dir,
		Store: func(db *store.DB) server.SessionStore { return countingStore{db, &done} },
		Edit:  func(c *server.Config) { c.Recordings, c.Jobs, c.NodeID = objs, qb, "b" }})
	if err := qb.Start(); err != nil {
		t.Fatal(err)
	}
	if u := waitUpload(t, b.URL, id); u.State != store.UploadDone {
		t.Fatalf("upload on node B: %+v", u)
	}
	qb.Close() // waits for the ack
	if n := done.Load(); n != 1 {
		t.Fatalf("upload marked done %d times", n)
	}
	want := "recordings/" + id + "/prospect.wav recordings/" + id + "/rep.wav"
	if got := strings.Join(blobKeys(t, objs, ""), " "); got != want {
		t.Fatalf("objects: %s, want %s (inputs deleted)", got, want)
	}
	js, _ := jetstream.New(ncB)
	st, err := js.Stream(context.Background(), prefix+"_JOBS")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(context.Background()); err != nil || info.State.Msgs != 0 {
		t.Fatalf("jobs left in the queue: %+v %v", info.State, err)
	}
	ses, err := b.DB.GetSession(context.Background(), id)
	if err != nil || ses.Status != store.StatusEnded || ses.Summary == nil {
		t.Fatalf("session after the job: %+v %v", ses, err)
	}
}

// TestUploadJobInputsGone: a job whose inputs are on no node is given up
// at once and the upload fails with a reason its uploader can read.
func TestUploadJobInputsGone(t *testing.T) {
	nc := testNATS(t)
	prefix := fmt.Sprintf("srv%d", time.Now().UnixNano())
	objs, err := blob.NewDir(filepath.Join(t.TempDir(), "shared"))
	if err != nil {
		t.Fatal(err)
	}
	q := jobQueue(t, nc, prefix)
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) {
		c.Recordings, c.Jobs = objs, q
	}})
	code, out := upload(t, srv.URL, uploadFiles(t), nil)
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %v", code, out)
	}
	id := out["id"].(string)
	os.RemoveAll(filepath.Join(srv.Dir, "audio", id))
	for _, k := range blobKeys(t, objs, "uploads/") {
		objs.Delete(context.Background(), k)
	}
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	u := waitUpload(t, srv.URL, id)
	if u.State != store.UploadFailed || !strings.Contains(u.Error, "the upload's recordings are gone") {
		t.Fatalf("upload: %+v", u)
	}
}
