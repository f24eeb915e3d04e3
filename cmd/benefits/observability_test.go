package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v4"

	"ledger/infra/testkit"
)

var deployDir = filepath.Join("..", "..", "deploy")

// metricName finds the ledger's metric names in a PromQL expression.
var metricName = regexp.MustCompile(`\bbenefits_[a-z_]+\b`)

// servedFamilies is every metric family a running server (all roles in one process,
// after one command) serves on /metrics, on the embedded default or on PostgreSQL (as
// compose runs it: some families, such as the LISTEN reconnects, exist only there).
func servedFamilies(t *testing.T) map[string]bool {
	t.Helper()
	served := map[string]bool{}
	for _, cfg := range []Config{testConfig(t), postgresConfig(t)} {
		maps.Copy(served, familiesServedBy(t, cfg))
	}
	return served
}

func familiesServedBy(t *testing.T, cfg Config) map[string]bool {
	t.Helper()
	s := startSystem(t, cfg, wireOptions{})
	s.post(t, "/v1/partners", s.platform(t), map[string]any{"mpnId": "4711001", "name": "Contoso"}).want(t, http.StatusCreated)
	s.get(t, "/v1/partners/4711001/remaining-incidents", s.platform(t)) // a read-your-writes wait: its stages are timed
	served := map[string]bool{}
	// A read model times what it applied just after it wakes the queries waiting for it,
	// so the family of that stage may appear just after the query's answer.
	testkit.Eventually(t, "/metrics serves the read models' applied stage", func() bool {
		r := s.do(t, http.MethodGet, "/metrics", "", nil).want(t, http.StatusOK)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
		if err != nil {
			t.Fatalf("/metrics is not the Prometheus text format: %v", err)
		}
		for name := range families {
			served[name] = true
		}
		return served["benefits_projection_delay_seconds"]
	})
	return served
}

// family is the metric family a series name belongs to: a histogram's _bucket, _sum
// and _count series are its family's.
func family(name string, served map[string]bool) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && served[base] {
			return base
		}
	}
	return name
}

// ruleFile is Prometheus's rule file format (rulefmt), decoded strictly: a misspelt
// key fails here as it would fail `promtool check rules`.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return rules
}

type dashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir, "grafana", "dashboards", "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("ledger.json: %v", err)
	}
	return d
}

// Every metric the dashboard plots and the alerts watch is one the server serves: a
// renamed metric breaks this test, not a dashboard nobody looks at until the night
// it is needed.
func TestDashboardAndAlertRulesNameOnlyMetricsTheServerServes(t *testing.T) {
	served := servedFamilies(t)
	used := map[string]string{} // family -> where
	for _, p := range loadDashboard(t).Panels {
		for _, target := range p.Targets {
			for _, n := range metricName.FindAllString(target.Expr, -1) {
				used[family(n, served)] = "dashboard panel " + p.Title
			}
		}
	}
	rules := loadRules(t)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v: want alert, expr, a severity label and a summary", r)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			for _, n := range metricName.FindAllString(r.Expr, -1) {
				used[family(n, served)] = "alert " + r.Alert
			}
		}
	}
	for name, where := range used {
		if !served[name] {
			t.Errorf("%s uses %s, which /metrics does not serve", where, name)
		}
	}
	// What an operator must see (issue 12): command rates and outcomes, append latency,
	// projection lag per read model, dead letters, forwarder lag; and which stage a slow
	// read-your-writes query waits on (issue 10).
	for _, want := range []string{"benefits_commands_total", "benefits_event_store_append_duration_seconds",
		"benefits_projection_lag_seconds", "benefits_projection_dead_letters", "benefits_forwarder_lag_seconds",
		"benefits_forwarder_delay_seconds", "benefits_projection_delay_seconds", "benefits_query_wait_seconds"} {
		if _, ok := used[want]; !ok {
			t.Errorf("neither the dashboard nor the alerts show %s", want)
		}
	}
}

// Prometheus scrapes every role the compose file runs, on the port it listens on, and
// loads the rule file from the directory compose mounts.
func TestPrometheusScrapesEveryLedgerRoleAndLoadsTheAlertRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			DNSSD []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	scraped := map[string]int{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, d := range sc.DNSSD {
			for _, n := range d.Names {
				scraped[n] = d.Port
			}
		}
	}
	var serve Config
	if err := parseSettings("serve", serveSynopsis, serveSettings(&serve), nil, noEnv, nil); err != nil {
		t.Fatal(err)
	}
	for name := range ledgerServices {
		if port := scraped[name]; port == 0 || !strings.HasSuffix(serve.Addr, ":"+strconv.Itoa(port)) {
			t.Errorf("role %s: scraped on port %d, serves on %s", name, port, serve.Addr)
		}
	}
	if !slices.Contains(cfg.RuleFiles, "/etc/prometheus/alerts.yml") {
		t.Errorf("rule_files %v do not load alerts.yml from the mounted directory", cfg.RuleFiles)
	}
}

// Grafana finds the dashboard where compose mounts it, and the dashboard's panels ask
// the data source Grafana is provisioned with.
func TestGrafanaIsProvisionedWithTheDashboardAndItsDataSource(t *testing.T) {
	var sources struct {
		Datasources []struct{ UID, URL string } `yaml:"datasources"`
	}
	var providers struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	for file, into := range map[string]any{"datasources/prometheus.yml": &sources, "dashboards/ledger.yml": &providers} {
		raw, err := os.ReadFile(filepath.Join(deployDir, "grafana", "provisioning", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	if len(sources.Datasources) != 1 || sources.Datasources[0].URL != "http://prometheus:9090" {
		t.Fatalf("data sources %+v, want the compose prometheus service", sources.Datasources)
	}
	raw, err := os.ReadFile(filepath.Join(deployDir, "grafana", "dashboards", "ledger.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title      string
			Datasource struct{ UID string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Panels {
		if p.Datasource.UID != sources.Datasources[0].UID {
			t.Errorf("panel %q asks data source %q, provisioned is %q", p.Title, p.Datasource.UID, sources.Datasources[0].UID)
		}
	}
	grafana := loadComposeProfiles(t, composeFile, "observability").Services["grafana"]
	mounted := slices.ContainsFunc(grafana.Volumes, func(v types.ServiceVolumeConfig) bool {
		return len(providers.Providers) == 1 && v.Target == providers.Providers[0].Options.Path &&
			strings.HasSuffix(v.Source, filepath.Join("deploy", "grafana", "dashboards"))
	})
	if !mounted {
		t.Errorf("the dashboard provider reads %+v, where compose mounts no deploy/grafana/dashboards", providers.Providers)
	}
}
