package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
// sealed recording of a data directory with the new key (rotation). It
// may run while the server runs with both keys: each file is replaced at
// once (written aside, synced, renamed), and files already under the new
// key are left alone, so it can be run again after a failure.
func runRecordings(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const usage = "usage: cuecard recordings rekey --data DIR --key-file NEW --old-key-file OLD [--old-key-file OLD2...]"
	if len(args) == 0 || args[0] != "rekey" {
		return usagef(usage)
	}
	fs := newFlags("recordings rekey", stderr)
	dataDir := fs.String("data", "./data", "the server's data directory")
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
	files, err := filepath.Glob(filepath.Join(*dataDir, "audio", "*", "*.enc"))
	if err != nil {
		return err
	}
	var failed error
	done, kept := 0, 0
	for _, f := range files {
		changed, err := rekeyFile(f, kr)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "%s: %v\n", f, err)
			failed = errors.Join(failed, err)
		case changed:
			done++
		default:
			kept++
		}
	}
	fmt.Fprintf(stdout, "re-encrypted %d recordings with key %s (%d already were)\n", done, kr.Current().ID(), kept)
	return failed
}

// rekeyFile re-encrypts the sealed file at path with kr's current key,
// unless it already is; it reports whether it changed the file.
func rekeyFile(path string, kr *seal.Keyring) (bool, error) {
	in, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return false, err
	}
	r, err := seal.NewReader(in, st.Size(), kr)
	if err != nil {
		return false, err
	}
	if r.KeyID() == kr.Current().ID() {
		return false, nil
	}
	tmp := path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, store.FileMode)
	if err != nil {
		return false, err
	}
	_, err = seal.Encrypt(out, r, kr.Current())
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
