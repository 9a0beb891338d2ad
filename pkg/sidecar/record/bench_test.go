package record

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkReportAllowed is the decision record's cost per allowed request: the ring and the summary (an
// allow is not logged by default), from both cores at once.
func BenchmarkReportAllowed(b *testing.B) {
	r := NewReporter(slog.New(slog.DiscardHandler), 256, false)
	ev := Event{Time: time.Now(), Decision: "allow", Reason: "exact", Protocol: "http", Host: "api.example.test", Port: 80,
		RuleSet: "shop/deps", Target: "api.example.test:80"}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Report(ctx, ev)
		}
	})
}
