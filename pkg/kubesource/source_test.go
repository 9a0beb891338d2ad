package kubesource

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

func TestNewChecksOptions(t *testing.T) {
	if _, err := New(Options{Namespace: "team"}); err == nil || !strings.Contains(err.Error(), "Options.Config") {
		t.Errorf("New without Config: %v", err)
	}
	if _, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}}); err == nil || !strings.Contains(err.Error(), "POD_NAMESPACE") {
		t.Errorf("New without Namespace: %v", err)
	}
	s, err := New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}, Namespace: "team"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.namespaces, ",") != "team,egress-system" {
		t.Errorf("namespaces = %v", s.namespaces)
	}
	if s.Synced() {
		t.Error("Synced() before Run")
	}
	s, err = New(Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}, Namespace: "egress-system"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.namespaces) != 1 {
		t.Errorf("the global namespace's own pods watch it once: %v", s.namespaces)
	}
}
