package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// server is one postgres process on a temp data directory.
type server struct {
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

// binGlob is where Debian's postgresql package puts the server binaries.
var binGlob = "/usr/lib/postgresql/*/bin"

const ownerFile = "owner.pid" // the test binary's pid, for sweeping leftovers

func start(ctx context.Context) (*server, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	sweepLeftovers()
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("hand %s to user postgres: %w", dir, err)
		}
	}
	s := &server{dir: dir, exited: make(chan struct{})}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.run(filepath.Join(bin, "postgres"), cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	slog.Debug("throwaway PostgreSQL started", "dir", dir, "port", s.port)
	return s, nil
}

// run starts postgres from a goroutine locked to its OS thread for the server's whole
// life: the parent-death signal fires when the thread that started the child ends, and
// this thread ends only with the test binary.
func (s *server) run(postgres string, cred *syscall.Credential) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		s.cmd = exec.Command(postgres, "-D", s.dataDir(), "-p", strconv.Itoa(s.port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.dir,
			"-c", "max_connections=300", "-c", "logging_collector=off",
			// WAL segments are removed once checkpointed, not renamed for reuse with old
			// rows inside (tests grep the data dir for erased personal data).
			"-c", "wal_recycle=off")
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
		log, err := os.Create(filepath.Join(s.dir, "postgres.log"))
		if err == nil {
			s.cmd.Stdout, s.cmd.Stderr = log, log
			err = s.cmd.Start()
		}
		started <- err
		if err == nil {
			s.cmd.Wait()
		}
		close(s.exited)
		if log != nil {
			log.Close()
		}
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	return nil
}

func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(s.dsn("postgres"))))
	defer db.Close()
	deadline := time.Now().Add(limit)
	for {
		err := db.PingContext(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready on port %d after %s: %w", s.port, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop asks for a fast shutdown (SIGINT), waits, and removes the directory.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	os.RemoveAll(s.dir)
}

func (s *server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *server) dsn(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// withDatabase swaps the database name in a DSN.
func withDatabase(dsn, database string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	u.Path = "/" + database
	return u.String()
}

// findBinDir picks the newest installed server version.
func findBinDir() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errNoServer
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&0o111 != 0
}

// credential is nil for a normal user; as root the server runs as user postgres.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the OS user postgres to run the server: %w; "+
			"install Debian package postgresql (apt-get install postgresql)", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sweepLeftovers removes server directories of test binaries that died before Stop;
// their postgres already got the parent-death signal.
func sweepLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processAlive(pid) {
			continue
		}
		if pidFile, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			if pm, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0]); err == nil && processAlive(pm) {
				continue // its postgres is still shutting down; next time
			}
		}
		os.RemoveAll(d)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
