package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cuecard/cuecard/blob"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/jobs"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/store"
)

// JobQueue runs uploads' analyses as jobs any node may pick up (package
// jobs: in process, or shared through NATS JetStream). The server
// registers its handlers in New; the caller starts the queue after New
// and closes it before Shutdown.
type JobQueue interface {
	Handle(kind string, h jobs.Handler) error
	Enqueue(ctx context.Context, kind string, payload []byte) (string, error)
	// Durable reports whether queued jobs outlive this process (then a
	// restart leaves them to the queue rather than resuming them).
	Durable() bool
}

// jobUpload is the kind of an upload's analysis job.
const jobUpload = "upload"

// uploadJob is the payload of a jobUpload job.
type uploadJob struct {
	ID      string `json:"id"`
	TotalMS int64  `json:"total_ms"`
}

// errUploadInputs: an upload's converted recordings are on no node.
var errUploadInputs = errors.New("the upload's recordings are gone")

// uploadInputKey is where an upload's converted side waits for the node
// that analyzes it.
func uploadInputKey(id string, sp coach.Speaker) string {
	return "uploads/" + id + "/" + sp.String() + ".wav"
}

// registerJobs registers the server's job handlers on Config.Jobs.
func (s *Server) registerJobs() {
	if s.cfg.Jobs == nil {
		return
	}
	if err := s.cfg.Jobs.Handle(jobUpload, s.runUploadJob); err != nil {
		s.log.Error("register upload jobs", "err", err)
	}
}

// enqueueUpload hands an accepted upload to the job queue: its converted
// recordings go to the blob store first (when there is one), so that any
// node can run it.
func (s *Server) enqueueUpload(ctx context.Context, id string, paths [2]string, totalMS int64) error {
	if s.cfg.Recordings != nil {
		for i, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
			if err := putFile(ctx, s.cfg.Recordings, uploadInputKey(id, sp), paths[i]); err != nil {
				return err
			}
		}
	}
	payload, err := json.Marshal(uploadJob{ID: id, TotalMS: totalMS})
	if err != nil {
		return err
	}
	if _, err := s.cfg.Jobs.Enqueue(ctx, jobUpload, payload); err != nil {
		s.deleteUploadInputs(context.WithoutCancel(ctx), id)
		return fmt.Errorf("queue upload analysis: %w", err)
	}
	return nil
}

// runUploadJob analyzes one upload, on whichever node took the job. It is
// idempotent: an upload no longer analyzing (done, failed, erased) is
// left alone; one whose analysis ended but was not marked done is
// completed; otherwise the analysis starts over (events of an earlier
// attempt are deleted). A failure is retried, and on the last attempt
// recorded on the upload as today.
func (s *Server) runUploadJob(ctx context.Context, j jobs.Job) error {
	var p uploadJob
	if err := json.Unmarshal(j.Payload, &p); err != nil || !validSessionID(p.ID) {
		return jobs.Permanent(fmt.Errorf("upload job: bad payload %q", j.Payload))
	}
	rs, err := s.replayStore()
	if err != nil {
		return jobs.Permanent(err)
	}
	u, err := rs.Upload(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if u.State != store.UploadAnalyzing {
		return nil
	}
	if ses, err := s.st.GetSession(ctx, p.ID); err == nil && ses.Status == store.StatusEnded || s.uploadSealed(ctx, p.ID) {
		return s.finishUploadJob(ctx, rs, p)
	}
	paths, err := s.fetchUploadInputs(ctx, p.ID)
	if err == nil {
		err = rs.DeleteEvents(ctx, p.ID)
	}
	if err == nil {
		err = s.runUpload(ctx, rs, p.ID, paths, p.TotalMS)
	}
	switch {
	case err == nil:
		s.deleteUploadInputs(ctx, p.ID)
		return nil
	case ctx.Err() != nil:
		return err // shutting down: the job runs again, here or elsewhere
	case j.Final || jobs.IsPermanent(err) || errors.Is(err, errUploadInputs):
		s.log.Warn("upload analysis failed", "session", p.ID, "attempt", j.Attempt, "err", err)
		s.failUpload(context.WithoutCancel(ctx), rs, p.ID, p.TotalMS,
			fmt.Sprintf("analysis failed after %d attempts: %s", j.Attempt, oneLine(err.Error())))
		s.deleteUploadInputs(context.WithoutCancel(ctx), p.ID)
		return jobs.Permanent(err)
	}
	return err
}

func (s *Server) finishUploadJob(ctx context.Context, rs replayStore, p uploadJob) error {
	if err := s.completeUpload(ctx, rs, p.ID, p.TotalMS); err != nil {
		return err
	}
	s.deleteUploadInputs(ctx, p.ID)
	return nil
}

// fetchUploadInputs returns the local paths of upload id's converted
// recordings, downloading them from the blob store when this node lacks
// them. It fails with errUploadInputs when they are nowhere.
func (s *Server) fetchUploadInputs(ctx context.Context, id string) ([2]string, error) {
	if paths, ok := s.uploadInputs(ctx, id); ok {
		return paths, nil
	}
	var paths [2]string
	if s.cfg.Recordings == nil {
		return paths, errUploadInputs
	}
	for i, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		p, err := s.st.RecordingPath(id, sp, "wav")
		if err != nil {
			return paths, err
		}
		if err := getFile(ctx, s.cfg.Recordings, uploadInputKey(id, sp), p); err != nil {
			return paths, err
		}
		if err := s.st.AddRecording(ctx, id, sp, p, "audio/wav"); err != nil {
			return paths, err
		}
		paths[i] = p
	}
	return paths, nil
}

func (s *Server) deleteUploadInputs(ctx context.Context, id string) {
	if s.cfg.Recordings == nil {
		return
	}
	if err := s.deleteObjects(ctx, "uploads/"+id+"/"); err != nil {
		s.log.Error("delete upload inputs", "session", id, "err", err)
	}
}

// putFile stores the file at path under key.
func putFile(ctx context.Context, st blob.Store, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return st.Put(ctx, key, f, fi.Size())
}

// getFile copies the object at key to a private file at path (written
// aside and renamed, so path is whole or absent). A missing object is
// errUploadInputs.
func getFile(ctx context.Context, st blob.Store, key, path string) error {
	o, err := st.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("%w: %s", errUploadInputs, key)
	}
	if err != nil {
		return err
	}
	defer o.Close()
	tmp := path + ".fetch"
	f, err := openPrivate(tmp, os.O_WRONLY|os.O_TRUNC)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, o)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return seal.SyncDir(filepath.Dir(path))
}

// validSessionID reports whether id can be a session id (and so a key
// segment): 1 to 64 of [A-Za-z0-9_-], as the store makes them.
func validSessionID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
