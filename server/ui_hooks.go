package server

import "io/fs"

// WithUITestHooks returns ui marked so that the server tells the page it
// may use its test hooks: the overlay then takes the prospect's side from
// an audio file named in its URL (?test-prospect=/path.wav) instead of a
// shared tab. Set it as Config.UI only for end-to-end tests (cuecard serve
// --ui-test-hooks); a normal server never offers the hooks.
func WithUITestHooks(ui fs.FS) fs.FS {
	if ui == nil {
		return nil
	}
	if h, ok := ui.(testHooksFS); ok {
		return h
	}
	return testHooksFS{ui}
}

// testHooksFS is a UI file system with the test hooks on.
type testHooksFS struct{ fs.FS }
