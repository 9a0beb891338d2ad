package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatchCallsOnceThenOnChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	calls := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, path, 20*time.Millisecond, func(err error) { t.Error(err) }, func() { calls <- struct{}{} })
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("no call %s", what)
		}
	}
	wait("once the watch is in place")
	// Replaced by rename, as editors and ConfigMap volumes do: one burst, one call.
	tmp := filepath.Join(dir, ".file.tmp")
	os.WriteFile(tmp, []byte("b"), 0o644)
	os.Rename(tmp, path)
	wait("after a rename")
	os.WriteFile(filepath.Join(dir, "other"), nil, 0o644)
	wait("after another file appeared (the directory changed)")
	select {
	case <-calls:
		t.Fatal("one burst produced two calls")
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
