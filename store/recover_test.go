package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/store/storetest"
)

// TestUploadsByState lists the uploads a restarted server must resume.
func TestUploadsByState(t *testing.T) { storetest.Run(t, testUploadsByState) }

func testUploadsByState(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	var ids []string
	for i, state := range []string{store.UploadAnalyzing, store.UploadDone, store.UploadAnalyzing, store.UploadFailed} {
		s := newSession(t, db, store.NewSession{Source: store.SourceUpload})
		if err := db.SetUpload(ctx, store.Upload{ID: s.ID, State: state, TotalMS: int64(1000 * (i + 1))}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	us, err := db.Uploads(ctx, store.UploadAnalyzing)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || us[0].ID != ids[0] || us[1].ID != ids[2] || us[1].TotalMS != 3000 || us[0].State != store.UploadAnalyzing {
		t.Fatalf("analyzing uploads: %+v", us)
	}
	if us, err := db.Uploads(ctx, store.UploadDone); err != nil || len(us) != 1 || us[0].ID != ids[1] {
		t.Fatalf("done uploads: %+v %v", us, err)
	}
}

// TestDeleteEvents clears an unfinished analysis and refuses an ended
// session's record.
func TestDeleteEvents(t *testing.T) { storetest.Run(t, testDeleteEvents) }

func testDeleteEvents(t *testing.T, engine string) {
	ctx := context.Background()
	db := storetest.Open(t, engine)
	s := newSession(t, db, store.NewSession{})
	if err := db.AppendEvents(ctx, s.ID, 1, []coach.Event{{Type: coach.EventTalk, AtMS: 250}, {Type: coach.EventTalk, AtMS: 500}}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteEvents(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if seq, err := db.LastSeq(ctx, s.ID); err != nil || seq != 0 {
		t.Fatalf("after delete: last seq %d, %v", seq, err)
	}
	if err := db.AppendEvents(ctx, s.ID, 1, []coach.Event{{Type: coach.EventTalk, AtMS: 250}}); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSession(ctx, s.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteEvents(ctx, s.ID); !errors.Is(err, store.ErrEnded) {
		t.Fatalf("ended session: %v, want ErrEnded", err)
	}
	if err := db.DeleteEvents(ctx, "nosuchsession"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown session: %v, want ErrNotFound", err)
	}
}
