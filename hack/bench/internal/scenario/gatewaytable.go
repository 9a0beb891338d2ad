package scenario

import (
	"fmt"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/report"
)

// gatewayTable sets the sidecar alone beside the sidecar through a gateway, for each load of the gateway
// scenario.
func (b *Bench) gatewayTable() (report.Table, bool) {
	if b.Res.Get(key(scGateway, mRPS, gatewayOriginationParams(b.Cfg.Connections[0]), contender.Sidecar)) == nil {
		return report.Table{}, false
	}
	t := report.Table{
		Title:  "Egress gateway: the sidecar alone and through a gateway (median of rounds)",
		Header: []string{"load", "sidecar alone", "sidecar + gateway", "through the gateway ÷ alone"},
	}
	row := func(label, metric, params string) {
		alone, via := key(scGateway, metric, params, contender.Sidecar), key(scGateway, metric, params, viaGateway)
		t.Rows = append(t.Rows, []string{label, b.med(alone), b.med(via), report.Ratio(b.Res.RoundRatio(via, alone))})
	}
	for _, c := range b.Cfg.Connections {
		row(fmt.Sprintf("origination, %s (req/s)", connsText(c)), mRPS, gatewayOriginationParams(c))
	}
	for _, c := range b.Cfg.Connections {
		row(fmt.Sprintf("sidecar CPU s per 10k origination requests, %s", connsText(c)), mCPU10k, gatewayOriginationParams(c))
	}
	row(fmt.Sprintf("HTTPS the app speaks, %s (req/s)", connsText(b.Cfg.PassthroughConnections)), mRPS,
		gatewayPassthroughParams(b.Cfg.PassthroughConnections))
	rate := gatewayRateParams(b.Cfg.OpenLoop.Rate)
	for _, p := range []struct{ label, metric, added string }{{"p50", mP50, mAddedP50}, {"p99", mP99, mAddedP99}} {
		added, sign := b.Res.Median(key(scGateway, p.added, rate, viaGateway)), "+"
		if added < 0 {
			added, sign = -added, "-"
		}
		t.Rows = append(t.Rows, []string{fmt.Sprintf("origination at %.0f req/s, %s (ms)", b.Cfg.OpenLoop.Rate, p.label),
			b.med(key(scGateway, p.metric, rate, contender.Sidecar)), b.med(key(scGateway, p.metric, rate, viaGateway)),
			sign + report.Num(added) + " ms"})
	}
	t.Notes = []string{"The gateway's own CPU is not in the sidecar's CPU rows. Added latency is the median over rounds of " +
		"the through-the-gateway percentile minus the sidecar-alone one of the same round."}
	return t, true
}
