package handlers

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// BoundConnections serves at most limit connections of ln at once (issue 10: an
// open-loop crowd that opens a connection per request in flight must not make the
// process hold, and churn, one goroutine and buffer set per waiting client). A
// connection past the bound is not left to stall in the kernel's backlog: it is
// accepted and answered 503 overloaded with Retry-After and Connection: close, so the
// client knows at once to come back. At most limit of those answers are under way at a
// time; past that the listener stops accepting until one ends, and the kernel's backlog
// holds the newcomers: a flood of new connections costs a bounded amount of memory
// whatever its size, and none that sends its request within refuseLinger is cut off
// unanswered. refused, when set, is called for each connection turned away.
func BoundConnections(ln net.Listener, limit int, retryAfter time.Duration, refused func()) net.Listener {
	if retryAfter <= 0 {
		retryAfter = DefaultRetryAfter
	}
	if refused == nil {
		refused = func() {}
	}
	return &boundedListener{Listener: ln, serving: make(chan struct{}, limit), refusing: make(chan struct{}, limit),
		answer: overloadedAnswer(limit, retryAfter), refused: refused}
}

// refuseLinger bounds how long a refused connection is kept to read the request, write
// the answer and let the client read it: a client that sends nothing or never reads
// holds a refusal slot no longer.
const refuseLinger = time.Second

type boundedListener struct {
	net.Listener
	serving  chan struct{} // a token per connection being served
	refusing chan struct{} // a token per connection being answered 503
	answer   []byte        // the whole HTTP answer a turned-away connection gets
	refused  func()
}

// Accept returns the next connection there is room for, answering the others.
func (l *boundedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.serving <- struct{}{}:
			return &boundConn{Conn: c, release: sync.OnceFunc(func() { <-l.serving })}, nil
		default:
		}
		l.refused()
		l.refusing <- struct{}{} // waits while limit answers are under way
		go l.refuse(c)
	}
}

// refuse reads the request head, writes the 503 answer and ends its half of the
// connection; it then reads and drops what else the client sends until the client
// closes (Connection: close) or refuseLinger passes. An answer before the request
// would be dropped by clients (Go's reports an unsolicited response), and closing
// with unread input would reset the connection, which can drop the answer too.
func (l *boundedListener) refuse(c net.Conn) {
	defer func() { <-l.refusing }()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseLinger))
	in := bufio.NewReader(c)
	if _, err := http.ReadRequest(in); err != nil {
		return
	}
	if _, err := c.Write(l.answer); err != nil {
		return
	}
	if tcp, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tcp.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(in, maxRefusedInput))
}

// maxRefusedInput bounds what is read from a refused connection before it is closed.
const maxRefusedInput = 64 << 10

// boundConn gives its slot back when closed, once, however often Close is called.
type boundConn struct {
	net.Conn
	release func()
}

func (c *boundConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// overloadedAnswer is the HTTP answer to a connection past the bound: the same
// problem, code and Retry-After as a request past an in-flight bound.
func overloadedAnswer(limit int, retryAfter time.Duration) []byte {
	p := Problemf(http.StatusServiceUnavailable, CodeOverloaded,
		"this process serves at most %d connections at once; retry after %s", limit, retryAfter)
	body, err := json.Marshal(p)
	if err != nil {
		panic(err) // a problem of strings and an int always encodes
	}
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: %s\r\nRetry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		ProblemContentType, retryAfterSeconds(retryAfter), len(body), body)
}
