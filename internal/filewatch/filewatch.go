// Package filewatch tells when a file may have changed, following the ways files are replaced in practice:
// written in place, renamed over, or swapped behind a symlink as Kubernetes does for ConfigMap and
// downward-API volumes. It watches the file's directory with fsnotify and coalesces bursts of events.
package filewatch

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls changed once as soon as the watch is in place (so no change between the caller's first read
// and the watch is missed), then, at most once per burst of events debounce apart, whenever an entry of
// path's directory changes (a chmod counts only on path itself), until ctx is done. Watch errors go to
// onError and the watch goes on. The caller reads the file itself, so it sees the state after the burst.
func Watch(ctx context.Context, path string, debounce time.Duration, onError func(error), changed func()) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", path, err)
	}
	defer watcher.Close()
	dir := filepath.Dir(path)
	if err := watcher.Add(dir); err != nil {
		return fmt.Errorf("watching directory %s of %s: %w", dir, path, err)
	}
	changed()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case event, ok := <-watcher.Events:
			if !ok {
				return nil
			}
			if event.Op != fsnotify.Chmod || filepath.Clean(event.Name) == filepath.Clean(path) {
				timer.Reset(debounce)
			}
		case err, ok := <-watcher.Errors:
			if !ok {
				return nil
			}
			onError(err)
		case <-timer.C:
			changed()
		}
	}
}
