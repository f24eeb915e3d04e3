package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"ledger/handlers"
)

// `benefits loadtest` sizes a deployment: it drives a running system through its HTTP
// API with one of four scenarios and reports count, errors by status, throughput and
// latency percentiles. It sets up its own partners (under MPN IDs that start with the
// run's number), so it can run against a system that holds real data, and it stops on
// --duration and --requests, whichever comes first.

const loadtestSynopsis = "loadtest --scenario commands|visibility|offered|queries|offered-queries|history [--api-url http://127.0.0.1:8080] [--token T | --data-dir DIR] [flags]"

// Scenarios.
const (
	scenarioCommands   = "commands"   // closed loop: N clients open incidents as fast as answered
	scenarioVisibility = "visibility" // open loop: commands at a fixed rate, each followed until a query shows it
	scenarioQueries    = "queries"    // closed loop: N clients read remaining-incidents
	scenarioHistory    = "history"    // command and query latency as one partner's history grows
	scenarioOffered    = "offered"    // open loop: commands at a fixed rate, nothing else (overload)
	// open loop: remaining-incidents reads at a fixed rate, each timed from the instant it
	// was due. A closed loop of N clients can only show N / mean latency requests per
	// second (64 clients at 10,000/s need a 6.4 ms mean) and hides a stall in the few
	// requests its waiting clients did not send: the latency percentiles of a query
	// target ("p99 <= 5 ms at 10,000/s") are measured at an offered rate.
	scenarioOfferedQueries = "offered-queries"
)

// loadtest is what one `benefits loadtest` is asked for.
type loadtest struct {
	APIURL       *url.URL
	Token        string
	Scenario     string
	Clients      int
	Partners     int
	Rate         float64
	MaxConns     int // 0: as many connections as requests in flight
	Duration     time.Duration
	Requests     int // 0: bounded by Duration only
	HistorySizes []int
	Samples      int
	StateSamples int
	Timeout      time.Duration
	JSON         bool
	AllowRemote  bool
	RunID        int
	// IdempotencyKeys sends every command with a key of its own (Idempotency-Key), as a
	// client that retries safely does.
	IdempotencyKeys bool
}

func loadtestSettings(c *Config, lt *loadtest) []setting {
	return []setting{
		{name: "api-url", def: "http://127.0.0.1:8080", usage: "base URL of the running system's API",
			apply: func(v string) error {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("want an http:// or https:// URL with a host")
				}
				lt.APIURL = u
				return nil
			}},
		{name: "token", secret: true, usage: "bearer token with the platform role (empty: minted from --jwt-secret or <data-dir>/jwt.secret, as `benefits token` does)",
			apply: func(v string) error { lt.Token = strings.TrimSpace(v); return nil }},
		dataDirSetting(c),
		jwtSecretSetting(c),
		jwtSecretFileSetting(c),
		{name: "scenario", noEnv: true, def: scenarioCommands,
			usage: "commands (closed-loop command throughput) | visibility (open-loop: command 201 until a query shows it) | offered (open-loop commands at --rate, to see overload) | queries (closed-loop query throughput) | offered-queries (open-loop queries at --rate: their latency at that rate) | history (latency as one partner's history grows)",
			apply: func(v string) error {
				switch v {
				case scenarioCommands, scenarioVisibility, scenarioOffered, scenarioQueries, scenarioOfferedQueries, scenarioHistory:
					lt.Scenario = v
					return nil
				}
				return errors.New("want commands, visibility, offered, queries, offered-queries or history")
			}},
		{name: "clients", noEnv: true, def: "16", usage: "concurrent clients of the closed-loop scenarios",
			apply: func(v string) (err error) { lt.Clients, err = parseCount(v, 1, 10_000); return err }},
		{name: "partners", noEnv: true, def: "200", usage: "partners the run sets up and spreads its commands and queries over (1: one hot partner)",
			apply: func(v string) (err error) { lt.Partners, err = parseCount(v, 1, 100_000); return err }},
		{name: "max-conns", noEnv: true, def: "0", usage: "open-loop scenarios: at most this many connections, as a client pool or load balancer holds (a request waiting for one still counts from when it was due); 0: a connection per request in flight, as many independent clients",
			apply: func(v string) (err error) { lt.MaxConns, err = parseCount(v, 0, 100_000); return err }},
		{name: "rate", noEnv: true, def: "200", usage: "visibility, offered, offered-queries: requests offered per second, whether or not earlier ones were answered",
			apply: func(v string) error {
				r, err := strconv.ParseFloat(v, 64)
				if err != nil || r <= 0 || r > 100_000 {
					return errors.New("want a number of requests per second above 0 and at most 100000")
				}
				lt.Rate = r
				return nil
			}},
		{name: "duration", noEnv: true, def: "10s", usage: "how long the measured phase runs (history: the whole run, growth included)",
			apply: func(v string) (err error) { lt.Duration, err = parseDuration(v, 24*time.Hour); return err }},
		{name: "requests", noEnv: true, def: "0", usage: "stop after this many measured requests (0: --duration only)",
			apply: func(v string) (err error) { lt.Requests, err = parseCount(v, 0, 100_000_000); return err }},
		{name: "history-sizes", noEnv: true, def: "5,1000,10000", usage: "history: the partner's event counts to measure at, ascending",
			apply: func(v string) (err error) { lt.HistorySizes, err = parseSizes(v); return err }},
		{name: "samples", noEnv: true, def: "100", usage: "history: commands and queries measured at each size",
			apply: func(v string) (err error) { lt.Samples, err = parseCount(v, 1, 1_000_000); return err }},
		{name: "state-samples", noEnv: true, def: "10", usage: "history: /state requests (the auditors' view, folded from the partner's events) measured at each size; 0: none",
			apply: func(v string) (err error) { lt.StateSamples, err = parseCount(v, 0, 1_000_000); return err }},
		{name: "timeout", noEnv: true, def: "10s", usage: "longest wait for one answer; a request that takes longer counts as error \"timeout\"",
			apply: func(v string) (err error) { lt.Timeout, err = parseDuration(v, 10*time.Minute); return err }},
		{name: "json", noEnv: true, isBool: true, def: "false", usage: "print the report as JSON instead of a table",
			apply: func(v string) (err error) { lt.JSON, err = strconv.ParseBool(v); return err }},
		{name: "idempotency-keys", noEnv: true, isBool: true, def: "false", usage: "send every command with an Idempotency-Key of its own, as clients that retry safely do (what the keys cost)",
			apply: func(v string) (err error) { lt.IdempotencyKeys, err = strconv.ParseBool(v); return err }},
		{name: "allow-remote", noEnv: true, isBool: true, def: "false", usage: "allow an --api-url that is not a loopback address (a load test is an attack on anyone else's system)",
			apply: func(v string) (err error) { lt.AllowRemote, err = strconv.ParseBool(v); return err }},
		{name: "run-id", noEnv: true, def: "", usage: "4-digit prefix of the MPN IDs this run sets up (empty: random), so runs against one system do not collide",
			apply: func(v string) error {
				if v == "" {
					lt.RunID = 1000 + rand.IntN(9000)
					return nil
				}
				n, err := parseCount(v, 1000, 9999)
				lt.RunID = n
				return err
			}},
	}
}

// runLoadtest parses the settings, checks the target, and runs the scenario.
func runLoadtest(ctx context.Context, args []string, env func(string) (string, bool), stdout io.Writer) error {
	var cfg Config
	var lt loadtest
	if err := parseSettings("loadtest", loadtestSynopsis, loadtestSettings(&cfg, &lt), args, env, stdout); err != nil {
		return err
	}
	if !lt.AllowRemote && !isLoopback(lt.APIURL.Hostname()) {
		return usageError{fmt.Errorf("--api-url %s is not a loopback address; pass --allow-remote to load a system on another host", lt.APIURL.Redacted())}
	}
	if lt.Token == "" {
		tok, err := mintLoadtestToken(cfg, lt.RunID)
		if err != nil {
			return err
		}
		lt.Token = tok
	}
	rep, err := lt.run(ctx)
	if err != nil {
		return err
	}
	if lt.JSON {
		return rep.writeJSON(stdout)
	}
	return rep.writeTable(stdout)
}

// isLoopback accepts "localhost" and loopback IP literals only: resolving a name would
// let DNS decide what is loaded.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// mintLoadtestToken signs a platform token with the secret serve uses. Unlike serve and
// token it never creates the secret file: a new secret would only sign tokens the
// running system refuses.
func mintLoadtestToken(cfg Config, runID int) (string, error) {
	secret := []byte(cfg.JWTSecret)
	if len(secret) == 0 {
		var err error
		if secret, err = readSecret(filepath.Join(cfg.DataDir, secretFileName)); err != nil {
			return "", usageError{fmt.Errorf("no --token and no JWT secret to mint one (give --token, --jwt-secret or the --data-dir of the running system): %w", err)}
		}
	}
	return handlers.IssueToken(secret, fmt.Sprintf("loadtest-%d", runID), []handlers.SystemRole{handlers.RolePlatform}, 24*time.Hour)
}

// tokenSubject reads the user a token is for; the run registers that user with each
// partner it sets up, so that one platform token also acts as the partners' admin. The
// signature is the server's to check, not ours.
func tokenSubject(tok string) (string, error) {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil {
		return "", usageError{fmt.Errorf("--token is not a JWT: %w", err)}
	}
	if claims.Subject == "" {
		return "", usageError{errors.New("--token names no subject (sub)")}
	}
	return claims.Subject, nil
}

func parseSizes(v string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := parseCount(strings.TrimSpace(f), 1, 10_000_000)
		if err != nil {
			return nil, fmt.Errorf("size %q: %w", f, err)
		}
		if len(sizes) > 0 && n <= sizes[len(sizes)-1] {
			return nil, errors.New("want sizes in ascending order, e.g. 5,1000,10000")
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}
