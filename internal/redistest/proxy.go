package redistest

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is what a Proxy does with the bytes it carries.
type Mode int32

// Proxy modes.
const (
	// Pass copies bytes both ways as they come.
	Pass Mode = iota
	// Latency delivers every chunk sent to the target Proxy.Latency after it
	// was read (replies are not delayed), so each request/response round
	// trip costs that much more; throughput is not reduced.
	Latency
	// Stall accepts connections and reads what clients send but delivers
	// nothing either way and answers nothing, as a hung server or a
	// black-holed network does. What was held is delivered, in order, when
	// the mode changes back to Pass or Latency (TCP would retransmit it).
	Stall
	// Reset closes every open connection with a TCP reset and resets new
	// connections as soon as they are accepted, as a crashed host or a
	// firewall does.
	Reset
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Latency:
		return "latency"
	case Stall:
		return "stall"
	case Reset:
		return "reset"
	}
	return fmt.Sprintf("Mode(%d)", int32(m))
}

// Proxy is a TCP proxy on a free loopback port for fault injection between a
// client and a server (Redis, or an HTTP server): it passes bytes, delays
// them, stalls or resets connections, switchable at run time. It is closed
// at the test's cleanup.
type Proxy struct {
	// Addr is the proxy's host:port on loopback: point the client here.
	Addr string

	ln       net.Listener
	target   atomic.Pointer[string]
	mode     atomic.Int32
	latency  atomic.Int64
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced at every mode change
	conns    map[*proxyConn]struct{}
	accepted atomic.Int64
	closed   bool
	wg       sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	once           sync.Once
	dead           chan struct{} // closed with the connection
}

// StartProxy returns a proxy to target (host:port) in Pass mode.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy listen: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), ln: ln, changed: make(chan struct{}), conns: map[*proxyConn]struct{}{}}
	p.target.Store(&target)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string { return *p.target.Load() }

// SetTarget changes where new connections go (open ones keep their server).
func (p *Proxy) SetTarget(addr string) { p.target.Store(&addr) }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode { return Mode(p.mode.Load()) }

// SetMode switches the mode of open and new connections. Switching to Reset
// resets every open connection at once.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode.Store(int32(m))
	close(p.changed)
	p.changed = make(chan struct{})
	var victims []*proxyConn
	if m == Reset {
		for c := range p.conns {
			victims = append(victims, c)
		}
	}
	p.mu.Unlock()
	for _, c := range victims {
		c.reset()
	}
}

// SetLatency sets the delay of Latency mode and switches to it.
func (p *Proxy) SetLatency(d time.Duration) {
	p.latency.Store(int64(d))
	p.SetMode(Latency)
}

// OpenConns returns the number of client connections open through the proxy.
func (p *Proxy) OpenConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Accepted returns the number of client connections accepted since the start.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Close stops listening, closes every connection and waits for the proxy's
// goroutines. It is called at cleanup and is safe to call twice.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	var all []*proxyConn
	for c := range p.conns {
		all = append(all, c)
	}
	p.mu.Unlock()
	for _, c := range all {
		c.close()
	}
	p.wg.Wait()
}

func (p *Proxy) watch() (Mode, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Mode(p.mode.Load()), p.changed
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.Mode() == Reset {
			resetConn(c)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.Target(), 2*time.Second)
	if err != nil {
		resetConn(client)
		return
	}
	pc := &proxyConn{client: client, server: server, dead: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pc.close()
		return
	}
	p.conns[pc] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(pc, client, server, true) }()
	go func() { defer wg.Done(); p.pump(pc, server, client, false) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}

type chunk struct {
	b   []byte
	due time.Time
}

// pump reads from src and hands chunks to a writer that applies the mode;
// toTarget tells whether the chunks go to the server (they are delayed in
// Latency mode). When either side ends, what is held is flushed (dropped
// while stalled) and the whole connection is closed.
func (p *Proxy) pump(pc *proxyConn, src, dst net.Conn, toTarget bool) {
	chunks := make(chan chunk, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range chunks {
			if !p.deliver(pc, dst, c, toTarget) {
				break
			}
		}
		pc.close()
		for range chunks { // drain so the reader never blocks
		}
	}()
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			chunks <- chunk{b: buf[:n], due: time.Now()}
		}
		if err != nil {
			if p.Mode() == Stall {
				pc.close()
			}
			break
		}
	}
	close(chunks)
	<-done
}

// deliver writes one chunk once the mode allows it; false when the
// connection is finished.
func (p *Proxy) deliver(pc *proxyConn, dst net.Conn, c chunk, toTarget bool) bool {
	for {
		m, changed := p.watch()
		if p.isClosed() {
			return false
		}
		switch m {
		case Stall:
			select { // hold the bytes until the mode changes
			case <-changed:
				continue
			case <-pc.dead:
				return false
			}
		case Reset:
			pc.reset()
			return false
		case Latency:
			if toTarget {
				if wait := time.Until(c.due.Add(time.Duration(p.latency.Load()))); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-t.C:
					case <-changed:
						t.Stop()
						continue // re-read the mode (a stall or reset may have begun)
					case <-pc.dead:
						t.Stop()
						return false
					}
				}
			}
		}
		_, err := dst.Write(c.b)
		return err == nil
	}
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (pc *proxyConn) close() {
	pc.once.Do(func() {
		close(pc.dead)
		pc.client.Close()
		pc.server.Close()
	})
}

func (pc *proxyConn) reset() {
	pc.once.Do(func() {
		close(pc.dead)
		resetConn(pc.client)
		resetConn(pc.server)
	})
}

// resetConn closes c with a TCP RST instead of a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
