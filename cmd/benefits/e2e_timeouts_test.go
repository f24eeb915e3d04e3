package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"ledger/handlers"
)

// Issue 9, item 2: a client that asks for large answers and never reads them is cut off
// at --write-timeout, and what the server held for it (connection, goroutine, the
// encoded answer) is released. Each client pipelines requests for a partner's history
// without reading, as a stalled or hostile client does; the server's write blocks once
// the socket buffers are full, fails at the deadline, and the server closes the
// connection with the client's unread requests still queued, which resets it: the
// client's next (or blocked) write fails.
func TestAClientThatNeverReadsIsCutOffAtTheWriteTimeout(t *testing.T) {
	// The system serves the set-up and warm-up requests with an ordinary write timeout
	// (a loaded machine may take seconds to write a page to a client that does read);
	// only the server under test, below, cuts writers off after 2s.
	s := startSystem(t, testConfig(t), wireOptions{})
	cfg := testConfig(t)
	cfg.WriteTimeout = 2 * time.Second
	mpn := mpnFor(90, 1)
	s.enrol(t, mpn, false, actionPack)
	for i := range 150 {
		s.user(t, mpn, fmt.Sprintf("user-%03d@%s", i, mpn), userSpec{})
	}
	tok := s.auditor(t)
	path := "/v1/partners/" + mpn + "/history?limit=1000"
	page := len(s.do(t, http.MethodGet, path, tok, nil).want(t, http.StatusOK).body)

	// serve's own http.Server, on a listener whose connections have small send
	// buffers: the server's writes block after a page or two, not after megabytes.
	addr := serveWithSmallSendBuffers(t, newHTTPServer(cfg, handlers.NewServer(s.proc.deps), testLogger(t)))

	const clients = 10
	var warm sync.WaitGroup // the pools grow to serve this many at once before measuring
	for range clients {
		warm.Go(func() { s.do(t, http.MethodGet, path, tok, nil).want(t, http.StatusOK) })
	}
	warm.Wait()
	before := heapAfterGC()
	request := []byte("GET " + path + " HTTP/1.1\r\nHost: ledger\r\nAuthorization: Bearer " + tok + "\r\n\r\n")
	cut := make(chan error, clients)
	for range clients {
		conn := dialNonReader(t, addr)
		go func() {
			for {
				if _, err := conn.Write(request); err != nil {
					cut <- err
					return
				}
			}
		}()
	}
	peak := samplePeakHeap(cut, clients)

	// Generous: the deadline is 2s; a loaded machine may take far longer to get there.
	const margin = time.Minute
	limit := time.After(cfg.WriteTimeout + margin)
	for i := range clients {
		select {
		case err := <-cut:
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Errorf("client %d: write failed with %v, want the connection reset by the server", i, err)
			}
		case <-limit:
			t.Fatalf("%d of %d clients that never read are still connected %s after the %s write timeout", clients-i, clients, margin, cfg.WriteTimeout)
		}
	}
	after := heapAfterGC()
	t.Logf("history page %d KB; heap after GC: before %.1f MB, peak while %d clients stalled %.1f MB (sampled, no GC), after the cut %.1f MB",
		page/1024, mb(before), clients, mb(peak.get()), mb(after))
	// Each stalled client held about one encoded page; after the cut, none.
	if grown := int64(after) - int64(before); grown > int64(clients*page/2) {
		t.Errorf("heap grew by %.1f MB over the cut, half the %d answers of %d KB the clients asked for or more: still held",
			mb(uint64(grown)), clients, page/1024)
	}
}

// serveWithSmallSendBuffers serves srv on a loopback listener whose connections send
// through an 8 KB buffer, until the test ends; it returns the address.
func serveWithSmallSendBuffers(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(smallSendBuffers{ln})
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10) // best effort: it only brings the stall sooner
	}
	return c, err
}

// dialNonReader connects with a small receive buffer, so that the server's writes
// block after little data instead of after megabytes of loopback buffering. The
// connection is closed when the test ends.
func dialNonReader(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// peakHeap is the highest HeapAlloc sampled, for the report only.
type peakHeap struct {
	mu  sync.Mutex
	max uint64
}

func (p *peakHeap) get() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max
}

// samplePeakHeap samples the heap every 50ms until the first client is cut.
func samplePeakHeap(cut chan error, _ int) *peakHeap {
	p := &peakHeap{}
	go func() {
		var m runtime.MemStats
		for len(cut) == 0 {
			runtime.ReadMemStats(&m)
			p.mu.Lock()
			p.max = max(p.max, m.HeapAlloc)
			p.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return p
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
