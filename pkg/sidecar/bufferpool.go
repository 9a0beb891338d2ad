package sidecar

import "sync"

// copyBufferSize is the size of the buffers bodies are copied through (httputil.ReverseProxy's default).
const copyBufferSize = 32 << 10

// copyBufferPool reuses body copy buffers across requests: without one, ReverseProxy allocates (and the
// runtime zeroes, then collects) 32 KiB per response, which profiles showed as most of the bytes the
// sidecar allocated under load.
type copyBufferPool struct{ pool sync.Pool }

// Get returns a buffer of copyBufferSize bytes.
func (p *copyBufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, copyBufferSize)
}

// Put returns a buffer for reuse.
func (p *copyBufferPool) Put(b []byte) {
	if cap(b) < copyBufferSize {
		return
	}
	b = b[:copyBufferSize]
	p.pool.Put(&b)
}
