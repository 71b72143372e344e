package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const (
	stdEntry = `{"schema_version":"1.3.1","id":"GO-2026-6609","modified":"0001-01-01T00:00:00Z",
"aliases":["CVE-2026-0001"],"summary":"Lack of limit on size of parsed Range headers in net/http",
"affected":[{"package":{"name":"stdlib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.26.9"}]}]}]}`
	netEntry = `{"schema_version":"1.3.1","id":"GO-2026-6603","modified":"2026-10-01T00:00:00Z",
"affected":[{"package":{"name":"stdlib","ecosystem":"Go"}},{"package":{"name":"stdlib","ecosystem":"Go"}},
{"package":{"name":"golang.org/x/net","ecosystem":"Go"}}]}`
)

// TestWriteDir builds a database from two entries and reads it back the
// way govulncheck's file source does: index/*.json and ID/<ID>.json.
func TestWriteDir(t *testing.T) {
	src := fstest.MapFS{
		"GO-2026-6609.json": {Data: []byte(stdEntry)},
		"GO-2026-6603.json": {Data: []byte(netEntry)},
		"README.md":         {Data: []byte("not an entry")},
	}
	db, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "db")
	if err := os.MkdirAll(filepath.Join(out, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteDir(out); err != nil {
		t.Fatal(err)
	}

	var meta dbMeta
	readJSON(t, filepath.Join(out, "index", "db.json"), &meta)
	if want := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC); !meta.Modified.Equal(want) {
		t.Errorf("db.json modified %v, want %v (the newest entry)", meta.Modified, want)
	}
	var modules []module
	readJSON(t, filepath.Join(out, "index", "modules.json"), &modules)
	got := map[string][]string{}
	for _, m := range modules {
		for _, v := range m.Vulns {
			got[m.Path] = append(got[m.Path], v.ID)
		}
	}
	want := map[string][]string{
		"golang.org/x/net": {"GO-2026-6603"},
		"stdlib":           {"GO-2026-6603", "GO-2026-6609"}, // once each, sorted
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("modules.json: %v, want %v", got, want)
	}
	var vulns []vuln
	readJSON(t, filepath.Join(out, "index", "vulns.json"), &vulns)
	if len(vulns) != 2 || vulns[1].ID != "GO-2026-6609" || !reflect.DeepEqual(vulns[1].Aliases, []string{"CVE-2026-0001"}) {
		t.Errorf("vulns.json: %+v", vulns)
	}
	b, err := os.ReadFile(filepath.Join(out, "ID", "GO-2026-6609.json"))
	if err != nil || string(b) != stdEntry {
		t.Errorf("ID/GO-2026-6609.json is not the entry as it was: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(out, "stale")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old database's files are still there: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".db.*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary directories left: %v", leftovers)
	}
}

func TestLoadRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		src  fstest.MapFS
	}{
		{"empty", fstest.MapFS{}},
		{"not JSON", fstest.MapFS{"GO-2026-6609.json": {Data: []byte("{")}}},
		{"misnamed", fstest.MapFS{"GO-2026-0001.json": {Data: []byte(stdEntry)}}},
		{"no id", fstest.MapFS{".json": {Data: []byte(`{"affected":[]}`)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Load(c.src); !errors.Is(err, errBadEntry) {
				t.Errorf("Load: %v, want errBadEntry", err)
			}
		})
	}
}

// TestRunFromDownload feeds run what `go mod download -json` prints: the
// database comes from the module's data/osv and is dated by its version.
func TestRunFromDownload(t *testing.T) {
	mod := t.TempDir()
	osv := filepath.Join(mod, "data", "osv")
	if err := os.MkdirAll(osv, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(osv, "GO-2026-6609.json"), []byte(stdEntry), 0o644); err != nil {
		t.Fatal(err)
	}
	info := filepath.Join(t.TempDir(), "v.info")
	if err := os.WriteFile(info, []byte(`{"Version":"v0.0.0-20261105234957-e22db6528018","Time":"2026-11-05T23:49:57Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	dl, _ := json.Marshal(download{Path: "golang.org/x/vulndb", Dir: mod, Info: info})
	out := filepath.Join(t.TempDir(), "db")
	if err := run("", out, strings.NewReader(string(dl))); err != nil {
		t.Fatal(err)
	}
	var meta dbMeta
	readJSON(t, filepath.Join(out, "index", "db.json"), &meta)
	if want := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC); !meta.Modified.Equal(want) {
		t.Errorf("db.json modified %v, want the version's time %v", meta.Modified, want)
	}

	failed, _ := json.Marshal(download{Path: "golang.org/x/vulndb", Version: "v9", Error: "unknown revision v9"})
	if err := run("", out, strings.NewReader(string(failed))); err == nil || !strings.Contains(err.Error(), "unknown revision") {
		t.Errorf("a failed download: %v", err)
	}
}

func readJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}
