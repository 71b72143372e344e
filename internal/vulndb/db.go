package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// DB is a vulnerability database in memory: the OSV entries as they were
// read, and the indexes computed from them.
type DB struct {
	// Modified is the newest modification time of any entry.
	Modified time.Time
	// Entries are sorted by ID.
	Entries []Entry
	// Modules maps a module path ("stdlib" and "toolchain" for Go itself)
	// to the entries that affect it, sorted by ID.
	Modules map[string][]Entry
}

// Entry is the part of an OSV entry the indexes need, and its bytes.
type Entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`

	raw []byte
}

// errBadEntry marks an OSV file the database cannot hold.
var errBadEntry = errors.New("bad OSV entry")

// Load reads every <ID>.json at the top of fsys as an OSV entry. It fails
// on a file that is not one, or whose name is not its entry's ID.
func Load(fsys fs.FS) (*DB, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no OSV entries (*.json) found", errBadEntry)
	}
	db := &DB{Modules: map[string][]Entry{}}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errBadEntry, name, err)
		}
		if e.ID == "" || name != e.ID+".json" {
			return nil, fmt.Errorf("%w: %s holds entry %q", errBadEntry, name, e.ID)
		}
		e.raw = b
		db.add(e)
	}
	return db, nil
}

// add indexes e; fs.Glob returns names sorted, so entries stay sorted.
func (db *DB) add(e Entry) {
	db.Entries = append(db.Entries, e)
	if e.Modified.After(db.Modified) {
		db.Modified = e.Modified
	}
	for _, a := range e.Affected {
		m := a.Package.Name
		if vs := db.Modules[m]; len(vs) == 0 || vs[len(vs)-1].ID != e.ID {
			db.Modules[m] = append(vs, e)
		}
	}
}

// The index files' records (go.dev/security/vuln/database#api).
type (
	dbMeta struct {
		Modified time.Time `json:"modified"`
	}
	module struct {
		Path  string       `json:"path"`
		Vulns []moduleVuln `json:"vulns"`
	}
	// moduleVuln leaves out the optional "fixed" version: it only lets a
	// client skip reading an entry, and computing it takes semver rules
	// govulncheck applies anyway when it reads the entry.
	moduleVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
	}
	vuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases,omitempty"`
	}
)

// files returns every file of the database by its slash-separated path.
func (db *DB) files() (map[string][]byte, error) {
	paths := make([]string, 0, len(db.Modules))
	for p := range db.Modules {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	modules := make([]module, 0, len(paths))
	for _, p := range paths {
		m := module{Path: p}
		for _, e := range db.Modules[p] {
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
		modules = append(modules, m)
	}
	vulns := make([]vuln, 0, len(db.Entries))
	for _, e := range db.Entries {
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
	}
	files := map[string][]byte{}
	for name, v := range map[string]any{"db": dbMeta{db.Modified}, "modules": modules, "vulns": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		files["index/"+name+".json"] = b
	}
	for _, e := range db.Entries {
		files["ID/"+e.ID+".json"] = e.raw
	}
	return files, nil
}

// WriteDir writes the database to dir, replacing what was there: it is
// written beside dir first and renamed, so an interrupted build leaves no
// half database behind.
func (db *DB) WriteDir(dir string) error {
	files, err := db.files()
	if err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, sub := range []string{"index", "ID"} {
		if err := os.Mkdir(filepath.Join(tmp, sub), 0o755); err != nil {
			return err
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, filepath.FromSlash(name)), b, 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}
