//go:build unix

package store_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
)

// TestDataIsPrivate checks that the data directory, its directories and
// its files are for the server's user alone, whatever the umask, and
// that Open tightens a data directory an older version left open.
func TestDataIsPrivate(t *testing.T) {
	old := syscall.Umask(0) // the loosest: every mode bit is the code's own
	defer syscall.Umask(old)
	for _, c := range []struct {
		name    string
		prepare func(tb testing.TB, dir string)
	}{
		{"new", func(testing.TB, string) {}},
		{"loose", func(tb testing.TB, dir string) {
			tb.Helper()
			if err := os.MkdirAll(filepath.Join(dir, "audio"), 0o777); err != nil {
				tb.Fatal(err)
			}
			for _, f := range []string{"cuecard.db", "cuecard.db-wal", "cuecard.db-shm"} {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o666); err != nil {
					tb.Fatal(err)
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			c.prepare(t, dir)
			db := openDB(t, dir)
			s := newSession(t, db, store.NewSession{Rep: "Ann"})
			rec, err := db.RecordingPath(s.ID, coach.Rep, "wav")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]fs.FileMode{
				dir:                                  store.DirMode,
				filepath.Join(dir, "audio"):          store.DirMode,
				filepath.Dir(rec):                    store.DirMode,
				filepath.Join(dir, "cuecard.db"):     store.FileMode,
				filepath.Join(dir, "cuecard.db-wal"): store.FileMode,
				filepath.Join(dir, "cuecard.db-shm"): store.FileMode,
			}
			for p, mode := range want {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != mode {
					t.Errorf("%s: mode %o, want %o", p, got, mode)
				}
			}
		})
	}
}
