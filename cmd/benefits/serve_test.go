package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowServer holds every request until release is closed.
func slowServer(t *testing.T) (srv *http.Server, ln net.Listener, entered, release chan struct{}) {
	t.Helper()
	entered, release = make(chan struct{}, 1), make(chan struct{})
	srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return srv, ln, entered, release
}

func TestShutdownDrainsInFlightRequestsAndStopsAccepting(t *testing.T) {
	srv, ln, entered, release := slowServer(t)
	ctx, stop := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() { result <- serveUntilDone(ctx, srv, ln, 5*time.Second, slog.New(slog.DiscardHandler), nil) }()

	url := "http://" + ln.Addr().String() + "/"
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- string(b)
	}()
	<-entered
	stop() // SIGTERM, in effect
	// Until the in-flight request ends, the listener is closed: new connections fail.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-result:
		t.Fatalf("shutdown returned %v before the in-flight request finished", err)
	default:
	}
	close(release)
	if got := <-answer; got != "done" {
		t.Errorf("in-flight request got %q, want it finished", got)
	}
	if err := <-result; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestShutdownGivesUpAfterTheTimeout(t *testing.T) {
	srv, ln, entered, release := slowServer(t)
	defer close(release)
	ctx, stop := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() {
		result <- serveUntilDone(ctx, srv, ln, 50*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	}()
	go http.Get("http://" + ln.Addr().String() + "/")
	<-entered
	stop()
	if err := <-result; err == nil || !strings.Contains(err.Error(), "--shutdown-timeout") {
		t.Errorf("err %v, want the timeout named", err)
	}
}

func TestBackgroundFailureShutsTheServerDown(t *testing.T) {
	srv, ln, _, release := slowServer(t)
	defer close(release)
	failed := make(chan error, 1)
	failed <- errors.New("forwarder lost the event store")
	err := serveUntilDone(t.Context(), srv, ln, time.Second, slog.New(slog.DiscardHandler), failed)
	if err == nil || !strings.Contains(err.Error(), "forwarder lost") {
		t.Errorf("err %v", err)
	}
}

func TestServeRefusesAnAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var out, errOut strings.Builder
	code := run(t.Context(), []string{"serve", "--addr", taken.Addr().String(), "--data-dir", t.TempDir()}, envOf(), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "listen on --addr") {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}

// SIGINT/SIGTERM while the stores and NATS are still starting is a request to stop:
// exit 0, not a start-up failure.
func TestServeStoppedDuringStartUpExitsZero(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var out, errOut strings.Builder
	code := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, envOf(), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

// The real thing: the built binary, a real SIGTERM, exit status 0.
func TestServeBinaryStopsCleanlyOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "benefits")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(), "BENEFITS_DATA_DIR="+dataDir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	addr := ""
	for addr == "" && lines.Scan() {
		var entry struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "listening" {
			addr = entry.Addr
		}
	}
	if addr == "" {
		t.Fatal("serve never logged its listening address")
	}
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	if info, err := os.Stat(filepath.Join(dataDir, secretFileName)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("jwt secret not generated with 0600: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, rest.String())
	}
	if !strings.Contains(rest.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped line in\n%s", rest.String())
	}
}
