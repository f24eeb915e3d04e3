package main

import (
	"errors"
	"strings"
	"testing"
)

func TestTracingSettingsComeFromFlagsOrEnv(t *testing.T) {
	cfg, err := parseServe([]string{"--trace-sample-ratio", "0.25"}, envOf("BENEFITS_OTLP_ENDPOINT", "http://collector:4318"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tracing.Endpoint != "http://collector:4318" || cfg.Tracing.SampleRatio != 0.25 {
		t.Errorf("tracing %+v", cfg.Tracing)
	}
}

func TestWrongTracingSettingsStopStartUpNamingFlagAndEnv(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"endpoint without a scheme", []string{"--otlp-endpoint", "collector:4318"}, nil, `invalid --otlp-endpoint / BENEFITS_OTLP_ENDPOINT "collector:4318"`},
		{"endpoint over gRPC", nil, []string{"BENEFITS_OTLP_ENDPOINT", "grpc://collector:4317"}, "invalid --otlp-endpoint / BENEFITS_OTLP_ENDPOINT"},
		{"ratio above one", []string{"--trace-sample-ratio", "10"}, nil, `invalid --trace-sample-ratio / BENEFITS_TRACE_SAMPLE_RATIO "10"`},
		{"ratio not a number", nil, []string{"BENEFITS_TRACE_SAMPLE_RATIO", "half"}, "invalid --trace-sample-ratio / BENEFITS_TRACE_SAMPLE_RATIO"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServe(tc.args, envOf(tc.env...))
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want a usage error with %q", err, tc.want)
			}
		})
	}
}
