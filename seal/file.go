package seal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// EncryptFile seals the file at src with k into dst, durably: it writes
// dst+".tmp" with mode perm (whatever the umask), syncs it, renames it
// over dst and syncs the directory. On failure dst is unchanged and the
// temporary file removed.
func EncryptFile(src, dst string, k *Key, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("seal %s: %w", src, err)
	}
	defer in.Close()
	return writeAtomic(dst, perm, func(w io.Writer) error {
		_, err := Encrypt(w, in, k)
		return err
	})
}

// ReencryptFile seals the sealed file at path again with kr's current
// key, in place and as durably as EncryptFile, unless it already is; it
// reports whether it changed the file. It fails as NewReader does (a
// *KeyError when kr lacks the file's key) and leaves the file unchanged.
func ReencryptFile(path string, kr *Keyring, perm os.FileMode) (bool, error) {
	in, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return false, err
	}
	r, err := NewReader(in, st.Size(), kr)
	if err != nil {
		return false, err
	}
	if r.KeyID() == kr.Current().ID() {
		return false, nil
	}
	err = writeAtomic(path, perm, func(w io.Writer) error {
		_, err := Encrypt(w, r, kr.Current())
		return err
	})
	return err == nil, err
}

// writeAtomic writes path through write into a temporary file beside it,
// synced and renamed into place, then syncs the directory.
func writeAtomic(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	err = out.Chmod(perm)
	if err == nil {
		err = write(out)
	}
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
		err = SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("seal %s: %w", path, err)
	}
	return nil
}

// SyncDir makes a rename or removal in dir durable.
func SyncDir(dir string) error {
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
