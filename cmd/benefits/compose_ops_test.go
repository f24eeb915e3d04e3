package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// standInSecret checks that path is where one of svc's compose secrets is mounted
// and returns a host file holding a valid secret in its place.
func standInSecret(t *testing.T, svc types.ServiceConfig, path string) string {
	t.Helper()
	mounted := false
	for _, s := range svc.Secrets {
		target := s.Target
		if target == "" {
			target = s.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		mounted = mounted || target == path
	}
	if !mounted {
		t.Fatalf("BENEFITS_JWT_SECRET_FILE %s is not where a compose secret of the service is mounted: %+v", path, svc.Secrets)
	}
	file := filepath.Join(t.TempDir(), "jwt_secret")
	if err := os.WriteFile(file, []byte(strings.Repeat("x", minSecretLen)+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	return file
}

// The ledger's roles run one image, get the signing secret as a compose secret (never
// an environment variable), keep their data directory on a volume, and are given
// longer to stop than they take to drain, so SIGKILL never cuts a drain short.
func TestComposeLedgerRolesShareOneImageASecretAVolumeAndAStopGraceAboveTheDrain(t *testing.T) {
	p := loadCompose(t, composeFile)
	images := map[string]bool{}
	for name := range ledgerServices {
		svc := p.Services[name]
		images[svc.Image] = true
		env := map[string]string{}
		for k, v := range svc.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		if _, ok := env["BENEFITS_JWT_SECRET"]; ok {
			t.Errorf("%s: the JWT secret is an environment variable", name)
		}
		if env["BENEFITS_JWT_SECRET_FILE"] == "" {
			t.Errorf("%s: no BENEFITS_JWT_SECRET_FILE", name)
		}
		dataOnVolume := slices.ContainsFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Target == env["BENEFITS_DATA_DIR"]
		})
		if !dataOnVolume {
			t.Errorf("%s: data dir %q is not on a named volume: %+v", name, env["BENEFITS_DATA_DIR"], svc.Volumes)
		}
		var cfg Config
		drain := serveSettings(&cfg)[slices.IndexFunc(serveSettings(&cfg), func(s setting) bool { return s.name == "shutdown-timeout" })]
		if err := drain.apply(cmpOr(env[drain.envName()], drain.def)); err != nil {
			t.Fatal(err)
		}
		if svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) < cfg.ShutdownTimeout+5*time.Second {
			t.Errorf("%s: stop_grace_period %v, want at least the drain (%s) + 5s", name, svc.StopGracePeriod, cfg.ShutdownTimeout)
		}
	}
	if len(images) != 1 || images[""] {
		t.Errorf("ledger roles run images %v, want one shared image name", images)
	}
	if _, ok := p.Secrets["jwt_secret"]; !ok {
		t.Error("no jwt_secret compose secret")
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Prometheus and Grafana run only with --profile observability, with configuration from
// files in the repository.
func TestComposeObservabilityProfileRunsPrometheusAndGrafanaFromTheRepositorysFiles(t *testing.T) {
	if p := loadCompose(t, composeFile); p.Services["prometheus"].Name != "" || p.Services["grafana"].Name != "" {
		t.Error("prometheus or grafana runs without --profile observability")
	}
	p := loadComposeProfiles(t, composeFile, "observability")
	for _, name := range []string{"prometheus", "grafana"} {
		svc, ok := p.Services[name]
		if !ok {
			t.Fatalf("service %s missing from the observability profile", name)
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s, which is not in the repository: %v", name, v.Source, err)
			}
		}
	}
}
