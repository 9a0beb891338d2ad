package sidecar

import (
	"context"
	"log/slog"
	"maps"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// labelsDebounce coalesces the events of one downward-API update (the kubelet swaps a symlink).
const labelsDebounce = 100 * time.Millisecond

// watchPodLabels follows the downward-API labels file at path and calls changed with the new labels
// whenever they differ from the last ones read, until ctx is done. A file that cannot be read or parsed
// keeps the labels in force (logged).
func watchPodLabels(ctx context.Context, path string, current map[string]string, log *slog.Logger, changed func(map[string]string)) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer watcher.Close()
	// The kubelet replaces the file by swapping a symlink in its directory: watch the directory.
	if err := watcher.Add(filepath.Dir(path)); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-watcher.Events:
			if !ok {
				return nil
			}
			timer.Reset(labelsDebounce)
		case err, ok := <-watcher.Errors:
			if !ok {
				return nil
			}
			log.Warn("pod labels file watch error", "file", path, "error", err)
		case <-timer.C:
			labels, err := ReadPodLabels(path)
			if err != nil {
				log.Error("pod labels file not read; keeping the labels in force", "file", path, "error", err)
				continue
			}
			if !maps.Equal(labels, current) {
				current = labels
				changed(labels)
			}
		}
	}
}
