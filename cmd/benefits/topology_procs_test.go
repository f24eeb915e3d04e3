package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// topoBinaries are the programs the multi-process test runs, built once per test binary.
type topoBinaries struct{ benefits, natsServer, esdbServer string }

var (
	topoBuildOnce sync.Once
	topoBins      topoBinaries
	topoBuildErr  error
)

// buildTopology builds the ledger and the two stand-in servers of scripts/ the way a
// user would (go build), without the race detector: these are the programs under test,
// not this test binary.
func buildTopology(t testing.TB) topoBinaries {
	t.Helper()
	topoBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "benefits-topology-bin-")
		if err != nil {
			topoBuildErr = err
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil { // not on PATH: the toolchain that built this test
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cmd := exec.Command(goTool, "build", "-o", dir+string(os.PathSeparator),
			"./cmd/benefits", "./scripts/natsserver", "./scripts/esdbserver")
		cmd.Dir = filepath.Join("..", "..") // the module root, from cmd/benefits
		if out, err := cmd.CombinedOutput(); err != nil {
			topoBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		topoBins = topoBinaries{benefits: filepath.Join(dir, "benefits"),
			natsServer: filepath.Join(dir, "natsserver"), esdbServer: filepath.Join(dir, "esdbserver")}
	})
	if topoBuildErr != nil {
		t.Fatal(topoBuildErr)
	}
	return topoBins
}

// topoProc is one child process, its output kept in a file for the failure report.
type topoProc struct {
	name   string
	cmd    *exec.Cmd
	out    string // combined stdout and stderr
	done   chan struct{}
	waited error
}

// startProc starts bin; it dies with the test binary (parent-death signal) and is
// killed at the end of the test if still running.
func startProc(t testing.TB, name string, env []string, bin string, args ...string) *topoProc {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &topoProc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.waited = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s output (last 40 lines) ---\n%s", name, p.tail(40))
		}
	})
	return p
}

func (p *topoProc) output() string {
	b, _ := os.ReadFile(p.out)
	return string(b)
}

func (p *topoProc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.output(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitFor polls the output until match finds what it wants in a line.
func (p *topoProc) waitFor(t testing.TB, what string, limit time.Duration, match func(line string) (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		sc := bufio.NewScanner(strings.NewReader(p.output()))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			if v, ok := match(sc.Text()); ok {
				return v
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before %s:\n%s", p.name, p.waited, what, p.tail(30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s within %s:\n%s", p.name, what, limit, p.tail(30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readyURL is what a scripts/ server printed as "ready URL".
func (p *topoProc) readyURL(t testing.TB) string {
	return p.waitFor(t, "ready line", 30*time.Second, func(line string) (string, bool) {
		return strings.CutPrefix(line, "ready ")
	})
}

// listenAddr is the address a `benefits serve` process logged as listening (its JSON
// log: the test also proves the production log format this way).
func (p *topoProc) listenAddr(t testing.TB) string {
	return p.waitFor(t, "listening log line", 60*time.Second, func(line string) (string, bool) {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "listening" {
			return "", false
		}
		return rec.Addr, true
	})
}

func (p *topoProc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal %s: %v", p.name, err)
	}
}

// exited waits for the process to end and returns its exit code.
func (p *topoProc) exited(t testing.TB, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("%s did not exit within %s:\n%s", p.name, limit, p.tail(30))
	}
	var ee *exec.ExitError
	if errors.As(p.waited, &ee) {
		return ee.ExitCode()
	}
	if p.waited != nil {
		t.Fatalf("%s: %v", p.name, p.waited)
	}
	return 0
}

// jsonLines decodes every JSON line of the output (the process's slog records).
func (p *topoProc) jsonLines() []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(p.output(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

// topoClient speaks the ledger's HTTP API.
type topoClient struct {
	base string
	http *http.Client
}

type topoReply struct {
	status int
	header http.Header
	body   []byte
}

func (c topoClient) do(ctx context.Context, method, path, tok string, body any, headers ...string) (topoReply, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return topoReply{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return topoReply{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return topoReply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return topoReply{status: resp.StatusCode, header: resp.Header, body: raw}, err
}

// must sends a request that has to answer want, and decodes the answer into out.
func (c topoClient) must(t testing.TB, method, path, tok string, body any, want int, out any) topoReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := c.do(ctx, method, path, tok, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("%s %s: answer %s: %v", method, path, r.body, err)
		}
	}
	return r
}

// waitReady polls /readyz until every store and NATS answer.
func (c topoClient) waitReady(t testing.TB, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		r, err := c.do(ctx, http.MethodGet, "/readyz", "", nil)
		cancel()
		if err == nil && r.status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v %d %s", name, err, r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
