package store_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any leave a goroutine behind: a
// store's pools (SQLite's and pgx's) must be gone once it is closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
