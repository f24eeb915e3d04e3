package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// No Docker engine runs on our machines, so `docker compose config` cannot run here.
// compose-go is the loader docker compose itself uses: it checks compose.yaml against
// the Compose Specification's JSON schema, interpolates it, and checks its consistency
// (dependencies, volumes, networks), as `docker compose config` does. On top of that,
// these tests check that what compose.yaml hands the ledger is accepted by the ledger.

// composeFile is the top-level compose.yaml, from cmd/benefits.
var composeFile = filepath.Join("..", "..", "compose.yaml")

func loadCompose(t *testing.T, path string) *types.Project { return loadComposeProfiles(t, path) }

// loadComposeProfiles loads the services of no profile plus those of profiles.
func loadComposeProfiles(t *testing.T, path string, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithWorkingDirectory(filepath.Dir(path)),
		cli.WithEnv(nil), // this machine's environment must not make the file pass
		cli.WithConsistency(true),
		cli.WithNormalization(true),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose file %s does not validate: %v", path, err)
	}
	return project
}

// ledgerServices are the services built from our Dockerfile, by their role.
var ledgerServices = map[string]Role{"api": RoleAPI, "forwarder": RoleForwarder, "projector": RoleProjector}

func TestComposeFileValidatesAgainstTheComposeSpecification(t *testing.T) {
	p := loadCompose(t, composeFile)
	for _, name := range []string{"kurrentdb", "nats", "postgres", "api", "forwarder", "projector"} {
		svc, ok := p.Services[name]
		if !ok {
			t.Errorf("service %s is missing", name)
			continue
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 || svc.HealthCheck.Disable {
			t.Errorf("service %s has no health check", name)
		}
	}
	for _, vol := range []string{"kurrentdb-data", "nats-data", "postgres-data"} {
		if _, ok := p.Volumes[vol]; !ok {
			t.Errorf("named volume %s is missing", vol)
		}
	}
	if nats := p.Services["nats"]; !slices.Contains(nats.Command, "--jetstream") {
		t.Errorf("nats runs without JetStream: %v", nats.Command)
	}
	projector := p.Services["projector"]
	if got := projector.GetScale(); got != 2 {
		t.Errorf("projector replicas %d, want 2 (two processes share each projection)", got)
	}
}

// The servers compose runs are the ones the ledger is built and tested against:
// KurrentDB (EventStoreDB's successor, the same protocol as the esdb client speaks) and
// the NATS server of the minor version embedded in the binary (go.mod), so that what
// the tests prove about JetStream holds in the topology.
func TestComposeRunsKurrentDBAndTheEmbeddedNATSMinorVersion(t *testing.T) {
	p := loadCompose(t, composeFile)
	if image := p.Services["kurrentdb"].Image; !strings.HasPrefix(image, "kurrentplatform/kurrentdb:") {
		t.Errorf("event store image %q, want kurrentplatform/kurrentdb:<version>", image)
	}
	embedded := moduleVersion(t, "github.com/nats-io/nats-server/v2") // v2.15.2
	parts := strings.SplitN(strings.TrimPrefix(embedded, "v"), ".", 3)
	if len(parts) < 2 {
		t.Fatalf("nats-server version %q is not semver", embedded)
	}
	want := "nats:" + parts[0] + "." + parts[1] + "-"
	if image := p.Services["nats"].Image; !strings.HasPrefix(image, want) && image != strings.TrimSuffix(want, "-") {
		t.Errorf("nats image %q, want the embedded server's minor version %s (%s...)", image, embedded, want)
	}
}

// moduleVersion is the version of a module built into this test binary (from go.mod).
func moduleVersion(t *testing.T, path string) string {
	t.Helper()
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info in the test binary")
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	t.Fatalf("module %s is not built into the binary", path)
	return ""
}

func TestComposeLedgerServicesWaitForHealthyServersAndPassTheLedgersOwnChecks(t *testing.T) {
	p := loadCompose(t, composeFile)
	for name, role := range ledgerServices {
		t.Run(name, func(t *testing.T) {
			svc := p.Services[name]
			if svc.Build == nil || svc.Build.Dockerfile != "Dockerfile" {
				t.Errorf("not built from the Dockerfile: %+v", svc.Build)
			}
			for _, dep := range []string{"kurrentdb", "nats", "postgres"} {
				if d, ok := svc.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
					t.Errorf("does not wait for %s to be healthy: %+v", dep, svc.DependsOn)
				}
			}
			// The command and environment compose gives the binary are accepted by its
			// own configuration parser: `benefits serve` would start, not exit 2.
			if len(svc.Command) == 0 || svc.Command[0] != "serve" {
				t.Fatalf("command %v, want serve ...", svc.Command)
			}
			env := map[string]string{}
			for k, v := range svc.Environment {
				if v != nil {
					env[k] = *v
				}
			}
			// The secret file exists inside the container only: stand one in for it.
			if path, ok := env["BENEFITS_JWT_SECRET_FILE"]; ok {
				env["BENEFITS_JWT_SECRET_FILE"] = standInSecret(t, svc, path)
			}
			var cfg Config
			known := map[string]bool{}
			for _, s := range serveSettings(&cfg) {
				known[s.envName()] = true
			}
			for k := range env {
				if strings.HasPrefix(k, envPrefix) && !known[k] {
					t.Errorf("environment %s is not a setting of benefits serve", k)
				}
			}
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			if err := parseSettings("serve", serveSynopsis, serveSettings(&cfg), svc.Command[1:], lookup, nil); err != nil {
				t.Fatalf("benefits %v with compose's environment: %v", svc.Command, err)
			}
			if cfg.Role != role || cfg.EventStore.Backend != BackendESDB || cfg.ReadDB.Backend != BackendPostgres || cfg.NATSURL == "" {
				t.Errorf("role %s, event store %s, read db %s, nats %q: want %s on EventStoreDB, PostgreSQL and the nats service",
					cfg.Role, cfg.EventStore.Backend, cfg.ReadDB.Backend, cfg.NATSURL, role)
			}
			if cfg.LogFormat != "json" {
				t.Errorf("log format %q in a container, want json", cfg.LogFormat)
			}
			checkProbe(t, svc, cfg.Addr)
		})
	}
}

// checkProbe: the health check runs `benefits probe` (the image has no shell or curl)
// with arguments the probe accepts, against the port the service listens on.
func checkProbe(t *testing.T, svc types.ServiceConfig, addr string) {
	t.Helper()
	test := svc.HealthCheck.Test
	if len(test) < 3 || test[0] != "CMD" || test[1] != "/usr/local/bin/benefits" || test[2] != "probe" {
		t.Fatalf("health check %v, want [CMD /usr/local/bin/benefits probe ...]", test)
	}
	var probe probeRequest
	if err := parseSettings("probe", probeSynopsis, probeSettings(&probe), test[3:], noEnv, nil); err != nil {
		t.Fatalf("health check arguments %v: %v", test[3:], err)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--addr %q: %v", addr, err)
	}
	if !strings.Contains(probe.URL, "localhost:"+port+"/") && !strings.Contains(probe.URL, "127.0.0.1:"+port+"/") {
		t.Errorf("health check probes %s, but the service listens on %s", probe.URL, addr)
	}
}

func TestDockerfileBuildsAStaticBinaryRunAsNonRootAtTheProbedPath(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	stages := strings.Count(df, "\nFROM ") + 1
	for _, want := range []struct{ rule, text string }{
		{"multi-stage", "AS build"},
		{"static binary (no cgo)", "CGO_ENABLED=0"},
		{"the binary where the health checks call it", "/usr/local/bin/benefits"},
		{"non-root user", "USER nonroot"},
	} {
		if !strings.Contains(df, want.text) {
			t.Errorf("Dockerfile: %s: no %q", want.rule, want.text)
		}
	}
	if stages < 2 {
		t.Errorf("Dockerfile has %d stage(s), want a build stage and a runtime stage", stages)
	}
}

func TestComposeValidationRefusesABrokenFile(t *testing.T) {
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, from, to, inError string }{
		{"a misspelt key is a schema error", "    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready",
			"    healtcheck:\n      test: [\"CMD-SHELL\", \"pg_isready", "healtcheck"},
		{"a dependency on a service that does not exist", "  nats:\n    condition: service_healthy\n  postgres:",
			"  nats:\n    condition: service_healthy\n  postgress:", "postgress"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(raw), c.from) {
				t.Fatalf("compose.yaml no longer contains %q; update this test", c.from)
			}
			broken := filepath.Join(t.TempDir(), "compose.yaml")
			if err := os.WriteFile(broken, []byte(strings.Replace(string(raw), c.from, c.to, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			opts, err := cli.NewProjectOptions([]string{broken}, cli.WithWorkingDirectory(filepath.Dir(broken)),
				cli.WithEnv(nil), cli.WithConsistency(true))
			if err != nil {
				t.Fatal(err)
			}
			_, err = opts.LoadProject(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.inError) {
				t.Errorf("loading the broken file: %v, want an error naming %q", err, c.inError)
			}
		})
	}
}
