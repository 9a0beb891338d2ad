package httppath

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/rawio"
)

// Pool sizes: enough idle connections per destination for a busy app's concurrency.
const (
	maxIdleConns        = 1024
	maxIdleConnsPerHost = 256
	tlsSessionCacheSize = 1024
	upstreamBufferSize  = 4 << 10
)

// poolKey is what an upstream connection is for: the name (or address) decided on, its port, whether
// the sidecar speaks TLS to it, and the gateway it goes through ("" when directly).
type poolKey struct {
	name    string
	port    uint16
	tls     bool
	gateway string
}

// socketOf returns the TCP socket under an upstream connection: the connection itself, or the socket to
// the gateway a tunnel runs over.
func socketOf(c net.Conn) *net.TCPConn {
	if s, ok := c.(interface{ Socket() *net.TCPConn }); ok {
		return s.Socket()
	}
	return c.(*net.TCPConn)
}

// upstreamConn is one HTTP/1.1 connection to an upstream.
type upstreamConn struct {
	key       poolKey
	conn      net.Conn     // the TCP connection, or TLS over it
	tcp       *net.TCPConn // the socket
	addr      netip.AddrPort
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// pool keeps idle upstream connections for reuse. A connection is reused only for a request whose verdict
// includes its address: a request is never sent to an address it was not decided to.
type pool struct {
	tlsConfig        *tls.Config
	connectTimeout   time.Duration
	handshakeTimeout time.Duration
	idleTimeout      time.Duration
	now              func() time.Time

	mu    sync.Mutex
	idle  map[poolKey][]*upstreamConn // most recently used last
	count int
}

func newPool(tlsConfig *tls.Config, connectTimeout, handshakeTimeout, idleTimeout time.Duration, now func() time.Time) *pool {
	return &pool{
		tlsConfig: tlsConfig, connectTimeout: connectTimeout, handshakeTimeout: handshakeTimeout,
		idleTimeout: idleTimeout, now: now, idle: map[poolKey][]*upstreamConn{},
	}
}

// get returns an idle connection for key at one of v's addresses, or dials v's addresses (and, for TLS,
// verifies the upstream's certificate for key.name). reused says the connection served requests before;
// replayable says the request can be sent again on a new connection.
func (p *pool) get(ctx context.Context, key poolKey, v decide.Verdict, replayable bool) (uc *upstreamConn, reused bool, err error) {
	if uc := p.takeIdle(key, v.Dial, replayable); uc != nil {
		return uc, true, nil
	}
	uc, err = p.dial(ctx, key, v)
	return uc, false, err
}

// freshIdle is how long a connection may have been idle and still be reused without first checking that
// the upstream has not closed it, for a request that can be sent again if it has (servers keep idle
// connections for seconds, and a request that finds one closed is retried on a new connection).
const freshIdle = time.Second

// takeIdle pops the most recently used live idle connection for key at one of addrs. fresh says the
// request can be sent again, so a connection used less than freshIdle ago is taken without a check.
func (p *pool) takeIdle(key poolKey, addrs []netip.AddrPort, fresh bool) *upstreamConn {
	now := p.now()
	for {
		p.mu.Lock()
		list := p.idle[key]
		i := len(list) - 1
		for ; i >= 0; i-- {
			// A tunnel through a gateway is for the gateway and target in its key, whichever replica.
			if key.gateway != "" || slices.Contains(addrs, list[i].addr) {
				break
			}
		}
		if i < 0 {
			p.mu.Unlock()
			return nil
		}
		uc := list[i]
		p.idle[key] = slices.Delete(list, i, i+1)
		p.count--
		p.mu.Unlock()
		if now.Sub(uc.idleSince) < p.idleTimeout && (fresh && now.Sub(uc.idleSince) < freshIdle || uc.alive()) {
			return uc
		}
		uc.conn.Close()
	}
}

// put keeps uc for reuse, or closes it when the pool is full.
func (p *pool) put(uc *upstreamConn) {
	uc.idleSince = p.now()
	p.mu.Lock()
	if p.count >= maxIdleConns || len(p.idle[uc.key]) >= maxIdleConnsPerHost {
		p.mu.Unlock()
		uc.conn.Close()
		return
	}
	p.idle[uc.key] = append(p.idle[uc.key], uc)
	p.count++
	p.mu.Unlock()
}

// dial connects to v's addresses, then speaks TLS for key.name when key.tls.
func (p *pool) dial(ctx context.Context, key poolKey, v decide.Verdict) (*upstreamConn, error) {
	dialCtx, cancel := context.WithTimeout(ctx, p.connectTimeout*time.Duration(v.Attempts()))
	defer cancel()
	conn, err := decide.Connect(dialCtx, v, p.connectTimeout)
	if err != nil {
		return nil, err
	}
	tcp := socketOf(conn)
	if conn == net.Conn(tcp) {
		conn = rawio.Wrap(tcp)
	}
	uc := &upstreamConn{key: key, conn: conn, tcp: tcp, addr: tcp.RemoteAddr().(*net.TCPAddr).AddrPort()}
	uc.addr = netip.AddrPortFrom(uc.addr.Addr().Unmap(), uc.addr.Port())
	if key.tls {
		cfg := p.tlsConfig.Clone()
		cfg.ServerName = key.name
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(conn, cfg)
		hsCtx, cancel := context.WithTimeout(ctx, p.handshakeTimeout)
		err := tc.HandshakeContext(hsCtx)
		cancel()
		if err != nil {
			conn.Close()
			return nil, &decide.UpstreamError{Kind: decide.FailureReason(err), Name: key.name, Addr: uc.addr, Err: err}
		}
		uc.conn = tc
	}
	uc.br = bufio.NewReaderSize(uc.conn, upstreamBufferSize)
	uc.bw = bufio.NewWriterSize(uc.conn, upstreamBufferSize)
	return uc, nil
}

// alive reports whether an idle connection can carry a request: the upstream has neither closed it nor
// sent anything unasked (a peek that does not wait).
func (uc *upstreamConn) alive() bool {
	if uc.br.Buffered() > 0 {
		return false
	}
	raw, err := uc.tcp.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	raw.Read(func(fd uintptr) bool {
		// recvfrom(2) without a source address: x/sys's Recvfrom allocates one per call.
		var b [1]byte
		_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		ok = errno == unix.EAGAIN
		return true
	})
	return ok
}

// closeIdle closes every idle connection.
func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.count = map[poolKey][]*upstreamConn{}, 0
	p.mu.Unlock()
	for _, list := range idle {
		for _, uc := range list {
			uc.conn.Close()
		}
	}
}

// closeAll closes the idle connections (busy ones are closed by their requests).
func (p *pool) closeAll() { p.closeIdle() }

// run closes connections idle longer than the idle timeout, until ctx is done.
func (p *pool) run(ctx context.Context) {
	tick := time.NewTicker(max(p.idleTimeout/2, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := p.now()
		var expired []*upstreamConn
		p.mu.Lock()
		for key, list := range p.idle {
			keep := list[:0]
			for _, uc := range list {
				if now.Sub(uc.idleSince) >= p.idleTimeout {
					expired = append(expired, uc)
				} else {
					keep = append(keep, uc)
				}
			}
			p.count -= len(list) - len(keep)
			if len(keep) == 0 {
				delete(p.idle, key)
			} else {
				p.idle[key] = keep
			}
		}
		p.mu.Unlock()
		for _, uc := range expired {
			uc.conn.Close()
		}
	}
}
