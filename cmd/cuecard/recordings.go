package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/store"
)

// loadKeyring reads the recording key files: none gives nil (recordings
// stay in the clear); old keys need a current one.
func loadKeyring(keyFile string, oldFiles []string) (*seal.Keyring, error) {
	if keyFile == "" {
		if len(oldFiles) > 0 {
			return nil, usagef("--recording-old-key-file needs --recording-key-file")
		}
		return nil, nil
	}
	cur, err := seal.ReadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	var old []*seal.Key
	for _, f := range oldFiles {
		k, err := seal.ReadKeyFile(f)
		if err != nil {
			return nil, err
		}
		old = append(old, k)
	}
	return seal.NewKeyring(cur, old...), nil
}

// runRecordings is `cuecard recordings rekey`: it re-encrypts every
// sealed recording of a data directory with the new key (rotation), and
// encrypts the finished recordings still in the clear (made before a key
// was set). It may run while the server runs with both keys: each file
// is replaced at once (written aside, synced, renamed), recordings of
// live calls are left to the server, and files already under the new key
// are left alone, so it can be run again after a failure.
func runRecordings(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const usage = "usage: cuecard recordings rekey --data DIR --key-file NEW [--old-key-file OLD...]"
	if len(args) == 0 || args[0] != "rekey" {
		return usagef(usage)
	}
	fs := newFlags("recordings rekey", stderr)
	var sf storeFlags
	sf.register(fs, "the server's data directory")
	keyFile := fs.String("key-file", "", "the new recording key")
	var oldFiles stringList
	fs.Var(&oldFiles, "old-key-file", "a key recordings may be encrypted with now (repeatable)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *keyFile == "" || fs.NArg() > 0 {
		return usagef(usage)
	}
	kr, err := loadKeyring(*keyFile, oldFiles)
	if err != nil {
		return err
	}
	db, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	var failed error
	report := func(path string, err error) {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		failed = errors.Join(failed, err)
	}
	sealed, err := filepath.Glob(filepath.Join(db.Dir(), "audio", "*", "*.enc"))
	if err != nil {
		return err
	}
	done, kept := 0, 0
	for _, f := range sealed {
		switch changed, err := seal.ReencryptFile(f, kr, store.FileMode); {
		case err != nil:
			report(f, err)
		case changed:
			done++
		default:
			kept++
		}
	}
	plain, err := sealPlain(ctx, db, kr.Current(), report)
	fmt.Fprintf(stdout, "re-encrypted %d recordings with key %s (%d already were); encrypted %d that were in the clear\n",
		done, kr.Current().ID(), kept, plain)
	return errors.Join(failed, err)
}

// sealPlain encrypts with k the registered recordings of ended calls that
// are still in the clear, as the server does at a call's end, and
// returns how many; failures go to report.
func sealPlain(ctx context.Context, db *store.DB, k *seal.Key, report func(string, error)) (int, error) {
	var files []string
	for _, ext := range []string{"wav", "ogg"} {
		fs, err := filepath.Glob(filepath.Join(db.Dir(), "audio", "*", "*."+ext))
		if err != nil {
			return 0, err
		}
		files = append(files, fs...)
	}
	n := 0
	for _, f := range files {
		id := filepath.Base(filepath.Dir(f))
		sp, ok := coach.ParseSpeaker(strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)))
		if !ok {
			continue
		}
		rec, err := db.Recording(ctx, id, sp)
		if err != nil || filepath.Clean(rec.Path) != filepath.Clean(f) {
			continue // not registered: not a finished recording
		}
		if ses, err := db.GetSession(ctx, id); err != nil || ses.Status == store.StatusLive {
			continue // still recording or analyzing: the server seals it
		}
		err = seal.EncryptFile(f, f+".enc", k, store.FileMode)
		if err == nil {
			err = db.AddRecording(ctx, id, sp, f+".enc", rec.ContentType)
		}
		if err == nil {
			err = os.Remove(f)
		}
		if err != nil {
			report(f, err)
			continue
		}
		n++
	}
	return n, nil
}
