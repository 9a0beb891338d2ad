package filesource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"egress.io/egress/api/v1alpha1"
)

// recordingSink collects what a Source delivers.
type recordingSink struct {
	mu      sync.Mutex
	updates [][]v1alpha1.EgressRuleSet
	errs    []error
	changed chan struct{}
}

func newRecordingSink() *recordingSink { return &recordingSink{changed: make(chan struct{}, 100)} }

func (s *recordingSink) Update(sets []v1alpha1.EgressRuleSet) {
	s.mu.Lock()
	s.updates = append(s.updates, sets)
	s.mu.Unlock()
	s.changed <- struct{}{}
}

func (s *recordingSink) Failed(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
	s.changed <- struct{}{}
}

func (s *recordingSink) counts() (updates, errs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates), len(s.errs)
}

func (s *recordingSink) waitFor(t *testing.T, updates, errs int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if u, e := s.counts(); u >= updates && e >= errs {
			return
		}
		select {
		case <-s.changed:
		case <-deadline:
			u, e := s.counts()
			t.Fatalf("after 5s: %d updates and %d failures, want %d and %d", u, e, updates, errs)
		}
	}
}

const (
	rulesA = "apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata: {name: a}\nspec: {targets: [\"a.example:443\"]}\n"
	rulesB = "apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata: {name: b}\nspec: {targets: [\"b.example:443\"]}\n"
)

func TestSourceReloadsAndKeepsLastGoodSet(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write := func(content string) {
		t.Helper()
		// Write to a temporary file and rename, as editors and ConfigMap volumes do.
		tmp := filepath.Join(dir, ".rules.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(rulesA)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := newRecordingSink()
	done := make(chan error, 1)
	go func() { done <- (&Source{Path: path}).Run(ctx, sink) }()

	sink.waitFor(t, 1, 0)
	start := time.Now()
	write(rulesB)
	sink.waitFor(t, 2, 0)
	if took := time.Since(start); took > time.Second {
		t.Errorf("reload took %v, want under a second", took)
	}
	write("apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata: {name: c}\nspec: {targets: [\"*:*\"]}\n")
	sink.waitFor(t, 2, 1)
	// In place, not by rename.
	if err := os.WriteFile(path, []byte(rulesA), 0o644); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, 3, 1)

	sink.mu.Lock()
	last := sink.updates[len(sink.updates)-1]
	second := sink.updates[1]
	sink.mu.Unlock()
	if second[0].Name != "b" || last[0].Name != "a" {
		t.Fatalf("updates = %v then %v", second[0].Name, last[0].Name)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSourceMissingFileFailsThenLoadsWhenCreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := newRecordingSink()
	go (&Source{Path: path}).Run(ctx, sink)
	sink.waitFor(t, 0, 1)
	if err := os.WriteFile(path, []byte(rulesA), 0o644); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, 1, 1)
}

func TestLoad(t *testing.T) {
	sets, err := Load("../policy/testdata/rules.yaml")
	if err != nil || len(sets) != 2 {
		t.Fatalf("Load = %d rule sets, %v; want 2", len(sets), err)
	}
	_, err = Load("testdata/does-not-exist.yaml")
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Fatalf("Load of a missing file: %v", err)
	}
}
