package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/handlers"
	"ledger/infra/commands"
	"ledger/infra/tracing"
	"ledger/projections"
)

// envPrefix prefixes every setting's environment variable: --data-dir is BENEFITS_DATA_DIR.
const envPrefix = "BENEFITS_"

// minSecretLen is the shortest HS256 secret accepted: 256 bits, the size of the hash.
const minSecretLen = 32

// Backend is where a store lives.
type Backend string

const (
	BackendSQLite   Backend = "sqlite"
	BackendPostgres Backend = "postgres"
	BackendESDB     Backend = "esdb"
)

// StoreTarget is a chosen backend and, except for SQLite (a file under the data
// directory), its DSN or URL.
type StoreTarget struct {
	Backend Backend
	DSN     string
}

// Role says which parts of the system this process runs (issue 6: several processes
// against shared servers).
type Role string

const (
	RoleAll       Role = "all"
	RoleAPI       Role = "api"
	RoleProjector Role = "projector"
	RoleForwarder Role = "forwarder"
)

// Config is the whole configuration of `benefits serve`.
type Config struct {
	Addr       string
	DataDir    string
	EventStore StoreTarget
	ReadDB     StoreTarget
	NATSURL    string // empty: start the embedded server
	JWTSecret  string // empty: <data-dir>/jwt.secret, generated once
	LogFormat  string // text | json, resolved from auto at parse time
	LogLevel   slog.Level
	Role       Role
	QueryWait  time.Duration
	GapGrace   time.Duration
	// Partitions splits every read model by partner; forwarder and projectors must agree.
	Partitions int
	// PinnedTTL bounds a partition's failover to another projector process.
	PinnedTTL       time.Duration
	ShutdownTimeout time.Duration
	StateCacheSize  int // partner states the command executor keeps
	// StateCacheMiB bounds the estimated bytes of those states (domain.Partner.SizeEstimate);
	// 0: commands.DefaultStateCacheBytes.
	StateCacheMiB int
	// AnswerCacheMiB bounds the encoded query answers kept until a commit touches their
	// partner (projections.AnswerCache); 0 keeps none.
	AnswerCacheMiB int
	SnapshotEvery  int // events between snapshots of a partner's state; 0: none
	// ReadStaleness is how long a query's access check trusts a partner state confirmed
	// against the event store: the longest a user removed through another process can
	// still read here. 0: the store is read on every query.
	ReadStaleness time.Duration
	// ErasureFollowEvery is how often a process looks for erasures made by others: the
	// longest a subject erased elsewhere stays readable in this one.
	ErasureFollowEvery time.Duration
	// The HTTP server's timeouts: reading a request, writing its answer (from the end
	// of the request's headers), and a kept-alive connection's idle wait.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// ReadDBMaxConns bounds the read database's connection pool.
	ReadDBMaxConns int
	// EventStoreMaxConns bounds the SQL event store's connection pool.
	EventStoreMaxConns int
	// MaxTokenLifetime is the longest a bearer token may be valid (exp - iat).
	MaxTokenLifetime time.Duration
	// Limits bound the requests in flight (503 overloaded past them); 0 is unbounded.
	Limits handlers.InFlightLimits
	// MaxConnections bounds the API listener's open connections (503 past it); 0: unbounded.
	MaxConnections int
	// Checkpoints: the signed checkpoints of the transparency log (checkpoints.go).
	Checkpoints CheckpointConfig
	// PprofAddr is where the profiler listens; empty: nowhere.
	PprofAddr string
	// Tracing: where OpenTelemetry traces go, if anywhere (wire_tracing.go).
	Tracing tracing.Config
	// OIDC is the OpenID Connect provider the API also accepts tokens of (config_oidc.go).
	OIDC handlers.OIDCSettings
}

// setting is one configuration item: a flag, an environment variable (unless noEnv),
// a default and the function that checks and stores its value.
type setting struct {
	name   string
	def    string
	usage  string
	secret bool // never echo the value
	noEnv  bool // per-invocation arguments (token --sub) are flags only
	isBool bool // a switch: --json alone means --json=true
	apply  func(v string) error
}

func (s setting) envName() string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

// Shared by serve and token, so that both find the same secret.

// eventStoreSetting chooses the event store; serve and the ops subcommands share it.
func eventStoreSetting(c *Config) setting {
	return setting{name: "event-store", def: "sqlite", usage: "sqlite | a postgres://... DSN | an esdb://... URL (EventStoreDB)",
		apply: func(v string) (err error) {
			c.EventStore, err = parseStoreTarget(v, true)
			return err
		}}
}

// readDBSetting chooses the read-model database.
func readDBSetting(c *Config) setting {
	return setting{name: "read-db", def: "sqlite", usage: "database of the read models: sqlite | a postgres://... DSN",
		apply: func(v string) (err error) {
			c.ReadDB, err = parseStoreTarget(v, false)
			return err
		}}
}

func dataDirSetting(c *Config) setting {
	return setting{name: "data-dir", def: "./data",
		usage: "directory for the SQLite files, the embedded NATS store and the generated JWT secret",
		apply: func(v string) error {
			if strings.TrimSpace(v) == "" {
				return errors.New("must not be empty")
			}
			c.DataDir = filepath.Clean(v)
			return nil
		}}
}

func jwtSecretSetting(c *Config) setting {
	return setting{name: "jwt-secret", def: "", secret: true,
		usage: fmt.Sprintf("HS256 secret for bearer tokens, at least %d bytes; empty: generated once into <data-dir>/jwt.secret (mode 0600) and reused", minSecretLen),
		apply: func(v string) error {
			if v != "" && len(v) < minSecretLen {
				return fmt.Errorf("too short: %d bytes, want at least %d", len(v), minSecretLen)
			}
			c.JWTSecret = v
			return nil
		}}
}

// jwtSecretFileSetting reads the secret from a file, so that it can come from a compose
// or Kubernetes secret (/run/secrets/...) rather than the environment, which
// `docker inspect` and /proc/<pid>/environ show. It follows jwt-secret in every list.
func jwtSecretFileSetting(c *Config) setting {
	return setting{name: "jwt-secret-file", def: "",
		usage: "file holding the HS256 secret (e.g. a compose secret, /run/secrets/jwt_secret), instead of --jwt-secret; one trailing newline is ignored",
		apply: func(v string) error {
			if v == "" {
				return nil
			}
			if c.JWTSecret != "" {
				return errors.New("give --jwt-secret or --jwt-secret-file, not both")
			}
			b, err := os.ReadFile(v)
			if err != nil {
				return err
			}
			secret := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			if len(secret) < minSecretLen {
				return fmt.Errorf("the file holds %d bytes, want at least %d", len(secret), minSecretLen)
			}
			c.JWTSecret = secret
			return nil
		}}
}

// maxTokenLifetimeSetting bounds a bearer token's lifetime; serve refuses longer tokens
// and token refuses to issue them, so both read the same variable.
func maxTokenLifetimeSetting(c *Config) setting {
	return setting{name: "max-token-lifetime", def: "24h",
		usage: "longest validity (exp - iat) of a bearer token the server accepts and benefits token issues",
		apply: func(v string) (err error) {
			c.MaxTokenLifetime, err = parseDuration(v, 366*24*time.Hour)
			return err
		}}
}

func logFormatSetting(c *Config) setting {
	return setting{name: "log-format", def: "auto",
		usage: "auto | text | json; auto is text when stderr is a terminal, json otherwise",
		apply: func(v string) error {
			switch v {
			case "auto":
				c.LogFormat = autoLogFormat()
			case "text", "json":
				c.LogFormat = v
			default:
				return errors.New("want auto, text or json")
			}
			return nil
		}}
}

func logLevelSetting(c *Config) setting {
	return setting{name: "log-level", def: "info", usage: "debug | info | warn | error",
		apply: func(v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }}
}

// serveSettings are the settings of `benefits serve`, in the order --help lists them,
// each storing into c.
func serveSettings(c *Config) []setting {
	settings := []setting{
		{name: "addr", def: ":8080", usage: "HTTP listen address, host:port (port 0 picks a free one)",
			apply: func(v string) error {
				if err := checkListenAddr(v); err != nil {
					return err
				}
				c.Addr = v
				return nil
			}},
		{name: "pprof-addr", def: "", usage: "loopback host:port serving Go's profiler (/debug/pprof/) apart from the API; empty: none. Never public: a profile shows the process's memory",
			apply: func(v string) error {
				if v == "" {
					c.PprofAddr = ""
					return nil
				}
				if err := checkListenAddr(v); err != nil {
					return err
				}
				host, _, _ := net.SplitHostPort(v)
				if !isLoopback(host) {
					return errors.New("want a loopback address such as 127.0.0.1:6060")
				}
				c.PprofAddr = v
				return nil
			}},
		dataDirSetting(c),
		eventStoreSetting(c),
		readDBSetting(c),
		{name: "event-store-max-conns", def: "32", usage: "most connections open at once to a SQLite or PostgreSQL event store, per process (reads beyond it wait for one)",
			apply: func(v string) (err error) {
				c.EventStoreMaxConns, err = parseCount(v, 1, 1000)
				return err
			}},
		{name: "read-db-max-conns", def: "16", usage: "most connections open at once to the read database, per process (queries beyond it wait for one)",
			apply: func(v string) (err error) {
				c.ReadDBMaxConns, err = parseCount(v, 1, 1000)
				return err
			}},
		{name: "nats-url", def: "", usage: "NATS server URL(s), comma-separated; empty: start an embedded server (JetStream under <data-dir>, loopback only)",
			apply: func(v string) error {
				if err := checkNATSURLs(v); err != nil {
					return err
				}
				c.NATSURL = v
				return nil
			}},
		jwtSecretSetting(c),
		jwtSecretFileSetting(c),
		maxTokenLifetimeSetting(c),
	}
	settings = append(settings, oidcSettings(c)...)
	settings = append(settings, []setting{
		logFormatSetting(c),
		logLevelSetting(c),
		{name: "role", def: "all", usage: "parts this process runs: all | api | projector | forwarder",
			apply: func(v string) error {
				switch r := Role(v); r {
				case RoleAll, RoleAPI, RoleProjector, RoleForwarder:
					c.Role = r
					return nil
				}
				return errors.New("want all, api, projector or forwarder")
			}},
		{name: "query-wait", def: "2s", usage: "longest a query waits for its read model to reach minPosition before 503 projection_behind",
			apply: func(v string) (err error) {
				c.QueryWait, err = parseDuration(v, time.Minute)
				return err
			}},
		{name: "erasure-follow-every", def: "1s", usage: "api and projector: how often the process looks for erasures made through other processes, the longest an erased subject stays readable in this one",
			apply: func(v string) (err error) {
				c.ErasureFollowEvery, err = parseDuration(v, time.Minute)
				return err
			}},
		{name: "gap-grace", def: "1s", usage: "projector: how long a delivery whose predecessors another projector holds waits for them before it fills the gap from the event store",
			apply: func(v string) (err error) {
				c.GapGrace, err = parseDuration(v, time.Minute)
				return err
			}},
		{name: "projection-partitions", def: "1", usage: "forwarder and projector: partitions every read model is split into by partner, each applied by one projector process at a time (the same on every process; a change rebuilds the read models)",
			apply: func(v string) (err error) {
				c.Partitions, err = parseCount(v, 1, 64)
				return err
			}},
		{name: "projection-pin-ttl", def: "5s", usage: "projector: how long a partition stays with a projector process that stopped pulling (killed, hung) before another takes it over",
			apply: func(v string) (err error) {
				c.PinnedTTL, err = parseDuration(v, time.Minute)
				return err
			}},
		{name: "state-cache-size", def: "10000", usage: "api: partner states the command executor keeps in memory (least recently used go first)",
			apply: func(v string) (err error) {
				c.StateCacheSize, err = parseCount(v, 1, 10_000_000)
				return err
			}},
		{name: "state-cache-mib", def: strconv.Itoa(commands.DefaultStateCacheBytes >> 20), usage: "api: MiB the partner states the command executor keeps may take, as estimated from their counts (least recently used go first; a state larger than this is not kept, its commands read it from the snapshot and the store)",
			apply: func(v string) (err error) {
				c.StateCacheMiB, err = parseCount(v, 1, 1<<20)
				return err
			}},
		{name: "answer-cache-mib", def: strconv.Itoa(projections.DefaultAnswerCacheBytes >> 20), usage: "api: MiB of encoded remaining-incidents answers kept and served again until a commit touches the partner (one made by another process: any partner of its partition) (least recently served go first; 0: none)",
			apply: func(v string) (err error) {
				c.AnswerCacheMiB, err = parseCount(v, 0, 1<<16)
				return err
			}},
		{name: "read-staleness", def: commands.DefaultReadStaleness.String(), usage: "api: how long a query trusts a partner's state last confirmed against the event store, the longest a user removed through another process can still read through this one (a removal through this process is seen at once; 0: read the store on every query)",
			apply: func(v string) (err error) {
				if v == "0" {
					c.ReadStaleness = 0
					return nil
				}
				c.ReadStaleness, err = parseDuration(v, time.Minute)
				return err
			}},
		{name: "snapshot-every", def: "1000", usage: "api: events a partner's stream grows by between snapshots of its state, or a tenth of its history if more (0: none)",
			apply: func(v string) (err error) {
				c.SnapshotEvery, err = parseCount(v, 0, 10_000_000)
				return err
			}},
		{name: "read-timeout", def: "30s", usage: "longest time to read a request, headers and body",
			apply: func(v string) (err error) {
				c.ReadTimeout, err = parseDuration(v, 10*time.Minute)
				return err
			}},
		// After query-wait: the answer's deadline must leave room for that wait.
		{name: "write-timeout", def: "30s", usage: "longest time from a request's headers to the end of its answer; a client that does not read its answer is cut off then. Must exceed --query-wait; rebuild and verify lift it while they work",
			apply: func(v string) (err error) {
				if c.WriteTimeout, err = parseDuration(v, 10*time.Minute); err != nil {
					return err
				}
				if c.WriteTimeout <= c.QueryWait {
					return fmt.Errorf("must exceed --query-wait %s, or a query waiting for minPosition is cut off before it can answer", c.QueryWait)
				}
				return nil
			}},
		{name: "idle-timeout", def: "2m", usage: "how long a kept-alive connection may wait for its next request",
			apply: func(v string) (err error) {
				c.IdleTimeout, err = parseDuration(v, time.Hour)
				return err
			}},
		// Above the in-flight bounds (64 + 128) with room for kept-alive pools: it bounds
		// memory and goroutines under a crowd of clients, not the work, which those bound.
		{name: "max-connections", def: "1024", usage: "HTTP connections this process holds open at once; a connection past it is answered 503 overloaded with Retry-After and closed (0: unbounded)",
			apply: func(v string) (err error) {
				c.MaxConnections, err = parseBound(v)
				return err
			}},
		{name: "max-commands-in-flight", def: "128", usage: "commands this process works on at once; more answer 503 overloaded with Retry-After at once (0: unbounded)",
			apply: func(v string) (err error) {
				c.Limits.Commands, err = parseBound(v)
				return err
			}},
		{name: "max-queries-in-flight", def: "128", usage: "queries this process works on at once (a wait for minPosition, which does no work, is not counted); more answer 503 overloaded (0: unbounded)",
			apply: func(v string) (err error) {
				c.Limits.Queries, err = parseBound(v)
				return err
			}},
		// Half the process's command bound: a partner's commands wait in its stream's queue
		// and go out together in one append, so more of them in flight make larger
		// batches, not lost races; the bound only keeps one hot partner from taking every
		// command slot from the others. At 8, 32 clients of one partner were mostly
		// waiting out Retry-After (issue 10).
		{name: "max-partner-commands-in-flight", def: "32", usage: "commands on one partner's stream at once (they are queued and appended together); more answer 503 overloaded (0: unbounded)",
			apply: func(v string) (err error) {
				c.Limits.PerPartner, err = parseBound(v)
				return err
			}},
		// A quarter of the process's query bound, as the commands' per-partner bound is of
		// theirs: one partner's queries take at most 32 slots and leave 96 to the others,
		// so it takes four hot partners, not one, to fill the process. Unlike commands,
		// queries do not batch, so a partner gains nothing from more of them at once.
		{name: "max-partner-queries-in-flight", def: "32", usage: "queries about one partner (named by MPN ID or contract ID in the path) this process works on at once; more answer 503 overloaded (0: unbounded)",
			apply: func(v string) (err error) {
				c.Limits.PerPartnerQueries, err = parseBound(v)
				return err
			}},
		{name: "shutdown-timeout", def: "15s", usage: "on SIGINT/SIGTERM, longest wait for in-flight requests to finish",
			apply: func(v string) (err error) {
				c.ShutdownTimeout, err = parseDuration(v, 10*time.Minute)
				return err
			}},
	}...)
	settings = append(settings, checkpointKeySettings(c)...)
	settings = append(settings, tracingSettings(c)...)
	return append(settings, checkpointScheduleSettings(c)...)
}

// errHelp: --help was asked for and printed; the command succeeds without running.
var errHelp = errors.New("help requested")

// usageError is a configuration mistake: the process exits 2 before doing anything.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// parseSettings reads args, then the environment for every setting whose flag was not
// given (a flag wins over its variable), then the defaults, checking each value.
// Problems name the flag and the variable: `invalid --addr / BENEFITS_ADDR "x": ...`.
// A command without positional arguments refuses any.
func parseSettings(cmd, synopsis string, settings []setting, args []string, env func(string) (string, bool), help io.Writer) error {
	positional, err := parseCommand(cmd, synopsis, settings, args, env, help)
	if err == nil && len(positional) > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q (see benefits %s --help)", cmd, positional[0], cmd)}
	}
	return err
}

// parseCommand is parseSettings for a command that takes positional arguments (a read
// model's name): they may stand before, between or after the flags, as in every GNU
// tool; after "--" everything is positional. It returns them in order.
func parseCommand(cmd, synopsis string, settings []setting, args []string, env func(string) (string, bool), help io.Writer) ([]string, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // problems are returned; usage goes where the caller says
	values := make([]*string, len(settings))
	var switches []string
	for i, s := range settings {
		if s.isBool {
			values[i] = new(string)
			*values[i] = s.def
			fs.Var(switchValue{values[i]}, s.name, s.usage)
			switches = append(switches, s.name)
			continue
		}
		values[i] = fs.String(s.name, s.def, s.usage)
	}
	positional, err := parseInterspersed(fs, normalizeSwitches(args, switches))
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(help, cmd, synopsis, settings)
			return nil, errHelp
		}
		return nil, usageError{fmt.Errorf("%s: %w (see benefits %s --help)", cmd, err, cmd)}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	for i, s := range settings {
		v := *values[i]
		if !given[s.name] && !s.noEnv {
			if ev, ok := env(s.envName()); ok {
				v = ev
			}
		}
		if err := s.apply(v); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s %s: %w", s.label(), s.show(v), err))
		}
	}
	if len(errs) > 0 {
		return nil, usageError{errors.Join(errs...)}
	}
	return positional, nil
}

// parseInterspersed parses flags wherever they stand among the positional arguments
// (the standard library's FlagSet stops at the first positional one).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
}

// normalizeSwitches lets a switch be given alone (--dry-run), with = (--dry-run=false)
// or with its value as the next argument (--dry-run false), which the standard library
// reads as a bare switch followed by a positional argument "false".
func normalizeSwitches(args, switches []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if name == a || !slices.Contains(switches, name) {
			out = append(out, a)
			continue
		}
		if i+1 < len(args) && isBoolLiteral(args[i+1]) {
			out = append(out, "--"+name+"="+args[i+1])
			i++
			continue
		}
		out = append(out, "--"+name+"=true")
	}
	return out
}

func isBoolLiteral(v string) bool {
	switch v {
	case "true", "false", "yes", "no", "1", "0":
		return true
	}
	return false
}

// outputSetting is --output of every command that prints a result: text for people,
// json for scripts.
func outputSetting(format *string) setting {
	return setting{name: "output", def: "text", noEnv: true, usage: "text | json",
		apply: func(v string) error {
			if v != "text" && v != "json" {
				return errors.New("want text or json")
			}
			*format = v
			return nil
		}}
}

// switchValue is a string flag that may be given without a value, like a bool flag;
// the setting's apply still checks what it holds.
type switchValue struct{ v *string }

func (s switchValue) String() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}
func (s switchValue) Set(v string) error { *s.v = v; return nil }
func (s switchValue) IsBoolFlag() bool   { return true }

func (s setting) label() string {
	if s.noEnv {
		return "--" + s.name
	}
	return "--" + s.name + " / " + s.envName()
}

// show quotes a value for an error message without giving away secrets or passwords.
func (s setting) show(v string) string {
	if s.secret {
		return "(value hidden)"
	}
	return strconv.Quote(redactURL(v))
}

func printUsage(w io.Writer, cmd, synopsis string, settings []setting) {
	fmt.Fprintf(w, "Usage: benefits %s\n\n", synopsis)
	fmt.Fprintf(w, "Every flag can also be set by the environment variable shown; a flag wins over its variable.\n\n")
	for _, s := range settings {
		env := "flag only"
		if !s.noEnv {
			env = "env " + s.envName()
		}
		def := s.def
		if def == "" {
			def = "empty"
		} else {
			def = strconv.Quote(def)
		}
		fmt.Fprintf(w, "  --%s\t(%s, default %s)\n      %s\n", s.name, env, def, s.usage)
	}
}

func checkListenAddr(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// parseStoreTarget reads "sqlite", a PostgreSQL DSN or (for the event store) an
// EventStoreDB URL, checked by the EventStoreDB client's own parser.
func parseStoreTarget(v string, esdbAllowed bool) (StoreTarget, error) {
	want := "want sqlite or a postgres://user:pass@host:port/db DSN"
	if esdbAllowed {
		want = "want sqlite, a postgres://user:pass@host:port/db DSN or an esdb://host:2113 URL"
	}
	scheme, _, _ := strings.Cut(v, "://")
	switch {
	case v == "sqlite":
		return StoreTarget{Backend: BackendSQLite}, nil
	case scheme == "postgres" || scheme == "postgresql":
		u, err := url.Parse(v)
		if err != nil {
			return StoreTarget{}, errors.New("malformed DSN")
		}
		if u.Host == "" {
			return StoreTarget{}, errors.New("the DSN names no host")
		}
		return StoreTarget{Backend: BackendPostgres, DSN: v}, nil
	case esdbAllowed && (scheme == "esdb" || scheme == "esdb+discover"):
		if _, err := esdb.ParseConnectionString(v); err != nil {
			return StoreTarget{}, err
		}
		return StoreTarget{Backend: BackendESDB, DSN: v}, nil
	default:
		return StoreTarget{}, errors.New(want)
	}
}

func checkNATSURLs(v string) error {
	if v == "" {
		return nil
	}
	for raw := range strings.SplitSeq(v, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			return errors.New("malformed URL")
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("scheme %q: want nats://, tls://, ws:// or wss://", u.Scheme)
		}
		if u.Host == "" {
			return errors.New("the URL names no host")
		}
	}
	return nil
}

func parseDuration(v string, maximum time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("want a duration such as 2s or 500ms")
	}
	if d <= 0 || d > maximum {
		return 0, fmt.Errorf("want more than 0 and at most %s", maximum)
	}
	return d, nil
}

func parseCount(v string, least, most int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < least || n > most {
		return 0, fmt.Errorf("want a whole number from %d to %d", least, most)
	}
	return n, nil
}

// maxBound is the largest in-flight bound accepted; beyond it a bound bounds nothing.
const maxBound = 1_000_000

// parseBound reads an in-flight bound: 0 (unbounded) or a positive count.
func parseBound(v string) (int, error) { return parseCount(v, 0, maxBound) }

// redactURL hides the password of a URL-shaped value.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return v
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
