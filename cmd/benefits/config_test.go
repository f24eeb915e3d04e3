package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"ledger/handlers"
	"ledger/infra/tracing"
)

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func parseServe(args []string, env func(string) (string, bool)) (Config, error) {
	var cfg Config
	err := parseSettings("serve", serveSynopsis, serveSettings(&cfg), args, env, &bytes.Buffer{})
	return cfg, err
}

func TestServeDefaults(t *testing.T) {
	cfg, err := parseServe(nil, envOf())
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Addr: ":8080", DataDir: "data", EventStore: StoreTarget{Backend: BackendSQLite},
		ReadDB: StoreTarget{Backend: BackendSQLite}, LogFormat: autoLogFormat(), LogLevel: slog.LevelInfo,
		Role: RoleAll, QueryWait: 2 * time.Second, GapGrace: time.Second, ShutdownTimeout: 15 * time.Second,
		Partitions: 1, PinnedTTL: 5 * time.Second, StateCacheSize: 10_000, StateCacheMiB: 256, AnswerCacheMiB: 32, SnapshotEvery: 1000, ErasureFollowEvery: time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ReadDBMaxConns: 16, EventStoreMaxConns: 32, MaxTokenLifetime: 24 * time.Hour, MaxConnections: 1024, ReadStaleness: time.Second,
		Limits:      handlers.InFlightLimits{Commands: 128, Queries: 128, PerPartner: 32, PerPartnerQueries: 32},
		Checkpoints: CheckpointConfig{Every: 1000, Interval: time.Minute},
		Tracing:     tracing.Config{SampleRatio: 1},
		OIDC:        handlers.OIDCSettings{RolesClaim: handlers.DefaultOIDCRolesClaim}}
	if cfg != want {
		t.Errorf("defaults\n got %+v\nwant %+v", cfg, want)
	}
}

func TestServeSettingsComeFromFlagsThenEnvThenDefaults(t *testing.T) {
	pg := "postgres://ledger:pw@db:5432/ledger?sslmode=disable"
	cases := []struct {
		name  string
		args  []string
		env   []string
		check func(Config) bool
	}{
		{"env is used when the flag is absent", nil, []string{"BENEFITS_ADDR", "127.0.0.1:9090"},
			func(c Config) bool { return c.Addr == "127.0.0.1:9090" }},
		{"a flag wins over env", []string{"--addr", ":7070"}, []string{"BENEFITS_ADDR", ":9090"},
			func(c Config) bool { return c.Addr == ":7070" }},
		{"a flag set to its default still wins over env", []string{"--role=all"}, []string{"BENEFITS_ROLE", "api"},
			func(c Config) bool { return c.Role == RoleAll }},
		{"postgres event store and read db", []string{"--event-store", pg}, []string{"BENEFITS_READ_DB", pg},
			func(c Config) bool {
				return c.EventStore == StoreTarget{BackendPostgres, pg} && c.ReadDB == StoreTarget{BackendPostgres, pg}
			}},
		{"esdb event store", []string{"--event-store", "esdb://localhost:2113?tls=false"}, nil,
			func(c Config) bool { return c.EventStore.Backend == BackendESDB }},
		{"external NATS servers", nil, []string{"BENEFITS_NATS_URL", "nats://n1:4222,nats://n2:4222"},
			func(c Config) bool { return c.NATSURL == "nats://n1:4222,nats://n2:4222" }},
		{"a JWT secret from env", nil, []string{"BENEFITS_JWT_SECRET", strings.Repeat("s", 32)},
			func(c Config) bool { return c.JWTSecret == strings.Repeat("s", 32) }},
		{"each role", []string{"--role", "projector"}, nil, func(c Config) bool { return c.Role == RoleProjector }},
		{"query wait", nil, []string{"BENEFITS_QUERY_WAIT", "500ms"}, func(c Config) bool { return c.QueryWait == 500*time.Millisecond }},
		{"gap grace", []string{"--gap-grace", "250ms"}, nil, func(c Config) bool { return c.GapGrace == 250*time.Millisecond }},
		{"erasure follow", nil, []string{"BENEFITS_ERASURE_FOLLOW_EVERY", "200ms"}, func(c Config) bool { return c.ErasureFollowEvery == 200*time.Millisecond }},
		{"partitions", []string{"--projection-partitions", "4"}, nil, func(c Config) bool { return c.Partitions == 4 }},
		{"pin ttl", nil, []string{"BENEFITS_PROJECTION_PIN_TTL", "2s"}, func(c Config) bool { return c.PinnedTTL == 2*time.Second }},
		{"state cache size", []string{"--state-cache-size", "500"}, nil, func(c Config) bool { return c.StateCacheSize == 500 }},
		{"state cache bytes", []string{"--state-cache-mib", "64"}, nil, func(c Config) bool { return c.StateCacheMiB == 64 }},
		{"state cache bytes by env", nil, []string{"BENEFITS_STATE_CACHE_MIB", "8"}, func(c Config) bool { return c.StateCacheMiB == 8 }},
		{"answer cache off", []string{"--answer-cache-mib", "0"}, nil, func(c Config) bool { return c.AnswerCacheMiB == 0 }},
		{"answer cache by env", nil, []string{"BENEFITS_ANSWER_CACHE_MIB", "8"}, func(c Config) bool { return c.AnswerCacheMiB == 8 }},
		{"no snapshots", nil, []string{"BENEFITS_SNAPSHOT_EVERY", "0"}, func(c Config) bool { return c.SnapshotEvery == 0 }},
		{"log format and level", []string{"--log-format", "json", "--log-level", "debug"}, nil,
			func(c Config) bool { return c.LogFormat == "json" && c.LogLevel == slog.LevelDebug }},
		{"HTTP timeouts", []string{"--read-timeout", "5s", "--write-timeout", "1m"}, []string{"BENEFITS_IDLE_TIMEOUT", "10s"},
			func(c Config) bool {
				return c.ReadTimeout == 5*time.Second && c.WriteTimeout == time.Minute && c.IdleTimeout == 10*time.Second
			}},
		{"read db pool", nil, []string{"BENEFITS_READ_DB_MAX_CONNS", "4"}, func(c Config) bool { return c.ReadDBMaxConns == 4 }},
		{"max token lifetime", []string{"--max-token-lifetime", "8h"}, nil, func(c Config) bool { return c.MaxTokenLifetime == 8*time.Hour }},
		{"in-flight bounds, 0 unbounding one", []string{"--max-commands-in-flight", "0", "--max-partner-commands-in-flight", "3"},
			[]string{"BENEFITS_MAX_QUERIES_IN_FLIGHT", "500"},
			func(c Config) bool {
				return c.Limits == handlers.InFlightLimits{Commands: 0, Queries: 500, PerPartner: 3, PerPartnerQueries: 32}
			}},
		{"per-partner query bound by flag", []string{"--max-partner-queries-in-flight", "8"}, nil,
			func(c Config) bool { return c.Limits.PerPartnerQueries == 8 }},
		{"per-partner query bound 0 by env unbounds it", nil, []string{"BENEFITS_MAX_PARTNER_QUERIES_IN_FLIGHT", "0"},
			func(c Config) bool { return c.Limits.PerPartnerQueries == 0 && c.Limits.Queries == 128 }},
		{"read staleness off", []string{"--read-staleness", "0"}, nil, func(c Config) bool { return c.ReadStaleness == 0 }},
		{"read staleness", nil, []string{"BENEFITS_READ_STALENESS", "250ms"}, func(c Config) bool { return c.ReadStaleness == 250*time.Millisecond }},
		{"connection bound", nil, []string{"BENEFITS_MAX_CONNECTIONS", "0"}, func(c Config) bool { return c.MaxConnections == 0 }},
		{"data dir from env", nil, []string{"BENEFITS_DATA_DIR", "/var/lib/benefits/"},
			func(c Config) bool { return c.DataDir == "/var/lib/benefits" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseServe(tc.args, envOf(tc.env...))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

func TestWrongValuesFailNamingFlagAndEnv(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     []string
		want    string
		mustNot string // must not appear in the message
	}{
		{"addr without port", []string{"--addr", "x"}, nil, `invalid --addr / BENEFITS_ADDR "x"`, ""},
		{"addr with a bad port", nil, []string{"BENEFITS_ADDR", ":http"}, `invalid --addr / BENEFITS_ADDR ":http"`, ""},
		{"empty data dir", []string{"--data-dir", ""}, nil, "invalid --data-dir / BENEFITS_DATA_DIR", ""},
		{"unknown event store", []string{"--event-store", "mysql://x"}, nil, "invalid --event-store / BENEFITS_EVENT_STORE", ""},
		{"postgres DSN without host, password hidden", []string{"--event-store", "postgres://u:hunter2@/db"}, nil,
			"the DSN names no host", "hunter2"},
		{"esdb as read db", []string{"--read-db", "esdb://localhost:2113"}, nil, "invalid --read-db / BENEFITS_READ_DB", ""},
		{"malformed esdb URL", []string{"--event-store", "esdb://"}, nil, "invalid --event-store", ""},
		{"NATS URL with a wrong scheme", nil, []string{"BENEFITS_NATS_URL", "http://n1:4222"}, "invalid --nats-url / BENEFITS_NATS_URL", ""},
		{"short JWT secret, value hidden", nil, []string{"BENEFITS_JWT_SECRET", "tooshort-secret"}, "invalid --jwt-secret / BENEFITS_JWT_SECRET (value hidden)", "tooshort-secret"},
		{"log format", []string{"--log-format", "xml"}, nil, "invalid --log-format / BENEFITS_LOG_FORMAT", ""},
		{"log level", nil, []string{"BENEFITS_LOG_LEVEL", "loud"}, "invalid --log-level / BENEFITS_LOG_LEVEL", ""},
		{"role", []string{"--role", "worker"}, nil, `invalid --role / BENEFITS_ROLE "worker"`, ""},
		{"query wait not a duration", []string{"--query-wait", "2"}, nil, "invalid --query-wait / BENEFITS_QUERY_WAIT", ""},
		{"query wait negative", nil, []string{"BENEFITS_QUERY_WAIT", "-1s"}, "invalid --query-wait", ""},
		{"gap grace not a duration", nil, []string{"BENEFITS_GAP_GRACE", "soon"}, "invalid --gap-grace / BENEFITS_GAP_GRACE", ""},
		{"erasures never followed", []string{"--erasure-follow-every", "0s"}, nil, "invalid --erasure-follow-every / BENEFITS_ERASURE_FOLLOW_EVERY", ""},
		{"no partition", []string{"--projection-partitions", "0"}, nil, "invalid --projection-partitions / BENEFITS_PROJECTION_PARTITIONS", ""},
		{"state cache of no partner", []string{"--state-cache-size", "0"}, nil, "invalid --state-cache-size / BENEFITS_STATE_CACHE_SIZE", ""},
		{"state cache of no bytes", []string{"--state-cache-mib", "0"}, nil, "invalid --state-cache-mib / BENEFITS_STATE_CACHE_MIB", ""},
		{"answer cache negative", nil, []string{"BENEFITS_ANSWER_CACHE_MIB", "-1"}, "invalid --answer-cache-mib / BENEFITS_ANSWER_CACHE_MIB", ""},
		{"snapshot interval not a number", nil, []string{"BENEFITS_SNAPSHOT_EVERY", "often"}, "invalid --snapshot-every / BENEFITS_SNAPSHOT_EVERY", ""},
		{"shutdown timeout zero", []string{"--shutdown-timeout", "0s"}, nil, "invalid --shutdown-timeout / BENEFITS_SHUTDOWN_TIMEOUT", ""},
		{"write timeout not a duration", nil, []string{"BENEFITS_WRITE_TIMEOUT", "never"}, "invalid --write-timeout / BENEFITS_WRITE_TIMEOUT", ""},
		{"write timeout within the query wait", []string{"--query-wait", "5s", "--write-timeout", "5s"}, nil,
			`invalid --write-timeout / BENEFITS_WRITE_TIMEOUT "5s": must exceed --query-wait 5s`, ""},
		{"read timeout zero", []string{"--read-timeout", "0s"}, nil, "invalid --read-timeout / BENEFITS_READ_TIMEOUT", ""},
		{"idle timeout too long", []string{"--idle-timeout", "2h"}, nil, "invalid --idle-timeout / BENEFITS_IDLE_TIMEOUT", ""},
		{"read db pool of zero", []string{"--read-db-max-conns", "0"}, nil, "invalid --read-db-max-conns / BENEFITS_READ_DB_MAX_CONNS", ""},
		{"read db pool not a number", nil, []string{"BENEFITS_READ_DB_MAX_CONNS", "many"}, "invalid --read-db-max-conns", ""},
		{"max token lifetime not a duration", nil, []string{"BENEFITS_MAX_TOKEN_LIFETIME", "1 day"}, "invalid --max-token-lifetime / BENEFITS_MAX_TOKEN_LIFETIME", ""},
		{"negative in-flight bound", []string{"--max-commands-in-flight", "-1"}, nil, `invalid --max-commands-in-flight / BENEFITS_MAX_COMMANDS_IN_FLIGHT "-1"`, ""},
		{"read staleness over a minute", []string{"--read-staleness", "2m"}, nil, `invalid --read-staleness / BENEFITS_READ_STALENESS "2m"`, ""},
		{"negative connection bound", []string{"--max-connections", "-5"}, nil, `invalid --max-connections / BENEFITS_MAX_CONNECTIONS "-5"`, ""},
		{"in-flight bound not a number", nil, []string{"BENEFITS_MAX_PARTNER_COMMANDS_IN_FLIGHT", "many"}, "invalid --max-partner-commands-in-flight / BENEFITS_MAX_PARTNER_COMMANDS_IN_FLIGHT", ""},
		{"negative per-partner query bound", []string{"--max-partner-queries-in-flight", "-1"}, nil,
			`invalid --max-partner-queries-in-flight / BENEFITS_MAX_PARTNER_QUERIES_IN_FLIGHT "-1"`, ""},
		{"per-partner query bound not a number", nil, []string{"BENEFITS_MAX_PARTNER_QUERIES_IN_FLIGHT", "lots"},
			`invalid --max-partner-queries-in-flight / BENEFITS_MAX_PARTNER_QUERIES_IN_FLIGHT "lots"`, ""},
		{"profiler on a public address", []string{"--pprof-addr", "0.0.0.0:6060"}, nil, `invalid --pprof-addr / BENEFITS_PPROF_ADDR "0.0.0.0:6060": want a loopback address`, ""},
		{"profiler address without a port", nil, []string{"BENEFITS_PPROF_ADDR", "127.0.0.1"}, "invalid --pprof-addr / BENEFITS_PPROF_ADDR", ""},
		{"OIDC issuer over plain http to another host", []string{"--oidc-issuer", "http://login.example.com", "--oidc-client-id", "c"}, nil,
			`invalid --oidc-issuer / BENEFITS_OIDC_ISSUER "http://login.example.com": want https`, ""},
		{"OIDC issuer not a URL", nil, []string{"BENEFITS_OIDC_ISSUER", "login", "BENEFITS_OIDC_CLIENT_ID", "c"}, "invalid --oidc-issuer / BENEFITS_OIDC_ISSUER", ""},
		{"OIDC issuer without an audience", []string{"--oidc-issuer", "https://login.example.com"}, nil,
			"invalid --oidc-audience / BENEFITS_OIDC_AUDIENCE \"\": --oidc-issuer is set: set --oidc-client-id or --oidc-audience", ""},
		{"OIDC roles claim with a space", []string{"--oidc-roles-claim", "my roles"}, nil, "invalid --oidc-roles-claim / BENEFITS_OIDC_ROLES_CLAIM", ""},
		{"unknown flag", []string{"--port", "80"}, nil, "flag provided but not defined: -port", ""},
		{"stray argument", []string{"now"}, nil, `unexpected argument "now"`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServe(tc.args, envOf(tc.env...))
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("err %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q lacks %q", err, tc.want)
			}
			if tc.mustNot != "" && strings.Contains(err.Error(), tc.mustNot) {
				t.Errorf("message %q gives away %q", err, tc.mustNot)
			}
		})
	}
}

func TestEveryWrongValueIsReportedAtOnce(t *testing.T) {
	_, err := parseServe([]string{"--addr", "x", "--role", "y"}, envOf("BENEFITS_QUERY_WAIT", "z"))
	for _, want := range []string{"--addr", "--role", "--query-wait"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %s", err, want)
		}
	}
}

func TestServeHelpListsEverySettingWithEnvAndDefault(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"serve", "--help"}, envOf(), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, s := range serveSettings(&Config{}) {
		line := "--" + s.name + "\t(env " + s.envName() + ", default "
		if !strings.Contains(out.String(), line) {
			t.Errorf("help lacks %q:\n%s", line, out.String())
		}
	}
	for _, def := range []string{`":8080"`, `"./data"`, `"sqlite"`, `"all"`, `"2s"`} {
		if !strings.Contains(out.String(), def) {
			t.Errorf("help lacks default %s", def)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, 2},
		{"unknown command", []string{"migrate"}, 2},
		{"help", []string{"help"}, 0},
		{"wrong setting", []string{"serve", "--addr", "x"}, 2},
		{"token without sub", []string{"token", "--data-dir", "DIR"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			for i, a := range args {
				if a == "DIR" {
					args[i] = t.TempDir()
				}
			}
			var out, errOut bytes.Buffer
			if code := run(t.Context(), args, envOf(), &out, &errOut); code != tc.want {
				t.Errorf("exit %d, want %d; stderr %s", code, tc.want, errOut.String())
			}
		})
	}
}
