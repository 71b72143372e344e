// Command vulndb builds a Go vulnerability database that govulncheck reads
// with -db file:///DIR, offline, from the OSV entries that the module
// golang.org/x/vulndb carries in data/osv. `make vulncheck` pipes
// `go mod download -json golang.org/x/vulndb@VERSION` into it, so the
// database comes from the Go module proxy like any module, pinned and
// checksummed, and no other server is asked.
//
// The layout is the one govulncheck's file source reads
// (go.dev/security/vuln/database#api): index/db.json, index/modules.json,
// index/vulns.json and ID/<ID>.json, uncompressed.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	src := flag.String("src", "", "a directory of OSV entries (<ID>.json); without it, the output of `go mod download -json golang.org/x/vulndb@VERSION` is read on standard input")
	out := flag.String("out", "", "the database directory to write (replaced whole)")
	flag.Parse()
	if err := run(*src, *out, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func run(src, out string, stdin io.Reader) error {
	if out == "" {
		return errors.New("-out is required")
	}
	var released time.Time
	if src == "" {
		var err error
		if src, released, err = downloaded(stdin); err != nil {
			return err
		}
	}
	db, err := Load(os.DirFS(src))
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	// The module's entries carry no modification time (the database's
	// server sets it from its git history), so the database as a whole is
	// dated by the module version's commit time.
	if released.After(db.Modified) {
		db.Modified = released
	}
	if err := db.WriteDir(out); err != nil {
		return err
	}
	fmt.Printf("vulndb: %d entries for %d modules in %s\n", len(db.Entries), len(db.Modules), out)
	return nil
}

// download is the part of `go mod download -json` the command reads.
type download struct {
	Path, Version, Dir, Info, Error string
}

// downloaded reads `go mod download -json` and returns the module's OSV
// directory and its version's time.
func downloaded(r io.Reader) (string, time.Time, error) {
	var d download
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return "", time.Time{}, fmt.Errorf("reading go mod download -json: %w", err)
	}
	if d.Error != "" {
		return "", time.Time{}, fmt.Errorf("go mod download %s@%s: %s", d.Path, d.Version, d.Error)
	}
	if d.Dir == "" {
		return "", time.Time{}, errors.New("go mod download -json named no directory")
	}
	var info struct{ Time time.Time }
	if b, err := os.ReadFile(d.Info); err == nil {
		_ = json.Unmarshal(b, &info) // a version without a time dates nothing
	}
	return filepath.Join(d.Dir, "data", "osv"), info.Time, nil
}
