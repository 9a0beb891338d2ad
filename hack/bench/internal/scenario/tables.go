package scenario

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"egress.io/egress/hack/bench/internal/contender"
	"egress.io/egress/hack/bench/internal/report"
)

// Tables turns the results into the report's tables, for the scenarios that ran.
func (b *Bench) Tables() []report.Table {
	var tables []report.Table
	for _, t := range []func() (report.Table, bool){
		b.originationRPSTable, b.originationCPUTable, b.latencyTable, b.originationSyscallTable, b.passthroughTable, b.syscallTable,
		b.memoryTable, b.policyTable, b.reloadTable, b.gatewayTable,
	} {
		if table, ok := t(); ok {
			tables = append(tables, table)
		}
	}
	return tables
}

func (b *Bench) med(k report.Key) string { return report.Num(b.Res.Median(k)) }

func (b *Bench) originationRPSTable() (report.Table, bool) {
	if b.Res.Get(key(scOrigination, mRPS, conns(b.Cfg.Connections[0]), contender.Sidecar)) == nil {
		return report.Table{}, false
	}
	t := report.Table{
		Title:  "Origination: requests/s (wrk, app keep-alive, 100-byte response; median of rounds)",
		Header: []string{"contender"},
	}
	for _, c := range b.Cfg.Connections {
		t.Header = append(t.Header, connsText(c))
	}
	for _, name := range []string{contender.Sidecar, contender.NginxBest, contender.NginxPoC, contender.Direct} {
		row := []string{name}
		for _, c := range b.Cfg.Connections {
			row = append(row, b.med(key(scOrigination, mRPS, conns(c), name)))
		}
		t.Rows = append(t.Rows, row)
	}
	for _, other := range []string{contender.NginxBest, contender.NginxPoC, contender.Direct} {
		row := []string{"sidecar ÷ " + other}
		for _, c := range b.Cfg.Connections {
			row = append(row, report.Ratio(b.Res.RoundRatio(key(scOrigination, mRPS, conns(c), contender.Sidecar), key(scOrigination, mRPS, conns(c), other))))
		}
		t.Rows = append(t.Rows, row)
	}
	t.Notes = []string{"Ratios are medians of per-round ratios (the contenders of a round ran back to back)."}
	return t, true
}

func (b *Bench) originationCPUTable() (report.Table, bool) {
	if b.Res.Get(key(scOrigination, mCPU10k, conns(b.Cfg.Connections[0]), contender.Sidecar)) == nil {
		return report.Table{}, false
	}
	t := report.Table{
		Title:  "Origination: CPU seconds of the proxy (all its processes and threads) per 10,000 requests",
		Header: []string{"contender"},
	}
	for _, c := range b.Cfg.Connections {
		t.Header = append(t.Header, connsText(c))
	}
	for _, name := range []string{contender.Sidecar, contender.NginxBest, contender.NginxPoC} {
		row := []string{name}
		for _, c := range b.Cfg.Connections {
			row = append(row, b.med(key(scOrigination, mCPU10k, conns(c), name)))
		}
		t.Rows = append(t.Rows, row)
	}
	return t, true
}

func (b *Bench) latencyTable() (report.Table, bool) {
	params := fmt.Sprintf("rate=%.0f", b.Cfg.OpenLoop.Rate)
	if b.Res.Get(key(scOrigination, mP50, params, contender.Sidecar)) == nil {
		return report.Table{}, false
	}
	t := report.Table{
		Title: fmt.Sprintf("Origination: latency at a fixed %.0f requests/s (open loop, %d connections, %v per round; ms, median of rounds)",
			b.Cfg.OpenLoop.Rate, b.Cfg.OpenLoop.Connections, b.Cfg.OpenLoop.Duration),
		Header: []string{"contender", "p50", "p99", "p99.9", "added p50 over direct", "added p99 over direct"},
	}
	for _, name := range []string{contender.Sidecar, contender.NginxBest, contender.NginxPoC, contender.Direct} {
		added50, added99 := "-", "-"
		if name != contender.Direct {
			added50 = b.med(key(scOrigination, mAddedP50, params, name))
			added99 = b.med(key(scOrigination, mAddedP99, params, name))
		}
		t.Rows = append(t.Rows, []string{name, b.med(key(scOrigination, mP50, params, name)),
			b.med(key(scOrigination, mP99, params, name)), b.med(key(scOrigination, mP999, params, name)), added50, added99})
	}
	t.Notes = []string{"Latency is measured from each request's scheduled send time, so queueing behind a slow " +
		"request counts (no coordinated omission). Added latency is the contender's percentile minus direct's in the same round."}
	return t, true
}

func (b *Bench) passthroughTable() (report.Table, bool) {
	size := fmt.Sprintf("bytes=%d", b.Cfg.Download)
	small := conns(b.Cfg.PassthroughConnections)
	if b.Res.Get(key(scPassthrough, mMBps, size, contender.Sidecar)) == nil {
		return report.Table{}, false
	}
	t := report.Table{
		Title: fmt.Sprintf("TLS passthrough: %s download (curl) and small requests (wrk, %d keep-alive TLS connections)",
			bytesText(b.Cfg.Download), b.Cfg.PassthroughConnections),
		Header: []string{"contender", "MB/s", "÷ haproxy", "proxy CPU s per GiB", "small req/s", "÷ haproxy", "proxy CPU s per 10k"},
	}
	for _, name := range []string{contender.Sidecar, contender.HAProxy, contender.Direct} {
		row := []string{name, b.med(key(scPassthrough, mMBps, size, name)),
			report.Ratio(b.Res.RoundRatio(key(scPassthrough, mMBps, size, name), key(scPassthrough, mMBps, size, contender.HAProxy))),
			b.med(key(scPassthrough, mCPUPerGiB, size, name)),
			b.med(key(scPassthrough, mRPS, small, name)),
			report.Ratio(b.Res.RoundRatio(key(scPassthrough, mRPS, small, name), key(scPassthrough, mRPS, small, contender.HAProxy))),
			b.med(key(scPassthrough, mCPU10k, small, name))}
		if name == contender.Direct {
			row[3], row[6] = "-", "-"
		}
		t.Rows = append(t.Rows, row)
	}
	t.Notes = []string{"MB is 10^6 bytes. The client (curl, OpenSSL) and the origin (nginx) do the TLS work on the same two cores."}
	return t, true
}

func (b *Bench) originationSyscallTable() (report.Table, bool) {
	per, ok := b.Res.Extra["origination_syscalls_per_request"].(map[string]map[string]float64)
	if !ok {
		return report.Table{}, false
	}
	names := map[string]bool{}
	for _, calls := range per {
		for name, n := range calls {
			if n >= 0.05 {
				names[name] = true
			}
		}
	}
	sorted := slices.Sorted(maps.Keys(names))
	t := report.Table{
		Title:  "Origination: system calls per request of the proxy (`strace -c -f -p PID`, 64 connections, 3 s)",
		Header: append(append([]string{"contender"}, sorted...), "all calls"),
	}
	for _, c := range []string{contender.Sidecar, contender.NginxBest} {
		row := []string{c}
		for _, name := range sorted {
			row = append(row, report.Num(per[c][name]))
		}
		t.Rows = append(t.Rows, append(row, report.Num(sum(per[c]))))
	}
	t.Notes = []string{"Calls made at least 0.05 times per request by either proxy; \"all calls\" counts every call."}
	return t, true
}

func (b *Bench) syscallTable() (report.Table, bool) {
	calls, ok := b.Res.Extra["passthrough_syscalls"].(map[string]map[string]int64)
	if !ok {
		return report.Table{}, false
	}
	t := report.Table{
		Title:  fmt.Sprintf("TLS passthrough: system calls of the proxy during a %s download (`strace -c -f -p PID`)", bytesText(b.Cfg.SpliceBytes)),
		Header: []string{"contender", "splice", "read + recvfrom", "write + sendto", "all calls", "bytes per splice"},
	}
	for _, name := range []string{contender.Sidecar, contender.HAProxy} {
		c := calls[name]
		var total int64
		for _, n := range c {
			total += n
		}
		perSplice := "-"
		if c["splice"] > 0 {
			perSplice = report.Num(float64(b.Cfg.SpliceBytes) / float64(c["splice"]))
		}
		t.Rows = append(t.Rows, []string{name, fmt.Sprint(c["splice"]), fmt.Sprint(c["read"] + c["recvfrom"]),
			fmt.Sprint(c["write"] + c["sendto"]), fmt.Sprint(total), perSplice})
	}
	t.Notes = []string{"splice(2) moves bytes socket → pipe → socket inside the kernel; each direction's bytes cross it twice, so bytes per splice is an upper bound."}
	return t, true
}

func (b *Bench) memoryTable() (report.Table, bool) {
	if len(b.Cfg.Memory) == 0 || b.Res.Get(key(scMemory, mRSS, "mode="+b.Cfg.Memory[0].Mode+" idle", contender.Sidecar)) == nil {
		return report.Table{}, false
	}
	t := report.Table{
		Title:  "Memory of a fresh sidecar (RSS from /proc; Go heap and stacks from its /metrics; MB = 10^6 bytes)",
		Header: []string{"connections", "state", "RSS MB", "anon MB", "file MB", "RSS MB more per 1,000 conns", "Go heap in use MB", "Go stacks MB", "goroutines", "open fds"},
	}
	for _, mm := range b.Cfg.Memory {
		mode := mm.Mode
		label := map[string]string{"http": "HTTP keep-alive (origination)", "tls": "TLS passthrough"}[mode]
		states := []string{"idle"}
		for _, n := range mm.Conns {
			states = append(states, fmt.Sprintf("held=%d", n), fmt.Sprintf("after=%d", n))
		}
		idle := b.Res.Median(key(scMemory, mRSS, "mode="+mode+" idle", contender.Sidecar))
		for _, state := range states {
			p := "mode=" + mode + " " + state
			per := "-"
			if n, ok := heldCount(state); ok {
				per = report.Num((b.Res.Median(key(scMemory, mRSS, p, contender.Sidecar)) - idle) / float64(n) * 1000)
			}
			t.Rows = append(t.Rows, []string{label, strings.NewReplacer("held=", "holding ", "after=", "after closing ").Replace(state),
				b.med(key(scMemory, mRSS, p, contender.Sidecar)), b.med(key(scMemory, mRSSAnon, p, contender.Sidecar)),
				b.med(key(scMemory, mRSSFile, p, contender.Sidecar)), per, b.med(key(scMemory, mHeapInuse, p, contender.Sidecar)),
				b.med(key(scMemory, mStackInuse, p, contender.Sidecar)), b.med(key(scMemory, mGoroutines, p, contender.Sidecar)),
				b.med(key(scMemory, mOpenFiles, p, contender.Sidecar))})
		}
	}
	return t, true
}

func (b *Bench) policyTable() (report.Table, bool) {
	if b.Res.Get(key(scPolicy, mRPS, targets(b.Cfg.PolicyTargets[0]), contender.Sidecar)) == nil {
		return report.Table{}, false
	}
	t := report.Table{
		Title: fmt.Sprintf("Policy size: pkg/policy decisions/s (one goroutine) and sidecar origination requests/s (%d connections)",
			b.Cfg.PolicyConnections),
		Header: []string{"targets", "decisions/s (hit)", "decisions/s (miss)", "req/s", "÷ 1 target", "CPU s per 10k"},
	}
	base := key(scPolicy, mRPS, targets(b.Cfg.PolicyTargets[0]), contender.Sidecar)
	for _, n := range b.Cfg.PolicyTargets {
		p := targets(n)
		t.Rows = append(t.Rows, []string{fmt.Sprint(n), b.med(key(scPolicy, mDecisionHit, p, contender.Sidecar)),
			b.med(key(scPolicy, mDecisionMis, p, contender.Sidecar)), b.med(key(scPolicy, mRPS, p, contender.Sidecar)),
			report.Ratio(b.Res.RoundRatio(key(scPolicy, mRPS, p, contender.Sidecar), base)),
			b.med(key(scPolicy, mCPU10k, p, contender.Sidecar))})
	}
	if p := routes(b.Cfg.PolicyRoutes); b.Res.Get(key(scPolicy, mRPS, p, contender.Sidecar)) != nil {
		t.Rows = append(t.Rows, []string{fmt.Sprintf("1, with %d routes", b.Cfg.PolicyRoutes), "", "",
			b.med(key(scPolicy, mRPS, p, contender.Sidecar)),
			report.Ratio(b.Res.RoundRatio(key(scPolicy, mRPS, p, contender.Sidecar), base)),
			b.med(key(scPolicy, mCPU10k, p, contender.Sidecar))})
	}
	return t, true
}

func (b *Bench) reloadTable() (report.Table, bool) {
	params := fmt.Sprintf("targets=%d", b.Cfg.ReloadTargets)
	if b.Res.Get(key(scReload, mEnforceMs, params+" now=allowed", contender.Sidecar)) == nil {
		return report.Table{}, false
	}
	t := report.Table{
		Title:  fmt.Sprintf("Reload: rules file replaced → first answer that enforces it, %d targets (ms)", b.Cfg.ReloadTargets),
		Header: []string{"change", "median", "min", "max", "samples"},
	}
	for _, want := range []string{"allowed", "denied"} {
		s := b.Res.Get(key(scReload, mEnforceMs, params+" now="+want, contender.Sidecar))
		if s == nil {
			continue
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range s.Samples {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		change := map[string]string{"allowed": "target added (403 → 200)", "denied": "target removed (200 → 403)"}[want]
		t.Rows = append(t.Rows, []string{change, report.Num(s.Median), report.Num(lo), report.Num(hi), fmt.Sprint(len(s.Samples))})
	}
	return t, true
}

// connsText is a column title: "1 conn", "64 conns".
func connsText(n int) string {
	if n == 1 {
		return "1 conn"
	}
	return fmt.Sprintf("%d conns", n)
}

func conns(n int) string   { return fmt.Sprintf("connections=%d", n) }
func targets(n int) string { return fmt.Sprintf("targets=%d", n) }

func routes(n int) string { return fmt.Sprintf("routes=%d", n) }

// heldCount returns N of a "held=N" state.
func heldCount(state string) (int, bool) {
	var n int
	_, err := fmt.Sscanf(state, "held=%d", &n)
	return n, err == nil
}

func bytesText(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
