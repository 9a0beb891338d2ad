package testworld

import (
	"os"
	"sync"

	"egress.io/egress/internal/netnstest"
)

// Dir returns a new directory that every UID can read (the sidecar and nginx run as other users), removed
// in t.Cleanup (and by netnstest's stale sweep when the test binary was killed first).
func Dir(t T, pattern string) string {
	t.Helper()
	dir, err := netnstest.TempDir(pattern)
	if err != nil {
		t.Fatalf("creating a work directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("making %s readable: %v", dir, err)
	}
	return dir
}

// WriteFile writes content to path (mode 0644) or fails t.
func WriteFile(t T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// SyncBuffer is a bytes buffer that a process's stdout and stderr may write to while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  []byte
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}
