package scenario

import (
	"slices"
	"testing"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/report"
)

func TestGatewayTable(t *testing.T) {
	b := &Bench{Res: report.New("test"), Cfg: Config{Rounds: 2, Connections: []int{1, 64}, PassthroughConnections: 64,
		OpenLoop: OpenLoop{Rate: 500}}}
	if _, ok := b.gatewayTable(); ok {
		t.Fatal("a gateway table without the gateway scenario's results")
	}
	for round := range 2 {
		add := func(metric, params string, alone, via float64) {
			b.Res.Add(key(scGateway, metric, params, contender.Sidecar), "", alone+float64(round))
			b.Res.Add(key(scGateway, metric, params, viaGateway), "", via+float64(round))
		}
		add(mRPS, "origination connections=1", 6000, 4000)
		add(mRPS, "origination connections=64", 12000, 9000)
		add(mCPU10k, "origination connections=1", 1, 1.25)
		add(mCPU10k, "origination connections=64", 0.8, 0.9)
		add(mRPS, "passthrough connections=64", 16000, 12000)
		add(mP50, "origination rate=500", 1.0, 1.1)
		add(mP99, "origination rate=500", 2.0, 2.5)
		b.Res.Add(key(scGateway, mAddedP50, "origination rate=500", viaGateway), "ms", 0.1)
		b.Res.Add(key(scGateway, mAddedP99, "origination rate=500", viaGateway), "ms", -0.5)
	}
	table, ok := b.gatewayTable()
	if !ok {
		t.Fatal("no gateway table")
	}
	want := [][]string{
		{"origination, 1 conn (req/s)", report.Num(6000.5), report.Num(4000.5), report.Ratio(b.Res.RoundRatio(
			key(scGateway, mRPS, "origination connections=1", viaGateway), key(scGateway, mRPS, "origination connections=1", contender.Sidecar)))},
	}
	if !slices.Equal(table.Rows[0], want[0]) {
		t.Errorf("first row %q, want %q", table.Rows[0], want[0])
	}
	labels := []string{}
	for _, r := range table.Rows {
		labels = append(labels, r[0])
	}
	wantLabels := []string{"origination, 1 conn (req/s)", "origination, 64 conns (req/s)",
		"sidecar CPU s per 10k origination requests, 1 conn", "sidecar CPU s per 10k origination requests, 64 conns",
		"HTTPS the app speaks, 64 conns (req/s)", "origination at 500 req/s, p50 (ms)", "origination at 500 req/s, p99 (ms)"}
	if !slices.Equal(labels, wantLabels) {
		t.Errorf("rows %q, want %q", labels, wantLabels)
	}
	if added := table.Rows[len(table.Rows)-2][3]; added != "+0.1 ms" {
		t.Errorf("added p50 %q, want +0.1 ms", added)
	}
	if added := table.Rows[len(table.Rows)-1][3]; added != "-0.5 ms" {
		t.Errorf("added p99 %q, want -0.5 ms", added)
	}
}
