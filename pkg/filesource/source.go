package filesource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"time"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/internal/filewatch"
	"egress.io/egress/pkg/policy"
)

// reloadDebounce coalesces the burst of events one save produces (truncate, write, chmod, rename).
const reloadDebounce = 50 * time.Millisecond

// Source is a policy.Source that loads a rules file (see policy.LoadRuleSets) and reloads it whenever it changes. It
// watches the file's directory, so editors that replace the file by rename and Kubernetes ConfigMap volumes
// (which swap a symlink) are followed. A load that fails is reported to the sink and changes nothing.
type Source struct {
	Path   string
	Logger *slog.Logger
}

// Load reads a YAML stream of EgressRuleSet documents from path; see policy.LoadRuleSets.
func Load(path string) ([]v1alpha1.EgressRuleSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading rules file: %w", err)
	}
	defer f.Close()
	return policy.LoadRuleSets(f, path)
}

// Run loads the file, then reloads it on every change until ctx is done.
func (s *Source) Run(ctx context.Context, sink policy.Sink) error {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var lastHash [sha256.Size]byte
	loaded := false
	reload := func() {
		data, err := os.ReadFile(s.Path)
		if err != nil {
			logger.Error("rules file not loaded", "file", s.Path, "error", err)
			sink.Failed(fmt.Errorf("reading rules file: %w", err))
			return
		}
		hash := sha256.Sum256(data)
		if loaded && hash == lastHash {
			return
		}
		sets, err := policy.LoadRuleSets(bytes.NewReader(data), s.Path)
		if err != nil {
			logger.Error("rules file rejected; keeping the last good rules", "file", s.Path, "error", err)
			sink.Failed(err)
			return
		}
		lastHash, loaded = hash, true
		logger.Info("rules file loaded", "file", s.Path, "rule_sets", len(sets))
		sink.Update(sets)
	}
	// Watch calls reload once it watches, then on every change.
	return filewatch.Watch(ctx, s.Path, reloadDebounce, func(err error) {
		logger.Warn("rules file watch error", "file", s.Path, "error", err)
	}, reload)
}
