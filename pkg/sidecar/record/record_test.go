package record

import (
	"fmt"
	"testing"
)

func TestRing(t *testing.T) {
	r := NewRing(3)
	for i := 0; i < 5; i++ {
		r.Add(Event{Port: uint16(i)})
	}
	var ports []uint16
	for _, ev := range r.Snapshot() {
		ports = append(ports, ev.Port)
	}
	if fmt.Sprint(ports) != "[2 3 4]" {
		t.Errorf("ring holds %v", ports)
	}
	NewRing(0).Add(Event{})
}
