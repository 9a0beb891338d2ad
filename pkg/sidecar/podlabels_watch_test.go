package sidecar

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchPodLabelsFollowsSymlinkSwaps updates the labels file the way the kubelet does (a new data
// directory, then an atomic rename of the ..data symlink) and expects each change once.
func TestWatchPodLabelsFollowsSymlinkSwaps(t *testing.T) {
	dir := t.TempDir()
	write := func(version, content string) {
		t.Helper()
		data := filepath.Join(dir, "..v"+version)
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, "labels"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(filepath.Base(data), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	write("1", "app=\"web\"\n")
	path := filepath.Join(dir, "labels")
	if err := os.Symlink("..data/labels", path); err != nil {
		t.Fatal(err)
	}
	changes := make(chan map[string]string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchPodLabels(ctx, path, map[string]string{"app": "web"}, slog.New(slog.DiscardHandler), func(l map[string]string) { changes <- l })
	time.Sleep(50 * time.Millisecond) // let the watch start

	write("2", "app=\"checkout\"\n")
	select {
	case got := <-changes:
		if got["app"] != "checkout" {
			t.Fatalf("labels = %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the relabel was not noticed")
	}
	write("3", "app=\"checkout\"\n") // same labels: no call
	select {
	case got := <-changes:
		t.Fatalf("unchanged labels reported: %v", got)
	case <-time.After(500 * time.Millisecond):
	}
}
