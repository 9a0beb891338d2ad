package sidecar

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"egress.io/egress/internal/filewatch"
)

// labelsDebounce coalesces the events of one downward-API update (the kubelet swaps a symlink).
const labelsDebounce = 100 * time.Millisecond

// watchPodLabels follows the downward-API labels file at path and calls changed with the new labels
// whenever they differ from the last ones read, until ctx is done. A file that cannot be read or parsed
// keeps the labels in force (logged).
func watchPodLabels(ctx context.Context, path string, current map[string]string, log *slog.Logger, changed func(map[string]string)) error {
	return filewatch.Watch(ctx, path, labelsDebounce, func(err error) {
		log.Warn("pod labels file watch error", "file", path, "error", err)
	}, func() {
		labels, err := ReadPodLabels(path)
		if err != nil {
			log.Error("pod labels file not read; keeping the labels in force", "file", path, "error", err)
			return
		}
		if !maps.Equal(labels, current) {
			current = labels
			changed(labels)
		}
	})
}
